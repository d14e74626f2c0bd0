"""Fixtures shared by every tier: app, client, redis and an auth helper.

The fast tier runs on fakeredis and in-memory SQLite with bcrypt cost 4.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fakeredis
import msgspec
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from app.extensions import db
from config import TestingConfig
from tests import node_tools

API = "/api/auth"
# The shape of a real session id (tag.random), pointing at no session.
UNKNOWN_SID = "A" * 8 + "." + "A" * 43
PASSWORD = "s3cret-passw0rd"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Nothing in CI may skip silently: REQUIRE_SERVICES=1 turns skips into failures."""
    if os.environ.get("REQUIRE_SERVICES") == "1":
        config.option.require_services = True


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--require-services", action="store_true", default=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and item.config.getoption("require_services"):
        report.outcome = "failed"
        report.longrepr = f"skipped although REQUIRE_SERVICES=1: {report.longrepr}"


# This run's own password-work slots: other runs on the host keep theirs.
WORK_DIR = tempfile.mkdtemp(prefix="auth-test-work-")


def make_config(**overrides: Any) -> TestingConfig:
    """A testing config that ignores the developer's environment."""
    # Functional tests wait for password work rather than get a 503 when
    # they race; tests/fast/test_admission.py sets its own budget.
    config = TestingConfig(env={"PASSWORD_WORK_WAIT": "10", "PASSWORD_WORK_DIR": WORK_DIR})
    for name, value in overrides.items():
        setattr(config, name, value)
    return config


@pytest.fixture
def redis_server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def redis(redis_server: fakeredis.FakeServer) -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=redis_server)


@pytest.fixture
def app_config(redis: fakeredis.FakeRedis) -> TestingConfig:
    return make_config(REDIS_CLIENT=redis)


@pytest.fixture
def app(app_config: TestingConfig) -> Iterator[Flask]:
    app = create_app(app_config)
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.drop_all()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass
class AuthActions:
    """Register and log in through the API, as a client would."""

    client: FlaskClient
    prefix: str = API

    def register(
        self, username: str = "johndoe", email: str = "john@example.com", password: str = PASSWORD
    ) -> TestResponse:
        return self.client.post(
            f"{self.prefix}/register",
            json={"username": username, "email": email, "password": password},
        )

    def login(self, email: str = "john@example.com", password: str = PASSWORD) -> TestResponse:
        return self.client.post(f"{self.prefix}/login", json={"email": email, "password": password})

    def token(self, email: str = "john@example.com", password: str = PASSWORD) -> str:
        response = self.client.post(
            f"{self.prefix}/token", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.json
        return str(response.json["access_token"])  # type: ignore[index]

    def session_cookie(self) -> str | None:
        cookie = self.client.get_cookie("session")
        return cookie.value if cookie else None


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def user(auth: AuthActions) -> dict[str, Any]:
    response = auth.register()
    assert response.status_code == 201
    return response.json  # type: ignore[return-value]


@dataclass
class SessionKeys:
    """The session keys in Redis under the app's prefix (tiers use private prefixes)."""

    redis: Any
    prefix: str

    def of(self, sid: str) -> str:
        """The key of a session id ``tag.random``: ``{tag}:`` and the random
        part's 16-character selector (see app/auth/session_store.py)."""
        tag, _, random_part = sid.partition(".")
        return f"{self.prefix}{{{tag}}}:{random_part[:16]}"

    def everything(self) -> list[str]:
        return sorted(key.decode() for key in self.redis.scan_iter(match=self.prefix + "*"))

    def all(self) -> list[str]:
        """Session keys (``{tag}:<selector>``), without the per-user indexes,
        activity lists or mailed tokens that share the prefix."""
        return [key for key in self.everything() if re.search(r"\}:[A-Za-z0-9_-]{16}$", key)]

    def sessions_and_indexes(self) -> list[str]:
        """What the session store keeps: session keys and per-user indexes."""
        return sorted(self.all() + self.indexes())

    def indexes(self) -> list[str]:
        return [key for key in self.everything() if re.search(r"\}:u\d+$", key)]

    def exists(self, sid: str) -> bool:
        return bool(self.redis.exists(self.of(sid)))

    def ttl(self, sid: str) -> int:
        return int(self.redis.ttl(self.of(sid)))

    def delete(self, sid: str) -> None:
        self.redis.delete(self.of(sid))

    def record(self, sid: str) -> list[Any]:
        """The session's msgpack array, decoded without the service's types."""
        return list(msgspec.msgpack.decode(self.redis.get(self.of(sid))))


@pytest.fixture
def keys(app: Flask, redis: Any) -> SessionKeys:
    return SessionKeys(redis, app.config["SESSION_KEY_PREFIX"])


@pytest.fixture(scope="session")
def node_bin() -> Path:
    """The pinned npm tools (tests/clients/package.json), installed once into
    .cache/node/; skips, saying how to install them, without node and npm."""
    return node_tools.installed()
