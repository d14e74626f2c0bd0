"""REDIS_URL's five forms, the client each builds, replica acknowledgements,
and how cluster and Sentinel failures are answered (app/redis_client.py)."""

from __future__ import annotations

import logging
from typing import Any

import fakeredis
import pytest
import redis
from flask import Flask
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import (
    ClusterCrossSlotError,
    ClusterDownError,
    CrossSlotTransactionError,
    MovedError,
    ReadOnlyError,
    RedisClusterException,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.sentinel import MasterNotFoundError

from app import create_app
from app.redis_client import (
    RedisTarget,
    RedisUrlError,
    ReplicatedWrites,
    ReplicationUnconfirmed,
    build_client,
    fence_key,
    health,
    parse_redis_url,
    topology_of,
)
from config import ConfigurationError, config_from_env
from tests.conftest import API, PASSWORD, AuthActions
from tests.fast.test_config import PRODUCTION
from tests.fast.test_errors import assert_json_error

SECRET = "s3cr%40t"  # percent-encoded "s3cr@t": never in any message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://cache:6379/0", RedisTarget("single", "redis://cache:6379/0")),
        ("redis://cache/2", RedisTarget("single", "redis://cache/2", db=2)),
        ("rediss://cache:6380", RedisTarget("single", "rediss://cache:6380", tls=True)),
        ("unix:///run/redis.sock?db=3", RedisTarget("single", "unix:///run/redis.sock?db=3", db=3)),
        (
            f"redis+cluster://app:{SECRET}@r1:7000,r2:7001,[::1]:7002",
            RedisTarget(
                "cluster",
                f"redis+cluster://app:{SECRET}@r1:7000,r2:7001,[::1]:7002",
                (("r1", 7000), ("r2", 7001), ("::1", 7002)),
                None,
                "app",
                "s3cr@t",
            ),
        ),
        (
            "rediss+cluster://r1,r2/0",
            RedisTarget(
                "cluster", "rediss+cluster://r1,r2/0", (("r1", 6379), ("r2", 6379)), tls=True
            ),
        ),
        (
            f"redis+sentinel://:{SECRET}@s1:26379,s2/auth-main/1",
            RedisTarget(
                "sentinel",
                f"redis+sentinel://:{SECRET}@s1:26379,s2/auth-main/1",
                (("s1", 26379), ("s2", 26379)),
                "auth-main",
                None,
                "s3cr@t",
                db=1,
            ),
        ),
    ],
)
def test_each_url_form_is_understood(url: str, expected: RedisTarget) -> None:
    assert parse_redis_url(url) == expected
    assert parse_redis_url(url).replicated is (expected.topology != "single")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("cache:6379", "must look like"),
        ("http://cache:6379", "unknown scheme 'http'"),
        ("memcached+cluster://a:1", "unknown scheme"),
        (f"redis+cluster://u:{SECRET}@a:1,b:2/3", "database 0 only"),
        ("redis+cluster://a:1,b:2/0?ssl=true", "no query parameters"),
        (f"redis+cluster://u:{SECRET}@", "names no host"),
        ("redis+cluster://a:1,,b:2", "not host or host:port"),
        ("redis+cluster://a:99999", "from 1 to 65535"),
        ("redis+sentinel://s1:26379,s2:26379", "/<service name>"),
        ("redis+sentinel://s1/svc/x", "database that is not a number"),
        ("redis+sentinel://s1/svc/16", "from 0 to 15"),
        ("redis://a:1,b:2/0", "names one host"),
        ("redis://cache:http/0", "from 1 to 65535"),
        ("redis://cache:0/0", "from 1 to 65535"),
        ("redis://cache/x", "database"),
        ("unix://", "without a socket path"),
    ],
)
def test_anything_else_is_refused_in_one_line_without_the_password(url: str, problem: str) -> None:
    with pytest.raises(RedisUrlError) as refused:
        parse_redis_url(url)
    assert problem in str(refused.value)
    assert "\n" not in str(refused.value)
    with pytest.raises(ConfigurationError) as at_start:
        config_from_env({**PRODUCTION, "REDIS_URL": url})
    assert str(at_start.value).startswith("REDIS_URL ")
    assert "s3cr" not in str(at_start.value)


