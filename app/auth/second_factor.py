"""Second-factor use cases: turn TOTP on and off, recovery codes, and the
second step of a login.

Plain values in and out, domain exceptions for what goes wrong, like
``service.py`` and ``lifecycle.py``. What makes each factor single-use lives
in the database, so that it holds across workers and hosts:

* a TOTP code is accepted by a conditional ``UPDATE`` that moves the
  authenticator's last accepted step forward; of two requests with one
  code, only one changes the row;
* a recovery code is spent by a conditional ``DELETE`` of its HMAC; of two
  requests with one code, only one deletes the row.

Turning a factor on or off ends every other session of the account, writes
an event and mails a notice, as a password change does.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from app.auth import context, notices, second_step
from app.auth.lifecycle import _account_of, _check_password, _mail
from app.auth.secret_box import CannotOpen
from app.auth.service import Client, NewSession, record_event, start_session
from app.auth.session_store import Kind
from app.auth.totp import (
    PendingSetups,
    Totp,
    new_recovery_codes,
    normal_recovery_code,
    recovery_code_text,
)
from app.exceptions import (
    InvalidSecondFactor,
    InvalidSecondStepToken,
    InvalidTotpCode,
    NoSecondFactor,
    NoTotpSetup,
    TotpAlreadyEnabled,
    TotpNotEnabled,
)
from app.extensions import db
from app.models import RecoveryCode, TotpAuthenticator, User
from app.throttle import Bucket

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FactorStatus:
    totp: bool
    passkeys: int
    recovery_codes_left: int


@dataclass(frozen=True)
class TotpSetup:
    secret: str
    otpauth_uri: str
    qr_svg: str


def _totp() -> Totp:
    return current_app.extensions["totp"]  # type: ignore[no-any-return]


def _setups() -> PendingSetups:
    return current_app.extensions["totp_setups"]  # type: ignore[no-any-return]


def _context(user_id: int) -> str:
    """The authenticated data of a sealed TOTP secret: whose it is."""
    return f"totp:{user_id}"


# --- TOTP ------------------------------------------------------------------------


def status(session_id: str | None) -> FactorStatus:
    user = _account_of(session_id)
    return FactorStatus(
        totp=second_step.has_totp(user.id),
        passkeys=second_step.passkey_count(user.id),
        recovery_codes_left=second_step.recovery_codes_left(user.id),
    )


def setup_totp(session_id: str | None, password: str, client: Client) -> TotpSetup:
    """A new secret, pending until a first code confirms it (replacing any
    pending one). The password is asked again: a session alone (a borrowed
    laptop) must not be enough to tie the account to someone's phone."""
    user = _account_of(session_id)
    _check_password(user, password, client)
    if second_step.has_totp(user.id):
        raise TotpAlreadyEnabled()
    totp = _totp()
    secret = totp.new_secret()
    _setups().put(user.id, secret)
    uri = totp.uri(secret, user.email)
    return TotpSetup(secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))


def confirm_totp(session_id: str | None, code: str, client: Client) -> list[str]:
    """Turn TOTP on with the pending secret's current code; the account's
    new recovery codes, shown this once."""
    user = _account_of(session_id)
    secret = _setups().get(user.id)
    if secret is None:
        raise NoTotpSetup()
    step = _totp().matching_step(secret, code, after=-1)
    if step is None:
        raise InvalidTotpCode()
    key_id, sealed = context.secret_box().seal(secret.encode("ascii"), _context(user.id))
    try:
        codes = _replace_recovery_codes(user.id)
        # The confirming code is spent too: it cannot finish a login afterwards.
        db.session.add(
            TotpAuthenticator(
                user_id=user.id, secret_sealed=sealed, key_id=key_id, last_used_step=step
            )
        )
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # a concurrent confirmation won
        raise TotpAlreadyEnabled() from None
    _setups().drop(user.id)
    ended = context.sessions().revoke_all(user.id, keep_session_id=session_id)
    record_event(user.id, "totp_enabled", client)
    _mail(notices.totp_enabled(user.email, user.username, ended))
    log.info(
        "totp enabled user_id=%s ended=%s",
        user.id,
        ended,
        extra={"event": "totp_enabled", "user_id": user.id, "ended": ended},
    )
    return codes


def disable_totp(
    session_id: str | None, password: str | None, code: str | None, client: Client
) -> int:
    """Turn TOTP off, proved by the password or a current code; how many
    other sessions ended. Recovery codes go too, unless a passkey remains."""
    user = _account_of(session_id)
    if password is not None:
        _check_password(user, password, client)
    if not second_step.has_totp(user.id):
        raise TotpNotEnabled()
    if password is None:
        try:
            _throttled_check(user.id, lambda: _accept_totp(user, code or ""))
        except InvalidSecondFactor:
            record_event(user.id, "second_factor_failed", client)
            raise InvalidTotpCode() from None
    db.session.execute(delete(TotpAuthenticator).where(TotpAuthenticator.user_id == user.id))
    if not second_step.passkey_count(user.id):
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.commit()
    ended = context.sessions().revoke_all(user.id, keep_session_id=session_id)
    record_event(user.id, "totp_disabled", client)
    _mail(notices.totp_disabled(user.email, user.username, ended))
    log.info(
        "totp disabled user_id=%s ended=%s",
        user.id,
        ended,
        extra={"event": "totp_disabled", "user_id": user.id, "ended": ended},
    )
    return ended


