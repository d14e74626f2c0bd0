"""What an outside audit asked for, proved through the HTTP interface
(docs/SECURITY.md): the __Host- cookie, HSTS, a Content-Security-Policy on
every response, no unused Swagger UI files, TRUSTED_HOSTS, and gunicorn's
access log escaping what a client controls. The refusals of weak settings
are in test_config.py."""

from __future__ import annotations

import io
import logging
import os
import re
import runpy
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import fakeredis
import pytest
from flask import Flask
from flask.testing import FlaskClient
from gunicorn.config import Config as GunicornConfig

import escaped_access_log
from app import create_app, docs
from app.extensions import db
from app.models import User
from app.security import API_POLICY
from app.web import PAGE_POLICY
from config import config_from_env
from tests.conftest import API

PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "k" * 48,
    "PASSWORD_PEPPER": "p" * 48,
    "SECOND_FACTOR_KEY": "f" * 48,
    "DATABASE_URL": "postgresql+psycopg://auth@db/auth",
    "REDIS_URL": "redis://cache:6379/0",
    "WEBAUTHN_RP_ID": "auth.example.com",
}
HSTS = "max-age=63072000; includeSubDomains"
USER = {"username": "ann", "email": "ann@example.com", "password": "Tr0ub4dor&3-horse"}
CREDENTIALS = {"email": USER["email"], "password": USER["password"]}


@pytest.fixture
def build() -> Iterator[Callable[..., Flask]]:
    """An app from ``APP_ENV`` and the environment given, on fakeredis and SQLite."""
    contexts = []

    def make(**env: str) -> Flask:
        config = config_from_env({**PRODUCTION, **env})
        # Test plumbing after validation, not settings production would accept.
        config.REDIS_CLIENT = fakeredis.FakeRedis()  # type: ignore[attr-defined]
        config.SQLALCHEMY_DATABASE_URI = "sqlite://"
        config.BCRYPT_ROUNDS = 4
        config.RATELIMIT_ENABLED = False
        app = create_app(config)
        context = app.app_context()
        context.push()
        contexts.append(context)
        db.create_all()
        return app

    yield make
    for context in reversed(contexts):
        db.session.remove()
        context.pop()


