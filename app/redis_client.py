"""The one place that turns ``REDIS_URL`` into a client (docs/ARCHITECTURE.md, Redis).

Five URL forms (README, Production):

- ``redis://[user:password@]host[:port][/db]`` and ``rediss://…`` (TLS): one server;
- ``unix:///path/to/redis.sock[?db=N]``: one server on a local socket;
- ``redis+cluster://[user:password@]host:port,host:port,…[/0]`` (``rediss+cluster://``
  with TLS): a Redis Cluster, found from any of those nodes;
- ``redis+sentinel://[user:password@]host:port,host:port,…/service[/db]``
  (``rediss+sentinel://``: TLS to the data nodes): the primary that those
  Sentinels name for ``service``. The credentials are the data nodes'.

Every store takes its client from ``build_client``; the keys they use keep
each multi-key command, script and transaction within one hash tag, so the
same code runs on one server and on a cluster.

**Replica acknowledgements.** Redis replicates asynchronously: a write that a
primary acknowledged and then lost in a crash, before its replica received
it, is gone after the failover. For most writes that is the safe direction
(a new session is lost: the user logs in again). For a *revocation* (logout,
ending sessions, a spent mailed token) a lost write would bring a dead
session or token back. Those go through ``ReplicatedWrites.run``: the write
and then ``WAIT <acks> <timeout>`` on the same connection to the primary
that owns the key, and ``ReplicationUnconfirmed`` (a 503) when fewer replicas
than ``REDIS_REPLICA_ACKS`` confirmed it in time: the client is told the
revocation may not have held, never that it did.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import MovedError, RedisClusterException
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

Topology = Literal["single", "cluster", "sentinel"]

SINGLE_SCHEMES = ("redis", "rediss", "unix")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
URL_FORMS = (
    "redis://host:port/db, rediss://…, unix:///path, "
    "redis+cluster://host:port,host:port,… or redis+sentinel://host:port,host:port,…/service"
)
DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379
SERVICE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class RedisUrlError(ValueError):
    """``REDIS_URL`` is not one of the forms above (the message never repeats a password)."""


class ReplicationUnconfirmed(redis.ConnectionError):
    """Fewer replicas than required acknowledged a revocation in time.

    A ``redis.ConnectionError``: answered as any unreachable store (503,
    ``Retry-After``), and retried by the client.
    """


@dataclass(frozen=True)
class RedisTarget:
    """What ``REDIS_URL`` names, parsed."""

    topology: Topology
    url: str  # the single-server form, as given (redis-py parses it)
    hosts: tuple[tuple[str, int], ...] = ()
    service: str | None = None
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    db: int = 0

    @property
    def replicated(self) -> bool:
        """A topology with replicas behind it (what ``REDIS_REPLICA_ACKS`` defaults on)."""
        return self.topology != "single"


def _hosts(text: str, default_port: int) -> tuple[tuple[str, int], ...]:
    hosts = []
    for entry in text.split(","):
        entry = entry.strip()
        match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?|([^:\[\]/]+)(?::(\d+))?", entry)
        if not match:
            raise RedisUrlError("lists a host that is not host or host:port")
        host = match.group(1) or match.group(3)
        port_text = match.group(2) or match.group(4)
        port = int(port_text) if port_text else default_port
        if not 1 <= port <= 65535:
            raise RedisUrlError("has a port that is not a number from 1 to 65535")
        hosts.append((host, port))
    return tuple(hosts)


def parse_redis_url(url: str) -> RedisTarget:
    """The target of ``url``, or ``RedisUrlError`` saying why not in a few words."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise RedisUrlError(f"must look like {URL_FORMS}")
    if scheme in SINGLE_SCHEMES:
        return _parse_single(url, scheme)
    if scheme not in CLUSTER_SCHEMES + SENTINEL_SCHEMES:
        raise RedisUrlError(f"has an unknown scheme {scheme!r}: use {URL_FORMS}")
    netloc, _, path = rest.partition("/")
    path, _, query = path.partition("?")
    if query:
        raise RedisUrlError(f"{scheme}:// takes no query parameters")
    userinfo, at, hostlist = netloc.rpartition("@")
    username = password = None
    if at:
        user, _, secret = userinfo.partition(":")
        username, password = unquote(user) or None, unquote(secret) or None
    if not hostlist:
        raise RedisUrlError("names no host")
    tls = scheme.startswith("rediss")
    if scheme in CLUSTER_SCHEMES:
        if path not in ("", "0"):
            raise RedisUrlError("is a cluster URL: a cluster has database 0 only (no /db)")
        return RedisTarget(
            "cluster", url, _hosts(hostlist, DEFAULT_PORT), None, username, password, tls
        )
    service, _, db_text = path.partition("/")
    if not SERVICE_NAME.fullmatch(service):
        raise RedisUrlError("is a sentinel URL: it must end in /<service name>[/db]")
    db = _db(db_text)
    return RedisTarget(
        "sentinel",
        url,
        _hosts(hostlist, DEFAULT_SENTINEL_PORT),
        service,
        username,
        password,
        tls,
        db,
    )