def _accept_totp(user: User, code: str) -> None:
    """Accept ``code`` for the account's authenticator, once, or raise
    ``InvalidSecondFactor``. Commits the step it used."""
    found = db.session.scalar(select(TotpAuthenticator).where(TotpAuthenticator.user_id == user.id))
    if found is None:
        raise InvalidSecondFactor()
    box = context.secret_box()
    try:
        secret = box.open(found.key_id, found.secret_sealed, _context(user.id)).decode("ascii")
    except CannotOpen:
        log.error(
            "totp secret cannot be opened (key id %r not configured?) user_id=%s",
            found.key_id,
            user.id,
        )
        raise InvalidSecondFactor() from None
    step = _totp().matching_step(secret, code, after=found.last_used_step)
    if step is None:
        raise InvalidSecondFactor()
    values: dict[str, Any] = {"last_used_step": step}
    if found.key_id != box.key_id:  # sealed with a retired key: move it to the current one
        values["key_id"], values["secret_sealed"] = box.seal(secret.encode(), _context(user.id))
    # Only one request moves the step past ``step - 1``: a code works once,
    # even when two hosts check it at the same instant.
    moved = db.session.execute(
        update(TotpAuthenticator)
        .where(TotpAuthenticator.user_id == user.id, TotpAuthenticator.last_used_step < step)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        raise InvalidSecondFactor()
    db.session.commit()
    db.session.expire(found)


# --- recovery codes ------------------------------------------------------------------


def _replace_recovery_codes(user_id: int) -> list[str]:
    """Ten new codes for the account, voiding the old ones, in the current
    transaction (the caller commits); the codes themselves, never stored."""
    box = context.secret_box()
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = new_recovery_codes()
    for code in codes:
        text = recovery_code_text(user_id, normal_recovery_code(code) or "")
        db.session.add(RecoveryCode(user_id=user_id, code_hash=box.mac(text)))
    return codes


def new_recovery_codes_for(user_id: int) -> list[str]:
    """A first set of recovery codes for an account that just got its first
    second factor some other way (a passkey); commits. The codes, shown once."""
    codes = _replace_recovery_codes(user_id)
    db.session.commit()
    return codes


def regenerate_recovery_codes(session_id: str | None, password: str, client: Client) -> list[str]:
    """A new set of ten; the old set stops working."""
    user = _account_of(session_id)
    _check_password(user, password, client)
    if not second_step.has_totp(user.id) and not second_step.passkey_count(user.id):
        raise NoSecondFactor()
    codes = _replace_recovery_codes(user.id)
    db.session.commit()
    record_event(user.id, "recovery_codes_regenerated", client)
    _mail(notices.recovery_codes_regenerated(user.email, user.username))
    log.info(
        "recovery codes regenerated user_id=%s",
        user.id,
        extra={"event": "recovery_codes_regenerated", "user_id": user.id},
    )
    return codes


def _spend_recovery_code(user: User, code: str) -> None:
    """Delete the matching unused code, or ``InvalidSecondFactor``."""
    normal = normal_recovery_code(code)
    if normal is None:
        raise InvalidSecondFactor()
    hashes = context.secret_box().macs(recovery_code_text(user.id, normal))
    spent = db.session.execute(
        delete(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash.in_(hashes))
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount < 1:  # type: ignore[attr-defined]
        db.session.rollback()
        raise InvalidSecondFactor()
    db.session.commit()


# --- the second step of a login --------------------------------------------------------


def _throttled_check(user_id: int, check: Any) -> None:
    """``check()`` counted in the account's second-factor bucket first, the
    place refunded when it passes: only failures count, as for passwords."""
    throttle = context.throttle()
    reservation = throttle.reserve(Bucket("second-factor-account", f"user:{user_id}"))
    check()
    throttle.refund(reservation)


def finish_login(
    token: str,
    flow: second_step.Flow,
    kind: Kind,
    client: Client,
    code: str | None = None,
    recovery_code: str | None = None,
    passkey: Mapping[str, Any] | None = None,
    replaces: str | None = None,
) -> NewSession:
    """The second step: a TOTP code, a recovery code or a passkey assertion
    (exactly one) for the account the second-step token names; a session."""
    tokens = second_step.store()
    pending = tokens.peek(token)
    user = db.session.get(User, pending.user_id) if pending else None
    if (
        pending is None
        or user is None
        or pending.flow != flow
        or not hmac.compare_digest(pending.binding, tokens.binding_of(user.password_hash))
    ):
        raise InvalidSecondStepToken()

    def check() -> None:
        if code is not None:
            _accept_totp(user, code)
        elif recovery_code is not None:
            _spend_recovery_code(user, recovery_code)
        else:
            second_step.verify_passkey(user.id, passkey or {})

    try:
        _throttled_check(user.id, check)
    except InvalidSecondFactor:
        tokens.fail(token)
        record_event(user.id, "second_factor_failed", client)
        log.info(
            "second factor failed user_id=%s",
            user.id,
            extra={"event": "second_factor_failed", "user_id": user.id},
        )
        raise
    if not tokens.spend(token):
        raise InvalidSecondStepToken()  # a concurrent second step spent it first
    log.info(
        "second factor accepted user_id=%s",
        user.id,
        extra={"event": "login", "user_id": user.id},
    )
    return start_session(user, kind, client, replaces)
