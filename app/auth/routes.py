"""Thin views: load with a schema, call the service, dump with a schema.

A view also moves the session id between the request and the service:
``transport`` reads it from the cookie or bearer header and sets or expires
the cookie.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import current_app, request

from app.api import ErrorOut
from app.auth import bp, lifecycle, passkeys, second_factor, service, transport
from app.auth.admission import gated
from app.auth.schemas import (
    CreationOptionsOut,
    CredentialsIn,
    EmailIn,
    EventOut,
    LogoutAllIn,
    LogoutAllOut,
    MailedTokenIn,
    MessageOut,
    PasskeyLoginIn,
    PasskeyOptionsIn,
    PasskeyOut,
    PasskeyRegisteredOut,
    PasskeyRegisterIn,
    PasskeyRenameIn,
    PasswordChangedOut,
    PasswordChangeIn,
    PasswordIn,
    PasswordResetIn,
    PasswordStepErrorOut,
    RecoveryCodesOut,
    RegisterIn,
    RequestOptionsOut,
    SecondFactorOut,
    SecondStepIn,
    SessionOut,
    TokenOut,
    TotpCodeIn,
    TotpDisableIn,
    TotpSetupOut,
    UserOut,
)
from app.security import FORM, JSON, accepts

# Who may call what, in the document. "oauth2Password" is the Authorize
# button of /docs (it logs in through /token's form); the others are how
# clients really send a session. PUBLIC operations need none.
SESSION_AUTH: list[dict[str, list[str]]] = [
    {"bearerAuth": []},
    {"cookieAuth": []},
    {"oauth2Password": []},
]
PUBLIC: list[dict[str, list[str]]] = []
UNAUTHENTICATED = {
    "schema": ErrorOut,
    "description": "Missing, unknown or ended session",
    "headers": {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
}
BAD_CREDENTIALS = {"schema": ErrorOut, "description": "Invalid email or password"}
# /login and /token: a wrong password, or (only after a right one) the
# second step an account with a second factor needs.
PASSWORD_STEP_401 = {
    "schema": PasswordStepErrorOut,
    "description": "Invalid email or password; or, the password being right, the account's "
    "second factor is required: second_factor says with what token and methods "
    "(POST /login/second-factor or /token/second-factor). No session either way",
}
CROSS_SITE = {"schema": ErrorOut, "description": "Cross-site request refused (origin or type)"}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
TOO_MANY = {"schema": ErrorOut, "description": "Throttled: see Retry-After", "headers": RETRY_AFTER}
UNAVAILABLE = {
    "schema": ErrorOut,
    "description": "Redis or the database is unreachable, or no password check can be "
    "admitted now (Too busy): see Retry-After",
    "headers": RETRY_AFTER,
}
SET_COOKIE = {
    "Set-Cookie": {"description": "The HttpOnly session cookie", "schema": {"type": "string"}}
}


def _only(schema: str, never: str) -> dict[str, Any]:
    """``schema``, without the other identifier: exactly one is accepted."""
    return {"allOf": [{"$ref": f"#/components/schemas/{schema}"}, {"not": {"required": [never]}}]}


CREDENTIALS_BODY = {
    "schema": {
        "oneOf": [
            _only("EmailCredentialsIn", never="username"),
            _only("UsernameCredentialsIn", never="email"),
        ]
    },
    "examples": {
        "email": {
            "summary": "By email",
            "value": {"email": "john@example.com", "password": "correct horse battery staple"},
        },
        "username": {
            "summary": "By username",
            "value": {"username": "johndoe", "password": "correct horse battery staple"},
        },
    },
}
LOGIN_DOC = {
    "requestBody": {
        "required": True,
        "description": "A password and exactly one of email or username",
        "content": {JSON: CREDENTIALS_BODY},
    }
}
TOKEN_DOC = {
    "requestBody": {
        "required": True,
        "description": "JSON as for /login, or the OAuth2 password grant as a form",
        "content": {
            JSON: CREDENTIALS_BODY,
            FORM: {"schema": {"$ref": "#/components/schemas/OAuth2PasswordFormIn"}},
        },
    }
}


@bp.route("/register", methods=["POST"])
@bp.arguments(RegisterIn)
@bp.response(201, UserOut)
@bp.alt_response(400, schema=ErrorOut, description="Email or username already taken")
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(429, **TOO_MANY)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(
    operationId="register",
    security=PUBLIC,
    responses={
        201: {
            "links": {
                name: {
                    "operationId": name,
                    "requestBody": {
                        "email": "$request.body#/email",
                        "password": "$request.body#/password",
                    },
                    "description": f"The new account's credentials, to {name}",
                }
                for name in ("token", "login")
            }
        }
    },
)
@gated
def register(data: dict[str, str]) -> service.PublicUser:
    """Create an account. Does not log in."""
    return lifecycle.register(**data, client=_client(), public_url=_public_url())


@bp.route("/login", methods=["POST"])
@bp.arguments(CredentialsIn)
@bp.response(200, UserOut, headers=SET_COOKIE)
@bp.alt_response(401, **PASSWORD_STEP_401)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(429, **TOO_MANY)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="login", security=PUBLIC, **LOGIN_DOC)
@gated
def login(credentials: service.Credentials) -> service.PublicUser:
    """Browser login: start a session and set its HttpOnly cookie."""
    new = service.login(
        credentials, transport.COOKIE, _client(), replaces=transport.cookie_session_id()
    )
    transport.set_cookie(new.session_id)
    return new.user


@bp.route("/token", methods=["POST"])
@accepts(JSON, FORM)
@bp.arguments(CredentialsIn, location="json_or_form")
@bp.response(200, TokenOut)
@bp.alt_response(401, **PASSWORD_STEP_401)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(415, schema=ErrorOut, description="Body is neither JSON nor a form")
@bp.alt_response(429, **TOO_MANY)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(
    operationId="token",
    security=PUBLIC,
    responses={
        200: {
            "links": {
                name: {
                    "operationId": name,
                    "parameters": {"header.Authorization": "Bearer {$response.body#/access_token}"},
                    "description": "The new token, as a bearer credential",
                }
                for name in ("me", "listSessions", "logout", "logoutAll")
            }
        }
    },
    **TOKEN_DOC,
)
@gated
def token(credentials: service.Credentials) -> dict[str, Any]:
    """API login: an opaque bearer token from the same session store. No cookie."""
    return _token_body(service.login(credentials, transport.BEARER, _client()))


def _token_body(new: service.NewSession) -> dict[str, Any]:
    return {
        "access_token": new.session_id,
        "token_type": "Bearer",
        "user_id": str(new.user.id),
        "expires_in": new.expires_in,
    }


def _exactly(schema: str, field: str, others: list[str]) -> dict[str, Any]:
    """``schema`` with ``field`` and none of ``others``: one shape of a body
    that takes exactly one of several fields."""
    return {
        "allOf": [
            {"$ref": f"#/components/schemas/{schema}"},
            {"required": [field]},
            {"not": {"anyOf": [{"required": [other]} for other in others]}},
        ]
    }


FACTORS = ["code", "recovery_code", "passkey"]
SECOND_STEP_DOC = {
    "requestBody": {
        "required": True,
        "description": "The second-step token and exactly one of code, recovery_code or passkey",
        "content": {
            JSON: {
                "schema": {
                    "oneOf": [
                        _exactly("SecondStepIn", factor, [f for f in FACTORS if f != factor])
                        for factor in FACTORS
                    ]
                },
                "examples": {
                    "code": {
                        "summary": "A code from the authenticator app",
                        "value": {
                            "token": "Jq0m2VZ8rB2mK9sT0uW4yA6cE7gI5kN3oR1tV8wXzLk",
                            "code": "492039",
                        },
                    },
                    "recovery_code": {
                        "summary": "A recovery code",
                        "value": {
                            "token": "Jq0m2VZ8rB2mK9sT0uW4yA6cE7gI5kN3oR1tV8wXzLk",
                            "recovery_code": "k7m2q-x4hpz",
                        },
                    },
                },
            }
        },
    }
}
DISABLE_DOC = {
    "requestBody": {
        "required": True,
        "description": "The account's password, or a current code: exactly one",
        "content": {
            JSON: {
                "schema": {
                    "oneOf": [
                        _exactly("TotpDisableIn", "password", ["code"]),
                        _exactly("TotpDisableIn", "code", ["password"]),
                    ]
                }
            }
        },
    }
}

SECOND_STEP_400 = {"schema": ErrorOut, "description": "Invalid or expired second-step token"}
SECOND_STEP_401 = {
    "schema": ErrorOut,
    "description": "Invalid code: wrong, used, or replayed (costs one of the token's 5 attempts)",
}


@bp.route("/login/second-factor", methods=["POST"])
@bp.arguments(SecondStepIn)
@bp.response(200, UserOut, headers=SET_COOKIE)
@bp.alt_response(400, **SECOND_STEP_400)
@bp.alt_response(401, **SECOND_STEP_401)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(429, **TOO_MANY)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="loginSecondFactor", security=PUBLIC, **SECOND_STEP_DOC)
def login_second_factor(data: dict[str, Any]) -> service.PublicUser:
    """Second step of a browser login: the /login token and one factor; the session cookie."""
    new = second_factor.finish_login(
        data["token"],
        "login",
        transport.COOKIE,
        _client(),
        code=data.get("code"),
        recovery_code=data.get("recovery_code"),
        passkey=data.get("passkey"),
        replaces=transport.cookie_session_id(),
    )
    transport.set_cookie(new.session_id)
    return new.user


@bp.route("/token/second-factor", methods=["POST"])
@bp.arguments(SecondStepIn)
@bp.response(200, TokenOut)
@bp.alt_response(400, **SECOND_STEP_400)
@bp.alt_response(401, **SECOND_STEP_401)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(429, **TOO_MANY)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="tokenSecondFactor", security=PUBLIC, **SECOND_STEP_DOC)
def token_second_factor(data: dict[str, Any]) -> dict[str, Any]:
    """Second step of an API login: the /token token and one factor; the bearer token."""
    new = second_factor.finish_login(
        data["token"],
        "token",
        transport.BEARER,
        _client(),
        code=data.get("code"),
        recovery_code=data.get("recovery_code"),
        passkey=data.get("passkey"),
    )
    return _token_body(new)


@bp.route("/me", methods=["GET"])
@bp.response(200, UserOut)
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="me", security=SESSION_AUTH)
def me() -> service.PublicUser:
    """The user of the session given by cookie or bearer token."""
    return service.current_user(transport.read_credential().session_id)


@bp.route("/logout", methods=["POST"])
@bp.response(200, MessageOut)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="logout", security=[*SESSION_AUTH, {}])
def logout() -> dict[str, str]:
    """End the session at once (its Redis key is deleted). Idempotent."""
    credential = transport.read_credential()
    service.logout(credential.session_id, _client())
    transport.expire_cookie(credential)
    return {"message": "Successfully logged out"}


@bp.route("/sessions", methods=["GET"])
@bp.response(200, SessionOut(many=True))
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(
    operationId="listSessions",
    security=SESSION_AUTH,
    responses={
        200: {  # an int, as flask-smorest keys the response it documents
            "links": {
                "endSession": {
                    "operationId": "endSession",
                    "parameters": {
                        "path.handle": "$response.body#/0/id",
                        "header.Authorization": "$request.header.Authorization",
                    },
                    "description": "The first (newest) session in the list ends",
                }
            }
        }
    },
)
def list_sessions() -> list[service.SessionView]:
    """Every live session of the caller's account, newest first."""
    return service.list_sessions(transport.read_credential().session_id)


