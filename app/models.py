"""Database models. Nothing here knows about HTTP, sessions or hashing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

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

    # Deleting a user through the ORM deletes its second factors too: SQLite
    # enforces no foreign key (so no ON DELETE CASCADE) unless asked to.
    totp: Mapped[TotpAuthenticator | None] = relationship(
        cascade="all, delete-orphan", passive_deletes=False
    )
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(
        cascade="all, delete-orphan", passive_deletes=False
    )

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r}>"


class TotpAuthenticator(db.Model):  # type: ignore[name-defined]
    """An account's confirmed TOTP authenticator (RFC 6238): at most one."""

    __tablename__ = "totp_authenticators"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    # AES-GCM of the secret (app/auth/secret_box.py), and the id of the key that sealed it.
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary(128))
    key_id: Mapped[str] = mapped_column(String(16))
    # The newest 30-second step whose code was accepted: only later ones pass (no replay).
    last_used_step: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RecoveryCode(db.Model):  # type: ignore[name-defined]
    """One unused recovery code, as a keyed HMAC; a used one is deleted."""

    __tablename__ = "recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# Uniqueness is case-insensitive and enforced by the database itself, so two
# racing registrations cannot both succeed whatever the application checks.
EMAIL_UNIQUE_INDEX = Index("uq_users_email_lower", func.lower(User.email), unique=True)
USERNAME_UNIQUE_INDEX = Index("uq_users_username_lower", func.lower(User.username), unique=True)


class Passkey(db.Model):  # type: ignore[name-defined]
    """A WebAuthn credential (app/auth/passkeys.py): its public key, never a secret."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # At most 1023 bytes (WebAuthn's limit); unique: one credential, one account.
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(2048))  # COSE_Key
    # The authenticator's counter, a 32-bit unsigned number: BigInteger holds it.
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[str | None] = mapped_column(String(255))  # comma-separated hints
    aaguid: Mapped[str] = mapped_column(String(36))
    # The WebAuthn user handle the credential was made for: a discoverable
    # sign-in must name this same handle.
    user_handle: Mapped[bytes] = mapped_column(LargeBinary(64))
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"<Passkey {self.id} of user {self.user_id}>"
