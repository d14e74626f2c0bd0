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
        PASSWORD_WORK_WAIT="0.05",
        BCRYPT_ROUNDS="14",  # about a second a check: the slot stays taken
        RATELIMIT_ENABLED="false",
    )
    assert server.call("POST", "/api/auth/register", USER, timeout=30).status == 201
    token = server.call("POST", "/api/auth/token", CREDENTIALS, timeout=30).body["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}

    with ThreadPoolExecutor(max_workers=3) as pool:
        logins = [
            pool.submit(server.call, "POST", "/api/auth/token", CREDENTIALS, timeout=30)
            for _ in range(3)
        ]
        # Whichever login took the only slot, the others are refused at once.
        deadline = time.monotonic() + 20
        while sum(login.done() for login in logins) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        me = server.call("GET", "/api/auth/me", headers=bearer)
        sessions = server.call("GET", "/api/auth/sessions", headers=bearer)
        in_flight = not all(login.done() for login in logins)
        replies = [login.result() for login in logins]
    statuses = sorted(reply.status for reply in replies)
    assert statuses == [200, 503, 503]
    refusal = next(reply for reply in replies if reply.status == 503)
    assert refusal.body == {"detail": "Too busy: try again shortly"}
    assert refusal.headers["Retry-After"] == "1"
    assert me.status == 200
    assert sessions.status == 200
    assert in_flight  # /me and /sessions were answered while the admitted login hashed
