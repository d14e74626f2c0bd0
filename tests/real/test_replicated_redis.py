"""The service on a Redis Cluster and on Sentinel, with two web hosts sharing it.

Each topology (tests/real/topologies.py: 3 primaries + 3 replicas; or a
primary, a replica and 3 sentinels) gets two production gunicorns (host A
and host B) on the same Redis URL and the same PostgreSQL database, with no
affinity between them: every flow logs in on one host and goes on on the
other. Then a primary is killed (SIGKILL) under load.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.redis_client import (
    ReplicatedWrites,
    ReplicationUnconfirmed,
    build_client,
    health,
    parse_redis_url,
)
from tests.real.conftest import RUN_ID, flask_db_upgrade
from tests.real.services import Gunicorn, Reply, cookie_header
from tests.real.test_mail_real import Inbox, SmtpServer, wait_for
from tests.real.topologies import Node, RedisClusterServers, SentinelServers, wait_until

API = "/api/auth"
PASSWORD = "pa55word!"
# What must never reach a client or a log while the store is healthy: a
# command that spans slots, or a redirection the client did not follow.
ESCAPED = re.compile(r"CROSSSLOT|MOVED|ASK |Traceback|redis unavailable|cross-slot")
# How long requests for a killed primary's slots may fail (503) before they
# must succeed again, with no restart of anything.
FAILOVER_BOUND = 15.0


@dataclass
class Deployment:
    name: str
    servers: RedisClusterServers | SentinelServers
    a: Gunicorn
    b: Gunicorn
    inbox: Inbox
    key_prefix: str

    def logs(self) -> str:
        return self.a.log() + self.b.log()


@pytest.fixture(scope="module", params=["cluster", "sentinel"])
def deployment(
    request: pytest.FixtureRequest, postgres_database: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    servers = request.getfixturevalue(f"redis_{request.param}")
    database_url = postgres_database(request.param)
    flask_db_upgrade(database_url)
    inbox = Inbox()
    smtp = SmtpServer(inbox).start()
    prefix = f"test-{RUN_ID}:session:"
    env = {
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "PASSWORD_PEPPER": secrets.token_urlsafe(48),
        "SECOND_FACTOR_KEY": secrets.token_urlsafe(48),
        "WEBAUTHN_RP_ID": "localhost",
        "DATABASE_URL": database_url,
        "REDIS_URL": servers.url,
        "SESSION_KEY_PREFIX": prefix,
        "BCRYPT_ROUNDS": "10",
        "RATELIMIT_KEY_PREFIX": f"test-{RUN_ID}-rl",
        # Low enough for the flows to reach a 429; only failures count.
        "RATELIMIT_LOGIN_PER_IDENTIFIER": "3 per minute",
        "RATELIMIT_LOGIN_PER_IP": "1000 per minute",
        "RATELIMIT_REGISTER_PER_IP": "1000 per hour",
        "RATELIMIT_MAIL_PER_IP": "1000 per hour",
        "RATELIMIT_MAIL_PER_ADDRESS": "1000 per hour",
        "MAIL_KEY_PREFIX": f"test-{RUN_ID}-mail:",
        "SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
        "MAIL_POLL_INTERVAL": "0.2",
        "PASSWORD_WORK_WAIT": "10",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "4",
        # The box is shared and busy, and these servers run at nice 19: a
        # replica may be starved for longer than production's 0.5 s.
        "REDIS_REPLICA_TIMEOUT": "2",
    }
    logs: Path = tmp_path_factory.mktemp(f"hosts-{request.param}")
    a = Gunicorn(env, logs / "a.log")
    b = Gunicorn(env, logs / "b.log")
    try:
        a.start()
        b.start()
        yield Deployment(request.param, servers, a, b, inbox, prefix)
    finally:
        a.stop()
        b.stop()
        smtp.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_user(label: str) -> dict[str, str]:
    name = f"{label}{secrets.token_hex(3)}"
    return {"username": name, "email": f"{name}@example.com", "password": PASSWORD}


def token_of(host: Gunicorn, email: str, password: str = PASSWORD) -> str:
    reply = host.call("POST", f"{API}/token", {"email": email, "password": password})
    assert reply.status == 200, reply.body
    token: str = reply.body["access_token"]
    return token


def mailed_token(deployment: Deployment, to: str, subject_word: str) -> str:
    def find() -> str | None:
        for message in list(deployment.inbox.messages):
            if str(message["To"]) == to and subject_word in str(message["Subject"]):
                body = message.get_body(preferencelist=("plain",))
                text = body.get_content() if body is not None else ""
                return str(text.split("token=", 1)[1].split()[0])
        return None

    wait_for(lambda: find() is not None, timeout=20, what=f"the {subject_word} mail to {to}")
    token = find()
    assert token is not None
    return token


def test_every_flow_across_two_hosts(deployment: Deployment) -> None:
    """Register, verify, log in (cookie and bearer), list and end sessions,
    change, forget and reset the password, throttling to a 429, events,
    logout, logout everywhere, delete the account: each step on the other
    host from the one before. Nothing fails and nothing escapes to a log."""
    a, b = deployment.a, deployment.b
    user = new_user("flow")
    email = user["email"]
    assert a.call("POST", f"{API}/register", user).status == 201
    verify = mailed_token(deployment, email, "confirm")
    reply = b.call("POST", f"{API}/email/verify", {"token": verify})
    assert reply.status == 200
    assert reply.body["email_verified"] is True
    assert a.call("POST", f"{API}/email/verify", {"token": verify}).status == 400  # spent

    first = token_of(a, email)
    assert b.call("GET", f"{API}/me", headers=bearer(first)).body["email"] == email
    cookie = b.call("POST", f"{API}/login", {"email": email, "password": PASSWORD}).cookie()
    assert cookie is not None
    me = a.call("GET", f"{API}/me", headers=cookie_header(cookie))
    assert me.status == 200
    assert me.body["email_verified"] is True

    listed = b.call("GET", f"{API}/sessions", headers=bearer(first)).body
    assert [session["kind"] for session in listed] == ["cookie", "bearer"]
    ended = a.call("DELETE", f"{API}/sessions/{listed[0]['id']}", headers=bearer(first))
    assert ended.status == 204
    assert b.call("GET", f"{API}/me", headers=cookie_header(cookie)).status == 401

    second = token_of(b, email)
    change = {"current_password": PASSWORD, "new_password": "an0ther-passw0rd"}
    reply = a.call("POST", f"{API}/password/change", change, headers=bearer(first))
    assert reply.status == 200
    assert reply.body["ended"] == 1
    assert b.call("GET", f"{API}/me", headers=bearer(second)).status == 401
    assert b.call("GET", f"{API}/me", headers=bearer(first)).status == 200

    assert b.call("POST", f"{API}/password/forgot", {"email": email}).status == 202
    reset = mailed_token(deployment, email, "reset")
    body = {"token": reset, "new_password": PASSWORD}
    assert a.call("POST", f"{API}/password/reset", body).status == 200
    assert b.call("GET", f"{API}/me", headers=bearer(first)).status == 401
    assert b.call("POST", f"{API}/password/reset", body).status == 400  # spent

    third = token_of(a, email)
    assert b.call("POST", f"{API}/logout", headers=bearer(third)).status == 200
    assert a.call("GET", f"{API}/me", headers=bearer(third)).status == 401

    fourth, fifth = token_of(a, email), token_of(b, email)
    reply = b.call("POST", f"{API}/logout-all", headers=bearer(fourth))
    assert reply.status == 200
    assert reply.body["ended"] == 2
    assert a.call("GET", f"{API}/me", headers=bearer(fifth)).status == 401

    sixth = token_of(b, email)
    events = [event["type"] for event in a.call("GET", f"{API}/events", headers=bearer(sixth)).body]
    for expected in ("login", "logout", "logout_all", "session_revoked", "password_reset",
                     "password_changed", "email_verified"):  # fmt: skip
        assert expected in events
    reply = a.call("POST", f"{API}/account/delete", {"password": PASSWORD}, headers=bearer(sixth))
    assert reply.status == 200
    assert b.call("GET", f"{API}/me", headers=bearer(sixth)).status == 401
    assert b.call("POST", f"{API}/token", {"email": email, "password": PASSWORD}).status == 401

    # Failed logins are counted in one place whichever host takes them.
    guessed = new_user("guessed")
    assert b.call("POST", f"{API}/register", guessed).status == 201
    wrong = {"email": guessed["email"], "password": "not-the-passw0rd"}
    statuses = [host.call("POST", f"{API}/token", wrong).status for host in (a, b, a, b)]
    assert statuses == [401, 401, 401, 429]

    ready = b.call("GET", "/readyz")
    assert ready.status == 200
    assert ready.body["redis"]["state"] == "ok"
    assert ready.body["redis"]["topology"] == deployment.name
    assert not ESCAPED.search(deployment.logs()), ESCAPED.findall(deployment.logs())
    assert " 500 " not in deployment.logs()
    assert " 503 " not in deployment.logs()


def primary_serving(deployment: Deployment, session_id: str) -> Node:
    servers = deployment.servers
    if isinstance(servers, RedisClusterServers):
        return servers.owner_of("{" + session_id.split(".")[0] + "}")
    return servers.primary()


def wait_replicated(primary: Node) -> None:
    """Until every replica of ``primary`` has all it acknowledged (what a
    client that wrote before the crash can count on; see docs/ARCHITECTURE.md)."""
    client = primary.client()

    def caught_up() -> bool:
        info = client.info("replication")
        offset = int(info["master_repl_offset"])
        replicas = [value for key, value in info.items() if re.fullmatch(r"slave\d+", key)]
        return bool(replicas) and all(int(r["offset"]) >= offset for r in replicas)

    wait_until(caught_up, 10, "the replica caught up")


@dataclass
class Load:
    """/me with a live session and logins, alternating hosts, from a thread."""

    deployment: Deployment
    session: str
    email: str
    replies: list[tuple[float, str, int]]
    stop: threading.Event

    def run(self) -> None:
        hosts = (self.deployment.a, self.deployment.b)
        count = 0
        while not self.stop.is_set():
            host = hosts[count % 2]
            count += 1
            try:
                if count % 5 == 0:
                    body = {"email": self.email, "password": PASSWORD}
                    reply: Reply = host.call("POST", f"{API}/token", body, timeout=15)
                    self.replies.append((time.monotonic(), "login", reply.status))
                else:
                    reply = host.call("GET", f"{API}/me", headers=bearer(self.session), timeout=15)
                    self.replies.append((time.monotonic(), "me", reply.status))
            except OSError:
                self.replies.append((time.monotonic(), "error", 0))
            time.sleep(0.02)


def test_a_primary_killed_under_load_costs_503s_then_recovers(deployment: Deployment) -> None:
    """SIGKILL the primary serving a logged-in user's slot while /me and
    logins run on both hosts: every answer is 200 or 503 (never 401, never
    500), answers are 200 again within FAILOVER_BOUND seconds with nothing
    restarted, and sessions acknowledged before the crash live on. A logout
    while the new primary has no replica is refused (503: it could not be
    confirmed), and works once a replica is back."""
    a, b = deployment.a, deployment.b
    user = new_user("failover")
    assert a.call("POST", f"{API}/register", user).status == 201
    session = token_of(a, user["email"])
    others = [token_of(host, user["email"]) for host in (a, b)]
    primary = primary_serving(deployment, session)
    wait_replicated(primary)

    load = Load(deployment, session, user["email"], [], threading.Event())
    thread = threading.Thread(target=load.run, daemon=True)
    thread.start()
    try:
        time.sleep(1)
        killed_at = time.monotonic()
        primary.kill()
        ready = a.call("GET", "/readyz")
        deadline = killed_at + FAILOVER_BOUND + 10
        while time.monotonic() < deadline:
            time.sleep(0.2)
            after = [status for t, kind, status in load.replies if t > killed_at and kind == "me"]
            if len(after) >= 10 and set(after[-10:]) == {200}:
                break
        time.sleep(1)
    finally:
        load.stop.set()
        thread.join(20)

    statuses = [status for _, _, status in load.replies]
    assert set(statuses) <= {200, 503}, sorted(set(statuses))
    after = [(t, status) for t, kind, status in load.replies if t > killed_at and kind == "me"]
    failed = [t for t, status in after if status != 200]
    assert failed, "the kill cost no request: was the right primary killed?"
    assert after[-1][1] == 200, "requests did not succeed again"
    recovered_at = next(t for t, status in after if t > failed[-1])
    window = recovered_at - killed_at
    assert window <= FAILOVER_BOUND, window
    print(f"{deployment.name}: {len(failed)} of {len(after)} /me answers 503, for {window:.1f} s")
    if deployment.name == "cluster":
        # Right after the kill the client still maps slots to the dead node.
        assert ready.status == 200, ready.body
        assert ready.body["redis"]["state"] == "degraded", ready.body
        assert ready.body["checks"]["redis"] == "degraded"
    for host in (a, b):
        for token in (session, *others):
            assert host.call("GET", f"{API}/me", headers=bearer(token)).status == 200

    # The new primary has no replica yet: a logout cannot be confirmed, so
    # it is refused rather than reported done, also when tried again (the
    # first attempt deleted the session on the primary, unconfirmed).
    for host in (b, a):
        assert host.call("POST", f"{API}/logout", headers=bearer(others[0])).status == 503
    deployment.servers.restart(primary)  # back, as the new primary's replica
    deadline = time.monotonic() + 20
    while (status := b.call("POST", f"{API}/logout", headers=bearer(others[0])).status) != 200:
        assert status == 503
        assert time.monotonic() < deadline, "the logout was never confirmed"
        time.sleep(0.5)
    for host in (a, b):
        assert host.call("GET", f"{API}/me", headers=bearer(others[0])).status == 401
        assert host.call("GET", f"{API}/me", headers=bearer(session)).status == 200
    # Mail still flows: the outbox's scripts load on the new primary.
    assert a.call("POST", f"{API}/password/forgot", {"email": user["email"]}).status == 202
    assert mailed_token(deployment, user["email"], "reset")
    assert " 500 " not in deployment.logs()
    assert not re.search(r"CROSSSLOT|Traceback", deployment.logs())


def test_the_client_module_on_real_servers(
    redis_cluster: RedisClusterServers, redis_sentinel: SentinelServers, real_redis_url: str
) -> None:
    """In-process: a client from each URL form writes and reads; on the
    topologies with replicas a revocation is confirmed, on a lone server
    (no replica) it cannot be."""
    for url, topology in (
        (redis_cluster.url, "cluster"),
        (redis_sentinel.url, "sentinel"),
        (real_redis_url, "single"),
    ):
        client = build_client(parse_redis_url(url), timeout=1, retries=1)
        try:
            assert health(client)["state"] == "ok"
            assert health(client)["topology"] == topology
            key = f"test-{RUN_ID}:{{{topology}}}:k"
            client.set(key, b"v")
            # Long enough for a replica starved on a busy box; a lone server waits it out.
            writes = ReplicatedWrites(client, acks=1, timeout=0.2 if topology == "single" else 5)
            if topology == "single":
                with pytest.raises(ReplicationUnconfirmed):
                    writes.run(key, "GETDEL", key)
                assert client.get(key) is None  # done on the primary, not confirmed
            else:
                assert writes.run(key, "GETDEL", key) == b"v"
                writes.confirm(key)
        finally:
            client.close()
    cluster_health = health(build_client(parse_redis_url(redis_cluster.url), 1, 1))
    assert cluster_health == {"topology": "cluster", "state": "ok", "primaries": 3, "failing": []}
