"""Account lifecycle use cases: change and recover a password, prove an
address, delete an account, read one's own security activity.

Plain values in and out, domain exceptions for what goes wrong, like
``service.py``. Mail is queued (``app/mail.py``), never sent inside the
request. Every password change, by any route, makes a new hash, and that
alone kills the reset tokens issued before it (``token_store.py``).
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime

import redis
from flask import current_app

from app.auth import context, notices
from app.auth.passwords import hash_password, verify_password
from app.auth.service import (
    Client,
    PublicUser,
    find_by_email,
    live_record,
    public_user,
    record_event,
    register_user,
    reserve_password_check,
    snapshot_of,
    utc,
)
from app.exceptions import (
    InvalidResetToken,
    InvalidVerificationToken,
    NotAuthenticated,
    PasswordWorkBusy,
    WrongCurrentPassword,
    WrongPassword,
)
from app.extensions import db
from app.mail import Message
from app.models import User
from app.throttle import Bucket

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventView:
    type: str
    at: datetime
    ip: str | None
    user_agent: str | None


def _mail(message: Message) -> None:
    current_app.extensions["outbox"].enqueue(message)


def _link(public_url: str, page: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/{page}?token={token}"


def _account_of(session_id: str | None) -> User:
    user = db.session.get(User, live_record(session_id).user_id)
    if user is None:  # deleted while the session lived: end it now
        context.sessions().end(session_id)
        raise NotAuthenticated()
    return user


def _check_password(
    user: User, password: str, client: Client, wrong: type[WrongPassword] = WrongPassword
) -> None:
    """The account's password, checked as a login checks it: counted against
    the account like a failed login, admission-controlled, ``WrongPassword``
    when it does not match."""
    reservation = reserve_password_check(user, f"user:{user.id}", client)
    try:
        matches = context.password_work().run(
            verify_password, password, user.password_hash, context.hasher()
        )
    except PasswordWorkBusy:
        context.throttle().refund(reservation)
        raise
    if not matches:
        record_event(user.id, "login_failed", client)
        raise wrong()
    context.throttle().refund(reservation)


def _set_password(user: User, new_password: str) -> None:
    user.password_hash = context.password_work().run(hash_password, new_password, context.hasher())


def register(
    username: str, email: str, password: str, client: Client, public_url: str
) -> PublicUser:
    """Create the account and mail it the link that proves its address."""
    created = register_user(username, email, password, client)
    user = db.session.get(User, created.id)  # in the session already: no query
    try:
        if user is not None:
            send_verification(user, public_url)
    except redis.RedisError as error:
        # Registration needs only the database; the link can be sent again
        # (POST /email/verify/resend) once Redis is back.
        log.warning("verification mail not queued: %s", error.__class__.__name__)
    return created


# --- password --------------------------------------------------------------------


def change_password(
    session_id: str | None, current_password: str, new_password: str, client: Client
) -> int:
    """A new password; every other session of the account ends. How many ended."""
    user = _account_of(session_id)
    _check_password(user, current_password, client, WrongCurrentPassword)
    _set_password(user, new_password)
    db.session.commit()
    ended = context.sessions().revoke_all(user.id, keep_session_id=session_id)
    record_event(user.id, "password_changed", client)
    _mail(notices.password_changed(user.email, user.username, ended))
    log.info(
        "password changed user_id=%s ended=%s",
        user.id,
        ended,
        extra={"event": "password_changed", "user_id": user.id, "ended": ended},
    )
    return ended


def request_password_reset(email: str, client: Client, public_url: str) -> None:
    """Mail a reset link if the address has an account. Known and unknown
    addresses cost the same work here (one query, one token write, one
    enqueue) and get the same answer; the difference is only in the mail."""
    throttle = context.throttle()
    address = unicodedata.normalize("NFKC", email).casefold()
    throttle.reserve(
        Bucket("mail-ip", throttle.network(client.ip)), Bucket("mail-address", address)
    )
    user = find_by_email(email)
    ttl = current_app.config["PASSWORD_RESET_TTL"]
    tokens = context.tokens()
    if user is None:
        # The same work as below, for nobody: a token that redeems to
        # nothing, and a mail sealed and written where nothing delivers it.
        link = _link(public_url, "reset-password", tokens.decoy(ttl))
        decoy = notices.reset_password(email, email.partition("@")[0], link, ttl // 60)
        current_app.extensions["outbox"].decoy(decoy)
        log.info("password reset asked for an unknown address", extra={"event": "reset_unknown"})
        return
    binding = tokens.binding_of_password(user.password_hash)
    token = tokens.issue("reset", user.id, binding, ttl)
    link = _link(public_url, "reset-password", token)
    _mail(notices.reset_password(user.email, user.username, link, ttl // 60))
    log.info(
        "password reset mailed user_id=%s",
        user.id,
        extra={"event": "password_reset_requested", "user_id": user.id},
    )


def reset_password(token: str, new_password: str, client: Client) -> None:
    """Spend the token and set the password; every session of the account ends."""
    tokens = context.tokens()
    redeemed = tokens.redeem("reset", token)
    user = db.session.get(User, redeemed.user_id) if redeemed else None
    if (
        redeemed is None
        or user is None
        or redeemed.binding != tokens.binding_of_password(user.password_hash)
    ):
        raise InvalidResetToken()
    _set_password(user, new_password)
    db.session.commit()
    ended = context.sessions().revoke_all(user.id)
    record_event(user.id, "password_reset", client)
    _mail(notices.password_was_reset(user.email, user.username))
    log.info(
        "password reset user_id=%s ended=%s",
        user.id,
        ended,
        extra={"event": "password_reset", "user_id": user.id, "ended": ended},
    )


# --- email verification ----------------------------------------------------------


def send_verification(user: User, public_url: str) -> None:
    ttl = current_app.config["EMAIL_VERIFY_TTL"]
    tokens = context.tokens()
    token = tokens.issue("verify", user.id, tokens.binding_of_email(user.email), ttl)
    link = _link(public_url, "verify-email", token)
    _mail(notices.verify_address(user.email, user.username, link, ttl // 3600))


def resend_verification(session_id: str | None, client: Client, public_url: str) -> None:
    """Mail a new verification link, unless the address is already proved."""
    user = _account_of(session_id)
    throttle = context.throttle()
    throttle.reserve(
        Bucket("mail-ip", throttle.network(client.ip)),
        Bucket("mail-address", f"user:{user.id}"),
    )
    if not user.email_verified:
        send_verification(user, public_url)


def verify_email(token: str, client: Client) -> PublicUser:
    """Spend the token and mark the address proved; the snapshot of the
    user in every live session says so at once."""
    tokens = context.tokens()
    redeemed = tokens.redeem("verify", token)
    user = db.session.get(User, redeemed.user_id) if redeemed else None
    if redeemed is None or user is None or redeemed.binding != tokens.binding_of_email(user.email):
        raise InvalidVerificationToken()
    if not user.email_verified:
        user.email_verified = True
        db.session.commit()
        context.sessions().update_user(user.id, snapshot_of(user))
        record_event(user.id, "email_verified", client)
        log.info(
            "email verified user_id=%s",
            user.id,
            extra={"event": "email_verified", "user_id": user.id},
        )
    return public_user(user)


# --- the account itself -------------------------------------------------------------


def delete_account(session_id: str | None, password: str, client: Client) -> None:
    """Delete the account: its row (freeing the email and username), every
    session, its activity. Tokens mailed to it die with the row."""
    user = _account_of(session_id)
    _check_password(user, password, client)
    user_id, email, username = user.id, user.email, user.username
    db.session.delete(user)
    db.session.commit()
    context.sessions().revoke_all(user_id)
    context.events().forget(user_id)
    _mail(notices.account_deleted(email, username))
    log.info(
        "account deleted user_id=%s",
        user_id,
        extra={"event": "account_deleted", "user_id": user_id},
    )


def list_events(session_id: str | None) -> list[EventView]:
    """The account's own security activity, newest first."""
    user_id = live_record(session_id).user_id
    return [
        EventView(type=event.type, at=utc(event.at), ip=event.ip, user_agent=event.user_agent)
        for event in context.events().list(user_id)
    ]
