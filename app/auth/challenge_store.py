"""WebAuthn challenges: single-use, short-lived, in Redis.

A passkey ceremony starts with options that carry a random challenge and
ends with the authenticator's signature over it. The challenge waits here in
between, under a keyed HMAC of what the ceremony is bound to, and finishing
takes it with ``GETDEL``: one atomic command, so a challenge is answered at
most once even when two requests race with the same signed response.
Layout::

    <prefix>webauthn:<HMAC(purpose, handle)>   string: msgpack [purpose, user id,
                                               challenge]; TTL = ``ttl`` (300 s)

What the *handle* is, by purpose:

* ``register``: the caller's session id, so that only the session that asked
  for the options can finish the registration;
* ``sign-in``: a random challenge id handed out with the options of a
  passwordless sign-in (no account is known yet: user id 0);
* ``second-step``: the challenge itself (base64url), bound to the account
  whose second-step token asked for it: the assertion carries its challenge,
  so the verifier finds it without the token.

Single-key commands only: a challenge key may live on any Redis Cluster slot.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
import redis

Purpose = Literal["register", "sign-in", "second-step"]
CHALLENGE_TTL = 300


class ChallengeRecord(msgspec.Struct, array_like=True, frozen=True):
    purpose: str
    user_id: int
    challenge: bytes


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(ChallengeRecord).decode


@dataclass(frozen=True)
class Pending:
    user_id: int  # 0 for a sign-in: the account is not known yet
    challenge: bytes


class ChallengeStore:
    def __init__(
        self, client: redis.Redis, prefix: str, secret: bytes, ttl: int = CHALLENGE_TTL
    ) -> None:
        self.client: Any = client
        self.prefix = prefix
        self.secret = secret
        self.ttl = ttl

    def _key(self, purpose: Purpose, handle: str) -> str:
        mac = hmac.new(self.secret, f"webauthn:{purpose}:{handle}".encode(), hashlib.sha256)
        return (
            f"{self.prefix}webauthn:{base64.urlsafe_b64encode(mac.digest()).decode().rstrip('=')}"
        )

    def put(self, purpose: Purpose, handle: str, user_id: int, challenge: bytes) -> None:
        """Keep ``challenge`` for ``ttl`` seconds; a new one for the same
        handle replaces the old."""
        record = ChallengeRecord(purpose=purpose, user_id=user_id, challenge=challenge)
        self.client.set(self._key(purpose, handle), _encode(record), ex=self.ttl)

    def take(self, purpose: Purpose, handle: str) -> Pending | None:
        """The pending challenge, removed: None if unknown, taken or expired."""
        if not handle or len(handle) > 200:
            return None  # cannot be one of ours: no Redis command
        raw = self.client.execute_command("GETDEL", self._key(purpose, handle))
        if raw is None:
            return None
        try:
            record = _decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if record.purpose != purpose:
            return None
        return Pending(user_id=record.user_id, challenge=record.challenge)