@bp.route("/sessions/<string:handle>", methods=["DELETE"])
@bp.response(204)
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(404, schema=ErrorOut, description="No session of the caller has this handle")
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="endSession", security=SESSION_AUTH)
def end_session(handle: str) -> None:
    """End one of the caller's sessions at once, on every worker and host."""
    credential = transport.read_credential()
    if service.end_session(credential.session_id, handle, _client()):
        transport.expire_cookie(credential)


@bp.route("/logout-all", methods=["POST"])
@bp.arguments(LogoutAllIn, required=False)
@bp.response(200, LogoutAllOut)
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="logoutAll", security=SESSION_AUTH)
def logout_all(options: dict[str, bool]) -> dict[str, Any]:
    """End every session of the account, the caller's too unless keep_current."""
    keep_current = options.get("keep_current", False)
    credential = transport.read_credential()
    ended = service.end_all_sessions(credential.session_id, keep_current, _client())
    if not keep_current:
        transport.expire_cookie(credential)
    message = "Logged out of every other session" if keep_current else "Logged out everywhere"
    return {"message": message, "ended": ended}


def _client() -> service.Client:
    return service.Client(ip=request.remote_addr, user_agent=request.user_agent.string or None)


def _public_url() -> str:
    """Where mailed links point: PUBLIC_URL, or this service's demo page."""
    return str(current_app.config["PUBLIC_URL"] or request.host_url)


