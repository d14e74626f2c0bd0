"""Account use cases: plain values in, plain values out, domain exceptions
(``app/exceptions.py``) for what goes wrong. Nothing here knows HTTP: the
views hand in what the request said (credentials, the session id it
carries, the client's IP and user agent) and turn results into responses.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from flask import current_app
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import flag_modified

from app.auth import context, second_step
from app.auth.confusables import email_key, username_key
from app.auth.passwords import Hasher, burn_verify, hash_password, needs_rehash, verify_password
from app.auth.session_store import Kind, Record, UserSnapshot
from app.exceptions import (
    EmailTaken,
    InvalidCredentials,
    NotAuthenticated,
    PasswordWorkBusy,
    SessionNotFound,
    UsernameTaken,
)
from app.extensions import db
from app.models import User
from app.throttle import Bucket, Reservation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credentials:
    """What a client logs in with: a password and exactly one identifier."""

    password: str
    email: str | None = None
    username: str | None = None


@dataclass(frozen=True)
class Client:
    """Who is asking, as the session list will show it."""

    ip: str | None
    user_agent: str | None


@dataclass(frozen=True)
class PublicUser:
    """A user's public fields: what ``/me`` and ``/register`` show."""

    id: int
    username: str
    email: str
    created_at: datetime
    updated_at: datetime
    email_verified: bool


@dataclass(frozen=True)
class NewSession:
    user: PublicUser
    session_id: str
    expires_in: int  # seconds: the new session's time to live


@dataclass(frozen=True)
class SessionView:
    """One of the caller's sessions, as ``GET /sessions`` lists it."""

    id: str  # the handle: names the session, cannot use it
    kind: Kind
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool


def utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _epoch(moment: datetime) -> int:
    # SQLite hands back naive datetimes: they are UTC.
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def public_user(user: User) -> PublicUser:
    return PublicUser(
        user.id, user.username, user.email, user.created_at, user.updated_at, user.email_verified
    )


def snapshot_of(user: User) -> UserSnapshot:
    return UserSnapshot(
        username=user.username,
        email=user.email,
        created_at=_epoch(user.created_at),
        updated_at=_epoch(user.updated_at),
        email_verified=user.email_verified,
    )


def record_event(user_id: int, event: str, client: Client) -> None:
    """A line in the account's own security activity (``GET /events``)."""
    context.events().record(user_id, event, client.ip, client.user_agent)


# --- accounts --------------------------------------------------------------------

# Built once: SQLAlchemy then reuses the statement's cache key and compiled
# form instead of rebuilding both at every login (~0.3 ms of Python each).
_BY_EMAIL = select(User).where(func.lower(User.email) == bindparam("identifier"))
_BY_USERNAME = select(User).where(func.lower(User.username) == bindparam("identifier"))


def find_by_email(email: str) -> User | None:
    return db.session.scalar(_BY_EMAIL, {"identifier": email.lower()})


def _find_by_username(username: str) -> User | None:
    return db.session.scalar(_BY_USERNAME, {"identifier": username.lower()})


_EMAIL_TAKEN = select(User.id).where(
    (func.lower(User.email) == bindparam("email")) | (User.email_key == bindparam("key"))
)
_USERNAME_TAKEN = select(User.id).where(
    (func.lower(User.username) == bindparam("username")) | (User.username_key == bindparam("key"))
)


def _email_taken(email: str) -> bool:
    """Taken by an account with this address, or with a look-alike of it."""
    found = db.session.scalar(_EMAIL_TAKEN, {"email": email.lower(), "key": email_key(email)})
    return found is not None


def _username_taken(username: str) -> bool:
    key = username_key(username)
    found = db.session.scalar(_USERNAME_TAKEN, {"username": username.lower(), "key": key})
    return found is not None


def register_user(username: str, email: str, password: str, client: Client) -> PublicUser:
    """Create an account. ``email`` is already normalised by the schema.

    Counted per client network, successful or not. With the counters out
    of reach, registration (which needs only the database) goes on
    unthrottled rather than failing.
    """
    throttle = context.throttle()
    try:
        throttle.reserve(Bucket("register-ip", throttle.network(client.ip)))
    except redis.RedisError as error:
        log.warning("registration unthrottled: %s", error.__class__.__name__)
    if _email_taken(email):
        raise EmailTaken()
    if _username_taken(username):
        raise UsernameTaken()
    user = User(
        username=username,
        email=email,
        username_key=username_key(username),
        email_key=email_key(email),
        password_hash=context.password_work().run(hash_password, password, context.hasher()),
    )
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        # A concurrent registration won the race between our check and insert:
        # the unique indexes stopped it, and the loser gets the same 400.
        db.session.rollback()
        log.info("registration lost a race", extra={"event": "register_race_lost"})
        raise EmailTaken() if _email_taken(email) else UsernameTaken() from None
    log.info(
        "user registered user_id=%s", user.id, extra={"event": "registered", "user_id": user.id}
    )
    return public_user(user)


