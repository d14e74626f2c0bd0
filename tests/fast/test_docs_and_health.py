"""/docs works offline, /openapi.json describes every endpoint, probes answer."""

from __future__ import annotations

import re
from typing import Any

import fakeredis
import pytest
from flask.testing import FlaskClient

from app import create_app
from tests.conftest import make_config

AUTH_PATHS = {
    "/register": "post",
    "/login": "post",
    "/token": "post",
    "/me": "get",
    "/logout": "post",
    "/login/second-factor": "post",
    "/token/second-factor": "post",
    "/second-factor": "get",
    "/totp/setup": "post",
    "/totp/confirm": "post",
    "/totp/disable": "post",
    "/recovery-codes": "post",
}


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json  # type: ignore[return-value]


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = spec["components"][section][name]
    return node


def response_schema(spec: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    response = resolve(spec, spec["paths"][path][method]["responses"][status])
    return resolve(spec, response["content"]["application/json"]["schema"])


JSON = "application/json"


class TestOpenApi:
    def test_is_openapi_3_with_every_endpoint_once(self, spec: dict[str, Any]) -> None:
        assert spec["openapi"].startswith("3.")
        for path, method in AUTH_PATHS.items():
            assert method in spec["paths"]["/api/auth" + path], path
        assert {"/healthz", "/readyz"} <= set(spec["paths"])
        # The /api/v1/auth aliases are served (tests/fast/test_errors.py) and
        # said once, in the description, not documented as a second copy.
        assert not any(path.startswith("/api/v1/") for path in spec["paths"])
        assert "/api/v1/auth" in spec["info"]["description"]

    def test_every_operation_has_a_readable_unique_id(self, spec: dict[str, Any]) -> None:
        ids = [
            operation["operationId"]
            for item in spec["paths"].values()
            for method, operation in item.items()
            if method != "parameters"
        ]
        assert sorted(ids) == sorted(
            ["healthz", "readyz", "register", "login", "token", "me", "logout",
             "listSessions", "endSession", "logoutAll", "changePassword", "forgotPassword",
             "resetPassword", "verifyEmail", "resendVerification", "deleteAccount",
             "listEvents", "loginSecondFactor", "tokenSecondFactor", "secondFactorStatus",
             "setupTotp", "confirmTotp", "disableTotp", "regenerateRecoveryCodes",
             "listPasskeys", "passkeyRegistrationOptions", "registerPasskey",
             "renamePasskey", "deletePasskey", "passkeyAuthenticationOptions", "passkeyLogin",
             "passkeyToken"]
        )  # fmt: skip

    def test_public_operations_say_so(self, spec: dict[str, Any]) -> None:
        for path in ("/healthz", "/readyz", "/api/auth/register", "/api/auth/login"):
            for operation in spec["paths"][path].values():
                assert operation["security"] == [], path

    def test_login_takes_exactly_one_identifier(self, spec: dict[str, Any]) -> None:
        body = spec["paths"]["/api/auth/login"]["post"]["requestBody"]["content"][JSON]
        branches = body["schema"]["oneOf"]
        shapes = [resolve(spec, branch["allOf"][0]) for branch in branches]
        assert [sorted(shape["required"]) for shape in shapes] == [
            ["email", "password"],
            ["password", "username"],
        ]
        # Exclusive: a body with both identifiers matches neither branch.
        assert [branch["allOf"][1] for branch in branches] == [
            {"not": {"required": ["username"]}},
            {"not": {"required": ["email"]}},
        ]
        assert {name for name in body["examples"]} == {"email", "username"}

    @pytest.mark.parametrize("minimum", [6, 12])
    def test_the_password_length_comes_from_the_live_configuration(
        self, redis: Any, minimum: int
    ) -> None:
        app = create_app(make_config(REDIS_CLIENT=redis, PASSWORD_MIN_LENGTH=minimum))
        spec = app.test_client().get("/openapi.json").json
        password = spec["components"]["schemas"]["RegisterIn"]["properties"]["password"]
        assert (password["minLength"], password["maxLength"]) == (minimum, 1024)

    @pytest.mark.parametrize(("path", "method"), AUTH_PATHS.items())
    def test_every_endpoint_documents_its_error_bodies(
        self, spec: dict[str, Any], path: str, method: str
    ) -> None:
        operation = spec["paths"]["/api/auth" + path][method]
        for status in operation["responses"]:
            if status.startswith(("4", "5")) or status == "default":
                schema = response_schema(spec, "/api/auth" + path, method, status)
                assert "detail" in schema["properties"], (path, status)

    def test_422_is_documented_as_a_list_of_problems(self, spec: dict[str, Any]) -> None:
        schema = response_schema(spec, "/api/auth/register", "post", "422")
        detail = schema["properties"]["detail"]
        assert detail["type"] == "array"
        item = resolve(spec, detail["items"])
        assert set(item["properties"]) == {"loc", "msg", "type"}

    def test_request_and_success_bodies(self, spec: dict[str, Any]) -> None:
        register = spec["paths"]["/api/auth/register"]["post"]
        body = resolve(spec, register["requestBody"]["content"]["application/json"]["schema"])
        assert set(body["required"]) == {"username", "email", "password"}
        user = response_schema(spec, "/api/auth/register", "post", "201")
        assert set(user["properties"]) == {
            "id", "username", "email", "created_at", "updated_at", "email_verified"
        }  # fmt: skip
        assert "password" not in str(user)
        assert "hash" not in str(user)
        token = response_schema(spec, "/api/auth/token", "post", "200")
        assert set(token["required"]) == {"access_token", "token_type", "user_id", "expires_in"}

    def test_token_documents_the_oauth2_form(self, spec: dict[str, Any]) -> None:
        content = spec["paths"]["/api/auth/token"]["post"]["requestBody"]["content"]
        assert set(content) == {"application/json", "application/x-www-form-urlencoded"}
        form = resolve(spec, content["application/x-www-form-urlencoded"]["schema"])
        assert set(form["required"]) == {"username", "password"}
        assert (
            content["application/json"]["schema"]
            != content["application/x-www-form-urlencoded"]["schema"]
        )
        flow = spec["components"]["securitySchemes"]["oauth2Password"]["flows"]["password"]
        assert flow["tokenUrl"] == "/api/auth/token"

    def test_optional_fields_have_no_default(self, spec: dict[str, Any]) -> None:
        keep = spec["components"]["schemas"]["LogoutAllIn"]["properties"]["keep_current"]
        assert "default" not in keep
        assert "required" not in spec["components"]["schemas"]["LogoutAllIn"]

    def test_me_documents_both_ways_to_authenticate(self, spec: dict[str, Any]) -> None:
        schemes = spec["components"]["securitySchemes"]
        assert schemes["bearerAuth"]["scheme"] == "bearer"
        assert schemes["cookieAuth"] == {"type": "apiKey", "in": "cookie", "name": "session"}
        assert spec["paths"]["/api/auth/me"]["get"]["security"] == [
            {"bearerAuth": []},
            {"cookieAuth": []},
            {"oauth2Password": []},
        ]


class TestSwaggerUi:
    def test_page_loads_only_local_assets(self, client: FlaskClient) -> None:
        response = client.get("/docs")
        assert response.status_code == 200
        html = response.text
        assert "http://" not in html  # no CDN: everything is served from here
        assert "https://" not in html
        # Every URL the page loads but its empty favicon ("data:,": no request).
        assets = [url for url in re.findall(r'(?:src|href)="([^"]+)"', html) if url != "data:,"]
        assert set(assets) == {
            "/docs/assets/swagger-ui-bundle.js",
            "/docs/assets/swagger-ui.css",
            "/static/docs.js",  # starts Swagger UI: no inline script (test_hardening.py)
        }
        for asset in assets:
            served = client.get(asset)
            assert served.status_code == 200, asset
            assert served.data
            served.close()


class TestProbes:
    def test_healthz(self, client: FlaskClient) -> None:
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json == {"status": "ok"}

    def test_readyz_when_all_answer(self, client: FlaskClient) -> None:
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}

    def test_readyz_names_redis_when_it_is_down(
        self, client: FlaskClient, redis_server: fakeredis.FakeServer
    ) -> None:
        redis_server.connected = False
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json == {
            "status": "unavailable",
            "checks": {"database": "ok", "redis": "unavailable"},
            "detail": "redis unavailable",
        }
        assert client.get("/healthz").status_code == 200
        redis_server.connected = True
        assert client.get("/readyz").status_code == 200


def test_no_content_has_no_content_type(client: FlaskClient) -> None:
    body = {"username": "ann", "email": "ann@example.com", "password": "secret-pw"}
    client.post("/api/auth/register", json=body)
    login = {"email": "ann@example.com", "password": "secret-pw"}
    first = client.post("/api/auth/token", json=login).json["access_token"]
    second = client.post("/api/auth/token", json=login).json["access_token"]
    handle = client.get("/api/auth/sessions", headers={"Authorization": f"Bearer {first}"}).json
    response = client.delete(
        f"/api/auth/sessions/{handle[-1]['id']}", headers={"Authorization": f"Bearer {second}"}
    )
    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers


@pytest.mark.parametrize("path", ["/api/auth/me", "/api/auth/login", "/healthz"])
def test_options_lists_the_methods_without_a_body(client: FlaskClient, path: str) -> None:
    response = client.options(path)
    assert response.status_code == 204
    assert "OPTIONS" in response.headers["Allow"]
    assert "Content-Type" not in response.headers
    assert response.data == b""
