"""The benchmark: `make bench`.

Starts the service under gunicorn (the project's gunicorn.conf.py, 2 workers,
GUNICORN_THREADS threads, GUNICORN_REUSE_PORT=1) on a private real Redis
server and SQLite (or PostgreSQL when DATABASE_URL is set), and beside it a
bare Flask endpoint on the same gunicorn settings; loads both with wrk from a
separate process on loopback, every figure the median of RUNS runs; measures
Redis commands per request and bytes per session on the server itself;
prints one Markdown table and writes it, with the machine and versions, to
bench/RESULTS.md. Everything it starts, it stops.

This machine's speed drifts by tens of percent from one minute to the next,
so figures that are compared are measured interleaved: each run loads the
bare endpoint and /me back to back and the ratio is taken per run; login
requests alternate with in-process bcrypt verifies.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import bcrypt
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.auth import admission  # noqa: E402
from app.auth.admission import PasswordWork  # noqa: E402
from app.auth.passwords import Hasher, hash_password, verify_password  # noqa: E402
from bench.bare_app import FIXED_KEY, FIXED_VALUE  # noqa: E402
from config import HALF_THE_CORES  # noqa: E402
from tests.real.services import Gunicorn, RedisServer, call, cookie_header  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "5"))  # 5: this machine is noisy
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
CONNECTIONS = 16
LOGIN_SAMPLES = 15  # per run: one login, then one verify, alternately
COUNTED_REQUESTS = 2000  # requests whose Redis commands are counted, one by one
# Per-worker sockets: wrk's 16 connections are spread over both workers
# instead of landing on whichever woke first (see gunicorn.conf.py).
GUNICORN_SETTINGS = {"WEB_CONCURRENCY": "2", "GUNICORN_REUSE_PORT": "1"}
# The bare app reads no settings, but gunicorn.conf.py checks the service's
# at start-up, and APP_ENV unset means production (which needs secrets).
BARE_APP_ENV = {"APP_ENV": "testing", "LOG_LEVEL": "warning"}
SESSIONS_FOR_MEMORY = 1000
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
USER = {"username": "bench", "email": "bench@example.com", "password": "bench-pa55word-42"}
CREDENTIALS = {"email": USER["email"], "password": USER["password"]}
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    seconds: float = 0.0  # how long wrk ran
    # wrk's "Socket errors: ... timeout N": answers that came after more than
    # 2 s (wrk's --timeout), left out of the latencies. A request still
    # unanswered when the run ends is counted nowhere: ``stalled`` is the
    # connections that got no answer at all in the run (more than 2 s).
    timeouts: int = 0
    stalled: int = 0
    errors: int = 0  # "Non-2xx or 3xx responses"
    statuses: dict[int, int] = field(default_factory=dict)  # only with post.lua

    def per_second(self, *statuses: int) -> float:
        return sum(self.statuses.get(status, 0) for status in statuses) / self.seconds


def wrk_command(
    url: str,
    connections: int,
    headers: dict[str, str] | None = None,
    body: str = "",
    seconds: int | None = None,
) -> tuple[list[str], dict[str, str]]:
    duration = SECONDS if seconds is None else seconds
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    env = dict(os.environ)
    if body:
        command += ["-s", str(ROOT / "bench" / "post.lua")]
        env["BENCH_BODY"] = body
    return [*command, url], env


def parse_wrk(out: str) -> Load:
    def latency(percent: str) -> float:
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        if match is None:
            raise SystemExit(f"no {percent}% latency in wrk's output:\n{out}")
        return float(match.group(1)) * UNITS[match.group(2)]

    def count(pattern: str) -> int:
        match = re.search(pattern, out)
        return int(match.group(1)) if match else 0

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    assert done is not None, out
    requests, seconds = int(done.group(1)), float(done.group(2)) * UNITS[done.group(3)] / 1000
    timeouts = count(r"Socket errors:.*timeout (\d+)")

    def percentile(percent: int) -> float:
        """wrk's percentiles leave out the answers that came after its 2-s
        timeout (it counts them in ``requests`` and as timeouts): when they
        are the slowest (100 - percent) % or more, the percentile is over
        2 s, written as infinite. With no answer at all wrk prints zeros."""
        if not requests or timeouts >= requests * (100 - percent) / 100:
            return math.inf
        return latency(str(percent))

    return Load(
        rps,
        percentile(50),
        percentile(99),
        requests,
        seconds=seconds,
        timeouts=timeouts,
        stalled=max(0, count(r"(\d+) connections") - requests),
        errors=count(r"Non-2xx or 3xx responses: (\d+)"),
        statuses={int(code): int(n) for code, n in re.findall(r"^status (\d+) (\d+)$", out, re.M)},
    )


def start_wrk(*args: Any, **kwargs: Any) -> subprocess.Popen[str]:
    """wrk in the background: for loads that must overlap (the login flood)."""
    command, env = wrk_command(*args, **kwargs)
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)


def finish_wrk(process: subprocess.Popen[str]) -> Load:
    out, _ = process.communicate()
    if process.returncode:
        raise SystemExit(f"wrk failed ({process.returncode}):\n{out}")
    return parse_wrk(out)


def wrk(url: str, connections: int, headers: dict[str, str] | None = None, body: str = "") -> Load:
    """One load; any answer but a 2xx, or any timeout, stops the bench."""
    command, env = wrk_command(url, connections, headers, body)
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
    load = parse_wrk(out)
    if load.errors or load.timeouts:
        raise SystemExit(f"{url} answered errors under load:\n{out}")
    return load


def median_load(*args: object, **kwargs: object) -> Load:
    return median_of([wrk(*args, **kwargs) for _ in range(RUNS)])  # type: ignore[arg-type]


def children(pid: int) -> list[int]:
    """The child processes of ``pid``: a gunicorn master's workers."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(child) for child in out.split()]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (a gunicorn and its workers)."""
    total = 0
    for each in [pid, *children(pid)]:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def ratios(numerators: list[Load], denominators: list[Load]) -> float:
    """The median of per-run ratios of requests/s (runs measured back to back)."""
    return statistics.median(n.rps / d.rps for n, d in zip(numerators, denominators, strict=True))


