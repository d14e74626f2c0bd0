"""Request checks and response headers that apply to every endpoint
(docs/API.md: Cross-site requests, Response headers).

Cross-site request forgery: a browser attaches our cookie to any request a
foreign page makes, but such a page can only send "simple" bodies (form or
text) without a CORS preflight, and browsers always say where a
state-changing request comes from in ``Origin``. So a state-changing request

* whose ``Origin`` is neither this service nor listed in ``CORS_ORIGINS``, or
* that carries our cookie with a body that is not JSON,

is refused with 403 before any view runs. A body of the wrong type without
our cookie is an ordinary 415. Login and register are covered as well, so a
foreign page cannot log a victim into the attacker's account (login CSRF).

Every response carries ``nosniff``, ``X-Frame-Options: DENY``,
``Referrer-Policy: no-referrer`` and a Content-Security-Policy: the pages
(the demo page, /docs) set their own, everything else gets ``API_POLICY``,
which lets nothing load or frame it. With ``HSTS_ENABLED`` (production's
default) browsers are told to use HTTPS only, for two years.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, request
from flask_cors import CORS
from werkzeug.exceptions import Forbidden, RequestEntityTooLarge, UnsupportedMediaType

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

View = TypeVar("View", bound=Callable[..., Any])


class CrossSiteRequest(Forbidden):
    description = "Cross-site request refused"


def accepts(*media_types: str) -> Callable[[View], View]:
    """Declare which body types a view takes (default: JSON only)."""

    def mark(view: View) -> View:
        view.accepts = frozenset(media_types)  # type: ignore[attr-defined]
        return view

    return mark


def _has_body() -> bool:
    return bool(request.content_length) or (
        "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    )


def _own_origin() -> str:
    return f"{request.scheme}://{request.host}"


def check_request() -> None:
    """413, 403 and 415 before anything parses the body."""
    if request.routing_exception is not None:
        return  # 404 / 405 answer for themselves
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()
    if request.method not in STATE_CHANGING:
        return
    origin = request.headers.get("Origin")
    if origin is not None and origin not in {_own_origin(), *current_app.config["CORS_ORIGINS"]}:
        raise CrossSiteRequest()
    if not _has_body():
        return
    view = current_app.view_functions.get(request.endpoint or "")
    allowed: frozenset[str] = getattr(view, "accepts", frozenset({JSON}))
    if (request.is_json and JSON in allowed) or request.mimetype in allowed:
        return  # JSON, or the one form a view declares (/token's OAuth2 form)
    if current_app.config["SESSION_COOKIE_NAME"] in request.cookies:
        raise CrossSiteRequest()  # what a forged form or text/plain post looks like
    raise UnsupportedMediaType(f"Content-Type must be {' or '.join(sorted(allowed))}")


# A JSON body, an error or a static file is not a page: it may load nothing
# and be framed by nobody, should a browser ever render it as one.
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=63072000; includeSubDomains"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": API_POLICY,
}


def security_headers(hsts: bool) -> dict[str, str]:
    """The headers every response gets unless it set its own."""
    return {**SECURITY_HEADERS, **({"Strict-Transport-Security": HSTS} if hsts else {})}


def init_app(app: Flask) -> None:
    defaults = tuple(security_headers(app.config["HSTS_ENABLED"]).items())

    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        for name, value in defaults:
            if name not in headers:  # setdefault's meaning, at a third less of its cost
                headers.add(name, value)
        # Tokens, cookies and user data must never sit in a shared or browser cache.
        if request.path.startswith("/api/") or "Set-Cookie" in headers:
            headers["Cache-Control"] = "no-store"
        return response

    app.before_request(check_request)
    app.after_request(add_security_headers)
    if app.config["CORS_ORIGINS"]:
        # Credentialed CORS for the listed origins only; nobody else gets
        # Access-Control-Allow-* headers, so browsers keep them out.
        CORS(
            app,
            resources={r"/api/*": {"origins": app.config["CORS_ORIGINS"]}},
            supports_credentials=True,
            allow_headers=["Content-Type", "Authorization"],
            methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            max_age=600,
        )
