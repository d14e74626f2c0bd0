"""Password work is admission-controlled: with the budget spent, a login
gets a fast 503 while signed-in users are served as usual."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from app.auth.admission import PasswordWork, slots_per_worker
from app.exceptions import PasswordWorkBusy
from tests.conftest import API, PASSWORD, AuthActions

BUSY = {"detail": "Too busy: try again shortly"}


def test_work_runs_on_a_lower_priority_thread() -> None:
    work = PasswordWork(slots=1, wait=0.0, nice=5)
    seen = work.run(lambda: (threading.current_thread().name, os.getpriority(
        os.PRIO_PROCESS, threading.get_native_id())))  # fmt: skip
    assert seen[0].startswith("password-work")
    assert seen[1] >= os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) + 5


def test_a_full_budget_refuses_at_once_and_frees_up() -> None:
    work = PasswordWork(slots=2, wait=0.0)
    started, release = threading.Barrier(3), threading.Event()

    def hold() -> None:
        started.wait()
        release.wait()

    holders = [threading.Thread(target=work.run, args=(hold,)) for _ in range(2)]
    for holder in holders:
        holder.start()
    started.wait()  # both slots are taken
    with pytest.raises(PasswordWorkBusy):
        work.run(lambda: None)
    release.set()
    for holder in holders:
        holder.join()
    assert work.run(lambda: 42) == 42


@pytest.mark.parametrize(("host", "workers", "each"), [(2, 2, 1), (4, 2, 2), (1, 4, 1), (5, 2, 3)])
def test_the_host_budget_is_split_over_the_workers(host: int, workers: int, each: int) -> None:
    assert slots_per_worker(host, workers) == each


class TestOverTheApi:
    @pytest.fixture
    def budget_spent(self, app: Flask) -> Iterator[PasswordWork]:
        work: PasswordWork = app.extensions["password_work"]
        taken = 0
        while work._free.acquire(blocking=False):  # take every slot
            taken += 1
        assert taken == work.slots
        yield work
        for _ in range(taken):
            work._free.release()

    @pytest.fixture
    def app_config(self, app_config: Any) -> Any:
        app_config.PASSWORD_WORK_WAIT = 0.0
        app_config.RATELIMIT_ENABLED = True
        return app_config

    def test_logins_get_a_fast_503_and_signed_in_users_are_served(
        self, app: Flask, auth: AuthActions, user: Any, request: pytest.FixtureRequest
    ) -> None:
        token = auth.token()
        work = request.getfixturevalue("budget_spent")
        for path in ("login", "token"):
            response = auth.client.post(
                f"{API}/{path}", json={"email": user["email"], "password": PASSWORD}
            )
            assert response.status_code == 503
            assert response.json == BUSY
            assert response.headers["Retry-After"] == "1"
        body = {"username": "eve", "email": "eve@example.com", "password": PASSWORD}
        assert auth.client.post(f"{API}/register", json=body).status_code == 503
        bearer = {"Authorization": f"Bearer {token}"}
        assert auth.client.get(f"{API}/me", headers=bearer).status_code == 200
        assert auth.client.get(f"{API}/sessions", headers=bearer).status_code == 200
        assert auth.client.get("/healthz").status_code == 200
        # A refusal checked no password, so it costs no place in the throttle.
        for _ in range(5):
            auth.client.post(f"{API}/login", json={"email": user["email"], "password": "x"})
        work._free.release()
        assert auth.login().status_code == 200
        work._free.acquire()
