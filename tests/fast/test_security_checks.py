"""The request checks, security headers and CORS of app/security.py, at their
edges, through HTTP only: what a client or a browser sees (found missing by
mutation testing, docs/MUTATION.md)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from flask import Flask, Response
from flask.testing import FlaskClient

from tests.conftest import API, PASSWORD, UNKNOWN_SID, AuthActions, SessionKeys

LISTED = "https://app.example"


class TestBodySize:
    """413 for a body over MAX_CONTENT_LENGTH, and only over it."""

    @staticmethod
    def login_body(size: int) -> str:
        """A login body of exactly ``size`` bytes (unknown fields are ignored)."""
        body = {"email": "john@example.com", "password": "wrong-password", "pad": ""}
        body["pad"] = "p" * (size - len(json.dumps(body)))
        text = json.dumps(body)
        assert len(text) == size
        return text

    def test_a_body_of_exactly_the_limit_is_read(self, app: Flask, client: FlaskClient) -> None:
        limit = app.config["MAX_CONTENT_LENGTH"]
        body = self.login_body(limit)
        response = client.post(f"{API}/login", data=body, content_type="application/json")
        assert response.status_code == 401
        assert response.json == {"detail": "Invalid email or password"}

    def test_one_byte_more_is_413(self, app: Flask, client: FlaskClient) -> None:
        body = self.login_body(app.config["MAX_CONTENT_LENGTH"] + 1)
        response = client.post(f"{API}/login", data=body, content_type="application/json")
        assert response.status_code == 413


class TestChunkedBodies:
    """A body sent without Content-Length (Transfer-Encoding: chunked) is
    checked like any other: its type decides, not how it was framed."""

    @staticmethod
    def post_chunked(client: FlaskClient, path: str, content_type: str) -> Any:
        return client.post(
            path,
            input_stream=io.BytesIO(b"x=1"),
            headers={"Transfer-Encoding": "chunked", "Content-Type": content_type},
        )

    def test_a_chunked_text_body_with_our_cookie_is_403_and_the_session_lives(
        self, auth: AuthActions, user: Any, keys: SessionKeys
    ) -> None:
        assert auth.login().status_code == 200
        sid = auth.session_cookie()
        assert sid
        response = self.post_chunked(auth.client, f"{API}/logout", "text/plain")
        assert response.status_code == 403
        assert response.json == {"detail": "Cross-site request refused"}
        assert keys.exists(sid)
        assert auth.client.get(f"{API}/me").status_code == 200

    def test_a_chunked_form_without_a_cookie_is_415(self, client: FlaskClient) -> None:
        form = "application/x-www-form-urlencoded"
        response = self.post_chunked(client, f"{API}/login", form)
        assert response.status_code == 415
        assert response.json == {"detail": "Content-Type must be application/json"}


@pytest.mark.parametrize("content_type", ["application/vnd.api+json", "application/problem+json"])
def test_json_suffix_types_are_json(auth: AuthActions, content_type: str) -> None:
    """``application/<anything>+json`` is JSON, on every endpoint that takes JSON."""
    body = {"username": "ann", "email": "ann@example.com", "password": PASSWORD}
    client = auth.client
    register = client.post(f"{API}/register", data=json.dumps(body), content_type=content_type)
    assert register.status_code == 201
    credentials = json.dumps({"email": "ann@example.com", "password": PASSWORD})
    login = client.post(f"{API}/login", data=credentials, content_type=content_type)
    assert login.status_code == 200
    token = client.post(f"{API}/token", data=credentials, content_type=content_type)
    assert token.status_code == 200
    assert token.json["token_type"].lower() == "bearer"  # type: ignore[index]


class TestNoStore:
    def test_any_response_that_sets_a_cookie_is_never_stored(
        self, app: Flask, client: FlaskClient
    ) -> None:
        """Outside /api/ as well: a cookie in a shared cache is anyone's."""

        def remember() -> Response:
            response = Response("ok")
            response.set_cookie("seen", "1")
            return response

        app.add_url_rule("/remember", view_func=remember)
        response = client.get("/remember")
        assert "Set-Cookie" in response.headers
        assert response.headers["Cache-Control"] == "no-store"

    @pytest.mark.parametrize("path", ["/", "/static/app.js", "/static/app.css"])
    def test_the_demo_page_and_its_assets_stay_cacheable(
        self, client: FlaskClient, path: str
    ) -> None:
        client.set_cookie("session", UNKNOWN_SID)  # a stale cookie changes nothing
        response = client.get(path)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers
        assert "no-store" not in response.headers.get("Cache-Control", "")


class TestCorsPreflight:
    """What a browser on a listed origin is told before a credentialed call."""

    @pytest.fixture
    def app_config(self, app_config: Any) -> Any:
        app_config.CORS_ORIGINS = [LISTED]
        return app_config

    @staticmethod
    def preflight(client: FlaskClient, path: str, method: str, headers: str = "") -> Any:
        request_headers = {"Origin": LISTED, "Access-Control-Request-Method": method}
        if headers:
            request_headers["Access-Control-Request-Headers"] = headers
        response = client.options(path, headers=request_headers)
        assert response.headers["Access-Control-Allow-Origin"] == LISTED
        return response

    @staticmethod
    def listed(response: Any, header: str) -> set[str]:
        value = response.headers.get(header, "")
        return {item.strip().lower() for item in value.split(",") if item.strip()}

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/me"),
            ("POST", "/login"),
            ("DELETE", "/sessions/some-handle"),
            ("PATCH", "/passkeys/1"),  # renaming a passkey
        ],
    )
    def test_the_methods_the_api_uses_are_allowed(
        self, client: FlaskClient, method: str, path: str
    ) -> None:
        response = self.preflight(client, f"{API}{path}", method, "content-type")
        assert method.lower() in self.listed(response, "Access-Control-Allow-Methods")

    @pytest.mark.parametrize("method", ["PUT", "TRACE"])
    def test_other_methods_are_not(self, client: FlaskClient, method: str) -> None:
        response = self.preflight(client, f"{API}/login", method)
        assert method.lower() not in self.listed(response, "Access-Control-Allow-Methods")

    def test_json_and_bearer_headers_are_allowed(self, client: FlaskClient) -> None:
        response = self.preflight(client, f"{API}/me", "GET", "Content-Type, Authorization")
        allowed = self.listed(response, "Access-Control-Allow-Headers")
        assert allowed == {"content-type", "authorization"}

    def test_other_request_headers_are_not(self, client: FlaskClient) -> None:
        response = self.preflight(client, f"{API}/login", "POST", "content-type, x-forwarded-for")
        assert self.listed(response, "Access-Control-Allow-Headers") == {"content-type"}

    def test_a_preflight_is_cached_for_ten_minutes_at_least(self, client: FlaskClient) -> None:
        """Else a browser preflights nearly every call (Chromium's default: 5 s)."""
        response = self.preflight(client, f"{API}/login", "POST", "content-type")
        assert int(response.headers["Access-Control-Max-Age"]) >= 600
