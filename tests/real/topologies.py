"""Replicated Redis for the real tier: a Redis Cluster and a Sentinel group.

- ``RedisClusterServers``: 3 primaries and 3 replicas (``cluster-enabled``),
  slots assigned and replicas attached from Python (``CLUSTER ADDSLOTSRANGE``,
  ``MEET``, ``REPLICATE``): no ``redis-cli`` needed, and the same code works
  with the system's ``redis-server`` and the embedded ``valkey-server``.
- ``SentinelServers``: 1 primary, 1 replica and 3 sentinels watching them.

Timeouts are short (``cluster-node-timeout`` and ``down-after-milliseconds``
1000 ms) so that a test's failover takes seconds. Everything runs on free
127.0.0.1 ports in a temporary directory; ``stop()`` ends every process and
removes the directory, also when start-up failed half-way.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.real.services import LOOPBACK, free_port, valkey_binary

NODE_TIMEOUT_MS = 1000
SLOTS = 16384


@dataclass
class Node:
    """One server process (data node or sentinel) with its own port and files."""

    port: int
    directory: Path
    binary: str
    arguments: list[str]
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.directory / f"{self.port}.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603
            [self.binary, *self.arguments],
            cwd=self.directory,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def client(self, **kwargs: object) -> redis.Redis:
        return redis.Redis(host=LOOPBACK, port=self.port, socket_timeout=2, **kwargs)  # type: ignore[arg-type]

    def wait_ready(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        client = self.client()
        try:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.binary} on {self.port} exited:\n{self.log()}")
                with contextlib.suppress(redis.RedisError):
                    if client.info("server")["process_id"] == self.process.pid:
                        return
                time.sleep(0.05)
        finally:
            client.close()
        raise RuntimeError(f"{self.binary} on {self.port} did not answer within {timeout} s")

    def kill(self) -> None:
        """SIGKILL: a crash, no chance to hand anything over."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        path = self.directory / f"{self.port}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError):
            if condition():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not within {timeout} s")


def free_cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too, so at most 55535."""
    for _ in range(200):
        port = random.randint(20000, 55535)
        probes = [socket.socket(), socket.socket()]
        try:
            for probe, candidate in zip(probes, (port, port + 10000), strict=True):
                probe.bind((LOOPBACK, candidate))
            return port
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError("no free port pair for a cluster node")


def _data_node_arguments(port: int) -> list[str]:
    return ["--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no",
            "--loglevel", "warning", "--protected-mode", "no"]  # fmt: skip


@dataclass
class RedisClusterServers:
    """A Redis Cluster of ``primaries`` primaries, each with one replica."""

    primaries: int = 3
    binary: str = field(default_factory=valkey_binary)
    directory: Path | None = None
    nodes: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"{LOOPBACK}:{node.port}" for node in self.nodes)

    def start(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="auth-test-cluster-"))
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        assert self.directory is not None
        for _ in range(self.primaries * 2):
            port = free_cluster_port()
            arguments = [
                *_data_node_arguments(port),
                "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                # A replica always may take over, however long it was cut off.
                "--cluster-replica-validity-factor", "0",
                # Only the failed primary's slots stop answering, not all of them.
                "--cluster-require-full-coverage", "no",
            ]  # fmt: skip
            self.nodes.append(Node(port, self.directory, self.binary, arguments))
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_ready()
        primaries, replicas = self.nodes[: self.primaries], self.nodes[self.primaries :]
        share = SLOTS // self.primaries
        for index, node in enumerate(primaries):
            first = index * share
            last = SLOTS - 1 if index == self.primaries - 1 else first + share - 1
            node.client().execute_command("CLUSTER ADDSLOTSRANGE", first, last)
        for node in self.nodes[1:]:
            node.client().execute_command("CLUSTER MEET", LOOPBACK, self.nodes[0].port)
        wait_until(
            lambda: all(len(self._known(node)) == len(self.nodes) for node in self.nodes),
            15,
            "every cluster node knowing every other",
        )
        for primary, replica in zip(primaries, replicas, strict=True):
            primary_id = primary.client().execute_command("CLUSTER MYID")
            replica.client().execute_command("CLUSTER REPLICATE", primary_id)
        wait_until(self.healthy, 30, "cluster_state:ok with every replica in sync")

    @staticmethod
    def _known(node: Node) -> dict[str, object]:
        nodes: dict[str, object] = node.client().cluster("NODES")  # parsed by redis-py
        return nodes

    def healthy(self) -> bool:
        """Every live node says cluster_state:ok, and every primary has a
        live replica in sync."""
        live = [node for node in self.nodes if node.alive]
        for node in live:
            if node.client().cluster("INFO")["cluster_state"] != "ok":
                return False
        primaries_with_replica = 0
        for node in live:
            info = node.client().info("replication")
            if info["role"] == "master":
                if int(info.get("connected_slaves", 0)) < 1:
                    return False
                primaries_with_replica += 1
            elif info.get("master_link_status") != "up":
                return False
        return primaries_with_replica == self.primaries

    def owner_of(self, key: str) -> Node:
        """The node that serves ``key``'s slot now."""
        client = self.nodes_alive()[0].client()
        slot = int(client.execute_command("CLUSTER KEYSLOT", key))
        for entry in client.execute_command("CLUSTER SLOTS"):
            first, last, primary = entry[0], entry[1], entry[2]
            if first <= slot <= last:
                port = int(primary[1])
                return next(node for node in self.nodes if node.port == port)
        raise LookupError(f"no node serves slot {slot}")

    def nodes_alive(self) -> list[Node]:
        return [node for node in self.nodes if node.alive]

    def restart(self, node: Node) -> None:
        """Start a killed node again: it rejoins as a replica of whoever took over."""
        node.start()
        node.wait_ready()
        wait_until(self.healthy, 30, "the cluster healthy again")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nodes.clear()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


