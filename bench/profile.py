"""Where a gunicorn worker spends its CPU under load: `make profile`.

Starts the service as `make bench` does (production settings, 2 workers,
GUNICORN_REUSE_PORT=1, a private Redis, SQLite), loads one endpoint with wrk
(16 connections) and records one worker with py-spy for PROFILE_SECONDS,
sampling only the thread that holds the GIL: what the samples add up to is
the worker's Python CPU time, not time spent waiting on sockets. Prints the
share of samples under each part of the request and writes the raw stacks
(flamegraph.pl's collapsed format) to bench/profile-<name>.txt (gitignored).

    python bench/profile.py [/api/auth/me|/bare|/healthz]   # default /api/auth/me
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import run as bench  # noqa: E402

from tests.real.services import Gunicorn, RedisServer, call  # noqa: E402

SECONDS = int(os.environ.get("PROFILE_SECONDS", "10"))

# (label, a frame that marks it): the share of samples with that frame in
# the stack. Parts may nest (the Redis round trip is inside opening the session).
PARTS = [
    ("whole request in Flask (Flask.wsgi_app)", "Flask.wsgi_app (flask/app.py"),
    ("gunicorn: read and parse the request", "Parser.__next__ (gunicorn/http/parser.py"),
    ("gunicorn: access log line", "Logger.access (gunicorn/glogging.py"),
    ("gunicorn: thread pool hand-off and event loop", "ThreadWorker.run (gunicorn/"),
    ("open the session (parse id, GETEX, decode)", "AuthSessionInterface.open_session"),
    ("  of which the Redis command (redis-py)", "Redis.execute_command (redis/client.py"),
    ("Flask-Limiter before_request (no limit on this view)", "Limiter._check_request_limit"),
    ("our before_request checks (CSRF/413/415, request id)", "check_request (app/security.py"),
    ("view: flask-smorest wrappers, marshmallow dump, JSON", "ResponseMixin.response.<locals>"),
    ("our after_request headers (security, request id)", "add_security_headers"),
    ("database (SQLAlchemy)", "sqlalchemy/"),
]


def shares(raw: Path) -> tuple[int, Counter[str]]:
    total, found = 0, Counter[str]()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        total += int(count)
        for label, frame in PARTS:
            if frame in stack:
                found[label] += int(count)
    return total, found


def main() -> int:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        raise SystemExit("py-spy is missing: pip install -r requirements-dev.txt")
    path = sys.argv[1] if len(sys.argv) > 1 else "/api/auth/me"
    workdir = Path(tempfile.mkdtemp(prefix="auth-profile-"))
    database_url = f"sqlite:///{workdir / 'profile.sqlite3'}"
    bench.migrate(database_url)
    store = RedisServer()
    servers: list[Gunicorn] = []
    try:
        store.start()
        if path == "/bare":
            env = {**bench.GUNICORN_SETTINGS, **bench.BARE_APP_ENV}
            server = Gunicorn(env, workdir / "bare.log", "bench.bare_app:app")
            server.start()
        else:
            server = bench.start_service(store.url, database_url, workdir / "service.log")
        servers.append(server)
        headers: dict[str, str] = {}
        if path.startswith("/api/auth/"):
            assert call(server.port, "POST", "/api/auth/register", bench.USER).status == 201
            reply = call(server.port, "POST", "/api/auth/token", bench.CREDENTIALS)
            headers = {"Authorization": f"Bearer {reply.body['access_token']}"}
        assert server.process is not None
        worker = bench.children(server.process.pid)[0]
        name = path.strip("/").replace("/", "-") or "root"
        raw = ROOT / "bench" / f"profile-{name}.txt"
        bench.SECONDS = SECONDS + 2
        load = threading.Thread(
            target=lambda: print(bench.wrk(f"http://127.0.0.1:{server.port}{path}", 16, headers))
        )
        load.start()
        subprocess.run(
            [py_spy, "record", "--gil", "--rate", "500", "--duration", str(SECONDS),
             "--format", "raw", "--output", str(raw), "--pid", str(worker)],
            check=True, capture_output=True,
        )  # fmt: skip
        load.join()
    finally:
        for started in servers:
            started.stop()
        store.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    total, found = shares(raw)
    print(f"\n{path}: {total} samples of one worker holding the GIL ({raw.name})\n")
    print("| part of the request | share of the worker's CPU |")
    print("|---|---:|")
    for label, _ in PARTS:
        print(f"| {label} | {100 * found[label] / total:.0f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
