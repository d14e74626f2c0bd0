"""Session guarantees that only show with several processes on a real Redis."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import redis as redis_py

from tests.conftest import SessionKeys
from tests.real.conftest import flask_db_upgrade
from tests.real.services import Gunicorn, RedisServer

USER = {"username": "ann", "email": "ann@example.com", "password": "pa55word!"}
CREDENTIALS = {"email": USER["email"], "password": USER["password"]}


def test_logout_is_final_while_other_workers_use_the_token(
    production_gunicorn: Any,
    redis: redis_py.Redis,
    key_prefix: str,
) -> None:
    server: Gunicorn = production_gunicorn("final")
    server.call("POST", "/api/auth/register", USER)
    token = server.call("POST", "/api/auth/token", CREDENTIALS).body["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}

    stop = threading.Event()
    per_thread: list[list[int]] = [[] for _ in range(6)]

    def hammer(statuses: list[int]) -> None:
        while not stop.is_set():
            statuses.append(server.call("GET", "/api/auth/me", headers=bearer).status)

    threads = [threading.Thread(target=hammer, args=(s,)) for s in per_thread]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while min(map(len, per_thread)) < 5 or (
        len(server.worker_pids_in_access_log("/api/auth/me")) < 2 and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    assert server.call("POST", "/api/auth/logout", headers=bearer).status == 200
    counts = [len(s) for s in per_thread]
    while any(len(s) < n + 5 for s, n in zip(per_thread, counts, strict=True)):
        time.sleep(0.01)
    stop.set()
    for thread in threads:
        thread.join(30)

    keys = SessionKeys(redis, key_prefix)
    assert keys.exists(token) is False
    assert keys.everything() == []
    assert len(server.worker_pids_in_access_log("/api/auth/me")) == 2
    for statuses in per_thread:
        first_401 = statuses.index(401)
        assert set(statuses[:first_401]) == {200}
        assert set(statuses[first_401:]) == {401}


def test_an_authenticated_request_is_one_redis_command(
    make_gunicorn: Any, gunicorn_env: dict[str, str], tmp_path: Path
) -> None:
    private = RedisServer()
    private.start()
    try:
        database_url = f"sqlite:///{tmp_path / 'commands.sqlite3'}"
        flask_db_upgrade(database_url)
        server: Gunicorn = make_gunicorn(
            {**gunicorn_env, "REDIS_URL": private.url, "DATABASE_URL": database_url}
        )
        server.start()
        server.call("POST", "/api/auth/register", USER)
        token = server.call("POST", "/api/auth/token", CREDENTIALS).body["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        # Warm up until both workers have a pooled connection: opening one
        # costs a HELLO, once per connection, not per request.
        while len(server.worker_pids_in_access_log("/api/auth/me")) < 2:
            server.call("GET", "/api/auth/me", headers=bearer)

        stats = redis_py.Redis.from_url(private.url)
        stats.config_resetstat()
        for _ in range(50):
            assert server.call("GET", "/api/auth/me", headers=bearer).status == 200
        commands = stats.info("commandstats")
        served = {name: value["calls"] for name, value in commands.items()}
        served.pop("cmdstat_info", None)
        served.pop("cmdstat_config|resetstat", None)
        assert served == {"cmdstat_getex": 50}
    finally:
        private.stop()
