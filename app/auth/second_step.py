"""The second step of a login: what happens between a right password and a
session, for an account with a second factor.

The password step hands out a *second-step token*: 256 bits from
``secrets``, kept in Redis only under a keyed HMAC (like a mailed token,
``token_store.py``), for ``SECOND_STEP_TTL`` seconds. Layout::

    <prefix>second-step:<HMAC(token)>   hash: r = msgpack [user id, flow, binding],
                                              n = wrong factors so far;
                                        TTL = SECOND_STEP_TTL

* *flow*: ``login`` (cookie) or ``token`` (bearer): a token finishes only the
  kind of login that started it.
* *binding*: an HMAC of the password hash at issue; a password changed since
  (by any route) kills the token.
* a wrong factor costs one of ``MAX_FAILURES`` attempts; the last one deletes
  the token. The client's address is not bound: mobile networks move.
* success spends the token with ``DEL``: of two requests racing with it,
  only the one whose ``DEL`` removed the key goes on to a session.

Single-key commands only (Redis Cluster). Nothing here knows HTTP, and
nothing here imports ``service.py`` (which calls ``require_none``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
import redis
from flask import current_app
from sqlalchemy import func, select

from app.exceptions import SecondFactorRequired
from app.extensions import db
from app.models import Passkey, RecoveryCode, TotpAuthenticator, User

log = logging.getLogger(__name__)

Flow = Literal["login", "token"]
TOKEN_BYTES = 32
TOKEN_LENGTH = 43  # url-safe base64 of 32 bytes, no padding
MAX_FAILURES = 5

# Count the failure; at the limit the token is gone.
_FAIL = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local failures = redis.call('HINCRBY', KEYS[1], 'n', 1)
if failures >= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
end
return failures
"""


class _Record(msgspec.Struct, array_like=True, frozen=True):
    user_id: int
    flow: str
    binding: str


@dataclass(frozen=True)
class Pending:
    user_id: int
    flow: str
    binding: str


class SecondStepStore:
    def __init__(self, client: redis.Redis, prefix: str, secret: bytes, ttl: int = 300) -> None:
        self.client: Any = client
        self.prefix = prefix
        self.secret = secret
        self.ttl = ttl
        self._fail = self.client.register_script(_FAIL)

    def _key(self, token: str) -> str:
        mac = hmac.new(self.secret, f"second-step:{token}".encode(), hashlib.sha256).digest()
        return f"{self.prefix}second-step:{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    def binding_of(self, password_hash: str) -> str:
        mac = hmac.new(self.secret, f"second-step-password:{password_hash}".encode(), "sha256")
        return base64.urlsafe_b64encode(mac.digest()[:16]).decode().rstrip("=")

    def issue(self, user_id: int, flow: Flow, binding: str) -> str:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        record = msgspec.msgpack.encode(_Record(user_id, flow, binding))
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(token), mapping={"r": record, "n": 0})
            pipe.expire(self._key(token), self.ttl)
            pipe.execute()
        return token

    def peek(self, token: str) -> Pending | None:
        """The token's record, without spending it; None if unknown or dead."""
        if len(token) != TOKEN_LENGTH or not token.isascii():
            return None  # cannot be one of ours: no Redis command
        raw = self.client.hget(self._key(token), "r")
        if raw is None:
            return None
        try:
            record = msgspec.msgpack.decode(raw, type=_Record)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        return Pending(record.user_id, record.flow, record.binding)

    def fail(self, token: str) -> int:
        """One wrong factor; how many so far (-1: the token was already gone)."""
        return int(self._fail(keys=[self._key(token)], args=[MAX_FAILURES]))

    def spend(self, token: str) -> bool:
        """True for exactly one caller: the one whose ``DEL`` removed the token."""
        return bool(self.client.delete(self._key(token)))


def store() -> SecondStepStore:
    return current_app.extensions["second_step_store"]  # type: ignore[no-any-return]


# --- which factors an account has ----------------------------------------------------


def passkey_count(user_id: int) -> int:
    """The account's passkeys."""
    count = db.session.scalar(
        select(func.count()).select_from(Passkey).where(Passkey.user_id == user_id)
    )
    return int(count or 0)


def verify_passkey(user_id: int, credential: Mapping[str, Any]) -> None:
    """Check a passkey assertion as the account's second factor, or
    ``InvalidSecondFactor``."""
    # Imported here: passkeys.py imports service.py, which imports this module.
    from app.auth import passkeys

    passkeys.verify_second_factor(user_id, dict(credential))


def has_totp(user_id: int) -> bool:
    found = db.session.scalar(
        select(TotpAuthenticator.id).where(TotpAuthenticator.user_id == user_id)
    )
    return found is not None


def recovery_codes_left(user_id: int) -> int:
    count = db.session.scalar(
        select(func.count()).select_from(RecoveryCode).where(RecoveryCode.user_id == user_id)
    )
    return int(count or 0)


def methods_of(user_id: int) -> list[str]:
    """What the account's second step accepts; empty: it has no second factor.
    One query: every password login asks it."""

    def count(model: Any) -> Any:
        return (
            select(func.count()).select_from(model).where(model.user_id == user_id)
        ).scalar_subquery()

    row = db.session.execute(
        select(count(TotpAuthenticator), count(RecoveryCode), count(Passkey))
    ).one()
    totp, codes, passkeys = (int(value or 0) for value in row)
    if not totp and not passkeys:
        return []
    methods = ["totp"] if totp else []
    if codes:
        methods.append("recovery_code")
    if passkeys:
        methods.append("passkey")
    return methods


def require_none(user: User, flow: Flow) -> None:
    """Called after a right password: ``SecondFactorRequired`` (with a new
    second-step token) when the account has a second factor."""
    methods = methods_of(user.id)
    if not methods:
        return
    tokens = store()
    token = tokens.issue(user.id, flow, tokens.binding_of(user.password_hash))
    log.info(
        "second factor required user_id=%s",
        user.id,
        extra={"event": "second_factor_required", "user_id": user.id},
    )
    raise SecondFactorRequired(token, methods, tokens.ttl)


def peek(token: str) -> int | None:
    """The user a live second-step token belongs to (the password unchanged
    since it was issued), without spending it: what a passkey's second-step
    options need."""
    pending = store().peek(token)
    if pending is None:
        return None
    user = db.session.get(User, pending.user_id)
    if user is None or not hmac.compare_digest(
        pending.binding, store().binding_of(user.password_hash)
    ):
        return None
    return user.id