# --- account lifecycle -----------------------------------------------------------


@bp.route("/password/change", methods=["POST"])
@bp.arguments(PasswordChangeIn)
@bp.response(200, PasswordChangedOut)
@bp.alt_response(400, schema=ErrorOut, description="Current password is incorrect")
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(429, **TOO_MANY)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="changePassword", security=SESSION_AUTH)
@gated
def change_password(data: dict[str, str]) -> dict[str, Any]:
    """A new password. Every other session of the account ends at once."""
    ended = lifecycle.change_password(
        transport.read_credential().session_id,
        data["current_password"],
        data["new_password"],
        _client(),
    )
    return {"message": "Password changed", "ended": ended}


@bp.route("/password/forgot", methods=["POST"])
@bp.arguments(EmailIn)
@bp.response(202, MessageOut)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(429, **TOO_MANY)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="forgotPassword", security=PUBLIC)
def forgot_password(data: dict[str, str]) -> dict[str, str]:
    """Mail a reset link, if the address has an account. The same answer either way."""
    lifecycle.request_password_reset(data["email"], _client(), _public_url())
    return {"message": "If that address has an account, a reset link is on its way"}


@bp.route("/password/reset", methods=["POST"])
@bp.arguments(PasswordResetIn)
@bp.response(200, MessageOut)
@bp.alt_response(400, schema=ErrorOut, description="Invalid or expired reset token")
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="resetPassword", security=PUBLIC)
@gated
def reset_password(data: dict[str, str]) -> dict[str, str]:
    """Set a new password with a mailed token. Every session of the account ends."""
    lifecycle.reset_password(data["token"], data["new_password"], _client())
    return {"message": "Password has been reset"}


