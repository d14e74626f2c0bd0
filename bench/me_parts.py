"""What GET /me costs beyond the "Flask + one Redis GET" floor, part by part.

    python bench/me_parts.py

py-spy's shares (bench/profile.py) need a quiet machine: on a busy one the
thread that held the GIL when the OS took the core away collects the samples.
This measures CPU time of the calling thread instead (``time.thread_time``),
which another tenant's load does not inflate: the service's app and the
floor's app are built in this process (production settings, a private Redis,
SQLite) and called through WSGI, without gunicorn (whose share is the same
for both), ROUNDS times CALLS requests each, interleaved; each figure is the
median over rounds of µs per request. Then parts of /me are taken away one
at a time in this process only (app/ is not changed) and the difference is
what the part costs. Parts go cumulatively, in this order:

- the request id hooks, then the security checks and headers (CSRF/413/415);
- flask-smorest's decorators around the view (the view called directly, its
  result dumped by the same UserOut schema and answered with Flask's JSON);
- marshmallow (the same dict built by hand);
- transport.read_credential and the Vary hook it registers;
- the session's Python: the view does only the GETEX and returns a fixed body;
- the teardown hooks (Flask-SQLAlchemy removing its per-request session).

What is left against the floor is the rest of the app's Flask set-up (its
URL map, error handlers, session interface).
"""

from __future__ import annotations

import io
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.real.services import RedisServer  # noqa: E402

ROUNDS = int(os.environ.get("PARTS_ROUNDS", "7"))
CALLS = int(os.environ.get("PARTS_CALLS", "2000"))

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Any]


def request_us(
    app: Wsgi, environ: dict[str, Any], calls: int, body: bytes = b"", status: str = "200"
) -> float:
    """Thread CPU µs per request of ``app`` answering ``environ``."""

    def start_response(answered: str, headers: list[Any], exc_info: Any = None) -> None:
        assert answered.startswith(status), answered

    started = time.thread_time()
    for _ in range(calls):
        answer = app({**environ, "wsgi.input": io.BytesIO(body)}, start_response)
        for _chunk in answer:
            pass
        if hasattr(answer, "close"):
            answer.close()
    return (time.thread_time() - started) * 1e6 / calls


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="auth-parts-"))
    store = RedisServer()
    store.start()
    try:
        return measure(store.url, f"sqlite:///{workdir / 'parts.sqlite3'}")
    finally:
        store.stop()


