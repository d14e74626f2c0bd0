"""Throttling of login and registration (docs/API.md, Throttling), with Flask-Limiter on Redis.

Counters live in the same Redis as the sessions (through the app's one
connection pool), so every worker and host shares them. Limits key on the
client's IP, alone or with the identifier it tries, never on the account
alone: an attacker elsewhere cannot lock a victim out. Only failures count
against login limits; a correct password is refused only once the limit was
already exceeded. The client IP is what ``ProxyFix`` trusts
(``TRUSTED_PROXY_HOPS``), never a header a client can forge by default.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, current_app, request
from flask_limiter import RequestLimit

from app.errors import error_response
from app.extensions import limiter

LIMIT_CONFIG = {
    "RATELIMIT_LOGIN_PER_IDENTIFIER": "5 per minute",
    "RATELIMIT_LOGIN_PER_IP": "30 per minute",
    "RATELIMIT_REGISTER_PER_IP": "10 per hour",
}


def client_ip() -> str:
    return request.remote_addr or "unknown"


def _identifier() -> str:
    """The email or username a login tries, normalised; "" when there is none."""
    body = request.get_json(silent=True) if request.is_json else request.form
    if not isinstance(body, Mapping):
        return ""
    value = body.get("email") or body.get("username")
    return value.strip().lower() if isinstance(value, str) else ""


def ip_and_identifier() -> str:
    # Hashed: no email address ends up in a Redis key.
    digest = hashlib.sha256(_identifier().encode("utf-8")).hexdigest()[:24]
    return f"{client_ip()}/{digest}"


def _failed_login(response: Response) -> bool:
    return response.status_code == 401


def _registration_attempt(response: Response) -> bool:
    return response.status_code in (201, 400)


def _too_many(limit: RequestLimit) -> Response:
    # Whole seconds, at least 1: Flask-Limiter's own value can round to 0.
    retry_after = max(1, math.ceil(limit.reset_at - time.time()))
    return error_response(
        429, "Too many attempts: try again later", {"Retry-After": str(retry_after)}
    )


def _shared_limit(
    setting: str,
    scope: str,
    key_func: Callable[[], str],
    deduct_when: Callable[[Response], bool],
) -> Any:
    """A limit read from the app's config at request time, counted per scope."""
    return limiter.shared_limit(
        lambda: str(current_app.config[setting]),
        scope=scope,
        key_func=key_func,
        deduct_when=deduct_when,
        on_breach=_too_many,
    )


login_per_identifier = _shared_limit(
    "RATELIMIT_LOGIN_PER_IDENTIFIER", "login-ip-identifier", ip_and_identifier, _failed_login
)
login_per_ip = _shared_limit("RATELIMIT_LOGIN_PER_IP", "login-ip", client_ip, _failed_login)
register_per_ip = _shared_limit(
    "RATELIMIT_REGISTER_PER_IP", "register-ip", client_ip, _registration_attempt
)


LIMITED_VIEWS = frozenset({"register", "login", "token"})


@limiter.request_filter
def _not_limited() -> bool:
    """Skip Flask-Limiter's per-request work (a measured ~140 µs) on the views
    that declare no limit: every authenticated /me would otherwise pay it."""
    return (request.endpoint or "").rpartition(".")[2] not in LIMITED_VIEWS


def init_app(app: Flask) -> None:
    """Bind the limiter. Flask-Limiter 4 keeps some settings of the first app it
    was bound to (``RATELIMIT_KEY_PREFIX``, swallow-errors): one app per
    process, as under gunicorn, is what it is made for."""
    # The app's own Redis client and pool: one pool per process.
    app.config["RATELIMIT_STORAGE_URI"] = "redis://"
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {
        "connection_pool": app.extensions["redis"].connection_pool
    }
    app.config["RATELIMIT_HEADERS_ENABLED"] = False  # Retry-After is set on the 429
    # Redis down: login fails anyway (503, no session store); registration,
    # which needs only the database, goes on unthrottled rather than failing.
    app.config["RATELIMIT_SWALLOW_ERRORS"] = True
    limiter.init_app(app)
