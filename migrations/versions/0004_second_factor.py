"""totp_authenticators and recovery_codes: the TOTP second factor

One confirmed authenticator per account (its secret sealed with AES-GCM, the
newest accepted step), and the account's unused recovery codes as keyed
HMACs. Both go with their account (ON DELETE CASCADE).

Revision ID: 0004
Revises: 0003_email_verified
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003_email_verified"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "totp_authenticators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(length=128), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("last_used_step", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_totp_authenticators_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_totp_authenticators"),
        sa.UniqueConstraint("user_id", name="uq_totp_authenticators_user_id"),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_recovery_codes_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_recovery_codes"),
        sa.UniqueConstraint("user_id", "code_hash", name="uq_recovery_codes_user_id"),
    )


def downgrade():
    op.drop_table("recovery_codes")
    op.drop_table("totp_authenticators")
