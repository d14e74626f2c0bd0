"""Single-use tokens mailed to a user: password reset and email verification.

A token is 256 bits from ``secrets``, handed out once (in a mailed link) and
never stored: Redis holds it under a keyed HMAC of the token, so a copy of
Redis yields nothing that can be redeemed. Redeeming is ``GETDEL``: one
atomic command, so a token works once even when two requests race with it.
Layout::

    <prefix>token:<HMAC(token)>   string: msgpack [purpose, user id, binding];
                                  TTL = the purpose's lifetime

The *binding* ties a token to the state it was issued for, so that it dies
when that state changes by any route, with no index to clean up:

* reset: an HMAC of the password hash at issue. Any password change, by
  change, reset or re-hash at login, makes a new hash, and the token fails.
* verification: an HMAC of the address it was sent to. A changed address
  fails it.

Single-key commands only: a token key may live on any Redis Cluster slot.
A spend is confirmed by replicas (``REDIS_REPLICA_ACKS``) or answered 503:
a spend lost in a failover must not make a token work twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
import redis

from app.redis_client import ReplicatedWrites

Purpose = Literal["reset", "verify"]
TOKEN_BYTES = 32
TOKEN_LENGTH = 43  # url-safe base64 of 32 bytes, no padding


class TokenRecord(msgspec.Struct, array_like=True, frozen=True):
    purpose: str
    user_id: int
    binding: str


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(TokenRecord).decode


@dataclass(frozen=True)
class Redeemed:
    user_id: int
    binding: str


class TokenStore:
    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        secret: bytes,
        spends: ReplicatedWrites | None = None,
    ) -> None:
        self.client: Any = client
        # A spend lost in a failover would make the token work again: spends
        # are confirmed by replicas when REDIS_REPLICA_ACKS asks.
        self.spends = spends or ReplicatedWrites(client, acks=0, timeout=1)
        self.prefix = prefix
        self.secret = secret

    def _key(self, token: str) -> str:
        mac = hmac.new(self.secret, f"mailed-token:{token}".encode(), hashlib.sha256)
        return f"{self.prefix}token:{base64.urlsafe_b64encode(mac.digest()).decode().rstrip('=')}"

    def _binding(self, kind: str, value: str) -> str:
        mac = hmac.new(self.secret, f"{kind}:{value}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:16]).decode().rstrip("=")

    def binding_of_password(self, password_hash: str) -> str:
        """What a reset token is bound to: the password hash, keyed, shortened."""
        return self._binding("password", password_hash)

    def binding_of_email(self, email: str) -> str:
        """What a verification token is bound to: the address, keyed (no
        address is readable from Redis)."""
        return self._binding("email", email)

    def issue(self, purpose: Purpose, user_id: int, binding: str, ttl: int) -> str:
        """A new token for ``user_id``; only its HMAC is stored, for ``ttl`` seconds."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        record = TokenRecord(purpose=purpose, user_id=user_id, binding=binding)
        self.client.set(self._key(token), _encode(record), ex=ttl)
        return token

    def decoy(self, ttl: int) -> str:
        """The same work as ``issue``, for nobody (a token that redeems to
        nothing): the forgot-password path for an unknown address must cost
        what a known one costs."""
        return self.issue("reset", 0, "", min(ttl, 60))

    def redeem(self, purpose: Purpose, token: str) -> Redeemed | None:
        """Spend the token: its user and binding, or None if it is unknown,
        spent, expired or of another purpose. Works at most once."""
        if len(token) != TOKEN_LENGTH or not token.isascii():
            return None  # cannot be one of ours: no Redis command
        key = self._key(token)
        raw = self.spends.run(key, "GETDEL", key)
        if raw is None:
            return None
        try:
            record = _decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if record.purpose != purpose or record.user_id <= 0:
            return None
        return Redeemed(user_id=record.user_id, binding=record.binding)