SERVICE = "auth"


@dataclass
class SentinelServers:
    """One primary, one replica and three sentinels monitoring ``SERVICE``."""

    binary: str = field(default_factory=valkey_binary)
    directory: Path | None = None
    data: list[Node] = field(default_factory=list)
    sentinels: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        hosts = ",".join(f"{LOOPBACK}:{node.port}" for node in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}"

    def start(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="auth-test-sentinel-"))
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        assert self.directory is not None
        primary_port, replica_port = free_port(), free_port()
        self.data = [
            Node(primary_port, self.directory, self.binary, _data_node_arguments(primary_port)),
            Node(replica_port, self.directory, self.binary,
                 [*_data_node_arguments(replica_port), "--replicaof", LOOPBACK, str(primary_port)]),
        ]  # fmt: skip
        for node in self.data:
            node.start()
        for node in self.data:
            node.wait_ready()
        wait_until(
            lambda: self.data[1].client().info("replication")["master_link_status"] == "up",
            15,
            "the replica in sync",
        )
        for _ in range(3):
            port = free_port()
            config = self.directory / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind {LOOPBACK}\nprotected-mode no\ndir {self.directory}\n"
                f"sentinel monitor {SERVICE} {LOOPBACK} {primary_port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {NODE_TIMEOUT_MS}\n"
                f"sentinel failover-timeout {SERVICE} 5000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
            self.sentinels.append(
                Node(port, self.directory, self.binary, [str(config), "--sentinel"])
            )
        for node in self.sentinels:
            node.start()
        for node in self.sentinels:
            node.wait_ready()
        wait_until(
            self.healthy, 30, "every sentinel seeing the primary, its replica and the others"
        )

    def primary(self) -> Node:
        client = self.sentinels[0].client()
        _, port = client.execute_command("SENTINEL GET-MASTER-ADDR-BY-NAME", SERVICE)
        return next(node for node in self.data if node.port == int(port))

    def healthy(self) -> bool:
        for sentinel in self.sentinels:
            if not sentinel.alive:
                continue
            state = sentinel.client().sentinel_master(SERVICE)
            if (
                state["num-slaves"] < 1
                or state["num-other-sentinels"] < 2
                or "down" in state["flags"]
            ):
                return False
            replicas = sentinel.client().sentinel_slaves(SERVICE)
            if not any(
                r["master-link-status"] == "ok" and "down" not in r["flags"] for r in replicas
            ):
                return False
        primary = self.primary()
        return primary.alive and int(primary.client().info("replication")["connected_slaves"]) >= 1

    def restart(self, node: Node) -> None:
        """Start a killed data node again, as the new primary's replica (what
        the sentinels would make it too, seconds later)."""
        node.start()
        node.wait_ready()
        primary = self.primary()
        node.client().execute_command("REPLICAOF", LOOPBACK, primary.port)
        wait_until(
            lambda: (
                node.client().info("replication")["master_link_status"] == "up"
                and int(primary.client().info("replication")["connected_slaves"]) >= 1
            ),
            30,
            "the restarted node replicating the new primary",
        )

    def stop(self) -> None:
        for node in [*self.sentinels, *self.data]:
            node.stop()
        self.sentinels.clear()
        self.data.clear()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