def identifier_form(credentials: Credentials) -> str:
    """What the client typed to name an account, in one normal form (NFKC,
    case-folded): the spellings of one identifier that name no account
    share one throttling bucket, as those that do share their account's."""
    typed = credentials.email if credentials.email is not None else credentials.username or ""
    return unicodedata.normalize("NFKC", typed).casefold()


def _identifier_digest(identifier: str) -> str:
    """A stable pseudonym of an identifier, so that logs can correlate
    attempts on one without holding anyone's email address."""
    key = current_app.config["SECRET_KEY"].encode("utf-8")
    return hmac.new(key, f"identifier:{identifier}".encode(), hashlib.sha256).hexdigest()[:16]


def reserve_password_check(user: User | None, identifier: str, client: Client) -> Reservation:
    """A place for one password check in the client network's bucket and in
    the (network, account) bucket, before any check is made. An unknown
    account is counted by the normal form of what was typed.

    Fails closed: with the counters (and so the sessions) out of reach, the
    request ends here with a 503, before the password is verified: right
    and wrong passwords cannot be told apart by their answers.
    """
    throttle = context.throttle()
    network = throttle.network(client.ip)
    account = f"user:{user.id}" if user is not None else f"unknown:{identifier}"
    reservation = throttle.reserve(
        Bucket("login-ip", network), Bucket("login-account", f"{network} {account}")
    )
    if not throttle.enabled:
        context.sessions().ping()  # the same answer for every password while Redis is away
    return reservation


def authenticate(credentials: Credentials, client: Client) -> User:
    """The user these credentials belong to, or ``InvalidCredentials``;
    ``Throttled`` once the client spent its password checks."""
    if credentials.email is not None:
        user = find_by_email(credentials.email)
    else:
        user = _find_by_username(credentials.username or "")
    identifier = identifier_form(credentials)
    reservation = reserve_password_check(user, identifier, client)
    hasher = context.hasher()
    try:
        if user is None:
            context.password_work().run(burn_verify, credentials.password, hasher)
            matches = False
        else:
            matches = context.password_work().run(
                verify_password, credentials.password, user.password_hash, hasher
            )
    except PasswordWorkBusy:
        context.throttle().refund(reservation)  # no password was checked
        raise
    if user is None:
        tried = _identifier_digest(identifier)
        log.info(
            "login failed: unknown account identifier=%s",
            tried,
            extra={"event": "login_failed", "reason": "unknown_account", "identifier": tried},
        )
        raise InvalidCredentials()
    if not matches:
        record_event(user.id, "login_failed", client)
        log.info(
            "login failed: wrong password user_id=%s",
            user.id,
            extra={"event": "login_failed", "reason": "wrong_password", "user_id": user.id},
        )
        raise InvalidCredentials()
    context.throttle().refund(reservation)  # only failures count
    log.info("login succeeded user_id=%s", user.id, extra={"event": "login", "user_id": user.id})
    if needs_rehash(user.password_hash, hasher):
        _rehash(user, credentials.password, hasher)
    return user


def _rehash(user: User, password: str, hasher: Hasher) -> None:
    """Move the hash to the current scheme, pepper and cost: the password is
    at hand only now. Nothing the user sees changes, so neither does
    updated_at (written as it is, the column's onupdate stays out): the
    snapshots in the user's other sessions stay true. With no password work
    to spare, it waits for the next login."""
    try:
        user.password_hash = context.password_work().run(hash_password, password, hasher)
    except PasswordWorkBusy:
        return
    flag_modified(user, "updated_at")
    db.session.commit()
    log.info("password hash upgraded user_id=%s", user.id)


# --- sessions --------------------------------------------------------------------


def login(
    credentials: Credentials, kind: Kind, client: Client, replaces: str | None = None
) -> NewSession:
    """Check the credentials and start a new session of ``kind``.

    The id is always new. ``replaces`` is the session id the client brought
    (a cookie login's old cookie): it ends, so an id planted before login is
    worthless (fixation).
    """
    user = authenticate(credentials, client)
    # An account with a second factor gets a second-step token here, no session.
    second_step.require_none(user, "login" if kind == "cookie" else "token")
    return start_session(user, kind, client, replaces)


