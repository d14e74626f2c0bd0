"""The real tier: a real Redis (``REDIS_URL``) and a real PostgreSQL (``DATABASE_URL``).

Without those URLs the run starts its own servers (tests/real/embedded.py):
valkey-server and PostgreSQL from wheels, on free 127.0.0.1 ports, once per
run and only when a test needs them. Given URLs are used as they are; one that
does not answer skips, and with ``REQUIRE_SERVICES=1`` (set by .ci/run) a skip
fails the run. Nothing here touches data it did not create:
each run works in a private PostgreSQL database it creates and drops, and
under a private Redis key prefix whose keys it deletes afterwards.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db
from config import TestingConfig
from tests.conftest import WORK_DIR, make_config
from tests.real import embedded
from tests.real.services import ROOT, Gunicorn
from tests.real.topologies import RedisClusterServers, SentinelServers

RUN_ID = secrets.token_hex(4)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/real/" in str(item.fspath):
            item.add_marker(pytest.mark.real)


@pytest.fixture(scope="session")
def real_redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if not url:
        with embedded.valkey(request.config) as server:
            yield server.url
        return
    try:
        redis_py.Redis.from_url(url, socket_timeout=2).ping()
    except redis_py.RedisError as error:
        pytest.skip(f"REDIS_URL={url} does not answer: {error}")
    embedded.announce(request.config, f"Redis: REDIS_URL={url}")
    yield url


@pytest.fixture(scope="session")
def redis_cluster(request: pytest.FixtureRequest) -> Iterator[RedisClusterServers]:
    """A private Redis Cluster (3 primaries, 3 replicas), started when first needed."""
    servers = RedisClusterServers()
    servers.start()  # stops whatever it started when start-up fails
    try:
        embedded.announce(request.config, f"Redis Cluster: {servers.binary} at {servers.url}")
        yield servers
    finally:
        servers.stop()


@pytest.fixture(scope="session")
def redis_sentinel(request: pytest.FixtureRequest) -> Iterator[SentinelServers]:
    """A private Sentinel group (primary, replica, 3 sentinels), started when first needed."""
    servers = SentinelServers()
    servers.start()
    try:
        embedded.announce(request.config, f"Redis Sentinel: {servers.binary} at {servers.url}")
        yield servers
    finally:
        servers.stop()


@pytest.fixture(scope="session")
def key_prefix() -> str:
    return f"test-{RUN_ID}:session:"


@pytest.fixture(scope="session")
def postgres_server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if not url:
        with embedded.postgres(request.config) as server:
            yield server.url
        return
    if not url.startswith("postgresql"):
        pytest.skip("DATABASE_URL does not point at PostgreSQL (unset, the run starts its own)")
    embedded.announce(request.config, f"PostgreSQL: DATABASE_URL={url}")
    yield url


def _admin_engine(server_url: str) -> sa.Engine:
    return sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


@pytest.fixture(scope="session")
def postgres_database(postgres_server_url: str) -> Iterator[Any]:
    """A factory of private, empty databases on the server, dropped at the end."""
    admin = _admin_engine(postgres_server_url)
    created: list[str] = []

    def create(label: str) -> str:
        name = f"auth_test_{RUN_ID}_{label}_{len(created)}"
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return (
            make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
        )

    try:
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as error:
        pytest.skip(f"PostgreSQL at DATABASE_URL does not answer: {error.orig}")
    yield create
    with admin.connect() as connection:
        for name in created:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def flask_db_upgrade(database_url: str) -> None:
    """The README's production command, run the way an operator runs it."""
    env = {
        **os.environ,
        "APP_ENV": "development",
        "DATABASE_URL": database_url,
        "REDIS_URL": "redis://127.0.0.1:1/0",  # not contacted by migrations
    }
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="session")
def migrated_postgres_url(postgres_database: Any) -> str:
    url: str = postgres_database("api")
    flask_db_upgrade(url)
    return url


# --- the fast tier's fixtures, pointed at the real services ---------------------


