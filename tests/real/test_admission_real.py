"""Admission control on a real gunicorn: with the host's password budget
spent, a login gets its fast refusal while a signed-in user is served.

Proved by what answers while a slow login holds the only slot, not by
timing: the login in flight is still running when the others are answered.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.real.services import Gunicorn

USER = {"username": "ann", "email": "ann@example.com", "password": "pa55word!"}
CREDENTIALS = {"email": USER["email"], "password": USER["password"]}


def test_a_full_budget_refuses_logins_and_serves_me(production_gunicorn: Any) -> None:
    server: Gunicorn = production_gunicorn(
        "admission",
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="4",
        PASSWORD_WORK_SLOTS="1",
        BCRYPT_ROUNDS="14",  # about a second a check: the slot stays taken
        RATELIMIT_ENABLED="false",
    )
    assert server.call("POST", "/api/auth/register", USER, timeout=30).status == 201
    token = server.call("POST", "/api/auth/token", CREDENTIALS, timeout=30).body["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}

    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(server.call, "POST", "/api/auth/login", CREDENTIALS, timeout=30)
        refusal = None
        deadline = time.monotonic() + 20
        while refusal is None and not slow.done() and time.monotonic() < deadline:
            reply = server.call("POST", "/api/auth/token", CREDENTIALS)
            if reply.status == 503:
                refusal = reply
        assert refusal is not None, "the second login was never refused"
        me = server.call("GET", "/api/auth/me", headers=bearer)
        sessions = server.call("GET", "/api/auth/sessions", headers=bearer)
        in_flight = not slow.done()
        assert slow.result().status == 200
    assert refusal.body == {"detail": "Too busy: try again shortly"}
    assert refusal.headers["Retry-After"] == "1"
    assert me.status == 200
    assert sessions.status == 200
    assert in_flight  # all of the above was answered while the first login hashed
