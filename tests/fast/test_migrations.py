"""The Alembic revisions build the same schema as the models, from nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app import create_app
from app.extensions import db
from tests.conftest import make_config


# SQLite cannot reflect expression indexes; they are checked by hand below.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_upgrade_from_empty_matches_the_models_and_downgrades(tmp_path: Path, redis: Any) -> None:
    url = f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
    app = create_app(make_config(REDIS_CLIENT=redis, SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        upgrade()
        engine = db.engine
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
            assert diff == []
            indexes = {
                row[0]: row[1]
                for row in connection.execute(
                    sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
                )
            }
        # Autogenerate cannot see expression indexes on SQLite: check them here.
        assert "lower(email)" in indexes["uq_users_email_lower"]
        assert "UNIQUE" in indexes["uq_users_email_lower"]
        assert "lower(username)" in indexes["uq_users_username_lower"]
        downgrade(revision="base")
        assert sa.inspect(engine).get_table_names() == ["alembic_version"]
        upgrade()
        assert "users" in sa.inspect(engine).get_table_names()


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_lookalike_keys_are_filled_for_existing_accounts(tmp_path: Path, redis: Any) -> None:
    url = f"sqlite:///{tmp_path / 'existing.sqlite3'}"
    app = create_app(make_config(REDIS_CLIENT=redis, SQLALCHEMY_DATABASE_URI=url))
    insert = sa.text(
        "INSERT INTO users (username, email, password_hash, created_at, updated_at) "
        "VALUES ('JohnI', 'ann@example.com', 'x', '2026-01-01', '2026-01-01')"
    )
    with app.app_context():
        upgrade(revision="0001_create_users")
        with db.engine.begin() as connection:
            connection.execute(insert)
        upgrade()
        with db.engine.connect() as connection:
            keys = connection.execute(sa.text("SELECT username_key, email_key FROM users")).one()
            indexes = {
                row[0]
                for row in connection.execute(
                    sa.text("SELECT name FROM sqlite_master WHERE type = 'index'")
                )
            }
        assert tuple(keys) == ("johnl", "ann@example.com")
        assert {"uq_users_email_lower", "uq_users_username_lower"} <= indexes
        downgrade(revision="0001_create_users")
        with db.engine.connect() as connection:
            columns = {c["name"] for c in sa.inspect(connection).get_columns("users")}
            duplicate = insert.text.replace("JohnI", "johni")
            with pytest.raises(sa.exc.IntegrityError):  # lower(username) is still unique
                connection.execute(sa.text(duplicate))
        assert "username_key" not in columns
