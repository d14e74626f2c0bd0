"""Database models. Nothing here knows about HTTP, sessions or hashing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Index, String, false, func
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(db.Model):  # type: ignore[name-defined]
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50))
    email: Mapped[str] = mapped_column(String(254))
    # Look-alike keys (app/auth/confusables.py): unique, so that an identity
    # that renders like an existing one cannot register beside it.
    username_key: Mapped[str] = mapped_column(String(200), unique=True)
    email_key: Mapped[str] = mapped_column(String(800), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    email_verified: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r}>"


# Uniqueness is case-insensitive and enforced by the database itself, so two
# racing registrations cannot both succeed whatever the application checks.
EMAIL_UNIQUE_INDEX = Index("uq_users_email_lower", func.lower(User.email), unique=True)
USERNAME_UNIQUE_INDEX = Index("uq_users_username_lower", func.lower(User.username), unique=True)