@pytest.mark.parametrize(
    ("url", "acks"),
    [
        ("redis://cache:6379/0", 0),
        ("unix:///run/redis.sock", 0),
        ("redis+cluster://a:7000,b:7001", 1),
        ("redis+sentinel://s1,s2/auth", 1),
    ],
)
def test_replica_acks_default_to_one_where_there_are_replicas(url: str, acks: int) -> None:
    assert acks == config_from_env({**PRODUCTION, "REDIS_URL": url}).REDIS_REPLICA_ACKS
    explicit = {**PRODUCTION, "REDIS_URL": url, "REDIS_REPLICA_ACKS": "2"}
    assert config_from_env(explicit).REDIS_REPLICA_ACKS == 2


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("REDIS_REPLICA_ACKS", "6", "REDIS_REPLICA_ACKS must be between 0 and 5"),
        ("REDIS_REPLICA_TIMEOUT", "0", "REDIS_REPLICA_TIMEOUT must be between 0.01 and 10"),
        ("REDIS_RETRIES", "11", "REDIS_RETRIES must be between 0 and 10"),
        ("REDIS_SOCKET_TIMEOUT", "0", "REDIS_SOCKET_TIMEOUT must be between 0.05 and 30"),
    ],
)
def test_redis_settings_out_of_range_are_refused(setting: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        config_from_env({**PRODUCTION, setting: value})
    assert str(refused.value).startswith(message)


def test_an_unparsable_url_set_after_validation_still_stops_the_app() -> None:
    config = config_from_env({**PRODUCTION})
    config.REDIS_URL = "nope://x"
    with pytest.raises(ConfigurationError, match="REDIS_URL has an unknown scheme"):
        create_app(config)


def test_one_server_and_sentinel_clients_are_built_without_connecting() -> None:
    single = build_client(parse_redis_url("redis://127.0.0.1:1/0"), timeout=0.2, retries=2)
    assert topology_of(single) == "single"
    assert single.get_connection_kwargs()["socket_timeout"] == 0.2
    sentinel = build_client(parse_redis_url("redis+sentinel://127.0.0.1:1/auth"), 0.2, 2)
    assert topology_of(sentinel) == "sentinel"
    kwargs = sentinel.connection_pool.connection_kwargs
    assert kwargs["socket_connect_timeout"] == 0.2
    assert kwargs["retry"].get_retries() == 2
    # No Sentinel answers: a ConnectionError (a 503), after bounded retries.
    with pytest.raises(redis.ConnectionError):
        sentinel.ping()


def test_a_cluster_with_no_node_answering_is_a_cluster_error() -> None:
    with pytest.raises(RedisClusterException):
        build_client(parse_redis_url("redis+cluster://127.0.0.1:1"), timeout=0.2, retries=0)


@pytest.mark.parametrize(
    "key", ["session:{AbCdEfGh}:u1", "session:{AbCdEfGh}:selector", "session:token:xyz", "a{b"]
)
def test_the_fence_shares_the_slot_of_its_key(key: str) -> None:
    assert key_slot(fence_key(key).encode()) == key_slot(key.encode())
    assert fence_key(key) != key


def test_a_key_with_a_brace_but_no_hash_tag_has_no_fence() -> None:
    with pytest.raises(ValueError, match="no key in the same slot"):
        fence_key("a{}b")


def test_the_session_key_prefix_may_not_hold_braces() -> None:
    with pytest.raises(ConfigurationError, match="SESSION_KEY_PREFIX must not contain"):
        config_from_env({**PRODUCTION, "SESSION_KEY_PREFIX": "s{x}:"})


# --- replica acknowledgements --------------------------------------------------------


class Pipe:
    """A pipeline that records what it is given and answers with ``replies``."""

    def __init__(self, owner: Owner) -> None:
        self.owner = owner
        self.commands: list[tuple[Any, ...]] = []

    def __enter__(self) -> Pipe:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute_command(self, *args: Any) -> None:
        self.commands.append(args)

    def execute(self) -> list[Any]:
        self.owner.sent.append(self.commands)
        reply = self.owner.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return list(reply)


class Owner:
    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.sent: list[list[tuple[Any, ...]]] = []

    def pipeline(self, transaction: bool) -> Pipe:
        assert transaction is False
        return Pipe(self)


def test_without_required_acks_the_command_goes_alone() -> None:
    owner = Owner([b"value"])
    assert ReplicatedWrites(owner, acks=0, timeout=0.5).run("k", "GETDEL", "k") == b"value"
    assert owner.sent == [[("GETDEL", "k")]]
    ReplicatedWrites(owner, acks=0, timeout=0.5).confirm("k")
    assert len(owner.sent) == 1  # nothing to confirm: no round trip


def test_the_command_the_fence_and_wait_go_together_on_one_pipeline() -> None:
    owner = Owner([b"value", b"OK", 1])
    writes = ReplicatedWrites(owner, acks=1, timeout=0.25)
    assert writes.run("t:{a}:k", "GETDEL", "t:{a}:k") == b"value"
    assert owner.sent == [
        [("GETDEL", "t:{a}:k"), ("SET", "t:{a}:fence", b"", "PX", 1000), ("WAIT", 1, 250)]
    ]


def test_fewer_acks_than_required_is_unconfirmed() -> None:
    owner = Owner([1, b"OK", 0], [b"PONG", b"OK", 1])
    writes = ReplicatedWrites(owner, acks=2, timeout=0.5)
    with pytest.raises(ReplicationUnconfirmed, match="0 of 2 replicas"):
        writes.run("k", "DEL", "k")
    with pytest.raises(ReplicationUnconfirmed, match="1 of 2 replicas"):
        writes.confirm("k")
    assert isinstance(ReplicationUnconfirmed(), redis.ConnectionError)  # a 503


class StaleCluster(RedisCluster):
    """A cluster client whose slot map points at a node that moved the slot."""

    def __init__(self, owners: list[Owner]) -> None:  # no connection at all
        self.owners = owners
        self.refreshed = 0
        manager = self

        class Manager:
            def initialize(self) -> None:
                manager.refreshed += 1

        self.nodes_manager = Manager()  # type: ignore[assignment]

    def get_node_from_key(self, key: Any, replica: bool = False) -> Any:
        return self.owners[min(self.refreshed, len(self.owners) - 1)]

    def get_redis_connection(self, node: Any) -> Any:
        return node

    def __del__(self) -> None:
        return None


def test_a_moved_slot_refreshes_the_map_and_tries_once_more() -> None:
    moved = MovedError("3999 127.0.0.1:7001")
    old, new = Owner(moved), Owner([1, b"OK", 1])
    client = StaleCluster([old, new])
    assert ReplicatedWrites(client, acks=1, timeout=0.5).run("k", "DEL", "k") == 1
    assert client.refreshed == 1
    again = StaleCluster([Owner(moved), Owner(moved)])
    with pytest.raises(MovedError):
        ReplicatedWrites(again, acks=1, timeout=0.5).run("k", "DEL", "k")


def test_a_dead_node_refreshes_the_map_for_the_next_try() -> None:
    dead = Owner(redis.ConnectionError("refused"))
    client = StaleCluster([dead, Owner([1, b"OK", 1])])
    with pytest.raises(redis.ConnectionError):
        ReplicatedWrites(client, acks=1, timeout=0.5).run("k", "DEL", "k")
    assert client.refreshed == 1
    assert ReplicatedWrites(client, acks=1, timeout=0.5).run("k", "DEL", "k") == 1

    class Unreachable(StaleCluster):
        def __init__(self) -> None:
            super().__init__([Owner(redis.TimeoutError("timed out"))])

            class Manager:
                def initialize(self) -> None:
                    raise RedisClusterException("Redis Cluster cannot be connected")

            self.nodes_manager = Manager()  # type: ignore[assignment]

    with pytest.raises(redis.TimeoutError):
        ReplicatedWrites(Unreachable(), acks=1, timeout=0.5).run("k", "DEL", "k")
    with pytest.raises(redis.ConnectionError):  # one server: nothing to refresh
        ReplicatedWrites(Owner(redis.ConnectionError("x")), 1, 0.5).run("k", "DEL", "k")


def test_moved_from_one_server_is_not_retried() -> None:
    owner = Owner(MovedError("1 127.0.0.1:7001"))
    with pytest.raises(MovedError):
        ReplicatedWrites(owner, acks=1, timeout=0.5).run("k", "DEL", "k")


# --- health ---------------------------------------------------------------------------


class Node:
    def __init__(self, name: str, answer: Any) -> None:
        self.name = name
        self.answer = answer

    def execute_command(self, *args: Any) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class ClusterView(RedisCluster):
    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes

    def get_primaries(self) -> list[Any]:
        return list(self.nodes)

    def get_redis_connection(self, node: Any) -> Any:
        return node

    def __del__(self) -> None:
        return None


def test_cluster_health_asks_every_primary() -> None:
    nodes = [
        Node("a:1", {"cluster_state": "ok"}),
        Node("b:2", b"cluster_state:ok\r\ncluster_slots_assigned:16384\r\n"),
        Node("c:3", "cluster_state:ok"),
    ]
    ok = health(ClusterView(nodes))
    assert ok == {"topology": "cluster", "state": "ok", "primaries": 3, "failing": []}
    nodes[1].answer = redis.ConnectionError("refused")
    nodes[2].answer = b"cluster_state:fail\r\n"
    degraded = health(ClusterView(nodes))
    assert degraded["state"] == "degraded"
    assert degraded["failing"] == ["b:2 unreachable", "c:3 fail"]
    nodes[0].answer = b"nothing useful"
    assert health(ClusterView(nodes[:1]))["failing"] == ["a:1 unknown"]


def test_readyz_reports_a_degraded_cluster_and_stays_ready(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = {"topology": "cluster", "state": "degraded", "primaries": 3, "failing": ["b:2 fail"]}
    monkeypatch.setattr("app.redis_client.health", lambda client: report)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "degraded"},
        "redis": report,
    }


