"""Every error the service answers, rendered in one place as JSON ``detail``.

Domain exceptions carry their status and message; HTTP exceptions (404, 405,
413, 415, webargs' 400/422) and unexpected failures are mapped to the same
body shape, so a client never sees an HTML page or a traceback (§3).
"""

from __future__ import annotations

import http
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import marshmallow as ma
import redis
import sqlalchemy.exc
from flask import Flask, Response, jsonify
from flask_smorest import Api as SmorestApi
from flask_smorest.utils import prepare_response
from marshmallow.exceptions import SCHEMA  # "_schema": errors of the whole body
from werkzeug.exceptions import HTTPException, InternalServerError

from app.validation import INVALID_JSON, error_type

log = logging.getLogger(__name__)


# --- domain exceptions -------------------------------------------------------


class ServiceError(Exception):
    """An expected failure with a status and a message safe to show."""

    status = 400
    detail = "Bad Request"
    headers: Mapping[str, str] = {}

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.detail)
        if detail:
            self.detail = detail


class EmailTaken(ServiceError):
    detail = "Email already registered"


class UsernameTaken(ServiceError):
    detail = "Username already taken"


class InvalidCredentials(ServiceError):
    status = 401
    detail = "Invalid email or password"


class NotAuthenticated(ServiceError):
    status = 401
    detail = "Could not validate credentials"
    headers = {"WWW-Authenticate": "Bearer"}


class SessionNotFound(ServiceError):
    status = 404
    detail = "Session not found"


class UnsupportedMediaType(ServiceError):
    status = 415
    detail = "Unsupported Media Type"


class ServiceUnavailable(ServiceError):
    status = 503
    detail = "Service Unavailable"
    headers = {"Retry-After": "1"}


class SessionStoreUnavailable(ServiceUnavailable):
    detail = "Session store unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    detail = "Database unavailable"


# --- response bodies (also used by the OpenAPI document) ----------------------


class ErrorOut(ma.Schema):
    detail = ma.fields.String(required=True, metadata={"example": "Not Found"})


class ValidationProblemOut(ma.Schema):
    loc = ma.fields.List(ma.fields.String(), required=True)
    msg = ma.fields.String(required=True)
    type = ma.fields.String(required=True)


class ValidationErrorOut(ma.Schema):
    detail = ma.fields.List(ma.fields.Nested(ValidationProblemOut), required=True)


def error_response(status: int, detail: Any, headers: Mapping[str, str] | None = None) -> Response:
    response = jsonify(detail=detail)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


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
    """A custom description when one was given, else the status phrase."""
    code = error.code or 500
    if code >= 500 or error.description == type(error).description:
        return http.HTTPStatus(code).phrase
    return str(error.description)


def render_http_exception(error: HTTPException) -> Response:
    if isinstance(error.response, Response):
        return error.response  # already rendered, e.g. the 429 of app/ratelimit.py
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


def render_service_error(error: ServiceError) -> Response:
    return error_response(error.status, error.detail, error.headers)


def render_unexpected(error: BaseException) -> Response:
    """Map infrastructure failures to 503; anything else is a logged 500."""
    if isinstance(error, redis.RedisError):
        log.warning("redis unavailable: %s", error.__class__.__name__)
        return render_service_error(SessionStoreUnavailable())
    if isinstance(error, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        log.warning("database unavailable: %s", error.__class__.__name__)
        _rollback()
        return render_service_error(DatabaseUnavailable())
    # Flask has already logged the exception with its traceback (logger "app",
    # with the request id): not again here.
    _rollback()
    return error_response(500, "Internal Server Error")


def _rollback() -> None:
    from app.extensions import db

    try:
        db.session.rollback()
    except Exception:  # the database may be the thing that failed
        log.debug("rollback after error failed", exc_info=True)


class Api(SmorestApi):
    """flask-smorest's Api, answering and documenting errors as ``{"detail"}``."""

    ERROR_SCHEMA = ErrorOut

    def handle_http_exception(self, error: HTTPException) -> Response:
        return render_http_exception(error)

    def _register_responses(self) -> None:
        super()._register_responses()
        # The 422 body is a list of problems, not a string: document it so.
        response = {
            "description": "Validation error: one entry per invalid field",
            "schema": ValidationErrorOut,
        }
        prepare_response(response, self.spec, self.DEFAULT_RESPONSE_CONTENT_TYPE)
        # A second lazy registration replaces the first one in apispec's buffer.
        self.spec.components.response("UNPROCESSABLE_ENTITY", response, lazy=True)


def register_error_handlers(app: Flask) -> None:
    """HTTP exceptions are routed through ``Api.handle_http_exception``."""
    app.register_error_handler(ServiceError, render_service_error)
    app.register_error_handler(redis.RedisError, render_unexpected)
    app.register_error_handler(sqlalchemy.exc.OperationalError, render_unexpected)
    app.register_error_handler(sqlalchemy.exc.InterfaceError, render_unexpected)
