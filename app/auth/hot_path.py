"""``GET /me`` for a live session, answered without Flask.

``/me`` is what every signed-in page asks first and most: its cost is the
service's cost. The view in ``routes.py`` (routing, hooks, flask-smorest,
marshmallow) costs several times the one Redis command it needs, so the
common case is answered here, in WSGI, with the same session store call and
the same bytes and headers the view would send (tests/fast/test_hot_path.py
compares the two, header by header). Everything else goes on to Flask
untouched, where the view and the OpenAPI document stay the single truth:
no credential, a session that is not live, a Redis error, a request with an
``Origin`` (CORS), a query string or a body, a host not in TRUSTED_HOSTS.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import msgspec
import redis
from redis.exceptions import RedisClusterException
from werkzeug.http import parse_cookie
from werkzeug.sansio.utils import host_is_trusted

from app.auth.session_store import SessionStore

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_encode = msgspec.json.Encoder().encode


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _cookie(header: str, name: str) -> str | None:
    if name not in header:  # the common case, without parsing
        return None
    value: str | None = parse_cookie(header).get(name)  # as request.cookies: the first wins
    return value


class MeFastPath:
    def __init__(
        self,
        app: WSGIApplication,
        store: SessionStore,
        paths: frozenset[str],
        cookie_name: str,
        headers: list[tuple[str, str]],
        trusted_hosts: list[str] | None,
        request_id: Callable[[str], str],
    ) -> None:
        self.app = app
        self.store = store
        self.paths = paths
        self.cookie_name = cookie_name
        self.headers = headers
        self.trusted_hosts = trusted_hosts
        self.request_id = request_id

    def _session_id(self, environ: WSGIEnvironment) -> str | None:
        # As transport.read_credential: the bearer token if one is sent, else the cookie.
        authorization: str = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        cookies: str = environ.get("HTTP_COOKIE", "")
        return _cookie(cookies, self.cookie_name)

    def _plain(self, environ: WSGIEnvironment) -> bool:
        """A GET /me with nothing that asks for more than the common answer."""
        return (
            environ.get("REQUEST_METHOD") == "GET"
            and environ.get("PATH_INFO") in self.paths
            and not environ.get("QUERY_STRING")
            and "HTTP_ORIGIN" not in environ
            and environ.get("CONTENT_LENGTH", "") in {"", "0"}
            and "HTTP_TRANSFER_ENCODING" not in environ
            and (
                self.trusted_hosts is None
                or host_is_trusted(environ.get("HTTP_HOST"), self.trusted_hosts)
            )
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not self._plain(environ):
            return self.app(environ, start_response)
        session_id = self._session_id(environ)
        if session_id is None:
            return self.app(environ, start_response)
        try:
            record = self.store.load(session_id)
        except (redis.RedisError, RedisClusterException):  # the view answers it (a 503)
            return self.app(environ, start_response)
        if record is None:
            return self.app(environ, start_response)
        user = record.user
        body = _encode(
            {
                "id": record.user_id,
                "username": user.username,
                "email": user.email,
                "created_at": _iso(user.created_at),
                "updated_at": _iso(user.updated_at),
                "email_verified": user.email_verified,
            }
        )
        body += b"\n"
        request_id = self.request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        start_response(
            "200 OK",
            [
                *self.headers,
                ("Content-Length", str(len(body))),
                ("X-Request-ID", request_id),
            ],
        )
        return [body]
