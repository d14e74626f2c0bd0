"""Where sessions live in Redis, and the only code that builds their keys.

The *session id* handed to the client (cookie value or bearer token) is
``T.S``: ``T`` is the user's *tag* (an HMAC of the user id, see ``user_tag``)
and ``S`` the *secret*, 256 random bits. Redis holds only a *selector* (the
first 16 characters of the secret) and a *verifier* (a SHA-256 prefix of the
secret), never the secret itself, so a copy of Redis (a dump, a replica,
MONITOR) yields no usable session id. A session's public name is its
*handle*, an HMAC of tag and selector: it can end the session, never use it.
Layout, for user ``U`` with tag ``T`` and a session with selector ``L``::

    <prefix>{T}:L      string: msgpack [U, kind, created, last seen, ip, verifier,
                       [username, email, user created, user updated, email verified],
                       user agent];
                       TTL = idle timeout, never past created + max age
    <prefix>{T}:uU     sorted set of L scored by creation time (ms), TTL = max age

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
database must end theirs (``flask users delete`` does).

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

from app.redis_client import ReplicatedWrites

Kind = Literal["cookie", "bearer"]
KINDS: tuple[Kind, Kind] = ("cookie", "bearer")  # stored as their index: 0 or 1

SECRET_BYTES = 32  # 256 bits from secrets: the unguessable part of an id
TAG_LENGTH = 8  # spreads users over cluster slots; the index key names the user
SELECTOR_LENGTH = 16  # 96 bits: finds the key; the verifier checks the rest
SESSION_ID_PATTERN = re.compile(r"([A-Za-z0-9_-]{8})\.([A-Za-z0-9_-]{43})")
HANDLE_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}")
USER_AGENT_MAX = 128
LAST_SEEN_EVERY = 60  # seconds: refresh last-seen no more often than this


def _verifier(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()[:16]


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def pack_ip(ip: str | None) -> bytes | None:
    try:
        return ipaddress.ip_address(ip).packed if ip else None
    except ValueError:
        return None


def unpack_ip(packed: bytes | None) -> str | None:
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


def pack_user_agent(user_agent: str | None) -> bytes | None:
    if not user_agent:
        return None
    text = user_agent[:USER_AGENT_MAX].encode("utf-8", "replace")
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zdict=USER_AGENT_DICTIONARY_V1)
    packed = deflate.compress(text) + deflate.flush()
    if len(packed) < len(text):
        return bytes([_DEFLATED_V1]) + packed
    return bytes([_PLAIN]) + text


def unpack_user_agent(packed: bytes | None) -> str | None:
    """The stored User-Agent; None for none, or for anything this version cannot read."""
    if not packed:
        return None
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
    email_verified: bool


class Record(msgspec.Struct, array_like=True):
    """What a session key holds. Encoded as a msgpack array: no field names,
    so that a session with a 128-character User-Agent stays small."""

    user_id: int
    kind: int
    created_at: int
    last_seen_at: int
    ip: bytes | None
    verifier: bytes
    user: UserSnapshot
    user_agent: bytes | None  # see pack_user_agent


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Record).decode


@dataclass(frozen=True)
class SessionInfo:
    """One live session as its owner may see it: named by its handle."""

    handle: str
    selector: str
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
        revocations: ReplicatedWrites | None = None,
    ) -> None:
        # redis-py's return types are unions of every reply shape; this
        # module knows which reply each command gives.
        self.client: Any = client
        # Ending sessions goes through here: confirmed by replicas when
        # REDIS_REPLICA_ACKS asks (app/redis_client.py).
        self.revocations = revocations or ReplicatedWrites(client, acks=0, timeout=1)
        self.prefix = prefix
        self.secret = secret
        self.idle_timeout = idle_timeout
        self.max_age = max_age
        self.clock = clock

    @property
    def first_ttl(self) -> int:
        """A new session's time to live: the idle timeout, capped by the
        absolute lifetime (what ``/token`` reports as ``expires_in``)."""
        return min(self.idle_timeout, self.max_age)

    def ping(self) -> None:
        """Raise ``redis.RedisError`` unless the store answers."""
        self.client.ping()

    # --- names ---------------------------------------------------------------

    def user_tag(self, user_id: int) -> str:
        """Stable per user, reveals nothing about the id (an HMAC under SECRET_KEY)."""
        mac = hmac.new(self.secret, f"session-tag:{user_id}".encode(), hashlib.sha256)
        return _b64(mac.digest())[:TAG_LENGTH]

    def _handle(self, tag: str, selector: str) -> str:
        mac = hmac.new(self.secret, f"session-handle:{tag}.{selector}".encode(), hashlib.sha256)
        return _b64(mac.digest())[:22]

    def handle_of(self, session_id: str | None) -> str | None:
        """The handle of a well-formed session id (live or not)."""
        parsed = _parse(session_id)
        return self._handle(parsed[0], parsed[1][:SELECTOR_LENGTH]) if parsed else None

    def _session_key(self, tag: str, selector: str) -> str:
        return f"{self.prefix}{{{tag}}}:{selector}"

    def _index_key(self, tag: str, user_id: int) -> str:
        return f"{self.prefix}{{{tag}}}:u{user_id}"

    # --- one session -----------------------------------------------------------

    def create(
        self,
        user_id: int,
        kind: Kind,
        ip: str | None,
        user_agent: str | None,
        user: UserSnapshot,
        also: Callable[[Any], None] | None = None,
    ) -> str:
        """A new session with its index entry, in one transaction; returns its id.

        ``also`` adds commands on the user's other keys (same hash tag, so the
        same Cluster slot) to that transaction, such as an activity entry."""
        clock = self.clock()
        now = int(clock)
        tag = self.user_tag(user_id)
        index = self._index_key(tag, user_id)
        while True:
            secret = secrets.token_urlsafe(SECRET_BYTES)
            selector = secret[:SELECTOR_LENGTH]
            record = Record(
                user_id=user_id,
                kind=KINDS.index(kind),
                created_at=now,
                last_seen_at=now,
                ip=pack_ip(ip),
                verifier=_verifier(secret),
                user=user,
                user_agent=pack_user_agent(user_agent),
            )
            with self.client.pipeline(transaction=True) as pipe:
                pipe.set(self._session_key(tag, selector), _encode(record),
                         ex=self.first_ttl, nx=True)  # fmt: skip
                # Scored in milliseconds: the order of logins within one second.
                pipe.zadd(index, {selector: int(clock * 1000)})
                # Every member ends within max_age of now: so can the index.
                pipe.expire(index, self.max_age)
                if also is not None:
                    also(pipe)
                created = pipe.execute()[0]
            if created:  # NX: a selector already in use just draws again
                return f"{tag}.{secret}"

    def load(self, session_id: str | None) -> Record | None:
        """Read a live session, sliding its idle timeout; None if it is not live.

        One command (``GETEX``) per request; a second only to record the
        last-seen time (once a minute) or to cap the TTL at the absolute end.
        """
        parsed = _parse(session_id)
        if parsed is None:
            return None  # not one of ours: no Redis command at all
        tag, secret = parsed
        key = self._session_key(tag, secret[:SELECTOR_LENGTH])
        # execute_command rather than getex(): the same command without
        # redis-py's per-call argument checks, on the path every request takes.
        raw = self.client.execute_command("GETEX", key, "EX", self.idle_timeout)
        if raw is None:
            return None
        record = decode_record(raw)
        if record is None:  # not something we wrote: never trust it
            self.client.delete(key)
            return None
        if not hmac.compare_digest(record.verifier, _verifier(secret)):
            return None  # right selector, wrong secret: not this session
        now = int(self.clock())
        remaining = record.created_at + self.max_age - now
        if remaining <= 0:
            self._delete(tag, secret[:SELECTOR_LENGTH], record.user_id)
            return None
        if remaining < self.idle_timeout:  # only in the last idle window of its life
            self.client.expire(key, remaining)
        if now - record.last_seen_at >= LAST_SEEN_EVERY:
            record.last_seen_at = now
            # XX: written only if the key still exists; KEEPTTL: the TTL stays.
            self.client.set(key, _encode(record), xx=True, keepttl=True)
        return record

    def end(self, session_id: str | None) -> Record | None:
        """End the session with this id if it is live; its record, else None."""
        record = self.load(session_id)
        parsed = _parse(session_id)
        if parsed is None:
            return None
        tag, secret = parsed
        if record is not None:
            self._delete(tag, secret[:SELECTOR_LENGTH], record.user_id)
        else:
            # Already gone: perhaps by an earlier logout that could not be
            # confirmed. Report it done only once replicas have it too.
            self.revocations.confirm(self._session_key(tag, secret[:SELECTOR_LENGTH]))
        return record

    def _delete(self, tag: str, selector: str, user_id: int) -> None:
        """Session key and index entry at once (one script on the user's
        slot), confirmed by replicas when required."""
        self.revocations.script(
            _END_ONE, [self._session_key(tag, selector), self._index_key(tag, user_id)], [selector]
        )

    # --- all sessions of a user ---------------------------------------------------

    def list(self, user_id: int) -> list[SessionInfo]:
        """The user's live sessions, newest first; expired index entries are pruned."""
        tag = self.user_tag(user_id)
        index = self._index_key(tag, user_id)
        selectors = [member.decode() for member in self.client.zrevrange(index, 0, -1)]
        if not selectors:
            return []
        with self.client.pipeline(transaction=False) as pipe:  # one round trip
            for selector in selectors:
                pipe.get(self._session_key(tag, selector))
                pipe.ttl(self._session_key(tag, selector))
            replies = pipe.execute()
        now = int(self.clock())
        sessions, gone = [], []
        for selector, raw, ttl in zip(selectors, replies[::2], replies[1::2], strict=True):
            record = decode_record(raw) if raw is not None else None
            if record is None or record.user_id != user_id or ttl < 0:
                gone.append(selector)
                continue
            sessions.append(
                SessionInfo(
                    handle=self._handle(tag, selector),
                    selector=selector,
                    kind=KINDS[record.kind] if record.kind in (0, 1) else "cookie",
                    created_at=record.created_at,
                    last_seen_at=record.last_seen_at,
                    expires_at=now + ttl,
                    ip=unpack_ip(record.ip),
                    user_agent=unpack_user_agent(record.user_agent),
                )
            )
        if gone:
            self.client.zrem(index, *gone)
        return sessions

    def update_user(self, user_id: int, user: UserSnapshot) -> int:
        """Write a new snapshot of the user into each of its live sessions
        (``SET … XX KEEPTTL``: a session ended meanwhile stays ended). How many."""
        tag = self.user_tag(user_id)
        keys = [
            self._session_key(tag, member.decode())
            for member in self.client.zrange(self._index_key(tag, user_id), 0, -1)
        ]
        if not keys:
            return 0
        updated = 0
        with self.client.pipeline(transaction=False) as pipe:
            for key, raw in zip(keys, self.client.mget(keys), strict=True):
                record = decode_record(raw) if raw is not None else None
                if record is not None and record.user_id == user_id:
                    record.user = user
                    pipe.set(key, _encode(record), xx=True, keepttl=True)
                    updated += 1
            pipe.execute()
        return updated

    def revoke(self, user_id: int, handle: str) -> SessionInfo | None:
        """End the user's session with this handle; None if they have none such."""
        if not HANDLE_PATTERN.fullmatch(handle):
            return None  # cannot be one (and compare_digest refuses non-ASCII text)
        for info in self.list(user_id):
            if hmac.compare_digest(info.handle, handle):
                self._delete(self.user_tag(user_id), info.selector, user_id)
                return info
        # None such: perhaps ended by an earlier, unconfirmed attempt.
        self.revocations.confirm(self._index_key(self.user_tag(user_id), user_id))
        return None

    def revoke_all(self, user_id: int, keep_session_id: str | None = None) -> int:
        """End every session of the user (but ``keep_session_id``); how many were live.

        One script on the user's slot reads the index and ends every session
        in it: atomic, so a session created meanwhile is either ended or
        created after (and, being new, is not one this call meant to end).
        Confirmed by replicas when required.
        """
        tag = self.user_tag(user_id)
        keep = _parse(keep_session_id)
        kept = keep[1][:SELECTOR_LENGTH] if keep and keep[0] == tag else ""
        ended = self.revocations.script(
            _END_ALL, [self._index_key(tag, user_id)], [self._session_key(tag, ""), kept]
        )
        return int(ended)


# KEYS: the session, the index. ARGV: the selector.
_END_ONE = """
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""
# KEYS: the index. ARGV: the session keys' common beginning ("<prefix>{T}:"),
# the selector to keep ("" for none). Session keys are built here from the
# index: they share its hash tag, so the script stays on one slot.
_END_ALL = """
local ended = 0
for _, selector in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if selector ~= ARGV[2] then
    ended = ended + redis.call('DEL', ARGV[1] .. selector)
    redis.call('ZREM', KEYS[1], selector)
  end
end
return ended
"""


def _parse(session_id: str | None) -> tuple[str, str] | None:
    """``(tag, secret)`` of a well-formed session id, else None."""
    match = SESSION_ID_PATTERN.fullmatch(session_id) if session_id else None
    return (match.group(1), match.group(2)) if match else None


def decode_record(raw: bytes) -> Record | None:
    try:
        return _decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
