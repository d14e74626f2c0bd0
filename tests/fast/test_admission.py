"""Password work is admission-controlled: with the budget spent, a login
gets a fast 503 while signed-in users are served as usual."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app.auth.admission import HostSlots, PasswordWork, RefusalLog
from app.exceptions import PasswordWorkBusy
from tests.conftest import API, PASSWORD, AuthActions

BUSY = {"detail": "Too busy: try again shortly"}


def test_work_runs_on_its_own_thread_at_its_own_priority(tmp_path: Path) -> None:
    # A lower priority than the caller's is always allowed (a higher one needs privilege).
    lower = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 1)
    work = PasswordWork(slots=1, wait=0.0, directory=str(tmp_path), priority=lower)
    seen = work.run(lambda: (threading.current_thread().name, os.getpriority(
        os.PRIO_PROCESS, threading.get_native_id())))  # fmt: skip
    assert seen[0].startswith("password-work")
    assert seen[1] == lower


def test_a_full_budget_refuses_at_once_and_frees_up(tmp_path: Path) -> None:
    work = PasswordWork(slots=2, wait=0.0, directory=str(tmp_path))
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
    assert work.slots.full()
    release.set()
    for holder in holders:
        holder.join()
    assert not work.slots.full()
    assert work.run(lambda: 42) == 42


def test_a_short_wait_gets_a_slot_freed_meanwhile(tmp_path: Path) -> None:
    work = PasswordWork(slots=1, wait=5.0, directory=str(tmp_path))
    holder = HostSlots(str(tmp_path), 1)  # another process, as far as flock can tell
    number = holder.take()
    assert number is not None
    threading.Timer(0.05, holder.give_back, args=(number,)).start()
    assert work.run(lambda: 42) == 42


def test_the_budget_is_the_hosts_not_the_processes(tmp_path: Path) -> None:
    """Two processes with one directory share its slots: what one holds, the
    other cannot take. Separate opens of the files stand for processes here
    (flock locks belong to an open file); a real child process follows."""
    first, second = HostSlots(str(tmp_path), 2), HostSlots(str(tmp_path), 2)
    taken = [first.take(), second.take()]
    assert sorted(n for n in taken if n is not None) == [0, 1]
    assert first.full()
    assert second.full()
    assert first.take() is None
    assert second.take() is None
    first.give_back(taken[0])  # type: ignore[arg-type]
    assert second.take() == taken[0]


def test_a_process_that_dies_holding_a_slot_frees_it(tmp_path: Path) -> None:
    slots = HostSlots(str(tmp_path), 1)
    ready, child = multiprocessing.get_context("fork").Event(), None

    def hold_and_hang() -> None:
        assert HostSlots(str(tmp_path), 1).take() == 0
        ready.set()
        time.sleep(60)

    child = multiprocessing.get_context("fork").Process(target=hold_and_hang)
    child.start()
    try:
        assert ready.wait(10)
        assert slots.full()
        child.kill()  # a worker killed mid-hash: no code of ours runs
        child.join(10)
        assert not slots.full()
    finally:
        child.kill()


def test_a_directory_others_can_write_to_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with pytest.raises(RuntimeError, match="nobody else can write to"):
        HostSlots(str(shared), 1).prepare()
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(RuntimeError, match="PASSWORD_WORK_DIR"):
        HostSlots(str(tmp_path / "link"), 1).prepare()


def test_refusals_are_logged_once_a_second_with_their_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    refusals = RefusalLog(clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="app.auth.admission"):
        for _ in range(500):
            refusals.count()
            now[0] += 0.001  # 500 refusals in half a second: one line, the first's
        assert len(caplog.records) == 1
        now[0] += 0.6
        refusals.count()
    assert [record.getMessage() for record in caplog.records] == [
        "password work refused 1 requests in 0.0 s: budget full",  # the first, at once
        "password work refused 500 requests in 1.1 s: budget full",
    ]
    assert caplog.records[1].refused == 500  # type: ignore[attr-defined]


class Spent:
    """Every slot of the host's budget, held by someone else."""

    def __init__(self, slots: HostSlots) -> None:
        self.slots = slots
        self.taken: list[int] = []

    def take(self) -> None:
        self.taken = [n for _ in range(self.slots.count) if (n := self.slots.take()) is not None]
        assert len(self.taken) == self.slots.count

    def give_back(self) -> None:
        for number in self.taken:
            self.slots.give_back(number)
        self.taken = []


class TestOverTheApi:
    @pytest.fixture
    def budget_spent(self, app: Flask) -> Iterator[Spent]:
        work: PasswordWork = app.extensions["password_work"]
        spent = Spent(HostSlots(str(work.slots.directory), work.slots.count))  # another process's
        spent.take()
        yield spent
        spent.give_back()

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
        work.give_back()
        assert auth.login().status_code == 200

    @pytest.mark.parametrize("prefix", [API, "/api/v1/auth"])
    @pytest.mark.parametrize(
        "path",
        [
            "/login",
            "/token",
            "/register",
            "/password/change",
            "/password/reset",
            "/account/delete",
            "/totp/setup",
            "/recovery-codes",
            "/passkeys/register/options",
        ],
    )
    def test_the_gate_refuses_every_password_view_before_the_app(
        self, app: Flask, request: pytest.FixtureRequest, prefix: str, path: str
    ) -> None:
        sent = count_redis_commands(app, request)
        request.getfixturevalue("budget_spent")
        response = app.test_client().post(
            f"{prefix}{path}", json={"password": "x"}, headers={"X-Request-ID": "trace-1234"}
        )
        assert response.status_code == 503
        assert response.json == BUSY
        assert response.headers["X-Request-ID"] == "trace-1234"
        assert sent == []  # no session, no throttle: nothing reached Redis

    def test_the_gate_answers_exactly_as_the_app_would(
        self, app: Flask, user: Any, request: pytest.FixtureRequest
    ) -> None:
        request.getfixturevalue("budget_spent")
        body = {"email": user["email"], "password": PASSWORD}
        client = app.test_client()
        by_gate = client.post(f"{API}/login", json=body)
        # A request with an Origin goes through the app (CORS), which refuses it itself.
        by_app = client.post(f"{API}/login", json=body, headers={"Origin": "http://localhost"})
        assert by_gate.status == by_app.status == "503 SERVICE UNAVAILABLE"
        assert by_gate.get_data() == by_app.get_data()

        def comparable(headers: Any) -> dict[str, str]:
            return {k: v for k, v in headers.items() if k not in {"X-Request-ID", "Vary"}}

        assert comparable(by_gate.headers) == comparable(by_app.headers)
        assert by_gate.headers["Cache-Control"] == "no-store"
        assert len(by_gate.headers["X-Request-ID"]) == 32

    def test_with_slots_free_the_gate_lets_everything_through(
        self, auth: AuthActions, user: Any
    ) -> None:
        assert auth.login().status_code == 200
        assert auth.client.get(f"{API}/me").status_code == 200


def count_redis_commands(app: Flask, request: pytest.FixtureRequest) -> list[str]:
    sent: list[str] = []
    client = app.extensions["redis"]
    monkeypatch = request.getfixturevalue("monkeypatch")
    for name in ("execute_command", "pipeline"):
        original = getattr(client, name)

        def counting(*args: Any, _original: Any = original, _name: str = name, **kw: Any) -> Any:
            sent.append(_name)
            return _original(*args, **kw)

        monkeypatch.setattr(client, name, counting)
    return sent
