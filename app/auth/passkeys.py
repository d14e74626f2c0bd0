"""Passkeys (WebAuthn): register several, name and remove them, sign in with
one instead of a password, or use one as the second factor after a password.

The ceremonies are py_webauthn's (``webauthn`` on PyPI); this module keeps
what it cannot: the challenges (``challenge_store.py``: single use, 300 s),
the credentials (``models.Passkey``: public key, counter, user handle), and
the account rules around them.

* The *relying party* is ``WEBAUTHN_RP_ID`` and ``WEBAUTHN_ORIGINS``, or what
  PUBLIC_URL implies (``config.py``); in development and tests with neither,
  the host of the request.
* A credential verifies only for its own account, against the challenge
  issued for this ceremony, from a listed origin, for this relying party,
  with a valid signature, and with a counter that went forward (or stays 0
  on authenticators that keep none): a counter that goes backwards means a
  cloned authenticator, and the sign-in is refused.
* The counter moves with a conditional UPDATE (``WHERE sign_count = old``),
  so two hosts cannot both accept assertions with one counter value.
* A passwordless sign-in requires user verification (the authenticator's
  PIN or biometric): the passkey is then two factors in itself. As a second
  factor after a password, presence is enough.

Plain values in and out, domain exceptions for what goes wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, has_request_context, request
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from app.auth import context, notices, second_factor, second_step
from app.auth.lifecycle import _account_of, _check_password, _mail
from app.auth.service import Client, NewSession, record_event, start_session
from app.auth.session_store import Kind
from app.exceptions import (
    InvalidPasskey,
    InvalidPasskeyRegistration,
    InvalidSecondFactor,
    InvalidSecondStepToken,
    PasskeyNotFound,
    TooManyPasskeys,
)
from app.extensions import db
from app.models import Passkey, RecoveryCode, User, utcnow
from app.throttle import Bucket

log = logging.getLogger(__name__)

MAX_PASSKEYS = 20  # per account: a bound on rows, and on excludeCredentials
NAME_MAX_LENGTH = 64
# Base64url without padding, as browsers' toJSON() writes it.
BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
TRANSPORTS = frozenset(transport.value for transport in AuthenticatorTransport)


@dataclass(frozen=True)
class RelyingParty:
    id: str
    name: str
    origins: list[str]


@dataclass(frozen=True)
class PasskeyView:
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


def relying_party() -> RelyingParty:
    """The configured party; unconfigured (development, tests), the request's
    own host and origin."""
    config = current_app.config
    rp_id = config["WEBAUTHN_RP_ID"]
    origins = list(config["WEBAUTHN_ORIGINS"])
    if has_request_context():
        if rp_id is None:
            rp_id = urlsplit(request.host_url).hostname
        if not origins:
            origins = [f"{request.scheme}://{request.host}"]
    return RelyingParty(id=rp_id or "localhost", name=config["WEBAUTHN_RP_NAME"], origins=origins)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64url(text: str) -> bytes:
    """Strict base64url: anything else is a ValueError (the library's own
    decoder skips stray characters)."""
    if not BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def user_handle(user_id: int) -> bytes:
    """The WebAuthn user handle of an account: 32 bytes that reveal nothing
    (not the id, not the address), the same for each of its passkeys."""
    key = current_app.config["SECRET_KEY"].encode("utf-8")
    return hmac.new(key, f"webauthn-user:{user_id}".encode(), hashlib.sha256).digest()


def _options_json(options: Any) -> dict[str, Any]:
    return json.loads(options_to_json(options))  # type: ignore[no-any-return]


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    transports = [
        AuthenticatorTransport(name)
        for name in (passkey.transports or "").split(",")
        if name in TRANSPORTS
    ]
    return PublicKeyCredentialDescriptor(id=passkey.credential_id, transports=transports or None)


def _passkeys_of(user_id: int) -> list[Passkey]:
    statement = select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.id)
    return list(db.session.scalars(statement))


def _view(passkey: Passkey) -> PasskeyView:
    return PasskeyView(passkey.id, passkey.name, passkey.created_at, passkey.last_used_at)


def _own_passkey(user_id: int, passkey_id: int) -> Passkey:
    """The account's passkey with this id; another account's is as unknown."""
    passkey = db.session.get(Passkey, passkey_id)
    if passkey is None or passkey.user_id != user_id:
        raise PasskeyNotFound()
    return passkey


def has_passkey(user_id: int) -> bool:
    """Whether the account has a passkey (so a second factor: see the second step)."""
    found = db.session.scalar(select(Passkey.id).where(Passkey.user_id == user_id).limit(1))
    return found is not None


def passkey_count(user_id: int) -> int:
    """How many passkeys the account has (``GET /second-factor``'s ``passkeys``)."""
    statement = select(func.count()).select_from(Passkey).where(Passkey.user_id == user_id)
    return int(db.session.scalar(statement) or 0)


# --- registration ----------------------------------------------------------------


def registration_options(session_id: str | None, password: str, client: Client) -> dict[str, Any]:
    """Options for navigator.credentials.create(): the password first (a
    stolen session alone cannot add a way in), then a challenge that only
    this session can answer."""
    user = _account_of(session_id)
    _check_password(user, password, client)
    existing = _passkeys_of(user.id)
    if len(existing) >= MAX_PASSKEYS:
        raise TooManyPasskeys()
    party = relying_party()
    store = context.challenges()
    options = generate_registration_options(
        rp_id=party.id,
        rp_name=party.name,
        user_name=user.username,
        user_id=user_handle(user.id),
        user_display_name=user.username,
        timeout=store.ttl * 1000,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        # The browser refuses an authenticator that already holds one of these.
        exclude_credentials=[_descriptor(passkey) for passkey in existing],
    )
    store.put("register", session_id or "", user.id, options.challenge)
    return _options_json(options)


def register(
    session_id: str | None, credential: dict[str, Any], name: str, client: Client
) -> tuple[PasskeyView, int, list[str] | None]:
    """Verify the new credential against this session's challenge and keep
    it; every other session of the account ends. The passkey, how many
    sessions ended, and the account's recovery codes when this passkey is
    its first second factor (shown once, as TOTP's confirmation shows them)."""
    user = _account_of(session_id)
    first_factor = not second_step.methods_of(user.id)
    pending = context.challenges().take("register", session_id or "")
    if pending is None or pending.user_id != user.id:
        raise InvalidPasskeyRegistration()
    party = relying_party()
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=pending.challenge,
            expected_rp_id=party.id,
            expected_origin=party.origins,
            require_user_verification=False,
        )
    except Exception as error:  # hostile input met a parser: any failure is a refusal
        log.info(
            "passkey registration refused user_id=%s: %s",
            user.id,
            error.__class__.__name__,
            extra={"event": "passkey_register_failed", "user_id": user.id},
        )
        raise InvalidPasskeyRegistration() from None
    if len(_passkeys_of(user.id)) >= MAX_PASSKEYS:
        raise TooManyPasskeys()
    transports = credential.get("response", {}).get("transports") or []
    passkey = Passkey(
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=",".join(name for name in transports if name in TRANSPORTS)[:255] or None,
        aaguid=verified.aaguid,
        user_handle=user_handle(user.id),
        name=name,
    )
    db.session.add(passkey)
    try:
        db.session.commit()
    except IntegrityError:
        # This credential is already registered (to this or another account).
        db.session.rollback()
        raise InvalidPasskeyRegistration() from None
    codes = second_factor.new_recovery_codes_for(user.id) if first_factor else None
    ended = context.sessions().revoke_all(user.id, keep_session_id=session_id)
    record_event(user.id, "passkey_added", client)
    _mail(notices.passkey_added(user.email, user.username, name, ended))
    log.info(
        "passkey added user_id=%s ended=%s",
        user.id,
        ended,
        extra={"event": "passkey_added", "user_id": user.id, "ended": ended},
    )
    return _view(passkey), ended, codes


