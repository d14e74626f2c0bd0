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
    counters = list(redis.scan_iter(match=f"test-{RUN_ID}-rl:login-*"))
    assert len(counters) == 2  # the client's network, and (network, account)
    assert all(0 < redis.ttl(key) <= 60 for key in counters)


def test_parallel_guesses_on_every_worker_get_at_most_the_limit(
    production_gunicorn: Any,
) -> None:
    """24 wrong passwords at once, on 2 workers x 4 threads, in four spellings
    of one account: the limit (5) holds, whatever arrives in parallel. Each
    401 is one password check; the rest were refused before any."""
    server: Gunicorn = production_gunicorn(
        "parallel",
        GUNICORN_THREADS="4",
        GUNICORN_REUSE_PORT="1",  # the kernel spreads the connections over both workers
        RATELIMIT_LOGIN_PER_IDENTIFIER="5 per minute",
        RATELIMIT_LOGIN_PER_IP="100 per minute",
    )
    assert server.call("POST", "/api/auth/register", USER).status == 201
    spellings = [
        {"email": "ann@example.com"},
        {"email": "ANN@Example.com"},
        {"username": "ann"},
        {"username": "ANN"},
    ]
    bodies = [{**spellings[i % 4], "password": f"guess-{i}"} for i in range(24)]
    with ThreadPoolExecutor(max_workers=24) as pool:
        statuses = sorted(
            reply.status
            for reply in pool.map(lambda body: server.call("POST", "/api/auth/login", body), bodies)
        )
    assert statuses == [401] * 5 + [429] * 19
    assert len(server.worker_pids_in_access_log("/api/auth/login")) == 2
