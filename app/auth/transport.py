"""How a session id travels: the HttpOnly cookie (browsers) or
``Authorization: Bearer`` (API clients). Reads and writes the credential,
and nothing else: what a session *is* belongs to ``session_store.py``.

Nothing here runs before routing: a request's credential is read only when
a view asks for it, so probes, docs, static files, 404s and refused
requests never reach Redis and never slide a session's lifetime.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, Response, after_this_request, current_app, request
from flask.sessions import SessionInterface

from app.auth.session_store import Kind

COOKIE: Kind = "cookie"
BEARER: Kind = "bearer"


@dataclass(frozen=True)
class Credential:
    """The session id a request carries (None: none), and how it came."""

    kind: Kind
    session_id: str | None


def read_credential() -> Credential:
    """The bearer token when one is sent, else the session cookie."""
    # Responses now depend on these headers: no shared cache may mix them up.
    after_this_request(_vary_on_credentials)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return Credential(BEARER, token.strip())
    return Credential(COOKIE, request.cookies.get(_cookie_name()))


def cookie_session_id() -> str | None:
    """The session cookie's value, whatever else the request carries."""
    return request.cookies.get(_cookie_name())


def set_cookie(session_id: str) -> None:
    """Give the browser its session cookie with the response."""

    def set_on(response: Response) -> Response:
        response.set_cookie(
            _cookie_name(), session_id, httponly=True, secure=_secure(), samesite="Lax", path="/"
        )
        return response

    after_this_request(set_on)


def expire_cookie(credential: Credential) -> None:
    """The request's own session has ended: expire its cookie, if it came by one."""
    if credential.kind != COOKIE or _cookie_name() not in request.cookies:
        return

    def expire_on(response: Response) -> Response:
        response.delete_cookie(
            _cookie_name(), httponly=True, secure=_secure(), samesite="Lax", path="/"
        )
        return response

    after_this_request(expire_on)


def _cookie_name() -> str:
    name: str = current_app.config["SESSION_COOKIE_NAME"]
    return name


# The cookie is HttpOnly (scripts never see it), SameSite=Lax (not sent on
# cross-site subrequests), Path=/ with no Domain (this host only), and Secure
# wherever SESSION_COOKIE_SECURE says (always in production).
def _secure() -> bool:
    return bool(current_app.config["SESSION_COOKIE_SECURE"])


def _vary_on_credentials(response: Response) -> Response:
    response.vary.update(("Cookie", "Authorization"))
    return response


class NoFlaskSession(SessionInterface):
    """Flask's own signed-cookie session is not used: it would parse our
    session cookie at every request and, if written to by mistake, send a
    second cookie. Its null session refuses writes loudly."""

    def open_session(self, app: Flask, request: object) -> None:
        return None  # Flask then uses make_null_session

    def save_session(self, app: Flask, session: object, response: Response) -> None:
        return None


def init_app(app: Flask) -> None:
    app.session_interface = NoFlaskSession()
