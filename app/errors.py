"""Every error the service answers, rendered in one place as JSON ``detail``.

Domain exceptions (``app/exceptions.py``) are mapped to a status and a
message by ``DOMAIN_ERRORS``; HTTP exceptions (404, 405, 413, 415, webargs'
400/422) and infrastructure failures are rendered with the same body shape,
so a client never sees an HTML page or a traceback.
"""

from __future__ import annotations

import http
import logging
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import redis
import sqlalchemy.exc
from flask import Flask, Response, current_app, jsonify
from marshmallow.exceptions import SCHEMA  # "_schema": errors of the whole body
from redis.exceptions import (
    ClusterCrossSlotError,
    CrossSlotTransactionError,
    InvalidPipelineStack,
    RedisClusterException,
)
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    SecurityError,
    default_exceptions,
)

from app.exceptions import (
    EmailTaken,
    InvalidCredentials,
    InvalidPasskey,
    InvalidPasskeyRegistration,
    InvalidResetToken,
    InvalidSecondFactor,
    InvalidSecondStepToken,
    InvalidTotpCode,
    InvalidVerificationToken,
    NoSecondFactor,
    NotAuthenticated,
    NoTotpSetup,
    PasskeyNotFound,
    PasswordWorkBusy,
    SecondFactorRequired,
    ServiceError,
    SessionNotFound,
    Throttled,
    TooManyPasskeys,
    TotpAlreadyEnabled,
    TotpNotEnabled,
    UsernameTaken,
    WrongCurrentPassword,
    WrongPassword,
)
from app.validation import INVALID_JSON, error_type

log = logging.getLogger(__name__)


class ErrorAnswer(NamedTuple):
    status: int
    detail: str
    headers: Mapping[str, str] = {}


DOMAIN_ERRORS: dict[type[ServiceError], ErrorAnswer] = {
    EmailTaken: ErrorAnswer(400, "Email already registered"),
    UsernameTaken: ErrorAnswer(400, "Username already taken"),
    InvalidCredentials: ErrorAnswer(401, "Invalid email or password"),
    NotAuthenticated: ErrorAnswer(
        401, "Could not validate credentials", {"WWW-Authenticate": "Bearer"}
    ),
    SessionNotFound: ErrorAnswer(404, "Session not found"),
    WrongPassword: ErrorAnswer(400, "Password is incorrect"),
    WrongCurrentPassword: ErrorAnswer(400, "Current password is incorrect"),
    InvalidResetToken: ErrorAnswer(400, "Invalid or expired reset token"),
    InvalidVerificationToken: ErrorAnswer(400, "Invalid or expired verification token"),
    InvalidSecondFactor: ErrorAnswer(401, "Invalid code"),
    SecondFactorRequired: ErrorAnswer(401, "Second factor required"),
    InvalidSecondStepToken: ErrorAnswer(400, "Invalid or expired second-step token"),
    InvalidTotpCode: ErrorAnswer(400, "Invalid code"),
    NoTotpSetup: ErrorAnswer(400, "No two-factor setup pending: start again"),
    TotpAlreadyEnabled: ErrorAnswer(409, "Two-factor authentication is already enabled"),
    TotpNotEnabled: ErrorAnswer(409, "Two-factor authentication is not enabled"),
    NoSecondFactor: ErrorAnswer(409, "The account has no second factor"),
    InvalidPasskey: ErrorAnswer(401, "Invalid passkey"),
    InvalidPasskeyRegistration: ErrorAnswer(400, "Invalid or expired passkey registration"),
    PasskeyNotFound: ErrorAnswer(404, "Passkey not found"),
    TooManyPasskeys: ErrorAnswer(409, "Too many passkeys: remove one first"),
    Throttled: ErrorAnswer(429, "Too many attempts: try again later"),
    PasswordWorkBusy: ErrorAnswer(503, "Too busy: try again shortly", {"Retry-After": "1"}),
}
# Redis or the database is unreachable: worth retrying shortly.
STORE_UNAVAILABLE = ErrorAnswer(503, "Session store unavailable", {"Retry-After": "1"})
DATABASE_UNAVAILABLE = ErrorAnswer(503, "Database unavailable", {"Retry-After": "1"})
# Keys of one command or transaction on several cluster slots: our bug.
CROSS_SLOT_ERRORS = (ClusterCrossSlotError, CrossSlotTransactionError, InvalidPipelineStack)
# Flask raises werkzeug's SecurityError, before routing, for a Host header
# that is not in TRUSTED_HOSTS; its own text would echo the header back.
UNTRUSTED_HOST = ErrorAnswer(400, "Untrusted Host header")


