"""No password, hash, session id or token ever reaches a log line."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from app.extensions import db
from app.models import User
from tests.conftest import API, PASSWORD, AuthActions


def test_no_secret_in_any_log_line(
    auth: AuthActions, redis_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Everything at INFO, the service's own loggers at DEBUG. (redis-py's DEBUG
    # lines call str() on fakeredis connections, which fakeredis cannot do.)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="app")
    auth.register()
    login = auth.login()
    cookie = auth.session_cookie()
    token = auth.token()
    auth.client.get(f"{API}/me")
    auth.client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"})
    auth.login(password="wrong-" + PASSWORD)
    auth.client.post(f"{API}/login", json={"username": "nobody", "password": PASSWORD})
    auth.client.post(f"{API}/logout", headers={"Authorization": f"Bearer {token}"})
    auth.client.post(f"{API}/logout")
    redis_server.connected = False
    auth.client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"})
    assert login.status_code == 200
    stored_hash = db.session.scalars(db.select(User)).one().password_hash
    secrets = {"password": PASSWORD, "hash": stored_hash, "cookie": cookie, "token": token}
    lines = [record.getMessage() + str(record.args) for record in caplog.records]
    assert any("login failed" in line for line in lines)  # the events are logged...
    for name, secret in secrets.items():
        assert secret
        leaked = [line for line in lines if secret in line]
        assert leaked == [], f"{name} leaked into the log"  # ...but no secret is
