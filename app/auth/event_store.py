"""An account's own security activity, newest first (``GET /events``).

One capped list per user, under the user's tag (the hash tag the session
store gives each user), so it sits in the same Redis Cluster slot as the
user's sessions. Layout, for user ``U`` with tag ``T``::

    <prefix>{T}:eU    list of msgpack [type, at, ip, user agent], newest first;
                      at most ``keep`` entries; TTL ``ttl``, renewed by each write

So an account keeps its newest ``keep`` events (default 100), and all of
them go ``ttl`` seconds (default 90 days) after its last one. Writing is one
round trip (``LPUSH``, ``LTRIM``, ``EXPIRE`` in one ``MULTI``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import redis

from app.auth.session_store import pack_ip, pack_user_agent, unpack_ip, unpack_user_agent

EVENT_TYPES = frozenset(
    {
        "login",
        "login_failed",
        "logout",
        "session_revoked",
        "logout_all",
        "password_changed",
        "password_reset",
        "email_verified",
        "totp_enabled",
        "totp_disabled",
        "recovery_codes_regenerated",
        "second_factor_failed",
        "passkey_added",
        "passkey_removed",
    }
)


class EventRecord(msgspec.Struct, array_like=True, frozen=True):
    type: str
    at: int
    ip: bytes | None
    user_agent: bytes | None


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(EventRecord).decode


@dataclass(frozen=True)
class Event:
    type: str
    at: int
    ip: str | None
    user_agent: str | None


class EventStore:
    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        user_tag: Callable[[int], str],
        keep: int = 100,
        ttl: int = 90 * 86400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client: Any = client
        self.prefix = prefix
        self.user_tag = user_tag
        self.keep = keep
        self.ttl = ttl
        self.clock = clock

    def _key(self, user_id: int) -> str:
        return f"{self.prefix}{{{self.user_tag(user_id)}}}:e{user_id}"

    def record(self, user_id: int, type: str, ip: str | None, user_agent: str | None) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            self.record_in(pipe, user_id, type, ip, user_agent)
            pipe.execute()

    def record_in(
        self, pipe: Any, user_id: int, type: str, ip: str | None, user_agent: str | None
    ) -> None:
        """Queue the entry's commands on ``pipe`` (a transaction on the user's slot)."""
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}")
        entry = EventRecord(type, int(self.clock()), pack_ip(ip), pack_user_agent(user_agent))
        key = self._key(user_id)
        pipe.lpush(key, _encode(entry))
        pipe.ltrim(key, 0, self.keep - 1)
        pipe.expire(key, self.ttl)

    def list(self, user_id: int) -> list[Event]:
        """Newest first; entries this version cannot read are left out."""
        events = []
        for raw in self.client.lrange(self._key(user_id), 0, self.keep - 1):
            try:
                entry = _decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            events.append(
                Event(
                    entry.type, entry.at, unpack_ip(entry.ip), unpack_user_agent(entry.user_agent)
                )
            )
        return events

    def forget(self, user_id: int) -> None:
        """An account deleted: its activity goes with it."""
        self.client.delete(self._key(user_id))