def https_client(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"  # as production is reached
    return client


class TestHostCookie:
    def test_production_names_it_host_session_with_the_prefix_rules(
        self, build: Callable[..., Flask]
    ) -> None:
        client = https_client(build())
        assert client.post(f"{API}/register", json=USER).status_code == 201
        login = client.post(f"{API}/login", json=CREDENTIALS)
        assert login.status_code == 200
        set_cookie = login.headers["Set-Cookie"]
        assert set_cookie.startswith("__Host-session=")
        attributes = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")[1:]}
        # What a browser demands of a __Host- cookie: Secure, Path=/, no Domain.
        assert {"secure", "path", "httponly", "samesite"} <= attributes
        assert "domain" not in attributes
        assert "; Path=/" in set_cookie
        assert client.get(f"{API}/me").status_code == 200  # the name is read back too

    @pytest.mark.parametrize("app_env", ["development", "testing"])
    def test_elsewhere_it_stays_session(self, build: Callable[..., Flask], app_env: str) -> None:
        client = build(APP_ENV=app_env).test_client()
        client.post(f"{API}/register", json=USER)
        login = client.post(f"{API}/login", json=CREDENTIALS)
        assert login.headers["Set-Cookie"].startswith("session=")
        assert "Secure" not in login.headers["Set-Cookie"]

    def test_the_csrf_check_knows_the_production_cookie(self, build: Callable[..., Flask]) -> None:
        """A form post carrying __Host-session is the forged-form shape: 403,
        and the session lives; without the cookie the same post is a 415."""
        client = https_client(build())
        client.post(f"{API}/register", json=USER)
        client.post(f"{API}/login", json=CREDENTIALS)
        forged = client.post(f"{API}/logout", data={"x": "1"})
        assert forged.status_code == 403
        assert forged.json == {"detail": "Cross-site request refused"}
        assert client.get(f"{API}/me").status_code == 200
        stranger = https_client(client.application)
        assert stranger.post(f"{API}/logout", data={"x": "1"}).status_code == 415

    def test_logout_expires_the_production_cookie(self, build: Callable[..., Flask]) -> None:
        client = https_client(build())
        client.post(f"{API}/register", json=USER)
        client.post(f"{API}/login", json=CREDENTIALS)
        logout = client.post(f"{API}/logout")
        assert logout.headers["Set-Cookie"].startswith("__Host-session=;")
        assert client.get(f"{API}/me").status_code == 401

    def test_the_openapi_document_names_the_cookie(self, build: Callable[..., Flask]) -> None:
        spec = build().test_client().get("/openapi.json").json
        assert spec["components"]["securitySchemes"]["cookieAuth"]["name"] == "__Host-session"  # type: ignore[index]

    def test_the_demo_page_script_does_not_depend_on_the_name(self, client: FlaskClient) -> None:
        """It cannot read the HttpOnly cookie anyway: the name is not in its code.

        (The page lists the account's sessions, whose ``kind`` may be
        ``"cookie"``: the words alone are no longer a sign of dependence.)
        """
        script = client.get("/static/app.js")
        code = re.sub(r"//[^\n]*", "", script.text).lower()  # comments may mention it
        script.close()
        assert "document.cookie" not in code
        assert "__host-" not in code
        assert "session=" not in code
        assert "set-cookie" not in code


PATHS = ["/healthz", f"{API}/me", "/nope", "/docs", "/", "/openapi.json", "/static/app.js"]


class TestHsts:
    @pytest.mark.parametrize("path", PATHS)
    def test_on_every_production_response(self, build: Callable[..., Flask], path: str) -> None:
        response = build().test_client().get(path)
        assert response.headers["Strict-Transport-Security"] == HSTS
        response.close()

    @pytest.mark.parametrize(
        "env", [{"HSTS_ENABLED": "false"}, {"APP_ENV": "development"}, {"APP_ENV": "testing"}]
    )
    def test_absent_when_off(self, build: Callable[..., Flask], env: dict[str, str]) -> None:
        client = build(**env).test_client()
        for path in PATHS:
            response = client.get(path)
            assert "Strict-Transport-Security" not in response.headers, path
            response.close()


class TestContentSecurityPolicy:
    @pytest.mark.parametrize(
        "path", ["/healthz", "/readyz", f"{API}/me", "/nope", "/openapi.json", "/static/app.js"]
    )
    def test_json_and_everything_that_is_not_a_page_loads_nothing(
        self, client: FlaskClient, path: str
    ) -> None:
        response = client.get(path)
        assert response.headers["Content-Security-Policy"] == API_POLICY
        assert API_POLICY == "default-src 'none'; frame-ancestors 'none'"
        response.close()

    def test_an_error_from_a_post_too(self, client: FlaskClient) -> None:
        response = client.post(f"{API}/login", json={})
        assert response.status_code == 422
        assert response.headers["Content-Security-Policy"] == API_POLICY

    def test_the_demo_page_keeps_its_own(self, client: FlaskClient) -> None:
        assert client.get("/").headers["Content-Security-Policy"] == PAGE_POLICY

    def test_docs_allows_no_inline_code_and_has_none(self, client: FlaskClient) -> None:
        page = client.get("/docs")
        policy = page.headers["Content-Security-Policy"]
        assert policy == docs.DOCS_POLICY
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'none'"
        assert directives["script-src"] == "'self'"
        assert directives["style-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        html = page.text
        # Every script has a src; no inline style or event handler.
        assert re.findall(r"<script[^>]*>", html) == [
            '<script src="/docs/assets/swagger-ui-bundle.js">',
            '<script src="/static/docs.js">',
        ]
        assert "<style" not in html
        assert not re.search(r"\s(style|on\w+)=", html)
        assert 'data-spec-url="/openapi.json"' in html


class TestSwaggerUiFiles:
    def test_oauth2_redirect_page_is_not_served(self, client: FlaskClient) -> None:
        response = client.get("/docs/assets/oauth2-redirect.html")
        assert response.status_code == 404
        assert response.json == {"detail": "Not Found"}

    def test_only_what_the_page_loads_is_served(self, client: FlaskClient) -> None:
        shipped = {path.name for path in docs.SWAGGER_UI_DIST.iterdir()}
        assert {"oauth2-redirect.html", "oauth2-redirect.js", "index.css"} <= shipped
        for name in sorted(shipped):
            response = client.get(f"/docs/assets/{name}")
            expected = 200 if name in {"swagger-ui.css", "swagger-ui-bundle.js"} else 404
            assert response.status_code == expected, name
            response.close()

    @pytest.mark.parametrize(
        "path", ["/docs/assets/", "/docs/assets/../dist/swagger-ui.css", "/docs/assets/%2e%2e"]
    )
    def test_nothing_else_under_the_folder(self, client: FlaskClient, path: str) -> None:
        assert client.get(path).status_code == 404


@pytest.fixture
def views_run(app: Flask) -> list[str]:
    """The endpoints whose view function ran."""
    ran: list[str] = []
    for endpoint, view in list(app.view_functions.items()):

        def spy(*args: Any, _view: Any = view, _endpoint: str = endpoint, **kwargs: Any) -> Any:
            ran.append(_endpoint)
            return _view(*args, **kwargs)

        app.view_functions[endpoint] = spy
    return ran


class TestTrustedHosts:
    @pytest.fixture
    def app_config(self, app_config: Any) -> Any:
        app_config.TRUSTED_HOSTS = ["auth.example.com", ".example.org"]
        return app_config

    @pytest.mark.parametrize(
        ("method", "path"),
        [("GET", "/healthz"), ("GET", f"{API}/me"), ("POST", f"{API}/register"),
         ("GET", "/docs"), ("GET", "/nope")],
    )  # fmt: skip
    @pytest.mark.parametrize(
        "host", ["evil.example", "auth.example.com.evil.example", "notexample.org", ""]
    )
    def test_another_host_is_a_json_400_and_no_view_runs(
        self, client: FlaskClient, views_run: list[str], method: str, path: str, host: str
    ) -> None:
        response = client.open(path, method=method, json=USER, headers={"Host": host})
        assert response.status_code == 400
        assert response.json == {"detail": "Untrusted Host header"}
        assert response.headers["Content-Security-Policy"] == API_POLICY
        assert views_run == []
        assert User.query.count() == 0

    @pytest.mark.parametrize(
        "host", ["auth.example.com", "auth.example.com:8443", "example.org", "api.example.org:80"]
    )
    def test_a_trusted_host_with_or_without_a_port_is_served(
        self, client: FlaskClient, views_run: list[str], host: str
    ) -> None:
        response = client.get("/healthz", headers={"Host": host})
        assert response.status_code == 200
        assert views_run == ["health.healthz"]

    def test_a_trusted_host_reaches_the_whole_api(self, client: FlaskClient) -> None:
        headers = {"Host": "auth.example.com:8443"}
        assert client.post(f"{API}/register", json=USER, headers=headers).status_code == 201
        login = client.post(f"{API}/login", json=CREDENTIALS, headers=headers)
        assert login.status_code == 200
        assert client.get(f"{API}/me", headers=headers).status_code == 200

    def test_behind_a_proxy_the_forwarded_host_is_checked(self, app_config: Any) -> None:
        app_config.TRUSTED_PROXY_HOPS = 1
        client = create_app(app_config).test_client()
        trusted = {"Host": "auth.example.com"}
        assert client.get("/healthz", headers=trusted).status_code == 200
        forged = {**trusted, "X-Forwarded-Host": "evil.example"}
        assert client.get("/healthz", headers=forged).status_code == 400


def test_empty_trusted_hosts_answers_any_host(client: FlaskClient) -> None:
    assert client.get("/healthz", headers={"Host": "anything.example:81"}).status_code == 200


# --- gunicorn's access log (the real tier proves it on a live gunicorn) ---

FORMAT = '%(p)s %(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms %({x-request-id}o)s'
RID = "r" * 32


def access_line(path_info: str, headers: dict[str, str] | None = None, fmt: str = FORMAT) -> str:
    """What the project's logger class writes for one request."""
    cfg = GunicornConfig()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", fmt)
    logger = escaped_access_log.EscapingLogger(cfg)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    logger.access_log.handlers = [handler]
    headers = headers or {}
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path_info,
        "PATH_INFO": path_info,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()},
    }
    response = SimpleNamespace(status="404 NOT FOUND", sent=22, headers=[("X-Request-ID", RID)])
    request = SimpleNamespace(headers=list(headers.items()))
    logger.access(response, request, environ, timedelta(milliseconds=3))
    return buffer.getvalue()


