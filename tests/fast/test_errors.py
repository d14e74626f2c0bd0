"""Every error is JSON ``detail`` with the right status, on every path
(docs/API.md, Status codes)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.extensions import db
from tests.conftest import API, PASSWORD, AuthActions, SessionKeys, make_config


def assert_json_error(response: Any, status: int, detail: str) -> None:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.json == {"detail": detail}


@pytest.mark.parametrize(
    "path", ["/nope", "/api/auth/nope", "/api/auth/", "/api/v2/auth/me", "/docs/assets/nope.js"]
)
def test_unknown_path_is_json_404(client: FlaskClient, path: str) -> None:
    assert_json_error(client.get(path), 404, "Not Found")


def test_unknown_path_is_json_404_for_any_method(client: FlaskClient) -> None:
    assert_json_error(client.post("/nope", json={}), 404, "Not Found")
    assert_json_error(client.delete("/api/auth/nope"), 404, "Not Found")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("get", f"{API}/login", {"POST", "OPTIONS"}),
        ("delete", f"{API}/register", {"POST", "OPTIONS"}),
        ("post", f"{API}/me", {"GET", "HEAD", "OPTIONS"}),
        ("put", "/healthz", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_wrong_method_is_json_405_with_allow(
    client: FlaskClient, method: str, path: str, allow: set[str]
) -> None:
    response = getattr(client, method)(path)
    assert_json_error(response, 405, "Method Not Allowed")
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allow


@pytest.mark.parametrize("endpoint", ["register", "login", "token"])
@pytest.mark.parametrize(
    "body", ['{"email": ', "{'single': 'quotes'}", "not json at all", '{"a": 1}}', "\xff\xfe"]
)
def test_malformed_json_is_400(
    client: FlaskClient, keys: SessionKeys, endpoint: str, body: str
) -> None:
    response = client.post(f"{API}/{endpoint}", data=body, content_type="application/json")
    assert_json_error(response, 400, "Invalid JSON body")
    assert keys.all() == []


@pytest.mark.parametrize("endpoint", ["register", "login", "token", "logout"])
def test_oversized_body_is_413_before_parsing(
    client: FlaskClient, keys: SessionKeys, endpoint: str
) -> None:
    body = '{"password": "' + "x" * (64 * 1024) + '"}'
    response = client.post(f"{API}/{endpoint}", data=body, content_type="application/json")
    assert_json_error(response, 413, "Request Entity Too Large")
    assert keys.all() == []


@pytest.mark.parametrize("endpoint", ["register", "login", "logout"])
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_wrong_content_type_is_415(client: FlaskClient, endpoint: str, content_type: str) -> None:
    response = client.post(
        f"{API}/{endpoint}", data='{"email": "a@example.com"}', content_type=content_type
    )
    assert response.status_code == 415
    assert response.json == {"detail": "Content-Type must be application/json"}


def test_token_names_both_accepted_types_in_its_415(client: FlaskClient) -> None:
    response = client.post(f"{API}/token", data="x", content_type="text/plain")
    assert response.status_code == 415
    assert response.json == {
        "detail": "Content-Type must be application/json or application/x-www-form-urlencoded"
    }


def test_json_with_charset_and_suffix_types_are_accepted(client: FlaskClient) -> None:
    body = json.dumps({"username": "ann", "email": "ann@example.com", "password": PASSWORD})
    response = client.post(
        f"{API}/register", data=body, content_type="application/json; charset=utf-8"
    )
    assert response.status_code == 201


class TestLoginInput:
    @pytest.mark.parametrize("endpoint", ["login", "token"])
    @pytest.mark.parametrize(
        ("body", "locs"),
        [
            ({"password": PASSWORD}, [["body"]]),
            ({"email": "a@example.com"}, [["body", "password"]]),
            ({"email": "a@example.com", "username": "ann", "password": PASSWORD}, [["body"]]),
            ({"email": "not-an-email", "password": PASSWORD}, [["body", "email"]]),
            ({"email": None, "password": PASSWORD}, [["body", "email"]]),
            ({"email": 7, "password": []}, [["body", "email"], ["body", "password"]]),
            ({"username": "x" * 255, "password": PASSWORD}, [["body", "username"]]),
            ({"email": "a@example.com", "password": "x" * 1025}, [["body", "password"]]),
            ({"email": "a@example.com", "password": ""}, [["body", "password"]]),
            ([], [["body"]]),
        ],
    )
    def test_invalid_is_422(
        self,
        client: FlaskClient,
        keys: SessionKeys,
        endpoint: str,
        body: Any,
        locs: list[list[str]],
    ) -> None:
        response = client.post(f"{API}/{endpoint}", json=body)
        assert response.status_code == 422
        got = {tuple(p["loc"]) for p in response.json["detail"]}  # type: ignore[index]
        assert got == {tuple(loc) for loc in locs}
        assert keys.all() == []

    def test_missing_identifier_explains_itself(self, client: FlaskClient) -> None:
        response = client.post(f"{API}/token", json={"password": PASSWORD})
        assert response.json == {
            "detail": [
                {
                    "loc": ["body"],
                    "msg": "give exactly one of 'email' or 'username'",
                    "type": "value_error.identifier",
                }
            ]
        }

    def test_contract_example_missing_email(self, client: FlaskClient) -> None:
        response = client.post(f"{API}/token", json={"email": None, "password": "x"})
        assert response.status_code == 422
        assert response.json["detail"][0]["loc"] == ["body", "email"]  # type: ignore[index]

    def test_password_over_72_bytes_is_checked_not_refused(
        self, auth: AuthActions, client: FlaskClient
    ) -> None:
        auth.register()
        response = client.post(
            f"{API}/login", json={"email": "john@example.com", "password": "é" * 1024}
        )
        assert response.status_code == 401


@pytest.fixture
def failing_app(app_config: Any) -> Iterator[Flask]:
    app = create_app(app_config)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as production does

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with app.app_context():
        db.create_all()
        yield app
        db.drop_all()


def test_unexpected_error_is_a_generic_json_500_and_logged(
    failing_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="app"):
        response = failing_app.test_client().get("/boom")
    assert_json_error(response, 500, "Internal Server Error")
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    [logged] = [r for r in caplog.records if r.exc_info]
    assert logged.getMessage() == "Exception on /boom [GET]"
    assert logged.request_id == response.headers["X-Request-ID"]  # type: ignore[attr-defined]


class TestRedisDown:
    """The session store is unreachable: 503 where a session is needed, nowhere else."""

    @pytest.fixture
    def broken(self, redis_server: fakeredis.FakeServer) -> fakeredis.FakeServer:
        redis_server.connected = False
        return redis_server

    def test_login_and_token_are_503(
        self, auth: AuthActions, user: Any, broken: fakeredis.FakeServer
    ) -> None:
        assert_json_error(auth.login(), 503, "Session store unavailable")
        response = auth.client.post(
            f"{API}/token", json={"email": user["email"], "password": PASSWORD}
        )
        assert_json_error(response, 503, "Session store unavailable")
        assert "Set-Cookie" not in response.headers

    def test_me_and_logout_with_a_session_are_503_and_recover(
        self, auth: AuthActions, user: Any, redis_server: fakeredis.FakeServer
    ) -> None:
        token = auth.token()
        bearer = {"Authorization": f"Bearer {token}"}
        redis_server.connected = False
        assert_json_error(
            auth.client.get(f"{API}/me", headers=bearer), 503, "Session store unavailable"
        )
        assert_json_error(
            auth.client.post(f"{API}/logout", headers=bearer), 503, "Session store unavailable"
        )
        redis_server.connected = True
        assert auth.client.get(f"{API}/me", headers=bearer).status_code == 200

    def test_register_and_health_do_not_need_redis(
        self, auth: AuthActions, client: FlaskClient, broken: fakeredis.FakeServer
    ) -> None:
        assert auth.register().status_code == 201
        assert client.get("/healthz").status_code == 200
        assert client.get(f"{API}/me").status_code == 401  # no session to look up


class TestDatabaseDown:
    @pytest.fixture
    def client(self, redis: Any, tmp_path: Any) -> FlaskClient:
        missing = tmp_path / "no-such-dir" / "db.sqlite3"
        config = make_config(REDIS_CLIENT=redis, SQLALCHEMY_DATABASE_URI=f"sqlite:///{missing}")
        return create_app(config).test_client()

    def test_register_is_503(self, client: FlaskClient) -> None:
        response = AuthActions(client).register()
        assert_json_error(response, 503, "Database unavailable")

    def test_readyz_names_the_database(self, client: FlaskClient) -> None:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json["checks"] == {"database": "unavailable", "redis": "ok"}  # type: ignore[index]
        assert "database" in response.json["detail"]  # type: ignore[index]
