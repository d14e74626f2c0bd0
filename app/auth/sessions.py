"""Server-side sessions in Redis, reached by cookie or by bearer token.

The *transport* half: Flask-Session's Redis backend (its client, key prefix
and cookie settings), extended with what an auth service needs. Where and
how sessions are stored is ``session_store.py``'s business, the only module
that knows Redis keys.

* transport: the id arrives in the HttpOnly cookie (browsers) or in
  ``Authorization: Bearer`` (API clients); a bearer request never gets a
  ``Set-Cookie``;
* explicit writes: a session is created by ``start_session`` and deleted by
  ``end_session`` from inside the view, so a Redis failure surfaces there as
  a 503 instead of escaping from Flask's response hooks;
* no key for anonymous requests, and never an id chosen by the client.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, cast

import redis
from flask import Flask, Request, Response, current_app, request, session
from flask_session.redis import RedisSession, RedisSessionInterface

from app.auth.session_store import Kind, SessionInfo, SessionStore, UserSnapshot
from app.errors import SessionStoreUnavailable

log = logging.getLogger(__name__)

Transport = Kind
COOKIE: Transport = "cookie"
BEARER: Transport = "bearer"


class AuthSession(RedisSession):
    """The request's session, plus how it travelled and what the response must do."""

    def __init__(
        self,
        initial: dict[str, Any] | None = None,
        sid: str | None = None,
        *,
        transport: Transport = COOKIE,
        store_error: redis.RedisError | None = None,
        user: UserSnapshot | None = None,
    ) -> None:
        super().__init__(initial, sid)
        self.transport: Transport = transport
        self.store_error = store_error
        self.user = user
        self.cookie_action: Literal["set", "expire"] | None = None


class AuthSessionInterface(RedisSessionInterface):
    session_class = AuthSession

    store: SessionStore

    def ttl_seconds(self, app: Flask) -> int:
        """The idle timeout: how long an unused session lives."""
        return int(app.permanent_session_lifetime.total_seconds())

    # --- Flask's SessionInterface -------------------------------------------

    def open_session(self, app: Flask, request: Request) -> AuthSession:
        transport, sid = self._credential(app, request)
        if sid is None or self.store.parse(sid) is None:
            return AuthSession(transport=transport)  # not one of ours: no Redis call
        try:
            record = self.store.load(sid)
        except redis.RedisError as error:
            # Raised here, the error would escape every error handler (Flask
            # opens the session before dispatch); keep it for the view to raise.
            log.warning("session store unavailable: %s", error.__class__.__name__)
            return AuthSession(transport=transport, store_error=error)
        if record is None:
            return AuthSession(transport=transport)
        return AuthSession({"u": record.user_id}, sid=sid, transport=transport, user=record.user)

    def save_session(self, app: Flask, session: AuthSession, response: Response) -> None:
        if session.accessed:
            response.vary.update(("Cookie", "Authorization"))
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        if session.cookie_action == "set":
            response.set_cookie(
                name,
                session.sid or "",
                httponly=self.get_cookie_httponly(app),
                secure=self.get_cookie_secure(app),
                samesite=self.get_cookie_samesite(app),
                domain=domain,
                path=path,
            )
        elif session.cookie_action == "expire":
            response.delete_cookie(
                name,
                domain=domain,
                path=path,
                httponly=self.get_cookie_httponly(app),
                secure=self.get_cookie_secure(app),
                samesite=self.get_cookie_samesite(app),
            )

    def _credential(self, app: Flask, request: Request) -> tuple[Transport, str | None]:
        """The bearer token when one is sent, else the session cookie."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return BEARER, token.strip()
        return COOKIE, request.cookies.get(self.get_cookie_name(app))


def init_app(app: Flask, client: redis.Redis) -> None:
    interface = AuthSessionInterface(
        app, client=client, key_prefix=app.config["SESSION_KEY_PREFIX"], permanent=False
    )
    interface.store = SessionStore(
        client,
        prefix=app.config["SESSION_KEY_PREFIX"],
        secret=app.config["SECRET_KEY"].encode("utf-8"),
        idle_timeout=app.config["SESSION_IDLE_TIMEOUT"],
        max_age=app.config["SESSION_MAX_AGE"],
    )
    app.session_interface = interface


# --- what views and services use ----------------------------------------------


def _interface() -> AuthSessionInterface:
    return cast(AuthSessionInterface, current_app.session_interface)


def _current() -> AuthSession:
    current = cast(AuthSession, session._get_current_object())  # type: ignore[attr-defined]
    if current.store_error is not None:
        raise SessionStoreUnavailable() from current.store_error
    return current


def _store() -> SessionStore:
    return _interface().store


def idle_timeout() -> int:
    return _interface().ttl_seconds(current_app)


def current_user_id() -> int | None:
    """The user id of the session the request carries, if it is live."""
    user_id = _current().get("u")
    return user_id if isinstance(user_id, int) else None


def current_user_snapshot() -> UserSnapshot | None:
    """The user's public fields as the session recorded them at login."""
    return _current().user  # set only with the user id, cleared with it


def current_sid() -> str | None:
    sid: str | None = _current().sid
    return sid


def start_session(user_id: int, transport: Transport, user: UserSnapshot) -> str:
    """Create a new session for ``user_id`` (with a snapshot of its public
    fields) and return its id.

    The id is always new. For a cookie login the session the client brought
    (if any) is deleted, so an id planted before login is worthless
    (fixation); a bearer token is independent of the request's own session.
    """
    current = _current()
    sid = _store().create(
        user_id,
        transport,
        ip=request.remote_addr,
        user_agent=request.user_agent.string or None,
        user=user,
    )
    if transport == COOKIE:
        if current.sid is not None and current.transport == COOKIE:
            _store().delete(current.sid, current["u"])
        current.clear()
        current.update({"u": user_id})
        current.user = user
        current.sid = sid
        current.transport = COOKIE
        current.cookie_action = "set"
    return sid


def _forget_current() -> None:
    """The request's own session has ended: drop it and expire its cookie."""
    current = _current()
    current.clear()
    current.user = None
    current.sid = None
    cookie_name = _interface().get_cookie_name(current_app)
    if current.transport == COOKIE and cookie_name in request.cookies:
        current.cookie_action = "expire"


def end_session() -> None:
    """Delete the request's session key at once and expire its cookie."""
    current = _current()
    if current.sid is not None:
        _store().delete(current.sid, current["u"])
    _forget_current()


def list_sessions(user_id: int) -> list[SessionInfo]:
    return _store().list(user_id)


def handle_of(ref: str) -> str:
    return _store().handle(ref)


def ref_of(sid: str | None) -> str | None:
    return _store().ref(sid) if sid else None


def revoke_session(user_id: int, handle: str) -> bool:
    """End one of the user's sessions by handle; False if it is not theirs."""
    ended = _store().revoke(user_id, handle)
    if ended is None:
        return False
    if ended.ref == ref_of(_current().sid):
        _forget_current()
    return True


def end_all_sessions(user_id: int, keep_current: bool) -> int:
    """End every session of the user, or all but the request's own."""
    current_sid = _current().sid
    ended = _store().revoke_all(user_id, keep_sid=current_sid if keep_current else None)
    if not keep_current:
        _forget_current()
    return ended