FORGED = '/api/auth/me\n127.0.0.1 "GET /forged HTTP/1.1" 200 2 0ms ' + "f" * 32


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        (FORGED, '/api/auth/me\\x0a127.0.0.1 \\"GET /forged HTTP/1.1\\" 200 2 0ms ' + "f" * 32),
        ("/a\r\nb", "/a\\x0d\\x0ab"),
        ("/a\x1b[2Jb", "/a\\x1b[2Jb"),  # a terminal escape sequence
        ("/a\x85b\u2028c", "/a\\x85b\\u2028c"),  # NEL and LINE SEPARATOR end lines too
        ('/a\\"b', '/a\\\\\\"b'),  # a backslash cannot undo the quote's escaping
        ("/caf\xc3\xa9", "/caf\xc3\xa9"),  # printable text stays as it is
    ],
)
def test_the_access_log_escapes_the_path(path: str, logged: str) -> None:
    line = access_line(path)
    assert line.count("\n") == 1
    assert line == f'<{os.getpid()}> 127.0.0.1 "GET {logged} HTTP/1.1" 404 22 3ms {RID}\n'


def test_the_access_log_escapes_headers_if_a_format_logs_them() -> None:
    line = access_line(
        "/", {"User-Agent": "ua\n<1> forged", "Referer": 'x" y'}, fmt='"%(a)s" "%(f)s"'
    )
    assert line == '"ua\\x0a<1> forged" "x\\" y"\n'


def test_missing_atoms_still_read_as_a_dash() -> None:
    assert access_line("/", fmt="%({x-nothing}i)s %(nope)s") == "- -\n"


def test_gunicorn_conf_uses_the_escaping_logger() -> None:
    settings = runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"))
    cfg = GunicornConfig()
    cfg.set("logger_class", settings["logger_class"])
    assert cfg.logger_class is escaped_access_log.EscapingLogger
    assert settings["access_log_format"] == FORMAT
