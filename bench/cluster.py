"""The service on a Redis Cluster beside one Redis: `make bench-cluster`.

Starts one private Redis server and a private Redis Cluster (3 primaries,
3 replicas: tests/real/topologies.py) from the same binary, the service
twice under the same gunicorn settings as bench/run.py (one on each), and:

- loads GET /me (bearer) on both, back to back, RUNS times; each run's ratio
  cluster ÷ one Redis, and the median of those;
- times POST /logout one after another on the cluster with and without
  replica acknowledgements (REDIS_REPLICA_ACKS 1 and 0): what the WAIT of a
  revocation costs;
- measures Redis memory per live session on the cluster: MEMORY USAGE of
  every session key and index over SESSIONS users with one session each,
  and the growth of used_memory summed over the primaries (which also
  counts each account's activity list and the allocator's overhead).

Writes its section of bench/RESULTS.md (replacing an earlier one) and
prints it. Everything it starts, it stops.
"""

from __future__ import annotations

import datetime
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import (  # noqa: E402
    BROWSER_UA,
    CONNECTIONS,
    CREDENTIALS,
    RUNS,
    SECONDS,
    USER,
    Load,
    exchange,
    http_request,
    keep_alive,
    machine,
    median_of,
    migrate,
    ratios,
    row,
    start_service,
    wrk,
)
from tests.real.services import Gunicorn, RedisServer, call  # noqa: E402
from tests.real.topologies import RedisClusterServers  # noqa: E402

SESSIONS = int(os.environ.get("BENCH_SESSIONS", "1000"))
LOGOUTS = int(os.environ.get("BENCH_LOGOUTS", "300"))
HEADING = "## Redis Cluster beside one Redis"
# Logins are not what is measured here: bcrypt cost 4, which production
# refuses (development takes it; nothing measured depends on the difference).
CHEAP_HASHING = {"APP_ENV": "development", "BCRYPT_ROUNDS": "4"}


def logout_times(servers: dict[int, Gunicorn], count: int) -> dict[int, list[float]]:
    """POST /logout of ``count`` fresh bearer sessions on each server, one
    after another on one keep-alive connection per server, alternating
    between them (so both see the same machine); milliseconds each."""
    tokens = {
        acks: [
            call(server.port, "POST", "/api/auth/token", CREDENTIALS).body["access_token"]
            for _ in range(count)
        ]
        for acks, server in servers.items()
    }
    samples: dict[int, list[float]] = {acks: [] for acks in servers}
    sockets = {acks: keep_alive(server.port) for acks, server in servers.items()}
    try:
        for i in range(count):
            for acks, server in servers.items():
                request = http_request(server.port, "POST", "/api/auth/logout",
                                       {"Authorization": f"Bearer {tokens[acks][i]}"})  # fmt: skip
                started = time.perf_counter()
                assert exchange(sockets[acks], request) == 200
                samples[acks].append((time.perf_counter() - started) * 1000)
    finally:
        for sock in sockets.values():
            sock.close()
    return samples


def primaries(cluster: RedisClusterServers) -> list[redis.Redis]:
    clients = [node.client() for node in cluster.nodes]
    return [c for c in clients if c.info("replication")["role"] == "master"]


def data_memory(client: redis.Redis) -> int:
    """used_memory without what replication and clients hold (the backlog
    fills with every write up to repl-backlog-size, whatever the keys)."""
    info = client.info("memory")
    buffers = ("mem_replication_backlog", "mem_clients_slaves", "mem_clients_normal")
    return int(info["used_memory"]) - sum(int(info.get(name, 0)) for name in buffers)


def memory_per_session(cluster: RedisClusterServers, server: Gunicorn) -> tuple[float, float]:
    """(MEMORY USAGE of session keys and indexes, used_memory growth over the
    primaries) per session, SESSIONS users with one session each."""
    masters = primaries(cluster)
    before = sum(data_memory(c) for c in masters)
    for i in range(SESSIONS):
        body = {"username": f"mem{i}", "email": f"mem{i}@example.com",
                "password": USER["password"]}  # fmt: skip
        assert call(server.port, "POST", "/api/auth/register", body).status == 201
        credentials = {"email": body["email"], "password": USER["password"]}
        reply = call(server.port, "POST", "/api/auth/token", credentials,
                     headers={"User-Agent": BROWSER_UA})  # fmt: skip
        assert reply.status == 200, reply.body
    time.sleep(1)
    after = sum(data_memory(c) for c in masters)
    usage = 0
    for client in masters:
        for key in client.scan_iter(match="session:*", count=1000):
            # Sessions and indexes (":u<id>"): not the activity lists (":e<id>")
            # nor the verification tokens registration mailed ("token:").
            if b"}:e" not in key and not key.startswith(b"session:token:"):
                usage += client.memory_usage(key) or 0
    return usage / SESSIONS, (after - before) / SESSIONS


