"""users.email_verified: whether the owner proved the address

Existing accounts start unverified (false), as new ones do.

Revision ID: 0003_email_verified
Revises: 0002_lookalike_keys
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_email_verified"
down_revision = "0002_lookalike_keys"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "users",
        sa.Column("email_verified", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade():
    op.drop_column("users", "email_verified")  # SQLite has dropped columns in place since 3.35
