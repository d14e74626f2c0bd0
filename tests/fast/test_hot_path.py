"""GET /me's fast path (app/auth/hot_path.py) answers exactly what the view
would, and leaves every other request to Flask."""

from __future__ import annotations

from typing import Any

import pytest
import redis as redis_py
from flask import Flask
from flask.testing import FlaskClient
from redis.exceptions import RedisClusterException
from werkzeug.test import TestResponse

from tests.conftest import API, AuthActions

OWN_ORIGIN = {"Origin": "http://localhost"}  # same origin: no CORS, so the view answers


def comparable(response: TestResponse) -> tuple[str, bytes, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k != "X-Request-ID"}
    return response.status, response.get_data(), headers


def views_called(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    called: list[str] = []
    original = app.dispatch_request

    def counting() -> Any:
        called.append("flask")
        return original()

    monkeypatch.setattr(app, "dispatch_request", counting)
    return called


@pytest.mark.parametrize("prefix", [API, "/api/v1/auth"])
@pytest.mark.parametrize("by", ["cookie", "bearer"])
def test_the_fast_answer_is_the_views_byte_for_byte(
    app: Flask,
    auth: AuthActions,
    user: Any,
    monkeypatch: pytest.MonkeyPatch,
    prefix: str,
    by: str,
) -> None:
    headers = {"Authorization": f"Bearer {auth.token()}"} if by == "bearer" else {}
    if by == "cookie":
        assert auth.login().status_code == 200
    called = views_called(app, monkeypatch)
    fast = auth.client.get(f"{prefix}/me", headers={**headers, "X-Request-ID": "trace-12345"})
    assert called == []
    slow = auth.client.get(f"{prefix}/me", headers={**headers, **OWN_ORIGIN})
    assert called == ["flask"]
    assert comparable(fast) == comparable(slow)
    assert fast.status_code == 200
    assert fast.headers["X-Request-ID"] == "trace-12345"
    assert fast.json is not None
    assert fast.json["email"] == "john@example.com"


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/me", {}),  # no credential: the view's 401
        ("/me", {"headers": {"Authorization": "Bearer not-a-session"}}),
        ("/me?x=1", {"with_token": True}),
        ("/me", {"with_token": True, "headers": OWN_ORIGIN}),
        ("/me", {"with_token": True, "data": "x", "content_type": "text/plain"}),
    ],
)
def test_anything_else_goes_to_the_view(
    app: Flask,
    auth: AuthActions,
    user: Any,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    extra: dict[str, Any],
) -> None:
    extra = dict(extra)
    headers = dict(extra.pop("headers", {}))
    if extra.pop("with_token", False):
        headers["Authorization"] = f"Bearer {auth.token()}"
    called = views_called(app, monkeypatch)
    auth.client.get(f"{API}{path}", headers=headers, **extra)
    assert called == ["flask"]


def test_an_untrusted_host_goes_to_the_view(app_config: Any, redis: Any) -> None:
    from app import create_app
    from tests.conftest import make_config

    app = create_app(make_config(REDIS_CLIENT=redis, TRUSTED_HOSTS=["auth.example.com"]))
    client: FlaskClient = app.test_client()
    assert client.get(f"{API}/me", headers={"Host": "evil.example"}).status_code == 400


def test_of_two_session_cookies_the_first_counts_as_in_the_view(
    app: Flask, auth: AuthActions, user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert auth.login().status_code == 200
    name = app.config["SESSION_COOKIE_NAME"]
    live = auth.client.get_cookie(name)
    assert live is not None
    called = views_called(app, monkeypatch)
    first_live = {"Cookie": f"{name}={live.value}; {name}=stale"}
    first_stale = {"Cookie": f"{name}=stale; {name}={live.value}"}
    fresh = app.test_client(use_cookies=False)  # the Cookie header as written
    assert fresh.get(f"{API}/me", headers=first_live).status_code == 200
    assert called == []
    assert fresh.get(f"{API}/me", headers=first_stale).status_code == 401
    assert called == ["flask"]


@pytest.mark.parametrize(
    "error", [redis_py.ConnectionError("down"), RedisClusterException("no slots covered")]
)
def test_a_redis_failure_goes_to_the_view_which_answers_503(
    app: Flask, auth: AuthActions, user: Any, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    token = auth.token()
    store = app.extensions["session_store"]

    def failing(session_id: str | None) -> None:
        raise error

    monkeypatch.setattr(store, "load", failing)
    called = views_called(app, monkeypatch)
    response = auth.client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"})
    assert called == ["flask"]
    assert response.status_code == 503
    assert response.json == {"detail": "Session store unavailable"}
