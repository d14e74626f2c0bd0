"""Migrations on PostgreSQL: from empty, down to base, up again; models agree."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app import create_app
from app.extensions import db
from tests.conftest import make_config
from tests.real.services import ROOT


def test_upgrade_downgrade_upgrade_and_no_drift(postgres_database: Any, redis: Any) -> None:
    url = postgres_database("migrations")
    app = create_app(make_config(REDIS_CLIENT=redis, SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            # PostgreSQL reflects expression indexes: autogenerate sees everything.
            assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []
            indexes = {
                name: definition
                for name, definition in connection.execute(
                    sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'users'")
                )
            }
        assert "UNIQUE INDEX" in indexes["uq_users_email_lower"]
        assert "lower((email)::text)" in indexes["uq_users_email_lower"]
        assert "lower((username)::text)" in indexes["uq_users_username_lower"]
        downgrade(revision="base")
        assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]
        upgrade()
        assert "users" in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()


def test_flask_db_check_fails_when_models_and_migrations_disagree(postgres_database: Any) -> None:
    """`flask db check` is the gate: clean on our tree, non-zero on drift."""
    url = postgres_database("check")
    env = {**os.environ, "APP_ENV": "development", "DATABASE_URL": url}

    def flask_db(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [sys.executable, "-m", "flask", "--app", "wsgi", "db", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip

    assert flask_db("upgrade").returncode == 0
    check = flask_db("check")
    assert check.returncode == 0, check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr

    # Drift: the database loses an index that the models declare.
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP INDEX uq_users_username_lower"))
    engine.dispose()
    drift = flask_db("check")
    assert drift.returncode != 0
    assert "uq_users_username_lower" in drift.stdout + drift.stderr
