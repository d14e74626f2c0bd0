"""Application factory: ``create_app(config)`` binds everything in named steps."""

from __future__ import annotations

import redis
from flask import Flask, Response
from redis.backoff import NoBackoff
from redis.retry import Retry
from werkzeug.middleware.proxy_fix import ProxyFix

from app import docs, health, logs, security, web
from app.api import API_SPEC_OPTIONS
from app.auth import bp as auth_bp
from app.auth import transport
from app.auth.admission import PasswordWork, slots_per_worker
from app.auth.challenge_store import ChallengeStore
from app.auth.commands import sessions_cli, users_cli
from app.auth.event_store import EventStore
from app.auth.passwords import Hasher
from app.auth.session_store import SessionStore
from app.auth.token_store import TokenStore
from app.errors import register_error_handlers
from app.extensions import api, db, migrate
from app.mail import register_mail
from app.throttle import Throttle
from config import INSTANCE_DIR, Config, config_from_env

API_PREFIXES = ("/api/auth", "/api/v1/auth")


class Service(Flask):
    def make_default_options_response(self) -> Response:
        """``OPTIONS``: the allowed methods and no body (Flask's own answers
        an empty text/html page). CORS preflights get their headers on top."""
        response = super().make_default_options_response()
        response.status_code = 204
        del response.headers["Content-Type"]
        return response


def create_app(config: Config | None = None) -> Flask:
    app = Service(__name__, instance_path=str(INSTANCE_DIR), instance_relative_config=True)
    app.config.from_object(config if config is not None else config_from_env())
    register_proxy_fix(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented field order
    register_logging(app)
    register_extensions(app)
    register_mail(app)
    register_blueprints(app)
    register_error_handlers(app)
    app.after_request(_no_type_without_content)
    security.init_app(app)
    app.cli.add_command(sessions_cli)
    app.cli.add_command(users_cli)
    return app


def _no_type_without_content(response: Response) -> Response:
    """A 204 has no body, so no Content-Type either (flask-smorest sets JSON's)."""
    if response.status_code == 204:
        del response.headers["Content-Type"]
    return response


def register_proxy_fix(app: Flask) -> None:
    """Trust X-Forwarded-For/-Proto/-Host from exactly TRUSTED_PROXY_HOPS proxies.

    The client IP then is what the nearest trusted proxy saw, never a value
    the client wrote itself; with 0 hops the headers are ignored entirely.
    """
    hops = app.config["TRUSTED_PROXY_HOPS"]
    if hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )


def register_logging(app: Flask) -> None:
    logs.init_app(app)


def build_redis_client(app: Flask) -> redis.Redis:
    """One client (one connection pool) per process, built after any fork.

    Short connect and socket timeouts make an unreachable Redis a quick 503.
    """
    injected = app.config.get("REDIS_CLIENT")
    if injected is not None:  # tests inject fakeredis here
        return injected  # type: ignore[no-any-return]
    timeout = app.config["REDIS_SOCKET_TIMEOUT"]
    return redis.Redis.from_url(
        app.config["REDIS_URL"],
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        # redis-py 8 retries 10 times with backoff by default: seconds of
        # waiting per request while Redis is down. One immediate retry on a
        # broken connection is enough to get past a Redis restart; a timeout
        # is not retried.
        retry=Retry(NoBackoff(), retries=1, supported_errors=(redis.ConnectionError,)),
    )


def build_password_hasher(app: Flask) -> Hasher:
    return Hasher(
        rounds=app.config["BCRYPT_ROUNDS"],
        pepper=app.config["PASSWORD_PEPPER"].encode("utf-8"),
        pepper_id=app.config["PASSWORD_PEPPER_ID"],
        old_peppers={
            pepper_id: secret.encode("utf-8")
            for pepper_id, secret in app.config["PASSWORD_OLD_PEPPERS"].items()
        },
    )


def build_session_store(app: Flask, client: redis.Redis) -> SessionStore:
    return SessionStore(
        client,
        prefix=app.config["SESSION_KEY_PREFIX"],
        secret=app.config["SECRET_KEY"].encode("utf-8"),
        idle_timeout=app.config["SESSION_IDLE_TIMEOUT"],
        max_age=app.config["SESSION_MAX_AGE"],
    )


THROTTLE_RULES = {
    "login-account": "RATELIMIT_LOGIN_PER_IDENTIFIER",
    "login-ip": "RATELIMIT_LOGIN_PER_IP",
    "register-ip": "RATELIMIT_REGISTER_PER_IP",
    "mail-ip": "RATELIMIT_MAIL_PER_IP",
    "mail-address": "RATELIMIT_MAIL_PER_ADDRESS",
    "passkey-ip": "RATELIMIT_PASSKEY_PER_IP",
    "passkey-options-ip": "RATELIMIT_PASSKEY_OPTIONS_PER_IP",
}


def build_throttle(app: Flask, client: redis.Redis) -> Throttle:
    return Throttle(
        client,
        prefix=app.config["RATELIMIT_KEY_PREFIX"],
        secret=app.config["SECRET_KEY"].encode("utf-8"),
        rules={rule: app.config[setting] for rule, setting in THROTTLE_RULES.items()},
        ipv6_prefix=app.config["RATELIMIT_IPV6_PREFIX"],
        enabled=app.config["RATELIMIT_ENABLED"],
    )


def register_extensions(app: Flask) -> None:
    database_url = app.config["SQLALCHEMY_DATABASE_URI"]
    if database_url.startswith("sqlite:///"):
        INSTANCE_DIR.mkdir(exist_ok=True)
    if database_url.startswith("postgresql"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
            "connect_args": {"connect_timeout": app.config["POSTGRES_CONNECT_TIMEOUT"]},
        }
    db.init_app(app)
    migrate.init_app(app, db, directory=str(INSTANCE_DIR.parent / "migrations"))
    app.extensions["password_hasher"] = build_password_hasher(app)
    app.extensions["password_work"] = PasswordWork(
        slots_per_worker(app.config["PASSWORD_WORK_SLOTS"], app.config["WEB_CONCURRENCY"]),
        wait=app.config["PASSWORD_WORK_WAIT"],
    )
    client = build_redis_client(app)
    app.extensions["redis"] = client
    store = build_session_store(app, client)
    app.extensions["session_store"] = store
    secret = app.config["SECRET_KEY"].encode("utf-8")
    app.extensions["token_store"] = TokenStore(client, app.config["SESSION_KEY_PREFIX"], secret)
    app.extensions["challenge_store"] = ChallengeStore(
        client, app.config["SESSION_KEY_PREFIX"], secret
    )
    app.extensions["event_store"] = EventStore(
        client, app.config["SESSION_KEY_PREFIX"], store.user_tag
    )
    app.extensions["throttle"] = build_throttle(app, client)
    transport.init_app(app)
    app.config.setdefault("API_SPEC_OPTIONS", API_SPEC_OPTIONS)
    api.init_app(app)
    api.document(app)
    docs.init_app(app)


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(web.bp)
    api.register_blueprint(health.bp)
    api.register_blueprint(auth_bp, url_prefix=API_PREFIXES[0])
    # The same views under the older prefix, served but not documented
    # twice: the document's description says it once.
    for prefix in API_PREFIXES[1:]:
        app.register_blueprint(auth_bp, url_prefix=prefix, name=prefix.strip("/").replace("/", "_"))
