"""users: unique look-alike keys for username and email

``username_key`` and ``email_key`` hold the case-folded Unicode TR39
skeleton of the username and of the email's local part (with its domain),
computed by app/auth/confusables.py. Unique, so that a name that renders
like an existing one ("paypal" in Cyrillic letters, "john1" beside
"johnl") cannot register. Existing rows are filled in here; two existing
accounts that are already look-alikes of each other make the unique index
fail, which an operator must resolve by hand (rename one) first.

Revision ID: 0002_lookalike_keys
Revises: 0001_create_users
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from app.auth.confusables import email_key, username_key

revision = "0002_lookalike_keys"
down_revision = "0001_create_users"
branch_labels = None
depends_on = None

users = sa.table(
    "users",
    sa.column("id", sa.Integer),
    sa.column("username", sa.String),
    sa.column("email", sa.String),
    sa.column("username_key", sa.String),
    sa.column("email_key", sa.String),
)


def _restore_expression_indexes():
    """SQLite's batch mode rebuilds the table from what it can reflect, and
    it cannot reflect the lower() indexes of 0001: build them again."""
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)
        op.create_index(
            "uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True
        )


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("username_key", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("email_key", sa.String(length=800), nullable=True))
    connection = op.get_bind()
    for row in connection.execute(sa.select(users.c.id, users.c.username, users.c.email)):
        connection.execute(
            users.update()
            .where(users.c.id == row.id)
            .values(username_key=username_key(row.username), email_key=email_key(row.email))
        )
    with op.batch_alter_table("users") as batch:
        batch.alter_column("username_key", existing_type=sa.String(length=200), nullable=False)
        batch.alter_column("email_key", existing_type=sa.String(length=800), nullable=False)
        batch.create_unique_constraint("uq_users_username_key", ["username_key"])
        batch.create_unique_constraint("uq_users_email_key", ["email_key"])
    _restore_expression_indexes()


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_email_key", type_="unique")
        batch.drop_constraint("uq_users_username_key", type_="unique")
        batch.drop_column("email_key")
        batch.drop_column("username_key")
    _restore_expression_indexes()
