"""Thin views: load with a schema, call the service, dump with a schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.auth import bp, service, sessions
from app.auth.schemas import Credentials, CredentialsIn, MessageOut, RegisterIn, TokenOut, UserOut
from app.errors import ErrorOut, UnsupportedMediaType
from app.models import User

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

View = TypeVar("View", bound=Callable[..., Any])

SESSION_AUTH: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"cookieAuth": []}]
UNAUTHENTICATED = {"schema": ErrorOut, "description": "Missing, unknown or ended session"}
BAD_CREDENTIALS = {"schema": ErrorOut, "description": "Invalid email or password"}
UNAVAILABLE = {"schema": ErrorOut, "description": "Redis or the database is unreachable"}


def accepts(*media_types: str) -> Callable[[View], View]:
    """Declare which body types a view takes (default: JSON only)."""

    def mark(view: View) -> View:
        view.accepts = frozenset(media_types)  # type: ignore[attr-defined]
        return view

    return mark


@bp.before_request
def check_body() -> None:
    """413 for an oversized body and 415 for one of another type, before parsing."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()
    if request.method not in STATE_CHANGING or not _has_body():
        return
    view = current_app.view_functions.get(request.endpoint or "")
    allowed: frozenset[str] = getattr(view, "accepts", frozenset({JSON}))
    if not (request.is_json and JSON in allowed) and request.mimetype not in allowed:
        raise UnsupportedMediaType(f"Content-Type must be {' or '.join(sorted(allowed))}")


def _has_body() -> bool:
    return (
        bool(request.content_length)
        or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    )


@bp.route("/register", methods=["POST"])
@bp.arguments(RegisterIn)
@bp.response(201, UserOut)
@bp.alt_response(400, schema=ErrorOut, description="Email or username already taken")
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
def register(data: dict[str, str]) -> User:
    """Create an account. Does not log in."""
    return service.register_user(**data)


@bp.route("/login", methods=["POST"])
@bp.arguments(CredentialsIn)
@bp.response(200, UserOut, headers={"Set-Cookie": {"description": "The HttpOnly session cookie"}})
@bp.alt_response(401, **BAD_CREDENTIALS)
@bp.alt_response(415, schema=ErrorOut, description="Body is not JSON")
@bp.alt_response(503, **UNAVAILABLE)
def login(credentials: Credentials) -> User:
    """Browser login: start a session and set its HttpOnly cookie."""
    user = service.authenticate(credentials)
    sessions.start_session(user.id, sessions.COOKIE)
    return user


@bp.route("/token", methods=["POST"])
@accepts(JSON, FORM)
@bp.arguments(CredentialsIn, location="json_or_form")
@bp.response(200, TokenOut)
@bp.alt_response(401, **BAD_CREDENTIALS)
@bp.alt_response(415, schema=ErrorOut, description="Body is neither JSON nor a form")
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(requestBody={"content": {FORM: {"schema": CredentialsIn}}})
def token(credentials: Credentials) -> dict[str, Any]:
    """API login: an opaque bearer token from the same session store. No cookie."""
    user = service.authenticate(credentials)
    return {
        "access_token": sessions.start_session(user.id, sessions.BEARER),
        "token_type": "Bearer",
        "user_id": str(user.id),
        "expires_in": sessions.idle_timeout(),
    }


@bp.route("/me", methods=["GET"])
@bp.response(200, UserOut)
@bp.alt_response(401, **UNAUTHENTICATED)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(security=SESSION_AUTH)
def me() -> User:
    """The user of the session given by cookie or bearer token."""
    return service.current_user()


@bp.route("/logout", methods=["POST"])
@bp.response(200, MessageOut)
@bp.alt_response(503, **UNAVAILABLE)
@bp.doc(security=[*SESSION_AUTH, {}])
def logout() -> dict[str, str]:
    """End the session at once (its Redis key is deleted). Idempotent."""
    sessions.end_session()
    return {"message": "Successfully logged out"}