def _db(text: str) -> int:
    if text in ("", None):
        return 0
    if not text.isdigit() or int(text) > 15:
        raise RedisUrlError("has a database that is not a number from 0 to 15")
    return int(text)


def _parse_single(url: str, scheme: str) -> RedisTarget:
    parts = urlsplit(url)
    if scheme == "unix":
        if not parts.path:
            raise RedisUrlError("is a unix:// URL without a socket path")
        db = _db(parse_qs(parts.query).get("db", [""])[0])
        return RedisTarget("single", url, db=db)
    if not parts.hostname or "," in parts.netloc:
        raise RedisUrlError(
            f"{scheme}:// names one host (several: redis+cluster:// or redis+sentinel://)"
        )
    try:
        port = parts.port
    except ValueError:
        raise RedisUrlError("has a port that is not a number from 1 to 65535") from None
    if port == 0:
        raise RedisUrlError("has a port that is not a number from 1 to 65535")
    return RedisTarget("single", url, db=_db(parts.path.strip("/")), tls=scheme == "rediss")


# --- building the client -----------------------------------------------------------


def build_client(target: RedisTarget, timeout: float, retries: int) -> Any:
    """One client (one pool per node) for this process.

    ``timeout`` bounds every connect and every reply, so a dead or hung node
    costs a bounded wait, not a hang; ``retries`` bounds how often a command
    is tried again (after a topology refresh, for a cluster) before the
    request gets a 503.
    """
    common: dict[str, Any] = {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
    }
    if target.topology == "single":
        return redis.Redis.from_url(
            target.url,
            **common,
            # redis-py retries 10 times with backoff by default: seconds of
            # waiting per request while Redis is down. One immediate retry on
            # a broken connection gets past a Redis restart.
            retry=Retry(NoBackoff(), retries=1, supported_errors=(redis.ConnectionError,)),
        )
    credentials: dict[str, Any] = {"username": target.username, "password": target.password}
    if target.topology == "cluster":
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.hosts],  # type: ignore[no-untyped-call]
            ssl=target.tls,
            # The number of tries only (redis-py's cluster client refreshes its
            # slot map between them rather than sleeping).
            retry=Retry(NoBackoff(), retries=retries),
            # Start and keep serving the slots that are up while others fail over.
            require_full_coverage=False,
            **credentials,
            **common,
        )
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(target.hosts),
        sentinel_kwargs=dict(common),
        **common,
    )
    return sentinel.master_for(  # type: ignore[no-untyped-call]
        target.service,
        db=target.db,
        ssl=target.tls,
        # MasterNotFoundError and a demoted primary's READONLY (which redis-py
        # turns into a ConnectionError) are both ConnectionErrors: each retry
        # asks the Sentinels again for the primary. Backoff 50, 100, 200 ms…
        # capped at 500 ms.
        retry=Retry(
            ExponentialBackoff(cap=0.5, base=0.05),
            retries=retries,
            supported_errors=(redis.ConnectionError, redis.TimeoutError),
        ),
        **credentials,
        **common,
    )


def topology_of(client: Any) -> Topology:
    if isinstance(client, RedisCluster):
        return "cluster"
    if isinstance(getattr(client, "connection_pool", None), SentinelConnectionPool):
        return "sentinel"
    return "single"


# --- writes confirmed by replicas ------------------------------------------------------


