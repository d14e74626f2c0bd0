"""Where sessions live in Redis, and the only code that builds their keys.

The session id handed to the client is ``T.R``: ``T`` is the user's tag (an
HMAC of the user id, see ``user_tag``) and ``R`` 256 random bits. Redis holds
only a *selector* ``S`` (the first 16 characters of ``R``) and a *verifier*
(a SHA-256 prefix of ``R``), never ``R`` itself, so a copy of Redis (a dump, a
replica, MONITOR) yields no usable session id. Layout, for user ``U``::

    <prefix>{T}:S      string: msgpack [U, kind, created, last seen, ip, nil, verifier,
                       [username, email, user created, user updated], user agent];
                       TTL = idle timeout, never past created + max age
    <prefix>{T}:uU     sorted set of S scored by creation time (ms), TTL = max age

The server finds the session key from the id alone, and the ``{T}`` hash tag
puts every key of one user in one Redis Cluster slot, so that creating,
listing and ending sessions are single-slot transactions. Nothing here
scans the keyspace: listing a user's sessions costs O(their sessions), and
index members whose session has expired are pruned as the index is read.

Each session also carries a snapshot of its user's public fields taken at
login (``UserSnapshot``), so that an authenticated request costs one Redis
command and no database query. The snapshot stays true because nothing in
the service changes those fields after registration (a re-hash at login
leaves ``updated_at`` alone); whatever comes to change them must rewrite or
end the user's sessions, as an operator who edits or deletes a user in the
database must end theirs (``flask sessions revoke``).

"Logout is final": the only write to an existing session is
``SET … XX KEEPTTL`` (the last-seen time, at most once a minute) and the only
TTL refresh is ``GETEX``; neither can re-create a key that a logout, a revoke
or a logout-everywhere deleted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
import redis

Kind = Literal["cookie", "bearer"]
KINDS: tuple[Kind, Kind] = ("cookie", "bearer")  # stored as their index: 0 or 1

RANDOM_BYTES = 32  # 256 bits from secrets: the unguessable part of an id
TAG_LENGTH = 8  # spreads users over cluster slots; the index key names the user
SELECTOR_LENGTH = 16  # 96 bits: finds the key; the verifier checks the rest
SID_PATTERN = re.compile(r"([A-Za-z0-9_-]{8})\.([A-Za-z0-9_-]{43})")
HANDLE_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}")
REF_PATTERN = re.compile(r"([A-Za-z0-9_-]{8})\.([A-Za-z0-9_-]{16})")
USER_AGENT_MAX = 128
LAST_SEEN_EVERY = 60  # seconds: refresh last-seen no more often than this


def _verifier(random_part: str) -> bytes:
    return hashlib.sha256(random_part.encode("ascii")).digest()[:16]


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _pack_ip(ip: str | None) -> bytes | None:
    try:
        return ipaddress.ip_address(ip).packed if ip else None
    except ValueError:
        return None


def _unpack_ip(packed: bytes | None) -> str | None:
    return str(ipaddress.ip_address(packed)) if packed else None


# User agents are the bulk of a session record, and browsers' are mostly the
# same text: stored deflated against a preset dictionary of that text (as
# SPDY compressed headers), a 111-character Chrome User-Agent takes 13 bytes.
# Format: one version byte, then the bytes. Version 0: the text as UTF-8
# (when deflate does not pay); version 1: raw deflate with this dictionary.
# Never edit the dictionary: stored agents need it to be read back. A better
# one becomes version 2.
USER_AGENT_DICTIONARY_V1 = (
    b" Mobile/15E148 Version/17.0 Gecko/20100101 Firefox/13 (Linux; Android 10; K)"
    b" (iPhone; CPU iPhone OS 17_0 like Mac OS X) (Macintosh; Intel Mac OS X 10_15_7)"
    b" AppleWebKit/605.1.15 (KHTML, like Gecko) (Windows NT 10.0; Win64; x64) Safari/537.36"
    b" Edg/13 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0"
    b" Safari/537.36Mozilla/5.0 "
)
_PLAIN, _DEFLATED_V1 = 0, 1


def _pack_user_agent(user_agent: str | None) -> bytes | None:
    if not user_agent:
        return None
    text = user_agent[:USER_AGENT_MAX].encode("utf-8", "replace")
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zdict=USER_AGENT_DICTIONARY_V1)
    packed = deflate.compress(text) + deflate.flush()
    if len(packed) < len(text):
        return bytes([_DEFLATED_V1]) + packed
    return bytes([_PLAIN]) + text


def _unpack_user_agent(packed: bytes) -> str | None:
    """The stored User-Agent; None for anything this version cannot read."""
    version, body = packed[:1], packed[1:]
    if version == bytes([_DEFLATED_V1]):
        inflate = zlib.decompressobj(-15, zdict=USER_AGENT_DICTIONARY_V1)
        try:
            # Bounded: a User-Agent is at most USER_AGENT_MAX characters.
            body = inflate.decompress(body, USER_AGENT_MAX * 4)
        except zlib.error:
            return None
    elif version != bytes([_PLAIN]):
        return None
    return body.decode("utf-8", errors="replace")


class UserSnapshot(msgspec.Struct, array_like=True, frozen=True):
    """The user's public fields as of login, in whole seconds since the epoch."""

    username: str
    email: str
    created_at: int
    updated_at: int


