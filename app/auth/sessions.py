"""Server-side sessions in Redis, reached by cookie or by bearer token.

This module is the only one that knows session keys. It extends
Flask-Session's Redis backend (its client, key prefix, id generator and
msgpack serializer) with what an auth service needs:

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
import re
import time
from typing import Any, Literal, cast

import redis
from flask import Flask, Request, Response, current_app, request, session
from flask_session.redis import RedisSession, RedisSessionInterface

from app.errors import SessionStoreUnavailable

log = logging.getLogger(__name__)

Transport = Literal["cookie", "bearer"]
COOKIE: Transport = "cookie"
BEARER: Transport = "bearer"

SID_BYTES = 32  # secrets.token_urlsafe(32): 256 bits, 43 characters
# Anything else cannot be one of our ids: answer without asking Redis.
SID_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")


class AuthSession(RedisSession):
    """The request's session, plus how it travelled and what the response must do."""

    def __init__(
        self,
        initial: dict[str, Any] | None = None,
        sid: str | None = None,
        *,
        transport: Transport = COOKIE,
        store_error: redis.RedisError | None = None,
    ) -> None:
        super().__init__(initial, sid)
        self.transport: Transport = transport
        self.store_error = store_error
        self.cookie_action: Literal["set", "expire"] | None = None


class AuthSessionInterface(RedisSessionInterface):
    session_class = AuthSession

    # --- storage (keys are built here and nowhere else) -----------------------

    def ttl_seconds(self, app: Flask) -> int:
        """The idle timeout: how long an unused session lives."""
        return int(app.permanent_session_lifetime.total_seconds())

    def create(self, app: Flask, data: dict[str, Any]) -> str:
        """Store ``data`` under a fresh id, always with a TTL; return the id."""
        ttl = min(self.ttl_seconds(app), app.config["SESSION_MAX_AGE"])
        while True:
            sid = self._generate_sid(SID_BYTES)
            created = self.client.set(
                self._get_store_id(sid),
                self.serializer.encode(data),
                ex=ttl,
                nx=True,  # never overwrite: a collision just draws again
            )
            if created:
                return str(sid)

    def load_and_touch(self, app: Flask, sid: str) -> dict[str, Any] | None:
        """Read a live session and slide its idle timeout, in one command.

        ``GETEX`` refreshes the TTL of a key that exists and never creates
        one, so a request racing with a logout cannot bring the deleted
        session back (logout is final). The TTL never reaches past the
        absolute end, ``created_at + SESSION_MAX_AGE``; a session past it is
        deleted and treated as absent.
        """
        key = self._get_store_id(sid)
        idle = self.ttl_seconds(app)
        raw = self.client.getex(key, ex=idle)
        if raw is None:
            return None
        data: Any = self.serializer.decode(raw)
        created_at = data.get("created_at") if isinstance(data, dict) else None
        if not isinstance(created_at, int):
            self.client.delete(key)  # not one of ours: never trust it
            return None
        remaining = created_at + app.config["SESSION_MAX_AGE"] - int(time.time())
        if remaining <= 0:
            self.client.delete(key)
            return None
        if remaining < idle:  # only in the last idle window of its life
            self.client.expire(key, remaining)
        return dict(data)

    def delete(self, sid: str) -> None:
        self._delete_session(self._get_store_id(sid))

    # --- Flask's SessionInterface -------------------------------------------

    def open_session(self, app: Flask, request: Request) -> AuthSession:
        transport, sid = self._credential(app, request)
        if sid is None or not SID_PATTERN.fullmatch(sid):
            return AuthSession(transport=transport)
        try:
            data = self.load_and_touch(app, sid)
        except redis.RedisError as error:
            # Raised here, the error would escape every error handler (Flask
            # opens the session before dispatch); keep it for the view to raise.
            log.warning("session store unavailable: %s", error.__class__.__name__)
            return AuthSession(transport=transport, store_error=error)
        if data is None:
            return AuthSession(transport=transport)
        return AuthSession(data, sid=sid, transport=transport)

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
    app.session_interface = AuthSessionInterface(
        app,
        client=client,
        key_prefix=app.config["SESSION_KEY_PREFIX"],
        permanent=False,
        sid_length=SID_BYTES,
    )


# --- what views and services use ----------------------------------------------


def _interface() -> AuthSessionInterface:
    return cast(AuthSessionInterface, current_app.session_interface)


def _current() -> AuthSession:
    current = cast(AuthSession, session._get_current_object())  # type: ignore[attr-defined]
    if current.store_error is not None:
        raise SessionStoreUnavailable() from current.store_error
    return current


def idle_timeout() -> int:
    return _interface().ttl_seconds(current_app)


def current_user_id() -> int | None:
    """The user id of the session the request carries, if it is live."""
    user_id = _current().get("user_id")
    return user_id if isinstance(user_id, int) else None


def start_session(user_id: int, transport: Transport) -> str:
    """Create a new session for ``user_id`` and return its id.

    The id is always new. For a cookie login the session the client brought
    (if any) is deleted, so an id planted before login is worthless
    (fixation); a bearer token is independent of the request's own session.
    """
    current = _current()
    data = {"user_id": user_id, "transport": transport, "created_at": int(time.time())}
    sid = _interface().create(current_app, data)
    if transport == COOKIE:
        if current.sid is not None and current.transport == COOKIE:
            _interface().delete(current.sid)
        current.clear()
        current.update(data)
        current.sid = sid
        current.transport = COOKIE
        current.cookie_action = "set"
    return sid


def end_session() -> None:
    """Delete the request's session key at once and expire its cookie."""
    current = _current()
    if current.sid is not None:
        _interface().delete(current.sid)
    current.clear()
    current.sid = None
    cookie_name = _interface().get_cookie_name(current_app)
    if current.transport == COOKIE and cookie_name in request.cookies:
        current.cookie_action = "expire"