def median_of(runs: list[Load]) -> Load:
    """Medians of rates and latencies; counts (requests, timeouts, errors,
    statuses) and seconds summed over the runs."""
    statuses: dict[int, int] = {}
    for run in runs:
        for status, count in run.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    return Load(
        statistics.median(r.rps for r in runs),
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        sum(r.requests for r in runs),
        seconds=sum(r.seconds for r in runs),
        timeouts=sum(r.timeouts for r in runs),
        stalled=sum(r.stalled for r in runs),
        errors=sum(r.errors for r in runs),
        statuses=statuses,
    )


@dataclass
class LoginTimes:
    login_p50_ms: float
    login_p99_ms: float
    verify_p50_ms: float


def exchange(sock: socket.socket, request: bytes) -> int:
    """Send one prepared HTTP/1.1 request on a keep-alive socket, read the
    whole response, return its status. Hand-written on purpose: http.client
    spends a few hundred microseconds of Python per request here, which would
    count as the service's overhead (and wrk cannot interleave verifies)."""

    def more() -> bytes:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection (no keep-alive?)")
        return chunk

    sock.sendall(request)
    reply = b""
    while b"\r\n\r\n" not in reply:
        reply += more()
    head, _, body = reply.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += more()
    return int(head.split(b" ", 2)[1])