def section(
    loads: dict[str, list[Load]],
    logouts: dict[int, list[float]],
    memory: tuple[float, float],
    server_version: str,
    minutes: float,
) -> str:
    single, cluster = median_of(loads["single"]), median_of(loads["cluster"])
    ratio = ratios(loads["cluster"], loads["single"])
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")

    def p(samples: list[float], q: int) -> float:
        return statistics.quantiles(samples, n=100)[q - 1]

    with_wait, without = logouts[1], logouts[0]
    lines = [
        HEADING,
        "",
        f"`make bench-cluster` (bench/cluster.py), {now}, {minutes:.1f} minutes. The same "
        "gunicorn settings as above (2 workers x "
        f"{os.environ.get('GUNICORN_THREADS', '4')} threads, GUNICORN_REUSE_PORT=1), wrk on "
        f"loopback, {CONNECTIONS} connections, {SECONDS} s a run, {RUNS} runs, each run one "
        "Redis then the cluster back to back; the ratio is the median of per-run ratios. "
        f"{server_version}: one server, and a cluster of 3 primaries + 3 replicas on the same "
        "machine (every node, gunicorn and wrk share its 2 cores: the box is shared and busy, "
        "figures drift by tens of percent between runs). Database: SQLite.",
        "",
        *machine(),
        "",
        "| measure | requests/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
        row("GET /me, bearer, one Redis", f"{single.rps:,.0f}", f"{single.p50_ms:.2f}",
            f"{single.p99_ms:.2f}"),
        row("GET /me, bearer, Redis Cluster", f"{cluster.rps:,.0f}", f"{cluster.p50_ms:.2f}",
            f"{cluster.p99_ms:.2f}"),
        row("**/me on the cluster ÷ /me on one Redis**", f"**{ratio:.2f}**", "", ""),
        row(f"POST /logout on the cluster, REDIS_REPLICA_ACKS=1 (the default: DEL + fence + "
            f"WAIT 1 in one round trip), {len(with_wait)} one after another, alternating with "
            "the next row's", "",
            f"{statistics.median(with_wait):.2f}", f"{p(with_wait, 99):.2f}"),
        row(f"POST /logout on the cluster, REDIS_REPLICA_ACKS=0 (no WAIT), {len(without)} "
            "one after another", "", f"{statistics.median(without):.2f}",
            f"{p(without, 99):.2f}"),
        row("**what a replica acknowledgement adds to a logout (p50)**", "",
            f"**{statistics.median(with_wait) - statistics.median(without):.2f}**", ""),
        row(f"Redis bytes per live session on the cluster, index entry included "
            f"(MEMORY USAGE, {SESSIONS} users with one session each)", f"{memory[0]:.0f}", "",
            ""),
        row("everything a registration and a login leave, as used_memory growth summed over "
            "the primaries, replication backlog and client buffers left out (the session and "
            "its index, the account's activity list, its verification token, the keyspace's "
            "own overhead)", f"{memory[1]:.0f}", "", ""),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    """Replace this bench's section of RESULTS.md, or add it at the end."""
    path = ROOT / "bench" / "RESULTS.md"
    existing = path.read_text() if path.exists() else ""
    if HEADING in existing:
        start = existing.index(HEADING)
        end = existing.find("\n## ", start + len(HEADING))
        existing = existing[:start] + existing[end + 1 :] if end != -1 else existing[:start]
    path.write_text(existing.rstrip("\n") + "\n\n" + text)


def main() -> int:
    wall = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="auth-bench-cluster-"))
    database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    migrate(database_url)
    single, cluster = RedisServer(), RedisClusterServers()
    started: list[Gunicorn] = []
    try:
        single.start()
        cluster.start()
        info = redis.Redis.from_url(single.url).info("server")
        server_version = (
            f"Valkey {info['valkey_version']}"
            if "valkey_version" in info
            else f"Redis {info['redis_version']}"
        )
        threads = os.environ.get("GUNICORN_THREADS", "4")
        services = {
            "single": start_service(single.url, database_url, workdir / "single.log",
                                    GUNICORN_THREADS=threads),
            "cluster": start_service(cluster.url, database_url, workdir / "cluster.log",
                                     GUNICORN_THREADS=threads),
        }  # fmt: skip
        started += services.values()
        assert call(services["single"].port, "POST", "/api/auth/register", USER).status == 201
        loads: dict[str, list[Load]] = {name: [] for name in services}
        tokens = {
            name: call(server.port, "POST", "/api/auth/token", CREDENTIALS).body["access_token"]
            for name, server in services.items()
        }
        for _ in range(RUNS):
            for name, server in services.items():
                url = f"http://127.0.0.1:{server.port}/api/auth/me"
                loads[name].append(
                    wrk(url, CONNECTIONS, {"Authorization": f"Bearer {tokens[name]}"})
                )
        for server in started:
            server.stop()
        started.clear()

        logout_services = {
            acks: start_service(cluster.url, database_url, workdir / f"logout-{acks}.log",
                                GUNICORN_THREADS=threads, REDIS_REPLICA_ACKS=str(acks),
                                RATELIMIT_ENABLED="false", **CHEAP_HASHING)
            for acks in (1, 0)
        }  # fmt: skip
        started += logout_services.values()
        logouts = logout_times(logout_services, LOGOUTS)
        for server in started:
            server.stop()
        started.clear()

        memory_service = start_service(
            cluster.url, database_url, workdir / "memory.log", **CHEAP_HASHING,
            RATELIMIT_ENABLED="false", SESSION_KEY_PREFIX="session:",
        )  # fmt: skip
        started.append(memory_service)
        memory = memory_per_session(cluster, memory_service)
    finally:
        for server in started:
            server.stop()
        cluster.stop()
        single.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    text = section(loads, logouts, memory, server_version, (time.monotonic() - wall) / 60)
    print(text)
    write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
