"""`make run`'s supervisor: serves, stops everything on Ctrl-C, starts again.

Runs a copy of the repository in a temporary directory, so that its
instance/ (SQLite file, Redis socket, secret key) is private to the test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COPIED = [
    "app", "migrations", "scripts",
    "config.py", "wsgi.py", "gunicorn.conf.py", "escaped_access_log.py", "parking_worker.py",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get_json(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def post_json(url: str, body: dict[str, str]) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, tmp_path / name)
    return tmp_path


class DevServer:
    def __init__(self, checkout: Path) -> None:
        self.checkout = checkout
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # No APP_ENV: `make run` says development itself (unset means production).
        ignored = {"REDIS_URL", "DATABASE_URL", "APP_ENV"}
        env = {k: v for k, v in os.environ.items() if k not in ignored}
        env.update(BIND=f"127.0.0.1:{self.port}", BCRYPT_ROUNDS="4")
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, str(self.checkout / "scripts" / "devserver.py")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "devserver exited during start-up"
            try:
                if get_json(f"{self.base}/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("devserver did not become ready within 30 s")

    def children(self) -> list[int]:
        assert self.process is not None
        out = subprocess.run(  # noqa: S603
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return [int(pid) for pid in out.split()]

    def interrupt(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        return self.process.wait(timeout=40)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            for pid in self.children():
                os.kill(pid, signal.SIGKILL)
            self.process.kill()
            self.process.wait()


@pytest.fixture
def devserver(checkout: Path) -> Iterator[DevServer]:
    server = DevServer(checkout)
    yield server
    server.kill()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited all the same.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


@pytest.mark.real
def test_serves_stops_on_ctrl_c_and_starts_again(devserver: DevServer) -> None:
    devserver.start()
    children = devserver.children()
    assert len(children) == 2  # the embedded Redis server and gunicorn
    register = {"username": "ann", "email": "ann@example.com", "password": "pa55word!"}
    assert post_json(f"{devserver.base}/api/auth/register", register)[0] == 201
    status, body = post_json(
        f"{devserver.base}/api/auth/token", {"email": "ann@example.com", "password": "pa55word!"}
    )
    assert status == 200
    assert isinstance(body["access_token"], str)

    assert devserver.interrupt() == 0
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in children), "a child outlived Ctrl-C"
    assert not (devserver.checkout / "instance" / "redis.sock").exists()

    devserver.start()  # a second run works, on the same data
    status, _ = post_json(f"{devserver.base}/api/auth/register", register)
    assert status == 400  # the user from the first run is still there
    assert devserver.interrupt() == 0