class Record(msgspec.Struct, array_like=True):
    """What a session key holds. Encoded as a msgpack array: no field names,
    so that a session with a 128-character User-Agent stays small."""

    user_id: int
    kind: int
    created_at: int
    last_seen_at: int
    ip: bytes | None
    user_agent_text: str | None  # sessions from before user agents were packed
    verifier: bytes
    # Last and optional, so that records written before they existed decode:
    # a session without a snapshot has its user read from the database.
    user: UserSnapshot | None = None
    user_agent: bytes | None = None  # see _pack_user_agent

    def user_agent_string(self) -> str | None:
        if self.user_agent is not None:
            return _unpack_user_agent(self.user_agent)
        return self.user_agent_text


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Record).decode


@dataclass(frozen=True)
class SessionInfo:
    ref: str  # "tag.selector": names the session, cannot authenticate
    user_id: int
    kind: Kind
    created_at: int
    last_seen_at: int
    expires_at: int
    ip: str | None
    user_agent: str | None


class SessionStore:
    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        secret: bytes,
        idle_timeout: int,
        max_age: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # redis-py's return types are unions of every reply shape; this
        # module knows which reply each command gives.
        self.client: Any = client
        self.prefix = prefix
        self.secret = secret
        self.idle_timeout = idle_timeout
        self.max_age = max_age
        self.clock = clock

    # --- names ---------------------------------------------------------------

    def user_tag(self, user_id: int) -> str:
        """Stable per user, reveals nothing about the id (an HMAC under SECRET_KEY)."""
        mac = hmac.new(self.secret, f"session-tag:{user_id}".encode(), hashlib.sha256)
        return _b64(mac.digest())[:TAG_LENGTH]

    def handle(self, ref: str) -> str:
        """The public name of a session: knowing it does not let anyone use it."""
        mac = hmac.new(self.secret, f"session-handle:{ref}".encode(), hashlib.sha256)
        return _b64(mac.digest())[:22]

    @staticmethod
    def ref(sid: str) -> str | None:
        """``tag.selector`` of a session id: how the store names the session."""
        match = SID_PATTERN.fullmatch(sid)
        return f"{match.group(1)}.{match.group(2)[:SELECTOR_LENGTH]}" if match else None

    def _session_key(self, tag: str, selector: str) -> str:
        return f"{self.prefix}{{{tag}}}:{selector}"

    def _index_key(self, tag: str, user_id: int) -> str:
        return f"{self.prefix}{{{tag}}}:u{user_id}"

    @staticmethod
    def parse(sid: str) -> tuple[str, str] | None:
        match = SID_PATTERN.fullmatch(sid)
        return (match.group(1), match.group(2)) if match else None

    # --- one session -----------------------------------------------------------

    def create(
        self,
        user_id: int,
        kind: Kind,
        ip: str | None,
        user_agent: str | None,
        user: UserSnapshot,
    ) -> str:
        """A new session with its index entry, in one transaction; returns its id."""
        clock = self.clock()
        now = int(clock)
        tag = self.user_tag(user_id)
        index = self._index_key(tag, user_id)
        while True:
            random_part = secrets.token_urlsafe(RANDOM_BYTES)
            selector = random_part[:SELECTOR_LENGTH]
            record = Record(
                user_id=user_id,
                kind=KINDS.index(kind),
                created_at=now,
                last_seen_at=now,
                ip=_pack_ip(ip),
                user_agent_text=None,
                verifier=_verifier(random_part),
                user=user,
                user_agent=_pack_user_agent(user_agent),
            )
            with self.client.pipeline(transaction=True) as pipe:
                pipe.set(self._session_key(tag, selector), _encode(record),
                         ex=min(self.idle_timeout, self.max_age), nx=True)  # fmt: skip
                # Scored in milliseconds: the order of logins within one second.
                pipe.zadd(index, {selector: int(clock * 1000)})
                # Every member ends within max_age of now: so can the index.
                pipe.expire(index, self.max_age)
                created = pipe.execute()[0]
            if created:  # NX: a selector already in use just draws again
                return f"{tag}.{random_part}"

    def load(self, sid: str) -> Record | None:
        """Read a live session, sliding its idle timeout; None if it is not live.

        One command (``GETEX``) per request; a second only to record the
        last-seen time (once a minute) or to cap the TTL at the absolute end.
        """
        parsed = self.parse(sid)
        if parsed is None:
            return None
        tag, random_part = parsed
        key = self._session_key(tag, random_part[:SELECTOR_LENGTH])
        # execute_command rather than getex(): the same command without
        # redis-py's per-call argument checks, on the path every request takes.
        raw = self.client.execute_command("GETEX", key, "EX", self.idle_timeout)
        if raw is None:
            return None
        record = self._decode(raw)
        if record is None:  # not something we wrote: never trust it
            self.client.delete(key)
            return None
        if not hmac.compare_digest(record.verifier, _verifier(random_part)):
            return None  # right selector, wrong secret: not this session
        now = int(self.clock())
        remaining = record.created_at + self.max_age - now
        if remaining <= 0:
            self.delete(sid, record.user_id)
            return None
        if remaining < self.idle_timeout:  # only in the last idle window of its life
            self.client.expire(key, remaining)
        if now - record.last_seen_at >= LAST_SEEN_EVERY:
            record.last_seen_at = now
            # XX: written only if the key still exists; KEEPTTL: the TTL stays.
            self.client.set(key, _encode(record), xx=True, keepttl=True)
        return record

    @staticmethod
    def _decode(raw: bytes) -> Record | None:
        try:
            return _decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None

    def delete(self, sid: str, user_id: int) -> None:
        """End one session, named by its id or its ref: key and index entry at once."""
        match = SID_PATTERN.fullmatch(sid) or REF_PATTERN.fullmatch(sid)
        if match is None:
            return
        tag, selector = match.group(1), match.group(2)[:SELECTOR_LENGTH]
        with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(self._session_key(tag, selector))
            pipe.zrem(self._index_key(tag, user_id), selector)
            pipe.execute()

    # --- all sessions of a user ---------------------------------------------------

    def list(self, user_id: int) -> list[SessionInfo]:
        """The user's live sessions, newest first; expired index entries are pruned."""
        tag = self.user_tag(user_id)
        index = self._index_key(tag, user_id)
        members = [m.decode() for m in self.client.zrevrange(index, 0, -1)]
        if not members:
            return []
        with self.client.pipeline(transaction=False) as pipe:  # one round trip
            for random_part in members:
                pipe.get(self._session_key(tag, random_part))
                pipe.ttl(self._session_key(tag, random_part))
            replies = pipe.execute()
        now = int(self.clock())
        sessions, gone = [], []
        for random_part, raw, ttl in zip(members, replies[::2], replies[1::2], strict=True):
            record = self._decode(raw) if raw is not None else None
            if record is None or record.user_id != user_id or ttl < 0:
                gone.append(random_part)
                continue
            sessions.append(
                SessionInfo(
                    ref=f"{tag}.{random_part}",
                    user_id=user_id,
                    kind=KINDS[record.kind] if record.kind in (0, 1) else "cookie",
                    created_at=record.created_at,
                    last_seen_at=record.last_seen_at,
                    expires_at=now + ttl,
                    ip=_unpack_ip(record.ip),
                    user_agent=record.user_agent_string(),
                )
            )
        if gone:
            self.client.zrem(index, *gone)
        return sessions

    def revoke(self, user_id: int, handle: str) -> SessionInfo | None:
        """End the user's session with this handle; None if they have none such."""
        if not HANDLE_PATTERN.fullmatch(handle):
            return None  # cannot be one (and compare_digest refuses non-ASCII text)
        for info in self.list(user_id):
            if hmac.compare_digest(self.handle(info.ref), handle):
                self.delete(info.ref, user_id)
                return info
        return None

    def revoke_all(self, user_id: int, keep_sid: str | None = None) -> int:
        """End every session of the user (but ``keep_sid``); how many were live.

        WATCH on the index makes this all-or-retry: a session created while
        we work is either seen and ended, or makes the transaction retry.
        """
        tag = self.user_tag(user_id)
        index = self._index_key(tag, user_id)
        keep = self.parse(keep_sid) if keep_sid else None
        kept = keep[1][:SELECTOR_LENGTH] if keep and keep[0] == tag else None

        def end_all(pipe: Any) -> None:
            members = [m.decode() for m in pipe.zrange(index, 0, -1)]
            members = [m for m in members if m != kept]
            pipe.multi()
            if members:
                pipe.delete(*(self._session_key(tag, m) for m in members))
                pipe.zrem(index, *members)

        results = self.client.transaction(end_all, index)
        return int(results[0]) if results else 0
