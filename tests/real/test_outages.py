"""Redis or the database goes away: a quick 503 JSON, healthz stays up, readyz
names the culprit, and the service recovers by itself when it returns
(docs/API.md, Status codes)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import UNKNOWN_SID
from tests.real.conftest import flask_db_upgrade
from tests.real.services import (
    Gunicorn,
    RedisServer,
    Reply,
    SilentServer,
    TcpProxy,
    cookie_header,
)

USER = {"username": "ann", "email": "ann@example.com", "password": "pa55word!"}
CREDENTIALS = {"email": USER["email"], "password": USER["password"]}
QUICK = 2.5  # seconds: "503 within about 2 s"


def assert_unavailable(reply: Reply, detail: str) -> None:
    assert reply.status == 503, reply.body
    assert reply.body == {"detail": detail}
    assert reply.seconds < QUICK, f"took {reply.seconds:.2f} s"


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'outage.sqlite3'}"
    flask_db_upgrade(url)
    return url


def test_redis_stopped_then_restarted(
    make_gunicorn: Any, gunicorn_env: dict[str, str], private_redis: RedisServer, sqlite_url: str
) -> None:
    server: Gunicorn = make_gunicorn(
        {**gunicorn_env, "REDIS_URL": private_redis.url, "DATABASE_URL": sqlite_url}
    )
    server.start()
    assert server.call("POST", "/api/auth/register", USER).status == 201
    token = server.call("POST", "/api/auth/token", CREDENTIALS).body["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    sid = server.call("POST", "/api/auth/login", CREDENTIALS).cookie()
    assert server.call("GET", "/api/auth/me", headers=bearer).status == 200

    private_redis.stop()
    for _ in range(4):  # enough to meet every worker's pooled connection
        assert_unavailable(
            server.call("GET", "/api/auth/me", headers=bearer), "Session store unavailable"
        )
        assert_unavailable(
            server.call("GET", "/api/auth/me", headers=cookie_header(sid)),
            "Session store unavailable",
        )
    assert_unavailable(
        server.call("POST", "/api/auth/login", CREDENTIALS), "Session store unavailable"
    )
    assert_unavailable(
        server.call("POST", "/api/auth/token", CREDENTIALS), "Session store unavailable"
    )
    # Fail closed: a wrong password gets the same answer, before any check.
    wrong = {**CREDENTIALS, "password": "wrong-password"}
    assert_unavailable(server.call("POST", "/api/auth/login", wrong), "Session store unavailable")
    assert_unavailable(
        server.call("POST", "/api/auth/logout", headers=bearer), "Session store unavailable"
    )
    assert server.call("GET", "/healthz").status == 200
    ready = server.call("GET", "/readyz")
    assert ready.status == 503
    assert ready.body["checks"] == {"database": "ok", "redis": "unavailable"}
    assert ready.seconds < QUICK

    private_redis.start()  # same port, empty: the old sessions are gone
    assert server.call("GET", "/readyz").status == 200
    for _ in range(4):
        assert server.call("GET", "/api/auth/me", headers=bearer).status == 401
    token = server.call("POST", "/api/auth/token", CREDENTIALS).body["access_token"]
    for _ in range(4):
        reply = server.call("GET", "/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert reply.status == 200


def test_redis_that_hangs_is_a_quick_503(
    make_gunicorn: Any, gunicorn_env: dict[str, str], sqlite_url: str
) -> None:
    silent = SilentServer()
    try:
        server: Gunicorn = make_gunicorn(
            {**gunicorn_env, "REDIS_URL": f"redis://127.0.0.1:{silent.port}/0",
             "DATABASE_URL": sqlite_url}
        )  # fmt: skip
        server.start()
        assert server.call("POST", "/api/auth/register", USER).status == 201
        assert_unavailable(
            server.call("POST", "/api/auth/login", CREDENTIALS), "Session store unavailable"
        )
        bearer = {"Authorization": "Bearer " + UNKNOWN_SID}  # shaped like ours: Redis is asked
        assert_unavailable(
            server.call("GET", "/api/auth/me", headers=bearer), "Session store unavailable"
        )
        assert server.call("GET", "/readyz").status == 503
    finally:
        silent.close()


def test_database_cut_then_back(
    make_gunicorn: Any, gunicorn_env: dict[str, str], postgres_database: Any
) -> None:
    direct = postgres_database("outage")
    flask_db_upgrade(direct)
    url = make_url(direct)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.up()
    try:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        server: Gunicorn = make_gunicorn({**gunicorn_env, "DATABASE_URL": proxied})
        server.start()
        assert server.call("POST", "/api/auth/register", USER).status == 201
        token = server.call("POST", "/api/auth/token", CREDENTIALS).body["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        for _ in range(4):  # every worker holds a pooled connection now
            assert server.call("GET", "/api/auth/me", headers=bearer).status == 200

        proxy.down()
        other = {"username": "bob", "email": "bob@example.com", "password": "pa55word!"}
        for _ in range(4):
            assert_unavailable(
                server.call("POST", "/api/auth/register", other), "Database unavailable"
            )
            # Sessions carry their user: who-am-I and the session list need
            # no database, so signed-in users notice nothing.
            me = server.call("GET", "/api/auth/me", headers=bearer)
            assert me.status == 200
            assert me.body["email"] == USER["email"]
            assert server.call("GET", "/api/auth/sessions", headers=bearer).status == 200
        assert_unavailable(
            server.call("POST", "/api/auth/token", CREDENTIALS), "Database unavailable"
        )
        assert server.call("GET", "/healthz").status == 200
        ready = server.call("GET", "/readyz")
        assert ready.status == 503
        assert ready.body["checks"] == {"database": "unavailable", "redis": "ok"}

        proxy.up()
        time.sleep(0.2)
        assert server.call("GET", "/readyz").status == 200
        for _ in range(4):  # pool_pre_ping replaced the dead connections
            assert server.call("GET", "/api/auth/me", headers=bearer).status == 200
        assert server.call("POST", "/api/auth/register", other).status == 201
    finally:
        proxy.down()
