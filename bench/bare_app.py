"""The floors: bare Flask endpoints, served by the same gunicorn settings as
the service (`gunicorn -c gunicorn.conf.py bench.bare_app:app`).

- ``/bare``: a small JSON, nothing else: what Flask on gunicorn costs.
- ``/redis-get``: the same JSON after exactly one Redis GET of a fixed key
  (a value the size of a session record) on ``BENCH_REDIS_URL``, through a
  client built by the service's own ``build_redis_client`` (redis-py
  ``Redis.from_url`` with hiredis, the same timeouts and retry): the least
  an authenticated request can cost, since ``/me`` reads its session with
  one Redis command.
"""

import os

from flask import Flask

from app import build_redis_client
from config import Config

FIXED_KEY = "bench:floor"
# A GETEX of a session record returns ~200 bytes (bench/RESULTS.md: 304 bytes
# of Redis memory per session, index entry included): the same size here.
FIXED_VALUE = b"x" * 200

app = Flask(__name__)
app.config.update(
    REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
    REDIS_SOCKET_TIMEOUT=Config({}).REDIS_SOCKET_TIMEOUT,  # the service's defaults
    REDIS_RETRIES=Config({}).REDIS_RETRIES,
)
client = build_redis_client(app)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}  # what the benchmark's start-up probe asks


@app.get("/bare")
def bare() -> dict[str, object]:
    return {"id": 1, "username": "johndoe", "email": "john@example.com"}


@app.get("/redis-get")
def redis_get() -> dict[str, object]:
    if client.get(FIXED_KEY) is None:
        raise RuntimeError(f"{FIXED_KEY} is missing: the bench sets it before loading")
    return {"id": 1, "username": "johndoe", "email": "john@example.com"}