def start_session(
    user: User, kind: Kind, client: Client, replaces: str | None = None
) -> NewSession:
    """A new session of ``kind`` for a user who has just proved who they
    are (a password, a passkey), with its ``login`` event."""
    snapshot = snapshot_of(user)
    store = context.sessions()
    if replaces is not None:
        store.end(replaces)
    session_id = store.create(
        user.id,
        kind,
        client.ip,
        client.user_agent,
        snapshot,
        # The activity entry rides in the session's own transaction: no extra round trip.
        also=lambda pipe: context.events().record_in(
            pipe, user.id, "login", client.ip, client.user_agent
        ),
    )
    return NewSession(public_user(user), session_id, store.first_ttl)


def live_record(session_id: str | None) -> Record:
    record = context.sessions().load(session_id)
    if record is None:
        raise NotAuthenticated()
    return record


def current_user(session_id: str | None) -> PublicUser:
    """The user of a live session, from the snapshot it holds: no database query."""
    record = live_record(session_id)
    snapshot = record.user
    return PublicUser(
        id=record.user_id,
        username=snapshot.username,
        email=snapshot.email,
        created_at=utc(snapshot.created_at),
        updated_at=utc(snapshot.updated_at),
        email_verified=snapshot.email_verified,
    )


def logout(session_id: str | None, client: Client) -> None:
    """End the session at once, if it is live. Idempotent."""
    record = context.sessions().end(session_id)
    if record is not None:
        user_id = record.user_id
        record_event(user_id, "logout", client)
        log.info("logout user_id=%s", user_id, extra={"event": "logout", "user_id": user_id})


def list_sessions(session_id: str | None) -> list[SessionView]:
    """The caller's live sessions, newest first, each named by its handle."""
    return sessions_of(live_record(session_id).user_id, own_session_id=session_id)


def sessions_of(user_id: int, own_session_id: str | None = None) -> list[SessionView]:
    """The account's live sessions, newest first; ``current`` marks the one
    with ``own_session_id``."""
    store = context.sessions()
    own = store.handle_of(own_session_id)
    return [
        SessionView(
            id=info.handle,
            kind=info.kind,
            created_at=utc(info.created_at),
            last_seen_at=utc(info.last_seen_at),
            expires_at=utc(info.expires_at),
            ip=info.ip,
            user_agent=info.user_agent,
            current=info.handle == own,
        )
        for info in store.list(user_id)
    ]


def end_session(session_id: str | None, handle: str, client: Client) -> bool:
    """End one of the caller's sessions; True when it was the caller's own."""
    user_id = live_record(session_id).user_id
    end_session_of(user_id, handle)
    record_event(user_id, "session_revoked", client)
    return handle == context.sessions().handle_of(session_id)


def end_session_of(user_id: int, handle: str) -> None:
    """End the account's session with this handle, or ``SessionNotFound``."""
    if context.sessions().revoke(user_id, handle) is None:
        raise SessionNotFound()
    log.info(
        "session revoked user_id=%s",
        user_id,
        extra={"event": "session_revoked", "user_id": user_id},
    )


def end_all_sessions(session_id: str | None, keep_current: bool, client: Client) -> int:
    """End every session of the caller's account, or all but the caller's own."""
    user_id = live_record(session_id).user_id
    ended = end_all_sessions_of(user_id, keep_session_id=session_id if keep_current else None)
    record_event(user_id, "logout_all", client)
    return ended


def end_all_sessions_of(user_id: int, keep_session_id: str | None = None) -> int:
    """End every session of the account but ``keep_session_id``; how many ended."""
    ended = context.sessions().revoke_all(user_id, keep_session_id)
    log.info(
        "logout everywhere user_id=%s ended=%s",
        user_id,
        ended,
        extra={"event": "logout_all", "user_id": user_id, "ended": ended},
    )
    return ended


def delete_user(user_id: int) -> int:
    """Delete the account and end every session of it; how many sessions ended."""
    user = db.session.get(User, user_id)
    if user is not None:
        # The row first: once it is gone no new login can start a session,
        # so ending the sessions afterwards leaves none behind.
        db.session.delete(user)
        db.session.commit()
    context.events().forget(user_id)
    return context.sessions().revoke_all(user_id)