# --- failures are 503s, never 401s or 500s -----------------------------------------------


FAILOVER_ERRORS = [
    redis.ConnectionError("connection refused"),
    redis.TimeoutError("timed out"),
    ClusterDownError("CLUSTERDOWN The cluster is down"),
    TryAgainError("TRYAGAIN"),
    MovedError("3999 127.0.0.1:7001"),
    ReadOnlyError("READONLY You can't write against a read only replica."),
    MasterNotFoundError("No master found for 'auth'"),
    SlotNotCoveredError("slot 3999 is not covered"),
    RedisClusterException("Redis Cluster cannot be connected"),
    ReplicationUnconfirmed("0 of 1 replicas acknowledged within 500 ms"),
]


@pytest.mark.parametrize("error", FAILOVER_ERRORS, ids=lambda error: type(error).__name__)
def test_a_failover_error_while_reading_a_session_is_503_not_401(
    app: Flask, auth: AuthActions, user: Any, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    token = auth.token()
    store = app.extensions["session_store"]

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(store.client, "execute_command", fail)
    response = auth.client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"})
    assert_json_error(response, 503, "Session store unavailable")
    assert response.headers["Retry-After"] == "1"


@pytest.mark.parametrize("error", FAILOVER_ERRORS, ids=lambda error: type(error).__name__)
def test_a_failover_error_inside_a_pipeline_is_503(
    app: Flask, auth: AuthActions, user: Any, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    """Login writes the session in a transaction, and the throttle reserves
    in a pipeline: an error raised at ``execute`` is a 503 too."""
    client = app.extensions["session_store"].client
    real_pipeline = client.pipeline

    class Failing:
        def __init__(self, pipe: Any) -> None:
            self.pipe = pipe

        def __enter__(self) -> Any:
            return self

        def __exit__(self, *exc: object) -> None:
            self.pipe.reset()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.pipe, name)

        def execute(self) -> Any:
            raise error

    monkeypatch.setattr(client, "pipeline", lambda *a, **k: Failing(real_pipeline(*a, **k)))
    login = {"email": user["email"], "password": PASSWORD}
    assert_json_error(
        auth.client.post(f"{API}/token", json=login), 503, "Session store unavailable"
    )


CROSS_SLOT_ERRORS = [
    ClusterCrossSlotError("CROSSSLOT Keys in request don't hash to the same slot"),
    CrossSlotTransactionError("Cannot watch or send commands on different slots"),
]


@pytest.mark.parametrize("error", CROSS_SLOT_ERRORS, ids=lambda error: type(error).__name__)
def test_a_cross_slot_command_is_a_logged_500(
    app: Flask,
    auth: AuthActions,
    user: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
) -> None:
    """A command over several slots is a bug in this code, not an outage."""
    token = auth.token()
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(app.extensions["session_store"].client, "execute_command", fail)
    with caplog.at_level(logging.ERROR, logger="app.errors"):
        response = auth.client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"})
    assert_json_error(response, 500, "Internal Server Error")
    assert "cross-slot Redis command" in caplog.text


def test_unconfirmed_logout_is_503_and_confirmed_on_retry(
    app: Flask, auth: AuthActions, user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fakeredis has no replicas and no WAIT: the acknowledgements are faked
    at the pipeline, the deletions are real."""
    token = auth.token()
    bearer = {"Authorization": f"Bearer {token}"}
    writes = app.extensions["replicated_writes"]
    writes.acks = 1
    acked = [0]
    real_owner = writes._owner

    class Acking:
        def __init__(self, pipe: Any) -> None:
            self.pipe = pipe

        def __enter__(self) -> Acking:
            return self

        def __exit__(self, *exc: object) -> None:
            self.pipe.reset()

        def execute_command(self, *args: Any) -> None:
            if args[0] != "WAIT":
                self.pipe.execute_command(*args)

        def execute(self) -> list[Any]:
            return [*self.pipe.execute(), acked[0]]

    class Server:
        def __init__(self, client: Any) -> None:
            self.client = client

        def pipeline(self, transaction: bool) -> Acking:
            return Acking(self.client.pipeline(transaction=transaction))

    monkeypatch.setattr(writes, "_owner", lambda key: Server(real_owner(key)))
    response = auth.client.post(f"{API}/logout", headers=bearer)
    assert_json_error(response, 503, "Session store unavailable")
    assert auth.client.get(f"{API}/me", headers=bearer).status_code == 401  # gone on the primary
    # Tried again: the session is already gone, and still unconfirmed.
    assert auth.client.post(f"{API}/logout", headers=bearer).status_code == 503
    acked[0] = 1
    assert auth.client.post(f"{API}/logout", headers=bearer).status_code == 200
    # Ending a session by handle that is not there: confirmed, then 404.
    other = auth.token()
    acked[0] = 0
    handle = "A" * 22
    headers = {"Authorization": f"Bearer {other}"}
    assert auth.client.delete(f"{API}/sessions/{handle}", headers=headers).status_code == 503
    acked[0] = 1
    assert auth.client.delete(f"{API}/sessions/{handle}", headers=headers).status_code == 404
    login = {"email": user["email"], "password": PASSWORD}
    assert auth.client.post(f"{API}/token", json=login).status_code == 200


def test_fakeredis_client_is_a_single_server(redis: fakeredis.FakeRedis) -> None:
    assert topology_of(redis) == "single"
    assert health(redis) == {"topology": "single", "state": "ok"}
