"""Application factory: ``create_app(config)`` binds everything in named steps."""

from __future__ import annotations

import redis
from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

from app import docs, health, logs, security, web
from app.api import API_SPEC_OPTIONS
from app.auth import bp as auth_bp
from app.auth import transport
from app.auth.admission import AdmissionGate, PasswordWork, gated_paths
from app.auth.challenge_store import ChallengeStore
from app.auth.commands import sessions_cli, users_cli
from app.auth.event_store import EventStore
from app.auth.hot_path import MeFastPath
from app.auth.passwords import Hasher
from app.auth.second_step import SecondStepStore
from app.auth.secret_box import SecretBox
from app.auth.session_store import SessionStore
from app.auth.token_store import TokenStore
from app.auth.totp import PendingSetups, Totp
from app.errors import register_error_handlers, render_service_error
from app.exceptions import PasswordWorkBusy
from app.extensions import api, db, migrate
from app.mail import register_mail
from app.redis_client import RedisUrlError, ReplicatedWrites, build_client, parse_redis_url
from app.throttle import Throttle
from config import INSTANCE_DIR, Config, ConfigurationError, config_from_env

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
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented field order
    register_logging(app)
    register_extensions(app)
    register_mail(app)
    register_blueprints(app)
    register_error_handlers(app)
    app.after_request(_no_type_without_content)
    security.init_app(app)
    register_me_fast_path(app)
    register_admission_gate(app)
    register_proxy_fix(app)  # outermost: what is inside sees the client's real host
    app.cli.add_command(sessions_cli)
    app.cli.add_command(users_cli)
    return app


def _no_type_without_content(response: Response) -> Response:
    """A 204 has no body, so no Content-Type either (flask-smorest sets JSON's)."""
    if response.status_code == 204:
        del response.headers["Content-Type"]
    return response


def register_me_fast_path(app: Flask) -> None:
    """GET /me for a live session without Flask (app/auth/hot_path.py), with
    the headers the view's answer gets from the app's hooks."""
    headers = [
        ("Content-Type", "application/json"),
        ("Vary", "Cookie, Authorization"),
        *security.security_headers(app.config["HSTS_ENABLED"]).items(),
        ("Cache-Control", "no-store"),
    ]
    app.wsgi_app = MeFastPath(  # type: ignore[method-assign]
        app.wsgi_app,
        app.extensions["session_store"],
        frozenset(f"{prefix}/me" for prefix in API_PREFIXES),
        app.config["SESSION_COOKIE_NAME"],
        headers,
        app.config["TRUSTED_HOSTS"],
        logs.request_id,
    )


def register_admission_gate(app: Flask) -> None:
    """While the password-work budget is full, logins are refused before
    Flask sees them (app/auth/admission.py), with the 503 the app itself
    would answer: rendered here once, through its own handlers and hooks.
    With a PASSWORD_WORK_WAIT, a request may yet get a slot: no gate."""
    work: PasswordWork = app.extensions["password_work"]
    if work.wait > 0:
        return
    paths = gated_paths(app.url_map.iter_rules(), app.view_functions)
    with app.test_request_context(f"{API_PREFIXES[0]}/login", method="POST"):
        response = app.process_response(app.make_response(render_service_error(PasswordWorkBusy())))
    headers = [(name, value) for name, value in response.headers if name != "X-Request-ID"]
    answer = (response.status, headers, response.get_data())
    app.wsgi_app = AdmissionGate(  # type: ignore[method-assign]
        app.wsgi_app, work, paths, answer, logs.request_id
    )


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
    """One client (one connection pool per node) per process, built after any
    fork, from ``REDIS_URL`` (app/redis_client.py: one server, a cluster or
    Sentinel). Short connect and socket timeouts make an unreachable Redis a
    quick 503."""
    injected = app.config.get("REDIS_CLIENT")
    if injected is not None:  # tests inject fakeredis here
        return injected  # type: ignore[no-any-return]
    try:
        target = parse_redis_url(app.config["REDIS_URL"])
    except RedisUrlError as error:
        raise ConfigurationError(f"REDIS_URL {error}") from None
    return build_client(  # type: ignore[no-any-return]
        target, app.config["REDIS_SOCKET_TIMEOUT"], app.config["REDIS_RETRIES"]
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


def build_replicated_writes(app: Flask, client: redis.Redis) -> ReplicatedWrites:
    return ReplicatedWrites(
        client, app.config["REDIS_REPLICA_ACKS"] or 0, app.config["REDIS_REPLICA_TIMEOUT"]
    )


def build_session_store(app: Flask, client: redis.Redis) -> SessionStore:
    return SessionStore(
        client,
        revocations=app.extensions["replicated_writes"],
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
    "second-factor-account": "RATELIMIT_SECOND_FACTOR_PER_ACCOUNT",
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
        app.config["PASSWORD_WORK_SLOTS"],
        wait=app.config["PASSWORD_WORK_WAIT"],
        directory=app.config["PASSWORD_WORK_DIR"],
    )
    client = build_redis_client(app)
    app.extensions["redis"] = client
    app.extensions["replicated_writes"] = build_replicated_writes(app, client)
    store = build_session_store(app, client)
    app.extensions["session_store"] = store
    secret = app.config["SECRET_KEY"].encode("utf-8")
    app.extensions["token_store"] = TokenStore(
        client, app.config["SESSION_KEY_PREFIX"], secret, app.extensions["replicated_writes"]
    )
    app.extensions["challenge_store"] = ChallengeStore(
        client, app.config["SESSION_KEY_PREFIX"], secret
    )
    app.extensions["event_store"] = EventStore(
        client, app.config["SESSION_KEY_PREFIX"], store.user_tag
    )
    app.extensions["throttle"] = build_throttle(app, client)
    register_second_factor(app, client)
    transport.init_app(app)
    app.config.setdefault("API_SPEC_OPTIONS", API_SPEC_OPTIONS)
    api.init_app(app)
    api.document(app)
    docs.init_app(app)


def register_second_factor(app: Flask, client: redis.Redis) -> None:
    """The key ring of second-factor secrets, the TOTP clock (tests replace
    ``app.extensions["totp"].clock``), pending setups and second-step tokens."""
    box = SecretBox(
        app.config["SECOND_FACTOR_KEY_ID"],
        app.config["SECOND_FACTOR_KEY"],
        app.config["SECOND_FACTOR_OLD_KEYS"],
    )
    app.extensions["secret_box"] = box
    app.extensions["totp"] = Totp()
    prefix, secret = app.config["SESSION_KEY_PREFIX"], app.config["SECRET_KEY"].encode("utf-8")
    app.extensions["totp_setups"] = PendingSetups(client, prefix, secret, box)
    app.extensions["second_step_store"] = SecondStepStore(
        client, prefix, secret, ttl=app.config["SECOND_STEP_TTL"]
    )


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(web.bp)
    api.register_blueprint(health.bp)
    api.register_blueprint(auth_bp, url_prefix=API_PREFIXES[0])
    # The same views under the older prefix, served but not documented
    # twice: the document's description says it once.
    for prefix in API_PREFIXES[1:]:
        app.register_blueprint(auth_bp, url_prefix=prefix, name=prefix.strip("/").replace("/", "_"))