@bp.route("/email/verify", methods=["POST"])
@bp.arguments(MailedTokenIn)
@bp.response(200, UserOut)
@bp.alt_response(400, schema=ErrorOut, description="Invalid or expired verification token")
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="verifyEmail", security=PUBLIC)
def verify_email(data: dict[str, str]) -> service.PublicUser:
    """Prove the address with the mailed token."""
    return lifecycle.verify_email(data["token"], _client())


@bp.route("/email/verify/resend", methods=["POST"])
@bp.response(202, MessageOut)
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(429, **TOO_MANY)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="resendVerification", security=SESSION_AUTH)
def resend_verification() -> dict[str, str]:
    """Mail a new verification link (nothing, if the address is already proved)."""
    lifecycle.resend_verification(transport.read_credential().session_id, _client(), _public_url())
    return {"message": "If the address is not yet verified, a new link is on its way"}


@bp.route("/account/delete", methods=["POST"])
@bp.arguments(PasswordIn)
@bp.response(200, MessageOut)
@bp.alt_response(400, schema=ErrorOut, description="Password is incorrect")
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(429, **TOO_MANY)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="deleteAccount", security=SESSION_AUTH)
@gated
def delete_account(data: dict[str, str]) -> dict[str, str]:
    """Delete the account: every session ends, the email and username are free again."""
    credential = transport.read_credential()
    lifecycle.delete_account(credential.session_id, data["password"], _client())
    transport.expire_cookie(credential)
    return {"message": "Account deleted"}


@bp.route("/events", methods=["GET"])
@bp.response(200, EventOut(many=True))
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="listEvents", security=SESSION_AUTH)
def list_events() -> list[lifecycle.EventView]:
    """The account's own security activity, newest first (the newest 100, for 90 days)."""
    return lifecycle.list_events(transport.read_credential().session_id)


# --- second factor ----------------------------------------------------------------

WRONG_PASSWORD = {"schema": ErrorOut, "description": "Password is incorrect"}