def error_response(status: int, detail: Any, headers: Mapping[str, str] | None = None) -> Response:
    response = jsonify(detail=detail)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _answer(answer: ErrorAnswer) -> Response:
    return error_response(answer.status, answer.detail, answer.headers)


def render_service_error(error: ServiceError) -> Response:
    answer = DOMAIN_ERRORS[type(error)]
    if isinstance(error, Throttled):
        answer = answer._replace(headers={"Retry-After": str(error.retry_after)})
    if isinstance(error, SecondFactorRequired):
        # The one error body with more than a detail: what the second step needs.
        response = jsonify(
            detail=answer.detail,
            second_factor={
                "token": error.token,
                "methods": error.methods,
                "expires_in": error.expires_in,
            },
        )
        response.status_code = answer.status
        return response
    return _answer(answer)


def _problems(messages: Any, loc: list[str]) -> Iterator[dict[str, Any]]:
    """Flatten marshmallow's nested message dict into FastAPI-style entries."""
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            # "_schema" errors concern the body as a whole, not one field.
            yield from _problems(value, loc if key == SCHEMA else [*loc, str(key)])
    elif isinstance(messages, list | tuple):
        for message in messages:
            yield from _problems(message, loc)
    else:
        message = str(messages)
        yield {"loc": loc, "msg": message, "type": error_type(message)}


def validation_problems(messages: Mapping[str, Any]) -> list[dict[str, Any]]:
    """webargs groups messages by location; every location we parse is the body."""
    problems: list[dict[str, Any]] = []
    for location, by_field in messages.items():
        where = "body" if location in {"json", "form", "json_or_form"} else location
        problems.extend(_problems(by_field, [where]))
    return problems


def _http_detail(error: HTTPException) -> str:
    """A description of our own when there is one, else the status phrase
    (werkzeug's stock descriptions are HTML-page prose)."""
    code = error.code or 500
    stock = default_exceptions.get(code)
    if code >= 500 or (stock is not None and error.description == stock.description):
        return http.HTTPStatus(code).phrase
    return str(error.description)


def render_http_exception(error: HTTPException) -> Response:
    if isinstance(error.response, Response):
        return error.response  # already rendered by whoever raised it
    if isinstance(error, SecurityError):
        return _answer(UNTRUSTED_HOST)
    code = error.code or 500
    # Keep headers the exception sets itself, such as ``Allow`` on a 405.
    headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    headers.update(data.get("headers") or {})
    if code == 422 and isinstance(messages, Mapping):
        return error_response(422, validation_problems(messages), headers)
    if code == 400 and messages is not None:
        # webargs raises 400 for a body that is not valid JSON.
        return error_response(400, INVALID_JSON.msg, headers)
    if isinstance(error, InternalServerError):
        return render_unexpected(error.original_exception or error)
    return error_response(code, _http_detail(error), headers)


def render_unexpected(error: BaseException) -> Response:
    """Map infrastructure failures to 503; anything else is a logged 500.

    Redis: any ``RedisError`` (connection, timeout, READONLY, CLUSTERDOWN,
    TRYAGAIN, MOVED/ASK after the client's retries, no primary from the
    Sentinels, replicas not confirming a revocation) and redis-py's cluster
    errors that are not ``RedisError`` (no node reachable, a slot not
    covered during a failover). A cross-slot command is a bug, not an
    outage: a logged 500.
    """
    if isinstance(error, CROSS_SLOT_ERRORS):
        log.error("cross-slot Redis command (a bug): %s", error.__class__.__name__)
        return error_response(500, "Internal Server Error")
    if isinstance(error, redis.RedisError | RedisClusterException):
        log.warning("redis unavailable: %s", error.__class__.__name__)
        return _answer(STORE_UNAVAILABLE)
    _rollback()
    if isinstance(error, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        log.warning("database unavailable: %s", error.__class__.__name__)
        return _answer(DATABASE_UNAVAILABLE)
    # Flask has already logged the exception with its traceback (logger "app",
    # with the request id): not again here.
    return error_response(500, "Internal Server Error")


def _rollback() -> None:
    """Leave the request's database session usable after a failure."""
    try:
        current_app.extensions["sqlalchemy"].session.rollback()
    except Exception:  # the database may be the thing that failed
        log.debug("rollback after error failed", exc_info=True)


def register_error_handlers(app: Flask) -> None:
    """HTTP exceptions reach ``render_http_exception`` through ``app.api.Api``."""
    app.register_error_handler(ServiceError, render_service_error)
    app.register_error_handler(redis.RedisError, render_unexpected)
    app.register_error_handler(RedisClusterException, render_unexpected)
    app.register_error_handler(sqlalchemy.exc.OperationalError, render_unexpected)
    app.register_error_handler(sqlalchemy.exc.InterfaceError, render_unexpected)