def measure(redis_url: str, database_url: str) -> int:
    os.environ.update(
        APP_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(48),
        PASSWORD_PEPPER=secrets.token_urlsafe(48),
        SECOND_FACTOR_KEY=secrets.token_urlsafe(48),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        WEBAUTHN_RP_ID="localhost",
        BENCH_REDIS_URL=redis_url,
        LOG_LEVEL="WARNING",
        BCRYPT_ROUNDS="10",  # the least production accepts; /me does not hash
        # As in make bench's login flood: no throttling, refusals without a wait.
        RATELIMIT_ENABLED="false",
        PASSWORD_WORK_WAIT="0",  # noqa: S106 (a number of seconds)
        PASSWORD_WORK_DIR=tempfile.mkdtemp(prefix="auth-bench-work-"),
    )
    import redis
    from flask import Flask, request

    from app import create_app, logs, security
    from app.auth import schemas, service, transport
    from app.extensions import db
    from bench import bare_app

    redis.Redis.from_url(redis_url).set(bare_app.FIXED_KEY, bare_app.FIXED_VALUE)
    app = create_app()
    with app.app_context():
        db.create_all()
    client = app.test_client()
    user = {"username": "parts", "email": "parts@example.com", "password": "parts-pa55word-42"}
    assert client.post("/api/auth/register", json=user).status_code == 201
    reply = client.post(
        "/api/auth/token", json={"email": user["email"], "password": user["password"]}
    )
    token = reply.get_json()["access_token"]
    me = EnvironBuilder(path="/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    me_environ = me.get_environ()
    floor_environ = EnvironBuilder(path="/redis-get").get_environ()
    bare_environ = EnvironBuilder(path="/bare").get_environ()

    # Parts taken away one after the other, each from a fresh instance of
    # the service's app: the drop at each step is what that part costs.
    user_out = schemas.UserOut()
    store = app.extensions["session_store"]
    utc = "%Y-%m-%dT%H:%M:%SZ"

    def without(other: Flask, *hooks: Callable[..., Any]) -> None:
        for funcs in (*other.before_request_funcs.values(), *other.after_request_funcs.values()):
            funcs[:] = [func for func in funcs if func not in hooks]

    def no_request_id(other: Flask) -> None:
        without(other, logs._assign_request_id, logs._return_request_id)

    def no_security(other: Flask) -> None:
        without(other, security.check_request, security.add_security_headers)

    def no_smorest(other: Flask) -> None:
        def me_view() -> Any:
            user = service.current_user(transport.read_credential().session_id)
            return other.json.response(user_out.dump(user))

        other.view_functions["auth.me"] = me_view

    def no_marshmallow(other: Flask) -> None:
        def me_view() -> Any:
            user = service.current_user(transport.read_credential().session_id)
            return other.json.response(
                {"id": user.id, "username": user.username, "email": user.email,
                 "created_at": user.created_at.strftime(utc),
                 "updated_at": user.updated_at.strftime(utc)}
            )  # fmt: skip

        other.view_functions["auth.me"] = me_view

    def no_vary(other: Flask) -> None:
        def me_view() -> Any:
            _, _, session_id = request.headers["Authorization"].partition(" ")
            user = service.current_user(session_id)
            return other.json.response(
                {"id": user.id, "username": user.username, "email": user.email,
                 "created_at": user.created_at.strftime(utc),
                 "updated_at": user.updated_at.strftime(utc)}
            )  # fmt: skip

        other.view_functions["auth.me"] = me_view

    tag, secret = token.split(".")
    key = f"{store.prefix}{{{tag}}}:{secret[:16]}"

    def no_session_logic(other: Flask) -> None:
        client = other.extensions["redis"]

        def me_view() -> Any:
            client.execute_command("GETEX", key, "EX", store.idle_timeout)
            return {"id": 1, "username": "johndoe", "email": "john@example.com"}

        other.view_functions["auth.me"] = me_view

    def no_teardown(other: Flask) -> None:
        other.teardown_appcontext_funcs.clear()

    steps = [
        ("- the request id (before_request + after_request)", no_request_id),
        ("- security checks and headers (before_request + after_request)", no_security),
        ("- flask-smorest's decorators (the view called directly, UserOut dump kept)",
         no_smorest),
        ("- marshmallow (the same dict built by hand)", no_marshmallow),
        ("- transport.read_credential (the header read directly: no Vary hook)", no_vary),
        ("- the session's Python (id parsing, verifier, msgpack decode, PublicUser, dates): "
         "one GETEX, a fixed body", no_session_logic),
        ("- the teardown hooks (Flask-SQLAlchemy's session removal)", no_teardown),
    ]  # fmt: skip
    cases: dict[str, tuple[Wsgi, dict[str, Any]]] = {
        "bare Flask endpoint": (bare_app.app, bare_environ),
        "Flask + one Redis GET": (bare_app.app, floor_environ),
        "GET /me": (app, me_environ),
    }
    taken: list[Callable[[Flask], None]] = []
    for label, change in steps:
        taken.append(change)
        other = create_app()
        for each in taken:
            each(other)
        cases[label] = (other, me_environ)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for wsgi, environ in cases.values():
        request_us(wsgi, environ, 200)  # warm: pools, caches, compiled schemas
    for _ in range(ROUNDS):
        for name, (wsgi, environ) in cases.items():
            samples[name].append(request_us(wsgi, environ, CALLS))
    cost = {name: statistics.median(values) for name, values in samples.items()}
    me_us, floor_us = cost["GET /me"], cost["Flask + one Redis GET"]
    print(f"Thread CPU per request in process (no gunicorn), median of {ROUNDS} x {CALLS}:\n")
    print("| request | µs | step |")
    print("|---|---:|---:|")
    previous = None
    for name, us in cost.items():
        step = f"{us - previous:+.0f}" if previous is not None and name.startswith("-") else ""
        print(f"| {name} | {us:.0f} | {step} |")
        previous = us
    print(f"\n/me beyond the Redis GET floor: {me_us - floor_us:.0f} µs a request "
          f"(/me {me_us:.0f}, floor {floor_us:.0f}); left after every step: "
          f"{previous - floor_us:+.0f} µs")  # fmt: skip

    # What the login flood's refusals cost: POST /login (a wrong password for
    # a known account) while every password slot is taken: a 503.
    body = json.dumps({"email": user["email"], "password": "not-the-pa55word"}).encode()
    login = EnvironBuilder(method="POST", path="/api/auth/login", data=body,
                           content_type="application/json").get_environ()  # fmt: skip
    work = app.extensions["password_work"]
    for _ in range(work.slots.count):  # the gate (app/auth/admission.py) answers
        work.slots.take()
    refused = statistics.median(
        request_us(app, login, CALLS // 4, body, "503") for _ in range(ROUNDS)
    )
    print(f"POST /login refused by admission control (503, nothing hashed): {refused:.0f} µs "
          f"a request, {refused / me_us:.1f} x a GET /me")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