def http_request(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    """One HTTP/1.1 request, prepared once and sent as often as needed."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def keep_alive(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def round_trip_ms(port: int, path: str) -> float:
    """p50 of one GET on a keep-alive connection with the login's client:
    what gunicorn and HTTP alone add to any request here."""
    request = http_request(port, "GET", path)
    samples = []
    with keep_alive(port) as sock:
        for _ in range(RUNS * 100):
            started = time.perf_counter()
            assert exchange(sock, request) == 200
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def login_and_verify_times(port: int, rounds: int) -> LoginTimes:
    """Logins over one keep-alive connection, each followed by one bcrypt
    verify in this process as the service does it (the 64-byte pre-hash, at
    the same cost, at its password threads' priority), so that both see the
    same machine speed."""
    with contextlib.suppress(OSError):  # unprivileged: both stay at the process's
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), admission.PRIORITY)
    hasher = Hasher(rounds=rounds, pepper=b"p" * 48)
    stored = hash_password(USER["password"], hasher).split("$", 2)[2].encode()
    secret = b"x" * 64
    request = http_request(port, "POST", "/api/auth/login", body=json.dumps(CREDENTIALS).encode())
    logins, verifies = [], []
    with keep_alive(port) as sock:
        for _ in range(RUNS * LOGIN_SAMPLES):
            started = time.perf_counter()
            status = exchange(sock, request)
            logins.append((time.perf_counter() - started) * 1000)
            assert status == 200, status
            started = time.perf_counter()
            bcrypt.checkpw(secret, stored)
            verifies.append((time.perf_counter() - started) * 1000)
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 0)
    return LoginTimes(
        statistics.median(logins),
        statistics.quantiles(logins, n=100)[98],
        statistics.median(verifies),
    )


# One pair per bench: every service it starts on one database verifies the
# hashes another one made.
SECRET_KEY = secrets.token_urlsafe(48)
PASSWORD_PEPPER = secrets.token_urlsafe(48)
SECOND_FACTOR_KEY = secrets.token_urlsafe(48)


def start_service(
    redis_url: str, database_url: str, log: Path, app_module: str = "wsgi:app", **extra: str
) -> Gunicorn:
    env = {
        "APP_ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "PASSWORD_PEPPER": PASSWORD_PEPPER,
        "SECOND_FACTOR_KEY": SECOND_FACTOR_KEY,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "WEBAUTHN_RP_ID": "localhost",
        **GUNICORN_SETTINGS,
        "LOG_LEVEL": "warning",
        # Mail delivery polls Redis on its own clock: not a request's commands.
        "MAIL_DELIVERY_THREAD": "false",
        # Private password-work slots: another service of this user on the
        # host would otherwise share (and spend) the bench's budget.
        "PASSWORD_WORK_DIR": str(log.parent / f"{log.stem}-password-work"),
        **extra,
    }
    server = Gunicorn(env, log, app_module)
    server.start()
    return server


def migrate(database_url: str) -> None:
    env = {**os.environ, "APP_ENV": "development", "DATABASE_URL": database_url}
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip


NOT_PER_REQUEST = {
    "cmdstat_info",
    "cmdstat_config|resetstat",
    "cmdstat_hello",  # connection handshakes, once per pooled connection
    "cmdstat_client|setinfo",
    "cmdstat_set",  # the last-seen write: changes the session, once a minute
}


def redis_calls_per_request(
    server: Gunicorn, stats: redis.Redis, headers: dict[str, str]
) -> tuple[float, dict[str, int]]:
    """Redis commands per GET /me, counted exactly: COUNTED_REQUESTS requests
    one after the other on one connection (a load generator stopped by time
    leaves requests in flight that Redis counted and it did not)."""
    request = http_request(server.port, "GET", "/api/auth/me", headers)
    with keep_alive(server.port) as sock:
        for _ in range(5):  # every pooled Redis connection made before counting
            exchange(sock, request)
        time.sleep(1)  # requests of an earlier wrk run still in flight end first
        stats.config_resetstat()
        for _ in range(COUNTED_REQUESTS):
            assert exchange(sock, request) == 200
    counted = {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.info("commandstats").items()
        if name not in NOT_PER_REQUEST
    }
    return sum(counted.values()) / COUNTED_REQUESTS, counted


def bytes_per_session_and_short_logins(
    redis_url: str, database_url: str, workdir: Path
) -> tuple[float, LoginTimes]:
    """Redis MEMORY USAGE of session keys and indexes over 1000 sessions of
    1000 users (one each: the index is not shared, the worst case); then, on
    the same server at bcrypt cost 4, login times beside a cost-4 verify:
    the service's overhead without a 250-ms burst of CPU before it."""
    registrations = f"{SESSIONS_FOR_MEMORY + 1} per hour"  # all from 127.0.0.1
    # Development: production refuses a cost below 10.
    server = start_service(redis_url, database_url, workdir / "memory.log", BCRYPT_ROUNDS="4",
                           APP_ENV="development",
                           RATELIMIT_REGISTER_PER_IP=registrations)  # fmt: skip
    try:
        for i in range(SESSIONS_FOR_MEMORY):
            body = {"username": f"mem{i}", "email": f"mem{i}@example.com",
                    "password": USER["password"]}  # fmt: skip
            assert call(server.port, "POST", "/api/auth/register", body).status == 201
            credentials = {"email": body["email"], "password": USER["password"]}
            reply = call(server.port, "POST", "/api/auth/token", credentials,
                         headers={"User-Agent": BROWSER_UA})  # fmt: skip
            assert reply.status == 200, reply.body
        client = redis.Redis.from_url(redis_url)
        # The session keys and the per-user indexes only (session:{tag}:<selector>,
        # session:{tag}:u<id>): not the activity lists or mailed tokens beside them.
        keys = [key for key in client.scan_iter(match="session:{*", count=1000)
                if not key.split(b"}:", 1)[1].startswith(b"e")]  # fmt: skip
        total = sum(client.memory_usage(key) or 0 for key in keys)
        assert call(server.port, "POST", "/api/auth/register", USER).status == 201
        short_logins = login_and_verify_times(server.port, 4)
    finally:
        server.stop()
    return total / SESSIONS_FOR_MEMORY, short_logins


# --- the login flood ----------------------------------------------------------------

FLOOD_CONNECTIONS = 32  # wrk connections POSTing wrong passwords
FLOOD_ROUNDS = 12  # bcrypt cost: production's
VERIFIES_PER_RUN = 3  # in-process verifies before each run: the ceiling follows drift
# A known account, a wrong password: the service finds the user and verifies
# for real (an unknown account burns one verify of the same cost: same work).
WRONG_PASSWORD = {"email": USER["email"], "password": "not-the-pa55word"}
# Throttling off: a real credential-stuffing attack comes from thousands of
# addresses, so no per-network bucket would stop it.
FLOOD_SETTINGS = {"BCRYPT_ROUNDS": str(FLOOD_ROUNDS), "RATELIMIT_ENABLED": "false"}
# "Before": a budget larger than gunicorn's threads, and a wait longer than
# any request: every login thread hashes (still at the lowered priority).
# At normal priority (bench/nice_wsgi.py): raised, 64 threads would starve all else.
ADMISSION_OFF = {"PASSWORD_WORK_SLOTS": "64", "PASSWORD_WORK_WAIT": "10",
                 "BENCH_PASSWORD_PRIORITY": "0"}  # fmt: skip


@dataclass
class FloodRun:
    slots: int  # the service's PASSWORD_WORK_SLOTS: its budget of password checks at once
    verify_ms: float  # median of VERIFIES_PER_RUN in-process verifies just before
    alone: Load  # GET /me, bearer, no other load
    me: Load  # the same, while the flood runs
    logins: Load  # the flood: POST /login, wrong password, statuses counted
    logins_alone: Load | None  # the flood with no /me load

    @property
    def ceiling(self) -> float:
        """Password checks per second if the budget's slots did nothing but bcrypt."""
        return self.slots * 1000 / self.verify_ms

    @property
    def machine_ceiling(self) -> float:
        """The same if every core did nothing but bcrypt."""
        return (os.cpu_count() or 1) * 1000 / self.verify_ms


@dataclass
class Flood:
    label: str
    settings: dict[str, str]
    runs: list[FloodRun]

    @property
    def alone(self) -> Load:
        return median_of([run.alone for run in self.runs])

    @property
    def me(self) -> Load:
        return median_of([run.me for run in self.runs])

    @property
    def logins(self) -> Load:
        return median_of([run.logins for run in self.runs])

    @property
    def logins_alone(self) -> Load | None:
        runs = [run.logins_alone for run in self.runs if run.logins_alone is not None]
        return median_of(runs) if runs else None

    @property
    def verify_ms(self) -> float:
        return statistics.median(run.verify_ms for run in self.runs)

    @property
    def ceiling(self) -> float:
        return statistics.median(run.ceiling for run in self.runs)

    @property
    def slots(self) -> int:
        return self.runs[0].slots

    @property
    def me_ratio(self) -> float:
        """/me under the flood ÷ /me alone: the median of per-run ratios."""
        return ratios([run.me for run in self.runs], [run.alone for run in self.runs])

    def per_second(self, *statuses: int, alone: bool = False) -> float:
        loads = [run.logins_alone if alone else run.logins for run in self.runs]
        return statistics.median(load.per_second(*statuses) for load in loads if load)

    def checked_ratio(self, alone: bool = False, machine: bool = False) -> float:
        """Logins answered 401 (a password really checked) per second ÷ the
        ceiling (the budget's, or with ``machine`` every core's), per run
        (the ceiling measured just before), median."""
        return statistics.median(
            load.per_second(401) / (run.machine_ceiling if machine else run.ceiling)
            for run in self.runs
            if (load := run.logins_alone if alone else run.logins) is not None
        )


def verify_times(samples: int) -> list[float]:
    """One password check as the service makes it for a wrong password on a
    known account (pre-hash + bcrypt at FLOOD_ROUNDS), timed in this process."""
    hasher = Hasher(rounds=FLOOD_ROUNDS, pepper=b"p" * 48)
    stored = hash_password(USER["password"], hasher)
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        assert not verify_password(WRONG_PASSWORD["password"], stored, hasher)
        times.append((time.perf_counter() - started) * 1000)
    return times


def settle(server: Gunicorn, quiet: float = 0.05, limit: float = 60) -> None:
    """Wait until the server is idle: logins that wrk left in flight (or in
    gunicorn's queue) finish hashing before the next measure starts."""
    assert server.process is not None
    deadline = time.monotonic() + limit
    previous = cpu_seconds(server.process.pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(server.process.pid)
        if now - previous < quiet:
            return
        previous = now


def login_flood(
    store_url: str,
    database_url: str,
    log: Path,
    label: str,
    settings: dict[str, str],
    flood_alone: bool = True,
    app_module: str = "wsgi:app",
) -> Flood:
    """RUNS runs of: a few in-process verifies; GET /me alone; GET /me while
    FLOOD_CONNECTIONS connections POST wrong passwords (both wrk processes
    started together, for SECONDS); with ``flood_alone``, the flood alone."""
    threads = os.environ.get("GUNICORN_THREADS", "4")
    slots = int(settings.get("PASSWORD_WORK_SLOTS", HALF_THE_CORES))
    server = start_service(store_url, database_url, log, app_module=app_module,
                           GUNICORN_THREADS=threads, **FLOOD_SETTINGS, **settings)  # fmt: skip
    try:
        # The bench's user: made here unless the main service already did.
        assert call(server.port, "POST", "/api/auth/register", USER).status in {201, 400}
        reply = call(server.port, "POST", "/api/auth/token", CREDENTIALS)
        assert reply.status == 200, reply.body
        bearer = {"Authorization": f"Bearer {reply.body['access_token']}"}
        me_url = f"http://127.0.0.1:{server.port}/api/auth/me"
        login_url = f"http://127.0.0.1:{server.port}/api/auth/login"
        wrong = json.dumps(WRONG_PASSWORD)
        runs = []
        for _ in range(RUNS):
            settle(server)
            verify_ms = statistics.median(verify_times(VERIFIES_PER_RUN))
            alone = wrk(me_url, CONNECTIONS, bearer)
            flood = start_wrk(login_url, FLOOD_CONNECTIONS, body=wrong)
            me = finish_wrk(start_wrk(me_url, CONNECTIONS, bearer))
            logins = finish_wrk(flood)
            logins_alone = None
            if flood_alone:
                settle(server)
                logins_alone = finish_wrk(start_wrk(login_url, FLOOD_CONNECTIONS, body=wrong))
            runs.append(FloodRun(slots, verify_ms, alone, me, logins, logins_alone))
    finally:
        server.stop()
    return Flood(label, settings, runs)


def ms(value: float, digits: int = 2) -> str:
    """A latency for the table; infinite: over wrk's 2-s timeout (see parse_wrk)."""
    return "> 2,000" if math.isinf(value) else f"{value:.{digits}f}"


def flood_rows(flood: Flood) -> list[str]:
    me, alone, logins = flood.me, flood.alone, flood.logins
    checked, refused = flood.per_second(401), flood.per_second(503)
    other = sum(n for status, n in logins.statuses.items() if status not in {401, 503})
    p99_ok = me.p99_ms < 100
    rows = [
        row(f"{flood.label}: GET /me, bearer, alone ({CONNECTIONS} connections)",
            f"{alone.rps:,.0f}", ms(alone.p50_ms), ms(alone.p99_ms), "", ""),
        row(f"{flood.label}: GET /me, bearer, **during the flood**; timeouts (all runs): "
            f"**{me.timeouts}**, connections never answered in a run: {me.stalled}, "
            f"errors: {me.errors}",
            f"{me.rps:,.0f}", ms(me.p50_ms), f"**{ms(me.p99_ms)}**",
            "p99 < 100 ms, 0 timeouts", verdict(p99_ok and me.timeouts + me.stalled == 0)),
        row(f"{flood.label}: **/me during the flood ÷ /me alone**", f"**{flood.me_ratio:.2f}**",
            "", "", "≥ 0.5", verdict(flood.me_ratio >= 0.5)),
        row(f"{flood.label}: the flood, POST /login ({FLOOD_CONNECTIONS} connections, known "
            f"account, wrong password): **checked (401)/s {checked:.1f}**, refused (503)/s "
            f"{refused:,.0f}, other answers {other}, timeouts {logins.timeouts}, connections "
            f"never answered in a run {logins.stalled}",
            f"{logins.rps:,.0f}", ms(logins.p50_ms, 1), ms(logins.p99_ms, 1), "", ""),
        row(f"{flood.label}: **checked logins/s ÷ the budget's ceiling** ({flood.slots} "
            f"slot{'s' if flood.slots > 1 else ''} ÷ {flood.verify_ms:.0f} ms a verify = "
            f"{flood.ceiling:.1f}/s); ÷ every core's ceiling ({os.cpu_count()} cores: "
            f"{statistics.median(run.machine_ceiling for run in flood.runs):.1f}/s): "
            f"{flood.checked_ratio(machine=True):.2f}",
            f"**{flood.checked_ratio():.2f}**", "", "", "≥ 0.8",
            verdict(flood.checked_ratio() >= 0.8)),
    ]  # fmt: skip
    alone_flood = flood.logins_alone
    if alone_flood is not None:
        rows.append(row(
            f"{flood.label}: the flood with no /me load: checked (401)/s "
            f"{flood.per_second(401, alone=True):.1f}, **{flood.checked_ratio(alone=True):.2f} "
            f"of the budget's ceiling**; refused (503)/s {flood.per_second(503, alone=True):,.0f}",
            f"{alone_flood.rps:,.0f}", ms(alone_flood.p50_ms, 1), ms(alone_flood.p99_ms, 1),
            "", "",
        ))  # fmt: skip
    return rows


def handoff_us(samples: int = 2000) -> float:
    """p50 of handing a no-op to a password-work thread and back (what
    admission control adds to a login beyond the wait for a free slot)."""
    work = PasswordWork(1, wait=0.05, directory=tempfile.mkdtemp(prefix="auth-bench-work-"))
    work.run(int)  # the thread exists before timing
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        work.run(int)
        times.append((time.perf_counter() - started) * 1e6)
    return statistics.median(times)


def machine() -> list[str]:
    cpu = "unknown CPU"
    if Path("/proc/cpuinfo").exists():
        match = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = match.group(1) if match else cpu
    return [
        f"- Machine: {os.cpu_count()} cores, {cpu}, {platform.platform()}",
        f"- Python {platform.python_version()}, Flask {version('flask')}, "
        f"gunicorn {version('gunicorn')}, redis-py {version('redis')}, bcrypt {version('bcrypt')}",
    ]


def main() -> int:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk")
    wall = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="auth-bench-"))
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir / 'bench.sqlite3'}"
    migrate(database_url)
    store, floor_store, memory_store = RedisServer(), RedisServer(), RedisServer()
    threads = os.environ.get("GUNICORN_THREADS", "4")
    started: list[Gunicorn] = []
    try:
        store.start()
        floor_store.start()
        redis.Redis.from_url(floor_store.url).set(FIXED_KEY, FIXED_VALUE)
        service = start_service(store.url, database_url, workdir / "service.log",
                                GUNICORN_THREADS=threads)  # fmt: skip
        started.append(service)
        bare_env = {**GUNICORN_SETTINGS, "GUNICORN_THREADS": threads, **BARE_APP_ENV,
                    "BENCH_REDIS_URL": floor_store.url}  # fmt: skip
        bare = Gunicorn(bare_env, workdir / "bare.log", "bench.bare_app:app")
        bare.start()
        started.append(bare)

        api = f"http://127.0.0.1:{service.port}"
        assert call(service.port, "POST", "/api/auth/register", USER).status == 201
        login = call(service.port, "POST", "/api/auth/login", CREDENTIALS)
        cookie = cookie_header(login.cookie() or "")
        token = call(service.port, "POST", "/api/auth/token", CREDENTIALS).body["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}

        # The figure: both floors and /me loaded back to back, RUNS times.
        # CPU per request is measured beside: it drifts much less than rates do.
        targets = {
            "bare": (bare, f"http://127.0.0.1:{bare.port}/bare", {}, None),
            "redis-get": (bare, f"http://127.0.0.1:{bare.port}/redis-get", {}, floor_store),
            "cookie": (service, f"{api}/api/auth/me", cookie, store),
            "bearer": (service, f"{api}/api/auth/me", bearer, store),
        }
        interleaved: dict[str, list[Load]] = {name: [] for name in targets}
        cpu_us: dict[str, list[float]] = {name: [] for name in targets}
        redis_us: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(RUNS):
            for name, (server, url, headers, its_redis) in targets.items():
                assert server.process is not None
                redis_pid = its_redis.process.pid if its_redis and its_redis.process else None
                before = cpu_seconds(server.process.pid)
                redis_before = cpu_seconds(redis_pid) if redis_pid else 0.0
                load = wrk(url, CONNECTIONS, headers)
                interleaved[name].append(load)
                cpu_us[name].append(
                    (cpu_seconds(server.process.pid) - before) * 1e6 / load.requests
                )
                if redis_pid:
                    redis_cpu = cpu_seconds(redis_pid) - redis_before
                    redis_us[name].append(redis_cpu * 1e6 / load.requests)
        cpu = {name: statistics.median(values) for name, values in cpu_us.items()}
        redis_cpu_us = {name: statistics.median(v) for name, v in redis_us.items() if v}
        rows: list[tuple[str, Load]] = [
            ("bare Flask endpoint (the floor)", median_of(interleaved["bare"])),
            ("Flask + one Redis GET (the second floor)", median_of(interleaved["redis-get"])),
            ("GET /me, cookie", median_of(interleaved["cookie"])),
            ("GET /me, bearer", median_of(interleaved["bearer"])),
        ]
        ratio = {
            (me, floor): ratios(interleaved[me], interleaved[floor])
            for me in ("cookie", "bearer")
            for floor in ("bare", "redis-get")
        }
        for label, path, headers in [
            ("GET /sessions, bearer", "/api/auth/sessions", bearer),
            ("GET /healthz", "/healthz", {}),
            ("GET /readyz", "/readyz", {}),
            ("GET /openapi.json", "/openapi.json", {}),
        ]:
            rows.append((label, median_load(api + path, CONNECTIONS, headers)))

        # Counted before any login load: logins wrk leaves in flight finish
        # (and write to Redis) after it exits.
        stats = redis.Redis.from_url(store.url)
        server_version = redis_version(store)
        trips_cookie, commands_cookie = redis_calls_per_request(service, stats, cookie)
        trips_bearer, commands_bearer = redis_calls_per_request(service, stats, bearer)
        rounds = 12
        login_times = login_and_verify_times(service.port, rounds)
        bare_round_trip = round_trip_ms(bare.port, "/bare")
        handoff = handoff_us()
        for server in started:
            server.stop()
        started.clear()

        # The login flood: its own service (throttling off), same database and Redis.
        floods = [
            login_flood(store.url, database_url, workdir / "flood.log",
                        "admission control (defaults)", {}),
            login_flood(store.url, database_url, workdir / "flood-off.log",
                        "before: admission control off (slots 64, wait 10 s, normal priority)",
                        ADMISSION_OFF, flood_alone=False, app_module="bench.nice_wsgi:app"),
        ]  # fmt: skip
    finally:
        for server in started:
            server.stop()
        store.stop()
        floor_store.stop()
    try:
        memory_store.start()
        memory_database = f"sqlite:///{workdir / 'memory.sqlite3'}"
        migrate(memory_database)
        per_session, short_logins = bytes_per_session_and_short_logins(
            memory_store.url, memory_database, workdir
        )
    finally:
        memory_store.stop()

    overhead = login_times.login_p50_ms - login_times.verify_p50_ms
    short_overhead = short_logins.login_p50_ms - short_logins.verify_p50_ms
    trips = max(trips_cookie, trips_bearer)
    commands = ", ".join(f"{name} {calls}" for name, calls in sorted(commands_cookie.items()))
    commands_b = ", ".join(f"{name} {calls}" for name, calls in sorted(commands_bearer.items()))
    database = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    lines = [
        "# Benchmark results",
        "",
        f"`make bench`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{(time.monotonic() - wall) / 60:.1f} minutes. gunicorn from gunicorn.conf.py: 2 "
        f"workers x {threads} threads, GUNICORN_REUSE_PORT=1 (the service and both floors); "
        f"wrk on loopback, {CONNECTIONS} connections, {SECONDS} s a run; every figure the "
        f"median of {RUNS} runs, each /me ratio the median of per-run ratios (the floors and "
        f"/me loaded back to back; /me alone and under the flood likewise). Redis: private "
        f"servers ({server_version}); database: {database}. The login flood: its own service "
        f"at bcrypt cost {FLOOD_ROUNDS}, RATELIMIT_ENABLED=false, {FLOOD_CONNECTIONS} "
        f"connections POSTing a wrong password for a known account (bench/post.lua counts the "
        f"answers by status).",
        "",
        *machine(),
        "",
        "| measure | requests/s | p50 ms | p99 ms | target | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for label, load in rows:
        floor_row = "floor" in label
        met = "—" if floor_row else verdict(load.p99_ms < 200)
        target = "—" if floor_row else "p99 < 200 ms"
        lines.append(row(label, f"{load.rps:,.0f}", f"{load.p50_ms:.2f}", f"{load.p99_ms:.2f}",
                         target, met))  # fmt: skip
    samples = RUNS * LOGIN_SAMPLES
    login_label = f"POST /login, 1 connection, {samples} logins (bcrypt cost {rounds})"
    for kind in ("cookie", "bearer"):
        lines += [
            row(f"**/me ÷ (Flask + one Redis GET), {kind}**",
                f"**{ratio[kind, 'redis-get']:.2f}**", "", "", "≥ 0.95",
                verdict(ratio[kind, "redis-get"] >= 0.95)),
            row(f"/me ÷ bare, {kind}", f"{ratio[kind, 'bare']:.2f}", "", "", "≥ 0.6",
                verdict(ratio[kind, "bare"] >= 0.6)),
        ]  # fmt: skip
    lines += [
        row(f"gunicorn CPU per request, master + workers, µs: bare {cpu['bare']:.0f}, "
            f"Flask + one Redis GET {cpu['redis-get']:.0f}, /me cookie {cpu['cookie']:.0f}, "
            f"/me bearer {cpu['bearer']:.0f}; the Redis server's per request: "
            f"Redis GET floor {redis_cpu_us['redis-get']:.0f}, /me cookie "
            f"{redis_cpu_us['cookie']:.0f}, /me bearer {redis_cpu_us['bearer']:.0f}",
            "", "", "", "", ""),
        row(login_label, "", f"{login_times.login_p50_ms:.1f}",
            f"{login_times.login_p99_ms:.1f}", "", ""),
        row(f"one bcrypt verify at cost {rounds} (in process, after each login)", "",
            f"{login_times.verify_p50_ms:.1f}", "", "", ""),
        row("**login overhead beyond bcrypt (p50)**, throttling on", "",
            f"**{overhead:.1f}**", "", "≤ 3 ms", verdict(overhead <= 3)),
        row("the same at bcrypt cost 4 (login p50 - verify p50; no 250-ms CPU burst before "
            "the rest of the request, see PROFILE.md)", "",
            f"{short_overhead:.1f} ({short_logins.login_p50_ms:.1f} - "
            f"{short_logins.verify_p50_ms:.1f})", "", "", ""),
        row("of which HTTP and gunicorn alone: one GET of the bare endpoint, same client, "
            "p50", "", f"{bare_round_trip:.2f}", "", "", ""),
        row("of which the hand-off to a password-work thread and back (admission control; "
            "in process, a no-op, p50)", "", f"{handoff / 1000:.3f}", "", "", ""),
    ]  # fmt: skip
    for flood in floods:
        lines += flood_rows(flood)
    lines += [
        row(f"Redis commands per GET /me that does not change the session, cookie / bearer "
            f"({COUNTED_REQUESTS} requests each: {commands} / {commands_b})",
            f"{trips_cookie:.3f} / {trips_bearer:.3f}", "", "", "≤ 1", verdict(trips <= 1.0)),
        row(f"Redis bytes per live session, index entry included ({SESSIONS_FOR_MEMORY} "
            "sessions)", f"{per_session:.0f}", "", "", "≤ 400", verdict(per_session <= 400)),
    ]  # fmt: skip
    table = "\n".join(lines) + "\n"
    print(table)
    results = ROOT / "bench" / "RESULTS.md"
    # Sections other benches add under their own "## " heading (bench/cluster.py) stay.
    existing = results.read_text() if results.exists() else ""
    kept = existing[existing.index("\n## ") :] if "\n## " in existing else ""
    results.write_text(table + kept)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def redis_version(server: RedisServer) -> str:
    info = redis.Redis.from_url(server.url).info("server")
    if "valkey_version" in info:
        return f"Valkey {info['valkey_version']}"
    return f"Redis {info['redis_version']}"


def verdict(met: bool) -> str:
    return "yes" if met else "NO"


def row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":
    sys.exit(main())