@bp.route("/second-factor", methods=["GET"])
@bp.response(200, SecondFactorOut)
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="secondFactorStatus", security=SESSION_AUTH)
def second_factor_status() -> second_factor.FactorStatus:
    """The account's second factors: TOTP on or off, passkeys, recovery codes left."""
    return second_factor.status(transport.read_credential().session_id)


@bp.route("/totp/setup", methods=["POST"])
@bp.arguments(PasswordIn)
@bp.response(200, TotpSetupOut)
@bp.alt_response(400, **WRONG_PASSWORD)
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(409, schema=ErrorOut, description="Two-factor authentication is already on")
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(429, **TOO_MANY)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="setupTotp", security=SESSION_AUTH)
@gated
def setup_totp(data: dict[str, str]) -> second_factor.TotpSetup:
    """A new TOTP secret for an authenticator app, pending (10 minutes) until confirmed."""
    return second_factor.setup_totp(
        transport.read_credential().session_id, data["password"], _client()
    )


@bp.route("/totp/confirm", methods=["POST"])
@bp.arguments(TotpCodeIn)
@bp.response(200, RecoveryCodesOut)
@bp.alt_response(400, schema=ErrorOut, description="Invalid code, or no setup pending")
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(409, schema=ErrorOut, description="Two-factor authentication is already on")
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="confirmTotp", security=SESSION_AUTH)
def confirm_totp(data: dict[str, str]) -> dict[str, list[str]]:
    """Turn TOTP on with the app's current code. Every other session ends; the
    account's recovery codes are in the answer, and nowhere else, ever."""
    codes = second_factor.confirm_totp(
        transport.read_credential().session_id, data["code"], _client()
    )
    return {"recovery_codes": codes}


@bp.route("/totp/disable", methods=["POST"])
@bp.arguments(TotpDisableIn)
@bp.response(200, MessageOut)
@bp.alt_response(400, schema=ErrorOut, description="Password is incorrect, or invalid code")
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(409, schema=ErrorOut, description="Two-factor authentication is not on")
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(429, **TOO_MANY)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="disableTotp", security=SESSION_AUTH, **DISABLE_DOC)
def disable_totp(data: dict[str, str]) -> dict[str, str]:
    """Turn TOTP off, with the password or a current code. Every other session ends."""
    second_factor.disable_totp(
        transport.read_credential().session_id, data.get("password"), data.get("code"), _client()
    )
    return {"message": "Two-factor authentication disabled"}


@bp.route("/recovery-codes", methods=["POST"])
@bp.arguments(PasswordIn)
@bp.response(200, RecoveryCodesOut)
@bp.alt_response(400, **WRONG_PASSWORD)
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(409, schema=ErrorOut, description="The account has no second factor")
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(429, **TOO_MANY)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="regenerateRecoveryCodes", security=SESSION_AUTH)
@gated
def regenerate_recovery_codes(data: dict[str, str]) -> dict[str, list[str]]:
    """Ten new recovery codes, shown only now; the old ones stop working."""
    codes = second_factor.regenerate_recovery_codes(
        transport.read_credential().session_id, data["password"], _client()
    )
    return {"recovery_codes": codes}


# --- passkeys (WebAuthn) ---------------------------------------------------------

INVALID_PASSKEY = {"schema": ErrorOut, "description": "Invalid passkey"}


@bp.route("/passkeys", methods=["GET"])
@bp.response(200, PasskeyOut(many=True))
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="listPasskeys", security=SESSION_AUTH)
def list_passkeys() -> list[passkeys.PasskeyView]:
    """The caller's passkeys, oldest first."""
    return passkeys.list_passkeys(transport.read_credential().session_id)


@bp.route("/passkeys/register/options", methods=["POST"])
@bp.arguments(PasswordIn)
@bp.response(200, CreationOptionsOut)
@bp.alt_response(400, schema=ErrorOut, description="Password is incorrect")
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(409, schema=ErrorOut, description="The account has as many passkeys as it may")
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(429, **TOO_MANY)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="passkeyRegistrationOptions", security=SESSION_AUTH)
@gated
def passkey_registration_options(data: dict[str, str]) -> dict[str, Any]:
    """Options for navigator.credentials.create(), after the password. Only
    this session can finish the registration, within 5 minutes, once."""
    return passkeys.registration_options(
        transport.read_credential().session_id, data["password"], _client()
    )


