"""Session management on real gunicorn (2 workers) and a real Redis."""

from __future__ import annotations

import threading
from typing import Any

import redis as redis_py
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from tests.conftest import make_config
from tests.real.conftest import RUN_ID
from tests.real.services import Gunicorn

USER = {"username": "ann", "email": "ann@example.com", "password": "pa55word!"}
CREDENTIALS = {"email": USER["email"], "password": USER["password"]}
LONGEST_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) " + "x" * 200


def keys_of_prefix(redis: redis_py.Redis, prefix: str) -> list[bytes]:
    return list(redis.scan_iter(match=prefix + "*", count=1000))


def test_list_revoke_and_logout_everywhere_across_workers(
    production_gunicorn: Any,
    redis: redis_py.Redis,
    key_prefix: str,
) -> None:
    server: Gunicorn = production_gunicorn("manage")
    assert server.call("POST", "/api/auth/register", USER).status == 201
    laptop = server.call("POST", "/api/auth/login", CREDENTIALS).cookie()
    phone = server.call("POST", "/api/auth/login", CREDENTIALS).cookie()
    token = server.call("POST", "/api/auth/token", CREDENTIALS).body["access_token"]
    as_laptop = {"Cookie": f"session={laptop}"}
    as_phone = {"Cookie": f"session={phone}"}
    as_script = {"Authorization": f"Bearer {token}"}

    listed = server.call("GET", "/api/auth/sessions", headers=as_laptop).body
    assert [s["kind"] for s in listed] == ["bearer", "cookie", "cookie"]
    assert [s["current"] for s in listed] == [False, False, True]

    phone_handle = listed[1]["id"]
    assert (
        server.call("DELETE", f"/api/auth/sessions/{phone_handle}", headers=as_laptop).status == 204
    )
    # Dead on every worker at once; the others alive on every worker.
    for headers, status in ((as_phone, 401), (as_laptop, 200)):
        replies = server.call_until_every_worker_answered("GET", "/api/auth/me", headers)
        assert {reply.status for reply in replies} == {status}

    # 200 /me calls from 8 threads race a logout-everywhere.
    calls = iter(range(200))
    lock = threading.Lock()

    def hammer() -> None:
        while True:
            with lock:
                if next(calls, None) is None:
                    return
            server.call("GET", "/api/auth/me", headers=as_script)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    ended = server.call("POST", "/api/auth/logout-all", {}, headers=as_laptop)
    for thread in threads:
        thread.join(60)
    assert ended.status == 200
    assert ended.body["ended"] == 2
    assert keys_of_prefix(redis, key_prefix) == []
    for headers in (as_laptop, as_phone, as_script):
        assert server.call("GET", "/api/auth/me", headers=headers).status == 401


def test_redis_memory_per_session_with_its_index_entry(
    redis: redis_py.Redis, migrated_postgres_url: str
) -> None:
    """At most 400 bytes (MEMORY USAGE) per live session, index entry included,
    with the longest User-Agent kept and an IPv6 address, whether a user has one
    session or several. Measured under a private prefix as long as the default
    "session:", so key names cost what they cost in production."""
    prefix = f"m{RUN_ID[:6]}:"
    assert len(prefix) == len("session:")
    app = create_app(
        make_config(
            SESSION_REDIS=redis,
            SQLALCHEMY_DATABASE_URI=migrated_postgres_url,
            SESSION_KEY_PREFIX=prefix,
        )
    )
    client = app.test_client()
    body = {"username": "mem", "email": "mem@example.com", "password": "s3cret-passw0rd"}
    try:
        assert client.post("/api/auth/register", json=body).status_code == 201
        for sessions in (1, 4):
            for key in keys_of_prefix(redis, prefix):
                redis.delete(key)
            for _ in range(sessions):
                response = client.post(
                    "/api/auth/token",
                    json={"email": body["email"], "password": body["password"]},
                    headers={"User-Agent": LONGEST_USER_AGENT},
                    environ_base={"REMOTE_ADDR": "2001:db8::1234:5678"},
                )
                assert response.status_code == 200
            keys = keys_of_prefix(redis, prefix)
            assert len(keys) == sessions + 1  # the sessions and the user's index
            total = sum(redis.memory_usage(key) or 0 for key in keys)
            assert total / sessions <= 400, (sessions, total / sessions)
    finally:
        for key in keys_of_prefix(redis, prefix):
            redis.delete(key)
        with app.app_context():
            db.session.execute(sa.text("TRUNCATE users RESTART IDENTITY"))
            db.session.commit()
            db.engine.dispose()
