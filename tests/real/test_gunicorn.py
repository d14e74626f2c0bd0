"""Real gunicorn, 2 workers x 2 threads, from the project's gunicorn.conf.py."""

from __future__ import annotations

import http.client
import threading
import time
from typing import Any

import pytest
import redis as redis_py

from tests.conftest import SessionKeys
from tests.real.conftest import flask_db_upgrade
from tests.real.services import Gunicorn, Reply, cookie_header

USER = {"username": "ann", "email": "ann@example.com", "password": "pa55word!"}
CREDENTIALS = {"email": USER["email"], "password": USER["password"]}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cookie(sid: str) -> dict[str, str]:
    return cookie_header(sid)


def test_both_flows_across_workers_then_logout_deletes_the_key(
    production_gunicorn: Any,
    redis: redis_py.Redis,
    key_prefix: str,
) -> None:
    server: Gunicorn = production_gunicorn("gunicorn")
    assert server.call("POST", "/api/auth/register", USER).status == 201

    login = server.call("POST", "/api/auth/login", CREDENTIALS)
    assert login.status == 200
    sid = login.cookie()
    assert sid
    assert "Secure" in login.headers["Set-Cookie"]  # production
    token = server.call("POST", "/api/auth/token", CREDENTIALS).body["access_token"]
    keys = SessionKeys(redis, key_prefix)
    assert keys.exists(sid)
    assert 0 < keys.ttl(token) <= 1800

    for headers in (cookie(sid), bearer(token)):
        replies = server.call_until_every_worker_answered("GET", "/api/auth/me", headers)
        assert {reply.status for reply in replies} == {200}
        assert {reply.body["email"] for reply in replies} == {USER["email"]}
    assert len(server.worker_pids_in_access_log("/api/auth/me")) == 2

    assert server.call("POST", "/api/auth/logout", headers=cookie(sid)).status == 200
    assert server.call("POST", "/api/auth/logout", headers=bearer(token)).status == 200
    assert not keys.exists(sid)
    assert not keys.exists(token)
    assert keys.sessions_and_indexes() == []
    for _ in range(10):  # dead on every worker
        assert server.call("GET", "/api/auth/me", headers=cookie(sid)).status == 401
        assert server.call("GET", "/api/auth/me", headers=bearer(token)).status == 401


def test_sessions_survive_a_gunicorn_restart(
    make_gunicorn: Any, gunicorn_env: dict[str, str], postgres_database: Any
) -> None:
    database_url = postgres_database("restart")
    flask_db_upgrade(database_url)
    env = {**gunicorn_env, "DATABASE_URL": database_url}
    first = make_gunicorn(env)
    first.start()
    first.call("POST", "/api/auth/register", USER)
    token = first.call("POST", "/api/auth/token", CREDENTIALS).body["access_token"]
    first.stop()

    second = make_gunicorn(env)
    second.start()
    reply = second.call("GET", "/api/auth/me", headers=bearer(token))
    assert reply.status == 200
    assert reply.body["username"] == "ann"


def test_sigterm_lets_in_flight_requests_finish(production_gunicorn: Any) -> None:
    # Cost 15: one bcrypt verify takes seconds, so the login is still in
    # flight when the master gets SIGTERM.
    server: Gunicorn = production_gunicorn("graceful", BCRYPT_ROUNDS="15")
    assert server.call("POST", "/api/auth/register", USER, timeout=60).status == 201

    replies: list[Reply] = []
    login = threading.Thread(
        target=lambda: replies.append(
            server.call("POST", "/api/auth/login", CREDENTIALS, timeout=60)
        )
    )
    login.start()
    time.sleep(0.5)  # the request is now inside bcrypt (seconds at cost 15)
    server.terminate()
    login.join(60)
    assert [reply.status for reply in replies] == [200]
    assert replies[0].body["username"] == "ann"
    assert server.wait(60) == 0


def test_production_gunicorn_refuses_to_start_without_a_secret_key(
    make_gunicorn: Any, gunicorn_env: dict[str, str], postgres_database: Any
) -> None:
    env = {**gunicorn_env, "DATABASE_URL": postgres_database("refuse"), "SECRET_KEY": ""}
    server = make_gunicorn(env)
    with pytest.raises(RuntimeError, match="gunicorn exited at start-up"):
        server.start(timeout=20)
    assert server.log().strip().splitlines()[-1] == (
        "configuration error: APP_ENV=production needs SECRET_KEY in the environment"
    )
    assert "configuration error: APP_ENV=production needs SECRET_KEY in the environment" in (
        server.log()
    )
    assert "Traceback" not in server.log()


def test_reuse_port_spreads_keep_alive_connections_over_every_worker(
    production_gunicorn: Any,
) -> None:
    """GUNICORN_REUSE_PORT=1: 16 keep-alive connections opened at once, as a
    load balancer or wrk opens them, are served by both workers (the kernel
    hashes each over the workers' own sockets: all 16 on one worker would
    happen once in 30,000 runs)."""
    server: Gunicorn = production_gunicorn("reuse-port", GUNICORN_REUSE_PORT="1")
    connections = [http.client.HTTPConnection("127.0.0.1", server.port) for _ in range(16)]
    replies: list[Reply] = []
    try:
        for connection in connections:
            connection.connect()
        for connection in connections:
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            replies.append(Reply(response.status, response.headers, None, 0.0))
    finally:
        for connection in connections:
            connection.close()
    assert {reply.status for reply in replies} == {200}
    deadline = time.monotonic() + 5
    while None in (workers := [server.worker_of(reply) for reply in replies]):
        assert time.monotonic() < deadline, "access log lines missing"
        time.sleep(0.1)  # a worker logs a request just after answering it
    assert len(set(workers)) == 2, workers