@pytest.fixture
def redis(real_redis_url: str, key_prefix: str) -> Iterator[redis_py.Redis]:
    client = redis_py.Redis.from_url(real_redis_url)
    yield client
    for pattern in (key_prefix + "*", f"test-{RUN_ID}-rl:*", f"test-{RUN_ID}-mail:*"):
        for key in client.scan_iter(match=pattern, count=1000):
            client.delete(key)
    client.close()


@pytest.fixture
def app_config(redis: redis_py.Redis, migrated_postgres_url: str, key_prefix: str) -> TestingConfig:
    return make_config(
        REDIS_CLIENT=redis,
        SQLALCHEMY_DATABASE_URI=migrated_postgres_url,
        SESSION_KEY_PREFIX=key_prefix,
    )


@pytest.fixture
def app(app_config: TestingConfig) -> Iterator[Flask]:
    app = create_app(app_config)
    with app.app_context():
        yield app
        db.session.remove()
        with db.engine.begin() as connection:
            # CASCADE: the tables that refer to users (second factors, passkeys) empty too.
            connection.execute(sa.text("TRUNCATE users RESTART IDENTITY CASCADE"))
        db.engine.dispose()


@pytest.fixture
def gunicorn_env(real_redis_url: str, key_prefix: str, redis: redis_py.Redis) -> dict[str, str]:
    """Production settings for a real gunicorn, on the real Redis.

    Asks for ``redis`` so that the keys a test's servers wrote are deleted
    after it, like those of the in-process tests.
    """
    return {
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "PASSWORD_PEPPER": secrets.token_urlsafe(48),
        "SECOND_FACTOR_KEY": secrets.token_urlsafe(48),
        "REDIS_URL": real_redis_url,
        "SESSION_KEY_PREFIX": key_prefix,
        "BCRYPT_ROUNDS": "10",  # the lowest production accepts (config.py)
        # Throttling stays on, as in production, with private counters and
        # limits no functional test reaches (test_throttling_real sets its own).
        "RATELIMIT_KEY_PREFIX": f"test-{RUN_ID}-rl",
        "RATELIMIT_LOGIN_PER_IDENTIFIER": "1000 per minute",
        "RATELIMIT_LOGIN_PER_IP": "1000 per minute",
        "RATELIMIT_REGISTER_PER_IP": "1000 per hour",
        "RATELIMIT_MAIL_PER_IP": "1000 per hour",
        "RATELIMIT_MAIL_PER_ADDRESS": "1000 per hour",
        # A private outbox: a delivery thread of another run sharing this
        # Redis must never claim (and send elsewhere) this test's mail.
        "MAIL_KEY_PREFIX": f"test-{RUN_ID}-mail:",
        # Passkeys: tests/softauthn.py signs for this relying party and origin.
        "WEBAUTHN_RP_ID": "localhost",
        "WEBAUTHN_ORIGINS": "http://localhost",
        "RATELIMIT_PASSKEY_PER_IP": "1000 per minute",
        "RATELIMIT_PASSKEY_OPTIONS_PER_IP": "1000 per minute",
        # Functional tests wait for password work instead of a 503 when they
        # race; test_admission_real.py tests the budget with its own settings.
        "PASSWORD_WORK_WAIT": "10",
        "PASSWORD_WORK_DIR": WORK_DIR,
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "2",
    }


@pytest.fixture
def make_gunicorn(tmp_path: Path) -> Iterator[Any]:
    started: list[Gunicorn] = []

    def make(env: dict[str, str]) -> Gunicorn:
        server = Gunicorn(env, tmp_path / f"gunicorn-{len(started)}.log")
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def production_gunicorn(
    make_gunicorn: Any, gunicorn_env: dict[str, str], postgres_database: Any
) -> Any:
    """Start a production gunicorn on a fresh PostgreSQL database, migrated the
    way the README says (``flask db upgrade``)."""

    def start(label: str, **env: str) -> Gunicorn:
        database_url = postgres_database(label)
        flask_db_upgrade(database_url)
        server: Gunicorn = make_gunicorn({**gunicorn_env, "DATABASE_URL": database_url, **env})
        server.start()
        return server

    return start
