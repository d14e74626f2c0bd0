"""Throttling shared by every worker: counters in the real Redis."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis as redis_py

from tests.real.conftest import RUN_ID
from tests.real.services import Gunicorn

USER = {"username": "ann", "email": "ann@example.com", "password": "pa55word!"}
WRONG = {"email": USER["email"], "password": "wrong-password"}


def test_failed_logins_are_counted_across_workers(
    production_gunicorn: Any, redis: redis_py.Redis
) -> None:
    # Single-threaded workers and a slower bcrypt: two requests sent together
    # must be served by two different workers.
    server: Gunicorn = production_gunicorn(
        "throttle",
        GUNICORN_THREADS="1",
        BCRYPT_ROUNDS="12",
        RATELIMIT_LOGIN_PER_IDENTIFIER="6 per minute",
        RATELIMIT_LOGIN_PER_IP="30 per minute",
    )
    assert server.call("POST", "/api/auth/register", USER).status == 201
    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = []
        for _ in range(3):
            pair = [pool.submit(server.call, "POST", "/api/auth/login", WRONG) for _ in range(2)]
            statuses += [future.result().status for future in pair]
    assert statuses == [401] * 6
    assert len(server.worker_pids_in_access_log("/api/auth/login")) == 2
    for path in ("/api/auth/login", "/api/auth/token"):
        reply = server.call("POST", path, {**WRONG, "password": USER["password"]})
        assert reply.status == 429
        assert reply.body == {"detail": "Too many attempts: try again later"}
        assert 1 <= int(reply.headers["Retry-After"]) <= 61
    counters = list(redis.scan_iter(match=f"LIMITS:LIMITER/test-{RUN_ID}-rl/*login*"))
    assert counters
    assert all(0 < redis.ttl(key) <= 60 for key in counters)
