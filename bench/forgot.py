"""Forgot-password: does a known address answer in the same time as an unknown one?

In process (Flask's test client, a real Redis from REDIS_URL or fakeredis,
in-memory SQLite), interleaved: one request for a known address, one for an
unknown one, ROUNDS times; prints the median of each and their ratio. The
test suite proves the same work by counting (tests/fast/test_lifecycle.py);
this is the figure in time. Run: `.venv/bin/python bench/forgot.py`.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import fakeredis
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app
from app.extensions import db
from tests.conftest import make_config

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "400"))


def main() -> None:
    url = os.environ.get("REDIS_URL")
    client = redis.Redis.from_url(url) if url else fakeredis.FakeRedis()
    app = create_app(
        make_config(
            REDIS_CLIENT=client,
            SESSION_KEY_PREFIX="bench-forgot:",
            MAIL_KEY_PREFIX="bench-forgot-mail:",
            RATELIMIT_KEY_PREFIX="bench-forgot-rl",
        )
    )
    with app.app_context():
        db.create_all()
        web = app.test_client()
        body = {"username": "ann", "email": "ann@example.com", "password": "pa55word-42"}
        assert web.post("/api/auth/register", json=body).status_code == 201
        timings: dict[str, list[float]] = {"known": [], "unknown": []}
        for _ in range(ROUNDS):
            for kind, email in (("known", "ann@example.com"), ("unknown", "nobody@example.com")):
                started = time.perf_counter()
                assert (
                    web.post("/api/auth/password/forgot", json={"email": email}).status_code == 202
                )
                timings[kind].append((time.perf_counter() - started) * 1000)
        known, unknown = (statistics.median(timings[k]) for k in ("known", "unknown"))
        print(
            f"forgot-password, {ROUNDS} interleaved pairs, Redis: {'real' if url else 'fakeredis'}"
        )
        print(
            f"known p50 {known:.3f} ms, unknown p50 {unknown:.3f} ms, ratio {unknown / known:.2f}"
        )


if __name__ == "__main__":
    main()
