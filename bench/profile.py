"""Where a gunicorn worker spends its CPU under load: `make profile`.

Starts the service as `make bench` does (production settings, 2 workers,
GUNICORN_REUSE_PORT=1, a private Redis, SQLite), loads one endpoint with wrk
(16 connections) and records one worker with py-spy for PROFILE_SECONDS,
sampling only the thread that holds the GIL: what the samples add up to is
the worker's Python CPU time, not time spent waiting on sockets. Prints the
share of samples under each part of the request and writes the raw stacks
(flamegraph.pl's collapsed format) to bench/profile-<name>.txt (gitignored).

    python bench/profile.py [/api/auth/me|/bare|/redis-get|/healthz]   # default /api/auth/me
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

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import run as bench  # noqa: E402

from tests.real.services import Gunicorn, RedisServer, call  # noqa: E402

SECONDS = int(os.environ.get("PROFILE_SECONDS", "10"))

# (label, frames that mark it): the share of samples with any of those frames
# in the stack. Parts may nest (the Redis round trip is inside reading the
# session, which is inside the view, inside flask-smorest's wrappers).
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("whole request in Flask (Flask.wsgi_app)", ("Flask.wsgi_app (flask/app.py",)),
    ("gunicorn: read and parse the request", ("Parser.__next__ (gunicorn/http/parser.py",)),
    ("gunicorn: access log line", ("Logger.access (gunicorn/glogging.py",)),
    (
        "gunicorn: event loop and thread-pool hand-off (main thread)",
        ("ThreadWorker.run (gunicorn/",),
    ),
    (
        "Flask: request context, URL matching, teardown",
        (
            "Flask.request_context (flask/app.py",
            "RequestContext.push (flask/ctx.py",
            "RequestContext.pop (flask/ctx.py",
            "Flask.do_teardown_appcontext",
        ),
    ),
    ("our before_request checks (CSRF/413/415)", ("check_request (app/security.py",)),
    (
        "request id (before_request + after_request)",
        (
            "_assign_request_id (app/logs.py",
            "_return_request_id (app/logs.py",
        ),
    ),
    ("flask-smorest's wrappers: view + dump + JSON", ("ResponseMixin.response.<locals>",)),
    ("  the view (routes.me -> service.current_user)", ("me (app/auth/routes.py",)),
    ("    read the session (SessionStore.load: id, GETEX, decode, verify)", ("SessionStore.load",)),
    ("      of which the Redis command (redis-py)", ("Redis.execute_command (redis/client.py",)),
    ("  marshmallow dump (UserOut)", ("Schema.dump (marshmallow/schema.py",)),
    ("  JSON body (jsonify)", ("jsonify (flask/json/__init__.py",)),
    ("our after_request headers (security headers, no-store)", ("add_security_headers",)),
    ("the Vary hook (transport, after_this_request)", ("_vary_on_credentials",)),
    ("database (SQLAlchemy: the per-request session teardown)", ("sqlalchemy/",)),
    ("the floor's Redis GET (bench/bare_app.py)", ("redis_get (bare_app.py",)),
]


def shares(raw: Path) -> tuple[int, Counter[str]]:
    total, found = 0, Counter[str]()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        total += int(count)
        for label, frames in PARTS:
            if any(frame in stack for frame in frames):
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
        if path in {"/bare", "/redis-get"}:
            redis.Redis.from_url(store.url).set(bench.FIXED_KEY, bench.FIXED_VALUE)
            env = {**bench.GUNICORN_SETTINGS, **bench.BARE_APP_ENV, "BENCH_REDIS_URL": store.url}
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
        if found[label]:
            print(f"| {label} | {100 * found[label] / total:.0f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
