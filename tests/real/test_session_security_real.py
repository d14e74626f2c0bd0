"""Session guarantees that only show with several processes on a real Redis."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import msgspec
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
    """Six clients use a token on two workers while it is logged out, over
    many rounds. Their one possible write (last seen, due once a minute) is
    made due on nearly every request by aging the record from outside, so
    that each logout races with write-backs, not only with reads."""
    server: Gunicorn = production_gunicorn("final")
    server.call("POST", "/api/auth/register", USER)
    keys = SessionKeys(redis, key_prefix)
    write_backs = 0
    for _ in range(ROUNDS):
        token = server.call("POST", "/api/auth/token", CREDENTIALS).body["access_token"]
        per_thread, seen = _race_a_logout(server, redis, token, keys.of(token))
        write_backs += seen
        assert keys.exists(token) is False
        assert keys.all() == []
        for statuses in per_thread:
            # Each client saw the session alive, then dead for good.
            first_401 = statuses.index(401)
            assert set(statuses[:first_401]) == {200}
            assert set(statuses[first_401:]) == {401}
    assert write_backs > ROUNDS  # the workers did write while logouts landed
    assert len(server.worker_pids_in_access_log("/api/auth/me")) == 2


ROUNDS = 12


def _race_a_logout(
    server: Gunicorn, redis: redis_py.Redis, token: str, key: str
) -> tuple[list[list[int]], int]:
    bearer = {"Authorization": f"Bearer {token}"}
    stop = threading.Event()
    per_thread: list[list[int]] = [[] for _ in range(6)]
    write_backs: list[int] = []

    def hammer(statuses: list[int]) -> None:
        while not stop.is_set():
            statuses.append(server.call("GET", "/api/auth/me", headers=bearer).status)

    def age() -> None:
        """Set last-seen to 0 again and again; count the workers' write-backs."""
        while not stop.is_set():
            raw = redis.get(key)
            if raw is not None:
                record = msgspec.msgpack.decode(raw)
                if record[3] != 0:
                    write_backs.append(record[3])
                record[3] = 0
                redis.set(key, msgspec.msgpack.encode(record), xx=True, keepttl=True)

    threads = [threading.Thread(target=hammer, args=(s,)) for s in per_thread]
    threads.append(threading.Thread(target=age))
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 20
        while (min(map(len, per_thread)) < 5 or len(write_backs) < 2) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.005)
        assert server.call("POST", "/api/auth/logout", headers=bearer).status == 200
        counts = [len(s) for s in per_thread]
        while any(len(s) < n + 5 for s, n in zip(per_thread, counts, strict=True)):
            time.sleep(0.005)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    return per_thread, len(write_backs)


def test_an_authenticated_request_is_one_redis_command(
    make_gunicorn: Any, gunicorn_env: dict[str, str], tmp_path: Path
) -> None:
    private = RedisServer()
    private.start()
    try:
        database_url = f"sqlite:///{tmp_path / 'commands.sqlite3'}"
        flask_db_upgrade(database_url)
        server: Gunicorn = make_gunicorn(
            {
                **gunicorn_env,
                "REDIS_URL": private.url,
                "DATABASE_URL": database_url,
                # The mail thread polls the outbox: its commands are not a request's.
                "MAIL_DELIVERY_THREAD": "false",
            }
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
