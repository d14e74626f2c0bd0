"""Log lines with a request id, as JSON in production (``LOG_FORMAT``).

Every request gets an id (the caller's ``X-Request-ID`` when it is a short
token, else a new one), returned in ``X-Request-ID`` and stamped on every log
line written while it is served, so an error a user reports can be found.
Nothing here logs request bodies or headers: secrets never reach a log line.
"""

from __future__ import annotations

import logging
import re
import secrets

from flask import Flask, Response, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
ACCEPTED_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(client_ip)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(client_ip)s %(message)s"


class RequestContextFilter(logging.Filter):
    """Stamp the request id and the client IP (as ProxyFix trusts it) on records."""

    def filter(self, record: logging.LogRecord) -> bool:
        in_request = has_request_context()
        record.request_id = g.get("request_id", "-") if in_request else "-"
        record.client_ip = (request.remote_addr or "-") if in_request else "-"
        return True


def request_id(incoming: str) -> str:
    """The caller's id when it is a short token, else a new one: 128 random
    bits as 32 hex digits, like a uuid4's hex at a quarter of its cost."""
    return incoming if ACCEPTED_REQUEST_ID.fullmatch(incoming) else secrets.token_hex(16)


def _assign_request_id() -> None:
    g.request_id = request_id(request.headers.get(REQUEST_ID_HEADER, ""))


def _return_request_id(response: Response) -> Response:
    if "request_id" in g:
        response.headers[REQUEST_ID_HEADER] = g.request_id
    return response


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(JSON_FIELDS, rename_fields={"asctime": "time", "levelname": "level"})
    return logging.Formatter(TEXT_FORMAT)


def init_app(app: Flask) -> None:
    level = app.config["LOG_LEVEL"]
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(app.config["LOG_FORMAT"]))
    handler.addFilter(RequestContextFilter())
    service_logger = logging.getLogger("app")
    # One handler, replaced (not stacked) when several apps are built.
    service_logger.handlers = [handler]
    service_logger.setLevel(level)
    service_logger.propagate = app.testing  # tests read records through the root logger
    app.before_request(_assign_request_id)
    app.after_request(_return_request_id)
