"""Structured logs with a request id, login events, and never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
from flask import Flask

from app import create_app
from app.extensions import db
from app.models import User
from tests.conftest import API, PASSWORD, AuthActions, make_config


@pytest.fixture
def app_config(app_config: Any) -> Any:
    app_config.LOG_FORMAT = "json"
    app_config.LOG_LEVEL = "DEBUG"
    app_config.RATELIMIT_ENABLED = True
    app_config.RATELIMIT_LOGIN_PER_IDENTIFIER = "3 per minute"
    app_config.PROPAGATE_EXCEPTIONS = False
    return app_config


@pytest.fixture
def log_output(app: Flask) -> Iterator[io.StringIO]:
    """What the service's log handler writes, as production would ship it."""
    buffer = io.StringIO()
    handler = logging.getLogger("app").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


class TestRequestId:
    def test_every_response_carries_one(self, client: Any) -> None:
        ids = {
            client.get(path).headers["X-Request-ID"] for path in ("/healthz", "/nope", f"{API}/me")
        }
        assert len(ids) == 3
        assert all(len(request_id) == 32 for request_id in ids)

    def test_a_well_formed_incoming_id_is_kept_others_replaced(self, client: Any) -> None:
        kept = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a9c2e-01"})
        assert kept.headers["X-Request-ID"] == "lb-7f3a9c2e-01"
        for bad in ("short", "x" * 65, "evil;header=1", "a b c d e f g h"):
            replaced = client.get("/healthz", headers={"X-Request-ID": bad})
            assert replaced.headers["X-Request-ID"] != bad

    def test_log_lines_carry_the_request_id_and_client_ip(
        self, auth: AuthActions, log_output: io.StringIO
    ) -> None:
        response = auth.client.post(
            f"{API}/register",
            json={"username": "ann", "email": "ann@example.com", "password": PASSWORD},
            environ_base={"REMOTE_ADDR": "198.51.100.9"},
        )
        [line] = [entry for entry in lines(log_output) if entry.get("event") == "registered"]
        assert line["request_id"] == response.headers["X-Request-ID"]
        assert line["client_ip"] == "198.51.100.9"
        assert line["level"] == "INFO"
        assert line["user_id"] == 1


class TestLoginEvents:
    def test_success_and_failures(
        self, auth: AuthActions, user: Any, log_output: io.StringIO
    ) -> None:
        auth.login()
        auth.login(password="wrong-password")
        auth.login(email="nobody@example.com")
        events = [e for e in lines(log_output) if e.get("event") in {"login", "login_failed"}]
        assert [(e["event"], e.get("reason")) for e in events] == [
            ("login", None),
            ("login_failed", "wrong_password"),
            ("login_failed", "unknown_account"),
        ]
        assert events[0]["user_id"] == events[1]["user_id"] == user["id"]
        assert len(events[2]["identifier"]) == 16  # a pseudonym, not the address
        assert all(e["client_ip"] == "127.0.0.1" for e in events)


def test_no_secret_in_any_log_line(
    app: Flask, auth: AuthActions, redis_server: fakeredis.FakeServer, log_output: io.StringIO
) -> None:
    """Every flow, every outcome: no password, hash, session id, token or email."""

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    auth.register()
    login = auth.login()
    cookie = auth.session_cookie()
    token = auth.token()
    form_token = auth.client.post(
        f"{API}/token", data={"username": "john@example.com", "password": PASSWORD}
    ).json["access_token"]  # type: ignore[index]
    bearer = {"Authorization": f"Bearer {token}"}
    auth.client.get(f"{API}/me")
    auth.client.get(f"{API}/me", headers=bearer)
    handles = [s["id"] for s in auth.client.get(f"{API}/sessions").json]  # type: ignore[union-attr]
    auth.client.delete(f"{API}/sessions/{handles[-1]}", headers=bearer)
    for _ in range(4):  # wrong passwords, then the throttle
        auth.login(password="wrong-" + PASSWORD)
    auth.client.post(f"{API}/login", json={"username": "nobody", "password": PASSWORD})
    auth.client.post(f"{API}/logout-all", json={"keep_current": True}, headers=bearer)
    auth.client.post(f"{API}/logout", headers=bearer)
    auth.client.get("/boom")
    redis_server.connected = False
    auth.client.get(f"{API}/me", headers=bearer)
    auth.client.get("/readyz")
    redis_server.connected = True

    assert login.status_code == 200
    output = log_output.getvalue()
    assert '"event": "login"' in output
    assert '"event": "logout_all"' in output
    assert "Traceback" in output  # the 500 was logged with its cause
    stored_hash = db.session.scalars(db.select(User)).one().password_hash
    secrets = {
        "password": PASSWORD,
        "hash": stored_hash,
        "bcrypt part of the hash": stored_hash.split("$", 2)[2][7:],
        "cookie": cookie,
        "token": token,
        "token secret": token.split(".")[1],
        "form token": form_token,
        "email": "john@example.com",
    }
    for name, secret in secrets.items():
        assert secret
        assert secret not in output, f"{name} leaked into the log"


def test_text_format_outside_production(redis: Any) -> None:
    app = create_app(make_config(REDIS_CLIENT=redis))
    handler = logging.getLogger("app").handlers[0]
    assert not handler.formatter.__class__.__name__.startswith("Json")  # type: ignore[union-attr]
    assert app.config["LOG_FORMAT"] == "text"


def test_passkey_flows_log_no_challenge_credential_or_session(
    auth: AuthActions, user: Any, log_output: io.StringIO
) -> None:
    from tests.softauthn import SoftAuthenticator

    authenticator = SoftAuthenticator()
    client = auth.client
    assert auth.login().status_code == 200
    options = client.post(f"{API}/passkeys/register/options", json={"password": PASSWORD}).json
    credential = authenticator.create(options)
    created = client.post(f"{API}/passkeys/register", json={"credential": credential, "name": "k"})
    assert created.status_code == 201
    secrets_seen = [
        options["challenge"],
        credential["id"],
        credential["response"]["clientDataJSON"],
    ]
    for origin in ("http://localhost", "https://evil.example.com"):
        sign_in = client.post(f"{API}/passkeys/authenticate/options", json={}).json
        assertion = authenticator.get(sign_in, origin=origin)
        client.post(
            f"{API}/passkeys/login",
            json={"challenge_id": sign_in["challenge_id"], "credential": assertion},
        )
        secrets_seen += [
            sign_in["challenge_id"],
            sign_in["challenge"],
            assertion["response"]["signature"],
        ]
    cookie = auth.session_cookie()
    assert cookie is not None
    output = log_output.getvalue()
    for secret in [*secrets_seen, cookie, PASSWORD]:
        assert secret not in output
    events = [entry.get("event") for entry in lines(log_output)]
    assert "passkey_added" in events
    assert "passkey_refused" in events
