"""Thin views: load with a schema, call the service, dump with a schema."""

from __future__ import annotations

from typing import Any

from app.auth import bp, service, sessions
from app.auth.schemas import (
    Credentials,
    CredentialsIn,
    LogoutAllIn,
    LogoutAllOut,
    MessageOut,
    RegisterIn,
    SessionOut,
    TokenOut,
    UserOut,
)
from app.errors import ErrorOut
from app.models import User
from app.ratelimit import login_per_identifier, login_per_ip, register_per_ip
from app.security import FORM, JSON, accepts

SESSION_AUTH: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"cookieAuth": []}]
UNAUTHENTICATED = {"schema": ErrorOut, "description": "Missing, unknown or ended session"}
BAD_CREDENTIALS = {"schema": ErrorOut, "description": "Invalid email or password"}
CROSS_SITE = {"schema": ErrorOut, "description": "Cross-site request refused (origin or type)"}
TOO_MANY = {
    "schema": ErrorOut,
    "description": "Throttled: see Retry-After",
    "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
}
UNAVAILABLE = {"schema": ErrorOut, "description": "Redis or the database is unreachable"}


@bp.route("/register", methods=["POST"])
@register_per_ip
@bp.arguments(RegisterIn)
@bp.response(201, UserOut)
@bp.alt_response(400, schema=ErrorOut, description="Email or username already taken")
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(429, **TOO_MANY)
def register(data: dict[str, str]) -> User:
    """Create an account. Does not log in."""
    return service.register_user(**data)


@bp.route("/login", methods=["POST"])
@login_per_ip
@login_per_identifier
@bp.arguments(CredentialsIn)
@bp.response(200, UserOut, headers={"Set-Cookie": {"description": "The HttpOnly session cookie"}})
@bp.alt_response(401, **BAD_CREDENTIALS)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(503, **UNAVAILABLE)
@bp.alt_response(429, **TOO_MANY)
def login(credentials: Credentials) -> User:
    """Browser login: start a session and set its HttpOnly cookie."""
    user = service.authenticate(credentials)
    service.start_session(user, sessions.COOKIE)
    return user


@bp.route("/token", methods=["POST"])
@login_per_ip
@login_per_identifier
@accepts(JSON, FORM)
@bp.arguments(CredentialsIn, location="json_or_form")
@bp.response(200, TokenOut)
@bp.alt_response(401, **BAD_CREDENTIALS)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(415, schema=ErrorOut, description="Body is neither JSON nor a form")
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(requestBody={"content": {FORM: {"schema": CredentialsIn}}})
@bp.alt_response(429, **TOO_MANY)
def token(credentials: Credentials) -> dict[str, Any]:
    """API login: an opaque bearer token from the same session store. No cookie."""
    user = service.authenticate(credentials)
    return {
        "access_token": service.start_session(user, sessions.BEARER),
        "token_type": "Bearer",
        "user_id": str(user.id),
        "expires_in": sessions.idle_timeout(),
    }


@bp.route("/me", methods=["GET"])
@bp.response(200, UserOut)
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(security=SESSION_AUTH)
def me() -> service.PublicUser | User:
    """The user of the session given by cookie or bearer token."""
    return service.current_user()


@bp.route("/logout", methods=["POST"])
@bp.response(200, MessageOut)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(security=[*SESSION_AUTH, {}])
def logout() -> dict[str, str]:
    """End the session at once (its Redis key is deleted). Idempotent."""
    sessions.end_session()
    return {"message": "Successfully logged out"}


@bp.route("/sessions", methods=["GET"])
@bp.response(200, SessionOut(many=True))
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(security=SESSION_AUTH)
def list_sessions() -> list[dict[str, Any]]:
    """Every live session of the caller's account, newest first."""
    return service.my_sessions()


@bp.route("/sessions/<string:handle>", methods=["DELETE"])
@bp.response(204)
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(404, schema=ErrorOut, description="No session of the caller has this handle")
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(security=SESSION_AUTH)
def end_session(handle: str) -> None:
    """End one of the caller's sessions at once, on every worker and host."""
    service.end_my_session(handle)


@bp.route("/logout-all", methods=["POST"])
@bp.arguments(LogoutAllIn, required=False)
@bp.response(200, LogoutAllOut)
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(403, **CROSS_SITE)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(security=SESSION_AUTH)
def logout_all(options: dict[str, bool]) -> dict[str, Any]:
    """End every session of the account, the caller's too unless keep_current."""
    keep_current = options["keep_current"]
    ended = service.end_my_sessions(keep_current=keep_current)
    message = "Logged out of every other session" if keep_current else "Logged out everywhere"
    return {"message": message, "ended": ended}