@bp.route("/passkeys/register", methods=["POST"])
@bp.arguments(PasskeyRegisterIn)
@bp.response(201, PasskeyRegisteredOut)
@bp.alt_response(400, schema=ErrorOut, description="Invalid or expired passkey registration")
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(409, schema=ErrorOut, description="The account has as many passkeys as it may")
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="registerPasskey", security=SESSION_AUTH)
def register_passkey(data: dict[str, Any]) -> dict[str, Any]:
    """Keep the new passkey. Every other session of the account ends; a
    notice is mailed. The account's first second factor brings its recovery
    codes, in this answer only."""
    passkey, _ended, codes = passkeys.register(
        transport.read_credential().session_id, data["credential"], data["name"], _client()
    )
    return {**dataclasses.asdict(passkey), **({"recovery_codes": codes} if codes else {})}


PASSKEY_ID = "<int(max=2147483647):passkey_id>"


@bp.route(f"/passkeys/{PASSKEY_ID}", methods=["PATCH"])
@bp.arguments(PasskeyRenameIn)
@bp.response(200, PasskeyOut)
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(404, schema=ErrorOut, description="No passkey of the caller has this id")
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="renamePasskey", security=SESSION_AUTH)
def rename_passkey(data: dict[str, str], passkey_id: int) -> passkeys.PasskeyView:
    """A new name for one of the caller's passkeys."""
    return passkeys.rename(transport.read_credential().session_id, passkey_id, data["name"])


@bp.route(f"/passkeys/{PASSKEY_ID}/delete", methods=["POST"])
@bp.arguments(PasswordIn)
@bp.response(200, MessageOut)
@bp.alt_response(400, schema=ErrorOut, description="Password is incorrect")
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(404, schema=ErrorOut, description="No passkey of the caller has this id")
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(429, **TOO_MANY)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="deletePasskey", security=SESSION_AUTH)
def delete_passkey(data: dict[str, str], passkey_id: int) -> dict[str, str]:
    """Remove one of the caller's passkeys, after the password. Every other
    session of the account ends; a notice is mailed."""
    passkeys.remove(transport.read_credential().session_id, passkey_id, data["password"], _client())
    return {"message": "Passkey removed"}


@bp.route("/passkeys/authenticate/options", methods=["POST"])
@bp.arguments(PasskeyOptionsIn, required=False)
@bp.response(200, RequestOptionsOut)
@bp.alt_response(400, schema=ErrorOut, description="Invalid or expired second-step token")
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(429, **TOO_MANY)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="passkeyAuthenticationOptions", security=PUBLIC)
def passkey_authentication_options(data: dict[str, str]) -> dict[str, Any]:
    """Options for navigator.credentials.get(): for a passwordless sign-in
    (no body, or {}), or with a second-step token for that account's passkeys."""
    if "token" in data:
        return passkeys.second_step_options(data["token"])
    return passkeys.sign_in_options(_client())


@bp.route("/passkeys/login", methods=["POST"])
@bp.arguments(PasskeyLoginIn)
@bp.response(200, UserOut, headers=SET_COOKIE)
@bp.alt_response(401, **INVALID_PASSKEY)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(429, **TOO_MANY)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="passkeyLogin", security=PUBLIC)
def passkey_login(data: dict[str, Any]) -> service.PublicUser:
    """Sign in with a passkey, no password: start a session and set its cookie."""
    new = passkeys.passkey_login(
        data["challenge_id"],
        data["credential"],
        transport.COOKIE,
        _client(),
        replaces=transport.cookie_session_id(),
    )
    transport.set_cookie(new.session_id)
    return new.user


@bp.route("/passkeys/token", methods=["POST"])
@bp.arguments(PasskeyLoginIn)
@bp.response(200, TokenOut)
@bp.alt_response(401, **INVALID_PASSKEY)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(429, **TOO_MANY)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(operationId="passkeyToken", security=PUBLIC)
def passkey_token(data: dict[str, Any]) -> dict[str, Any]:
    """Sign in with a passkey, no password: an opaque bearer token, as /token gives."""
    new = passkeys.passkey_login(
        data["challenge_id"], data["credential"], transport.BEARER, _client()
    )
    return _token_body(new)
