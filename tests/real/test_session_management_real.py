"""Session management on real gunicorn (2 workers) and a real Redis."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
import redis as redis_py
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from tests.conftest import make_config
from tests.real.conftest import RUN_ID
from tests.real.services import Gunicorn, cookie_header

USER = {"username": "ann", "email": "ann@example.com", "password": "pa55word!"}
CREDENTIALS = {"email": USER["email"], "password": USER["password"]}


def keys_of_prefix(redis: redis_py.Redis, prefix: str) -> list[bytes]:
    """The session store's keys under ``prefix``: sessions and per-user indexes
    (not the account's activity list or mailed tokens, which share it)."""
    return [
        key
        for key in redis.scan_iter(match=prefix + "*", count=1000)
        if re.search(rb"\}:(u\d+|[A-Za-z0-9_-]{16})$", key)
    ]


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
    as_laptop = cookie_header(laptop or "")
    as_phone = cookie_header(phone or "")
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


BROWSER_LOGIN = {
    "user": {
        "username": "firstname_lastname",
        "email": "firstname.lastname@example.com",
        "password": "s3cret-passw0rd",
    },
    "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "ip": "203.0.113.7",
}
# The largest record: every field at its longest, a User-Agent that deflate
# cannot shrink below its 128 characters' worth, an IPv6 address.
LARGEST_LOGIN = {
    "user": {
        "username": "u" * 50,
        "email": "e" * 64 + "@" + ("d" * 61 + ".") * 3 + "com",
        "password": "s3cret-passw0rd",
    },
    "user_agent": "".join(chr(0x21 + (i * 37) % 94) for i in range(128)),
    "ip": "2001:db8::1234:5678",
}


@pytest.mark.parametrize(
    ("login", "budget"),
    [(BROWSER_LOGIN, 400), (LARGEST_LOGIN, 768)],  # measured: 336 and 720 on Redis 7.0
    ids=["browser", "largest"],
)
def test_redis_memory_per_session_with_its_index_entry(
    redis: redis_py.Redis, migrated_postgres_url: str, login: dict[str, Any], budget: int
) -> None:
    """Bytes of Redis (MEMORY USAGE) per live session, index entry included,
    whether a user has one session or several: at most 400 for a browser
    login (bench/RESULTS.md), and bounded for the largest record the service writes.
    Measured under a private prefix as long as the default "session:", so
    key names cost what they cost in production."""
    prefix = f"m{RUN_ID[:6]}:"
    assert len(prefix) == len("session:")
    app = create_app(
        make_config(
            REDIS_CLIENT=redis,
            SQLALCHEMY_DATABASE_URI=migrated_postgres_url,
            SESSION_KEY_PREFIX=prefix,
        )
    )
    client = app.test_client()
    body = login["user"]
    assert len(body["email"]) <= 254
    try:
        assert client.post("/api/auth/register", json=body).status_code == 201
        for sessions in (1, 4):
            for key in redis.scan_iter(match=prefix + "*", count=1000):
                redis.delete(key)
            for _ in range(sessions):
                response = client.post(
                    "/api/auth/token",
                    json={"email": body["email"], "password": body["password"]},
                    headers={"User-Agent": login["user_agent"]},
                    environ_base={"REMOTE_ADDR": login["ip"]},
                )
                assert response.status_code == 200
            keys = keys_of_prefix(redis, prefix)
            assert len(keys) == sessions + 1  # the sessions and the user's index
            total = sum(redis.memory_usage(key) or 0 for key in keys)
            print(f"{sessions} session(s): {total / sessions:.0f} bytes each")
            assert total / sessions <= budget, (sessions, total / sessions)
    finally:
        for key in redis.scan_iter(match=prefix + "*", count=1000):
            redis.delete(key)
        with app.app_context():
            db.session.execute(sa.text("TRUNCATE users RESTART IDENTITY CASCADE"))
            db.session.commit()
            db.engine.dispose()