# --- managing them ---------------------------------------------------------------


def list_passkeys(session_id: str | None) -> list[PasskeyView]:
    user = _account_of(session_id)
    return [_view(passkey) for passkey in _passkeys_of(user.id)]


def rename(session_id: str | None, passkey_id: int, name: str) -> PasskeyView:
    user = _account_of(session_id)
    passkey = _own_passkey(user.id, passkey_id)
    passkey.name = name
    db.session.commit()
    return _view(passkey)


def remove(session_id: str | None, passkey_id: int, password: str, client: Client) -> int:
    """Delete one of the caller's passkeys (the password first); every other
    session of the account ends. How many ended."""
    user = _account_of(session_id)
    passkey = _own_passkey(user.id, passkey_id)
    _check_password(user, password, client)
    name = passkey.name
    db.session.delete(passkey)
    db.session.flush()
    if not second_step.methods_of(user.id):  # its last second factor: codes stand in for none
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.commit()
    ended = context.sessions().revoke_all(user.id, keep_session_id=session_id)
    record_event(user.id, "passkey_removed", client)
    _mail(notices.passkey_removed(user.email, user.username, name, ended))
    log.info(
        "passkey removed user_id=%s ended=%s",
        user.id,
        ended,
        extra={"event": "passkey_removed", "user_id": user.id, "ended": ended},
    )
    return ended


# --- signing in ------------------------------------------------------------------


