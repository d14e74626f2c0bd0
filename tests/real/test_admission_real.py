"""Admission control on a real gunicorn: with the host's password budget
spent, a login gets its fast refusal while a signed-in user is served.

Proved by what answers, and by counting, not by timing: the budget is taken
by this test process itself (the host's slots are lock files), and a slow
login is still running when the others are answered.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from app.auth.admission import HostSlots
from tests.real.services import LOOPBACK, Gunicorn

USER = {"username": "ann", "email": "ann@example.com", "password": "pa55word!"}
CREDENTIALS = {"email": USER["email"], "password": USER["password"]}


def test_a_full_budget_refuses_logins_and_serves_me(production_gunicorn: Any) -> None:
    server: Gunicorn = production_gunicorn(
        "admission",
        WEB_CONCURRENCY="2",  # one slot for the host, not one per worker
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


BUSY = {"detail": "Too busy: try again shortly"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def one_slot_service(production_gunicorn: Any, tmp_path: Path) -> tuple[Gunicorn, HostSlots]:
    """Two workers sharing one password slot, in a directory this test can reach."""
    directory = tmp_path / "password-work"
    server: Gunicorn = production_gunicorn(
        "admission-host",
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="4",
        PASSWORD_WORK_SLOTS="1",
        PASSWORD_WORK_WAIT="0",
        PASSWORD_WORK_DIR=str(directory),
        RATELIMIT_ENABLED="false",
    )
    return server, HostSlots(str(directory), 1)


def test_the_budget_is_the_hosts_and_a_full_one_refuses_before_the_app(
    one_slot_service: tuple[Gunicorn, HostSlots],
) -> None:
    server, slots = one_slot_service
    assert server.call("POST", "/api/auth/register", USER).status == 201
    token = server.call("POST", "/api/auth/token", CREDENTIALS).body["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    taken = slots.take()  # this process holds the host's only slot now
    assert taken is not None
    try:
        # A fresh connection each: both workers answer some of them.
        for _ in range(8):
            refused = server.call("POST", "/api/auth/login", CREDENTIALS)
            assert refused.status == 503
            assert refused.body == BUSY
            assert refused.headers["Retry-After"] == "1"
            assert refused.headers["Cache-Control"] == "no-store"
            assert (
                refused.headers["Content-Security-Policy"]
                == "default-src 'none'; frame-ancestors 'none'"
            )
            assert len(refused.headers["X-Request-ID"]) == 32
        assert server.call("GET", "/api/auth/me", headers=bearer).status == 200
        assert server.call("GET", "/api/auth/sessions", headers=bearer).status == 200
    finally:
        slots.give_back(taken)
    assert server.call("POST", "/api/auth/login", CREDENTIALS).status == 200
    log = server.log()
    assert "password work refused" in log  # one line a second at most, with the count
    assert log.count("password work refused") < 8


def test_a_refused_connection_is_read_again_only_after_a_pause(
    one_slot_service: tuple[Gunicorn, HostSlots],
) -> None:
    """A flood that ignores Retry-After: each keep-alive connection gets at
    most one answer a second, however fast it retries, while a signed-in
    user on another connection is served throughout."""
    server, slots = one_slot_service
    assert server.call("POST", "/api/auth/register", USER).status == 201
    token = server.call("POST", "/api/auth/token", CREDENTIALS).body["access_token"]
    taken = slots.take()
    assert taken is not None
    flooders, seconds = 8, 2.0
    answers: list[int] = []
    served: list[int] = []
    stop = threading.Event()

    def flood() -> None:
        connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=10)
        body = json.dumps(CREDENTIALS)
        while not stop.is_set():
            connection.request(
                "POST", "/api/auth/login", body, {"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            response.read()
            answers.append(response.status)

    def signed_in_user() -> None:
        connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=10)
        while not stop.is_set():
            connection.request("GET", "/api/auth/me", headers={"Authorization": f"Bearer {token}"})
            response = connection.getresponse()
            response.read()
            served.append(response.status)

    threads = [threading.Thread(target=flood) for _ in range(flooders)]
    threads.append(threading.Thread(target=signed_in_user))
    try:
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join(15)
    finally:
        slots.give_back(taken)
    assert set(answers) == {503}
    # First answer at once, then one a second: unparked, this would be hundreds.
    assert len(answers) <= flooders * (int(seconds) + 2)
    assert set(served) == {200}
    assert len(served) >= 20