class ReplicatedWrites:
    """Run a single-slot write on its primary and wait for replicas to have it."""

    def __init__(self, client: Any, acks: int, timeout: float) -> None:
        self.client = client
        self.acks = acks
        self.timeout_ms = max(1, int(timeout * 1000))

    def _owner(self, key: str) -> Any:
        """The plain client of the primary that serves ``key`` (for one server:
        the client itself)."""
        if isinstance(self.client, RedisCluster):
            node = self.client.get_node_from_key(key)  # type: ignore[no-untyped-call]
            return self.client.get_redis_connection(node)
        return self.client

    def run(self, key: str, *command: Any) -> Any:
        """``command`` (on ``key``'s slot), then, when acknowledgements are
        required, a *fence* and ``WAIT``, all on one connection to the
        primary that owns the slot, in one round trip.

        The fence (a ``SET`` of a key in the same slot that expires within a
        second) makes sure this connection's last write is at the primary's
        current replication offset, so ``WAIT`` confirms everything the
        primary did before, the command included, even when the command
        changed nothing (a session already deleted by an earlier, unconfirmed
        attempt). Returns the command's reply, or raises
        ``ReplicationUnconfirmed`` when fewer than ``acks`` replicas have it
        within the timeout (the write itself may then be on the primary
        only: the caller must not report it done). A cluster client whose
        slot map is stale gets MOVED before anything was written: the map is
        refreshed and the command tried once more.
        """
        for attempt in (1, 2):
            with self._owner(key).pipeline(transaction=False) as pipe:
                pipe.execute_command(*command)
                if self.acks:
                    pipe.execute_command("SET", fence_key(key), b"", "PX", 1000)
                    pipe.execute_command("WAIT", self.acks, self.timeout_ms)
                try:
                    replies = pipe.execute()
                except MovedError:
                    if attempt == 2 or not isinstance(self.client, RedisCluster):
                        raise
                    self.client.nodes_manager.initialize()
                    continue
                except (redis.ConnectionError, redis.TimeoutError):
                    # The node may be dead and failed over: the next try
                    # (the client's) should find its successor.
                    self._refresh()
                    raise
            if self.acks and int(replies[2]) < self.acks:
                raise ReplicationUnconfirmed(
                    f"{replies[2]} of {self.acks} replicas acknowledged within {self.timeout_ms} ms"
                )
            return replies[0]
        raise AssertionError("unreachable")  # pragma: no cover

    def _refresh(self) -> None:
        if isinstance(self.client, RedisCluster):
            with contextlib.suppress(redis.RedisError, RedisClusterException):
                self.client.nodes_manager.initialize()

    def confirm(self, key: str) -> None:
        """Confirm whatever the primary of ``key``'s slot has done so far (a
        revocation found nothing to do: an earlier attempt may have done it
        without confirmation). Nothing at all without required acks."""
        if self.acks:
            self.run(key, "PING")

    def script(self, source: str, keys: list[str], args: list[Any]) -> Any:
        """A Lua script on one slot (``keys`` share a hash tag), confirmed as ``run``."""
        return self.run(keys[0], "EVAL", source, len(keys), *keys, *args)


def fence_key(key: str) -> str:
    """A key in the same cluster slot as ``key``: same hash tag, or ``key``
    itself as the tag when it has none."""
    start = key.find("{")
    end = key.find("}", start + 1) if start != -1 else -1
    if start != -1 and end > start + 1:
        return key[: end + 1] + ":fence"
    if "}" in key:  # "{" + key + "}" would end its tag early
        raise ValueError(f"no key in the same slot as {key!r} can be built")
    return "{" + key + "}:fence"


# --- health -----------------------------------------------------------------------


def health(client: Any) -> dict[str, Any]:
    """What ``/readyz`` reports about Redis; raises when it cannot be reached.

    One server or Sentinel: the primary answers PING. A cluster: every
    primary in the client's slot map answers ``CLUSTER INFO`` and says
    ``cluster_state:ok``; ``state`` is ``ok``, else ``degraded`` (some
    primary unreachable or not ok).
    """
    topology = topology_of(client)
    if topology != "cluster":
        client.ping()
        return {"topology": topology, "state": "ok"}
    primaries = client.get_primaries()
    failing = []
    for node in primaries:
        try:
            info = client.get_redis_connection(node).execute_command("CLUSTER INFO")
            state = _cluster_state(info)
        except redis.RedisError:
            state = "unreachable"
        if state != "ok":
            failing.append(f"{node.name} {state}")
    return {
        "topology": "cluster",
        "state": "degraded" if failing else "ok",
        "primaries": len(primaries),
        "failing": failing,
    }


def _cluster_state(info: Any) -> str:
    if isinstance(info, dict):
        return str(info.get("cluster_state", "unknown"))
    text = info.decode() if isinstance(info, bytes) else str(info)
    match = re.search(r"cluster_state:(\w+)", text)
    return match.group(1) if match else "unknown"