def sign_in_options(client: Client) -> dict[str, Any]:
    """Options for a passwordless sign-in: no account named, so no
    allowCredentials (the authenticator offers its discoverable passkeys),
    and a challenge id to send back with the answer."""
    throttle = context.throttle()
    throttle.reserve(Bucket("passkey-options-ip", throttle.network(client.ip)))
    store = context.challenges()
    options = generate_authentication_options(
        rp_id=relying_party().id,
        timeout=store.ttl * 1000,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    challenge_id = secrets.token_urlsafe(32)
    store.put("sign-in", challenge_id, 0, options.challenge)
    return {"challenge_id": challenge_id, **_options_json(options)}


def _second_step_user(token: str) -> int | None:
    """The account a live second-step token belongs to, without spending it."""
    return second_step.peek(token)


def second_step_options(token: str) -> dict[str, Any]:
    """Options for the second step of a login: the account's own passkeys
    in allowCredentials, a challenge bound to that account."""
    user_id = _second_step_user(token)
    if user_id is None:
        raise InvalidSecondStepToken()
    store = context.challenges()
    options = generate_authentication_options(
        rp_id=relying_party().id,
        timeout=store.ttl * 1000,
        allow_credentials=[_descriptor(passkey) for passkey in _passkeys_of(user_id)],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    store.put("second-step", _b64url(options.challenge), user_id, options.challenge)
    return _options_json(options)


def _refused(reason: str, user_id: int | None = None) -> InvalidPasskey:
    log.info(
        "passkey assertion refused: %s",
        reason,
        extra={"event": "passkey_refused", "reason": reason, "user_id": user_id},
    )
    return InvalidPasskey()


def _verify_assertion(
    credential: dict[str, Any], challenge: bytes, user_id: int | None, require_uv: bool
) -> Passkey:
    """The passkey that signed this challenge, its counter moved forward;
    ``InvalidPasskey`` otherwise. ``user_id``: the account it must belong to
    (None: a discoverable sign-in, which must then name its user handle)."""
    try:
        credential_id = _unb64url(credential["rawId"])
        handle = credential["response"].get("userHandle")
        handle_bytes = _unb64url(handle) if isinstance(handle, str) else None
    except (KeyError, TypeError, AttributeError, ValueError):
        raise _refused("malformed") from None
    passkey: Passkey | None = db.session.scalar(
        select(Passkey).where(Passkey.credential_id == credential_id)
    )
    if passkey is None:
        raise _refused("unknown credential")
    if user_id is not None and passkey.user_id != user_id:
        raise _refused("another account's credential", user_id)
    if handle_bytes is None and user_id is None:
        raise _refused("no user handle", passkey.user_id)
    if handle_bytes is not None and not hmac.compare_digest(handle_bytes, passkey.user_handle):
        raise _refused("user handle mismatch", passkey.user_id)
    party = relying_party()
    old_count = passkey.sign_count
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=party.id,
            expected_origin=party.origins,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=old_count,
            require_user_verification=require_uv,
        )
    except Exception as error:  # hostile input met a parser: any failure is a refusal
        if "sign count" in str(error):
            log.warning(
                "passkey counter went backwards (a cloned authenticator?) user_id=%s id=%s",
                passkey.user_id,
                passkey.id,
                extra={"event": "passkey_cloned", "user_id": passkey.user_id},
            )
        raise _refused(error.__class__.__name__, passkey.user_id) from None
    moved = db.session.execute(
        update(Passkey)
        .where(Passkey.id == passkey.id, Passkey.sign_count == old_count)
        .values(sign_count=verified.new_sign_count, last_used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        # Another request used this counter value first.
        raise _refused("counter raced", passkey.user_id)
    db.session.refresh(passkey)
    return passkey


def passkey_login(
    challenge_id: str,
    credential: dict[str, Any],
    kind: Kind,
    client: Client,
    replaces: str | None = None,
) -> NewSession:
    """A passwordless sign-in: verify the assertion against the challenge
    issued with ``challenge_id`` and start a session for its account.
    Failures count against the client network; a success is refunded."""
    throttle = context.throttle()
    reservation = throttle.reserve(Bucket("passkey-ip", throttle.network(client.ip)))
    pending = context.challenges().take("sign-in", challenge_id)
    if pending is None:
        raise _refused("unknown or spent challenge")
    passkey = _verify_assertion(credential, pending.challenge, user_id=None, require_uv=True)
    user = db.session.get(User, passkey.user_id)
    if user is None:  # pragma: no cover - the row cascades with its account
        raise _refused("no account")
    throttle.refund(reservation)
    log.info(
        "passkey login user_id=%s",
        user.id,
        extra={"event": "login", "user_id": user.id, "method": "passkey"},
    )
    return start_session(user, kind, client, replaces)


def _challenge_of(credential: dict[str, Any]) -> str:
    """The challenge an assertion answers, as its clientDataJSON says
    (verified against the stored one afterwards)."""
    client_data = json.loads(_unb64url(credential["response"]["clientDataJSON"]))
    challenge = client_data["challenge"]
    if not isinstance(challenge, str):
        raise TypeError("challenge")
    return challenge


def verify_second_factor(user_id: int, credential: dict[str, Any]) -> None:
    """The second step of a login with a passkey: the assertion must answer
    a challenge issued for this account (``POST /passkeys/authenticate/options``
    with the second-step token) and be signed by one of its passkeys.
    ``InvalidSecondFactor`` on any failure; the challenge is spent either way."""
    try:
        challenge = _challenge_of(credential)
    except (KeyError, TypeError, AttributeError, ValueError, RecursionError):
        # The second step's schema may hand over any JSON object.
        raise InvalidSecondFactor() from None
    pending = context.challenges().take("second-step", challenge)
    if pending is None or pending.user_id != user_id:
        raise InvalidSecondFactor()
    try:
        _verify_assertion(credential, pending.challenge, user_id=user_id, require_uv=False)
    except InvalidPasskey:
        raise InvalidSecondFactor() from None
