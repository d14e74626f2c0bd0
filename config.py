"""Configuration: one base class and one class per environment (docs/API.md, Configuration).

Every value comes from the environment. ``APP_ENV`` unset means production:
a process nobody configured must not quietly run with development settings.
Production has no defaults for secrets or service URLs and refuses weak
settings: each stops the process at start-up with a one-line message,
instead of silently running with something insecure.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import limits

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"

EMBEDDED_REDIS_SOCKET = INSTANCE_DIR / "redis.sock"

MIN_SECRET_KEY_LENGTH = 32
# bcrypt cost production accepts: 10 is ~70 ms a verify on a 2-core machine;
# lower costs are for tests only.
MIN_PRODUCTION_BCRYPT_ROUNDS = 10
# Pepper ids go into every stored hash, bcrypt_hmac_sha384$<id>$<bcrypt>: a
# '$' (or anything unexpected) there would corrupt the format.
HALF_THE_CORES = max(1, (os.cpu_count() or 1) // 2)
PEPPER_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
PEPPER_ID_RULE = "1-16 characters of A-Z, a-z, 0-9, '_' and '-'"
# Cookie name prefixes browsers enforce: such a cookie without Secure is dropped.
SECURE_ONLY_COOKIE_PREFIXES = ("__host-", "__secure-")
# A TRUSTED_HOSTS entry: a host name or IPv4 address, "." first to admit
# every subdomain (werkzeug's rule); a ":port" is ignored.
TRUSTED_HOST = re.compile(r"\.?[a-z0-9-]+(\.[a-z0-9-]+)*")


class ConfigurationError(RuntimeError):
    """The environment does not describe a usable configuration."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


def _list(env: Mapping[str, str], name: str) -> list[str]:
    return [item.strip() for item in env.get(name, "").split(",") if item.strip()]


def _old_secrets(env: Mapping[str, str], name: str) -> dict[str, str]:
    """``<name>=id:secret,id:secret``: retired peppers or keys that still
    verify or decrypt (rotation)."""
    peppers = {}
    for item in _list(env, name):
        pepper_id, sep, secret = item.partition(":")
        if not sep or not pepper_id or not secret:
            raise ConfigurationError(f"{name} must look like id:secret,id:secret")
        if not PEPPER_ID.fullmatch(pepper_id):
            # The id only: the secret after it must not reach a log.
            raise ConfigurationError(f"{name} ids must be {PEPPER_ID_RULE}, got {pepper_id!r}")
        peppers[pepper_id] = secret
    return peppers


def _smtp_url_problem(url: str) -> str | None:
    """Why ``SMTP_URL`` cannot work, in a few words; None when it can.

    ``smtp://[user:pass@]host[:port][?starttls=true]`` or ``smtps://…`` (the
    parser that uses it is ``app.mail.SmtpTransport``).
    """
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"}:
        return f"must start with smtp:// or smtps://, got {parts.scheme or 'no'} scheme"
    try:
        port = parts.port
    except ValueError:
        return "has a port that is not a number from 1 to 65535"
    if port == 0:
        return "has a port that is not a number from 1 to 65535"
    if not parts.hostname:
        return "names no host"
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"starttls"}
    if unknown:
        return f"has unknown parameters: {', '.join(sorted(unknown))} (only starttls)"
    starttls = query.get("starttls", ["false"])
    if len(starttls) != 1 or starttls[0].lower() not in {"true", "false"}:
        return "starttls must be true or false"
    if parts.scheme == "smtps" and starttls[0].lower() == "true":
        return "smtps:// is TLS from the start: starttls=true applies to smtp:// only"
    return None


def _trusted_hosts(env: Mapping[str, str]) -> list[str] | None:
    """``TRUSTED_HOSTS``, lower-cased, ports dropped; None (any host) when empty."""
    hosts = []
    for entry in _list(env, "TRUSTED_HOSTS"):
        host = entry.lower()
        name, _, port = host.partition(":")
        if port.isdigit():
            host = name
        if not TRUSTED_HOST.fullmatch(host):
            raise ConfigurationError(
                f"TRUSTED_HOSTS entry {entry!r} is not a host name (example.com, .example.com "
                "for every subdomain, or an IPv4 address)"
            )
        hosts.append(host)
    return hosts or None


def origin_problem(entry: str, setting: str = "CORS_ORIGINS") -> str | None:
    """Why a ``CORS_ORIGINS`` entry is not an exact origin (None: it is one).

    The ``Origin`` header a browser sends is ``scheme://host[:port]``,
    lower-case, without a default port or anything after it, and both the
    CORS answer and the cross-site check compare it with each entry as a
    string: an entry in any other shape never matches, or matches too much.
    """
    if entry == "*":
        return f"{setting} must name origins, not '*': credentials go to listed origins only"
    if entry.lower() == "null":
        return f"{setting} must not list 'null': every sandboxed frame and file: page sends it"
    try:
        parts = urlsplit(entry)
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return f"{setting} entry {entry!r} is not an origin: write scheme://host[:port]"
    if parts.scheme not in {"http", "https"} or not entry.lower().startswith(parts.scheme + "://"):
        return f"{setting} entry {entry!r} must start with http:// or https://"
    if not host:
        return f"{setting} entry {entry!r} has no host: write scheme://host[:port]"
    if ":" in host:
        host = f"[{host}]"
    default_port = 443 if parts.scheme == "https" else 80
    exact = f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default_port) else "")
    if entry != exact:
        return (
            f"{setting} entry {entry!r} is not an exact origin: write {exact!r} "
            "(scheme://host[:port]: no path or trailing '/', query, fragment, user info "
            "or default port)"
        )
    return None


def instance_secret(name: str) -> str:
    """A random secret kept in instance/ (mode 600), made on first use.

    Development only: every process of a laptop run (all gunicorn workers,
    `flask` commands) shares it, and it survives restarts.
    """
    path = INSTANCE_DIR / name
    if not path.exists():
        INSTANCE_DIR.mkdir(exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as secret_file:
            secret_file.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


class Config:
    """Settings shared by every environment, read from ``env`` when built."""

    ENV_NAME = "base"
    DEFAULT_BCRYPT_ROUNDS = 12
    # The mail outbox's delivery thread runs in every service process but the
    # fast tests' (which call Outbox.deliver_due themselves).
    DEFAULT_MAIL_DELIVERY_THREAD = True
    # Off outside production so the front-end contract's example passwords work.
    DEFAULT_BLOCKLIST_ENABLED = False
    DEFAULT_LOG_FORMAT = "text"
    DEFAULT_SESSION_COOKIE_NAME = "session"
    DEFAULT_HSTS_ENABLED = False
    # Production sets Secure whatever SESSION_COOKIE_SECURE says.
    FORCE_SECURE_COOKIE = False

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.SECRET_KEY: str | None = env.get("SECRET_KEY") or None
        self.SQLALCHEMY_DATABASE_URI: str | None = env.get("DATABASE_URL") or None
        self.REDIS_URL: str | None = env.get("REDIS_URL") or None

        self.BCRYPT_ROUNDS = _int(env, "BCRYPT_ROUNDS", self.DEFAULT_BCRYPT_ROUNDS)
        self.PASSWORD_MIN_LENGTH = _int(env, "PASSWORD_MIN_LENGTH", 6)
        self.PASSWORD_PEPPER: str | None = env.get("PASSWORD_PEPPER") or None
        self.PASSWORD_PEPPER_ID = env.get("PASSWORD_PEPPER_ID") or "1"
        self.PASSWORD_OLD_PEPPERS = _old_secrets(env, "PASSWORD_OLD_PEPPERS")
        self.PASSWORD_BLOCKLIST_ENABLED = _bool(
            env, "PASSWORD_BLOCKLIST_ENABLED", self.DEFAULT_BLOCKLIST_ENABLED
        )

        # Second factor: the key that encrypts TOTP secrets at rest and keys the
        # recovery-code HMACs (app/auth/secret_box.py), its id (stored beside
        # each secret), and retired keys that still decrypt and verify.
        self.SECOND_FACTOR_KEY: str | None = env.get("SECOND_FACTOR_KEY") or None
        self.SECOND_FACTOR_KEY_ID = env.get("SECOND_FACTOR_KEY_ID") or "1"
        self.SECOND_FACTOR_OLD_KEYS = _old_secrets(env, "SECOND_FACTOR_OLD_KEYS")
        # How long the token between a login's password step and its second step lives.
        self.SECOND_STEP_TTL = _int(env, "SECOND_STEP_TTL", 300)

        # Password work admitted at most this many at once on the host (every
        # worker and gunicorn of this user, through lock files in the
        # directory), after at most this long a wait (app/auth/admission.py).
        # Half the cores by default: the other half serves cheap requests.
        self.PASSWORD_WORK_SLOTS = _int(env, "PASSWORD_WORK_SLOTS", HALF_THE_CORES)
        self.PASSWORD_WORK_WAIT = _float(env, "PASSWORD_WORK_WAIT", 0.0)
        self.PASSWORD_WORK_DIR = env.get("PASSWORD_WORK_DIR") or str(
            # Per user: one account's services share a budget, nobody else's.
            Path(tempfile.gettempdir()) / f"auth-password-work-{os.getuid()}"
        )

        # Mailed tokens: how long a reset link and a verification link work.
        self.PASSWORD_RESET_TTL = _int(env, "PASSWORD_RESET_TTL", 3600)
        self.EMAIL_VERIFY_TTL = _int(env, "EMAIL_VERIFY_TTL", 3 * 86400)

        self.SESSION_IDLE_TIMEOUT = _int(env, "SESSION_IDLE_TIMEOUT", 1800)
        self.SESSION_MAX_AGE = _int(env, "SESSION_MAX_AGE", 86400)
        self.SESSION_COOKIE_NAME = (
            env.get("SESSION_COOKIE_NAME") or self.DEFAULT_SESSION_COOKIE_NAME
        )
        self.SESSION_COOKIE_SECURE = (
            _bool(env, "SESSION_COOKIE_SECURE", False) or self.FORCE_SECURE_COOKIE
        )
        self.CORS_ORIGINS = _list(env, "CORS_ORIGINS")
        # Strict-Transport-Security on every response (app/security.py).
        self.HSTS_ENABLED = _bool(env, "HSTS_ENABLED", self.DEFAULT_HSTS_ENABLED)
        # Flask's own setting: a request whose Host is not one of these is a
        # 400 before routing (None: any host).
        self.TRUSTED_HOSTS = _trusted_hosts(env)
        self.MAX_CONTENT_LENGTH = _int(env, "MAX_CONTENT_LENGTH", 64 * 1024)
        self.RATELIMIT_ENABLED = _bool(env, "RATELIMIT_ENABLED", True)
        self.RATELIMIT_KEY_PREFIX = env.get("RATELIMIT_KEY_PREFIX") or "ratelimit"
        self.RATELIMIT_LOGIN_PER_IDENTIFIER = (
            env.get("RATELIMIT_LOGIN_PER_IDENTIFIER") or "5 per minute"
        )
        self.RATELIMIT_LOGIN_PER_IP = env.get("RATELIMIT_LOGIN_PER_IP") or "30 per minute"
        self.RATELIMIT_REGISTER_PER_IP = env.get("RATELIMIT_REGISTER_PER_IP") or "10 per hour"
        # Mails a client may trigger (forgot password, resend verification).
        self.RATELIMIT_MAIL_PER_IP = env.get("RATELIMIT_MAIL_PER_IP") or "10 per hour"
        self.RATELIMIT_MAIL_PER_ADDRESS = env.get("RATELIMIT_MAIL_PER_ADDRESS") or "3 per hour"
        # Second-factor codes tried on one account, from anywhere: failures count.
        self.RATELIMIT_SECOND_FACTOR_PER_ACCOUNT = (
            env.get("RATELIMIT_SECOND_FACTOR_PER_ACCOUNT") or "10 per hour"
        )
        # IPv6 clients are counted by network: one subscriber usually holds a /64.
        self.RATELIMIT_IPV6_PREFIX = _int(env, "RATELIMIT_IPV6_PREFIX", 64)
        self.LOG_LEVEL = (env.get("LOG_LEVEL") or "INFO").upper()
        self.LOG_FORMAT = (env.get("LOG_FORMAT") or self.DEFAULT_LOG_FORMAT).lower()
        # How many reverse proxies in front of us append to X-Forwarded-*.
        # 0 (default): those headers are ignored, as anyone can send them.
        self.TRUSTED_PROXY_HOPS = _int(env, "TRUSTED_PROXY_HOPS", 0)

        # Lets several deployments (or test runs) share one Redis without collisions.
        self.SESSION_KEY_PREFIX = env.get("SESSION_KEY_PREFIX") or "session:"

        # A connection that died with a restarted database is replaced before
        # use instead of failing the next request.
        self.SQLALCHEMY_ENGINE_OPTIONS: dict[str, object] = {"pool_pre_ping": True}
        # An unreachable PostgreSQL must fail fast (a 503), not hang a worker.
        self.POSTGRES_CONNECT_TIMEOUT = _int(env, "POSTGRES_CONNECT_TIMEOUT", 2)

        # Bounded waits: an unreachable Redis must answer 503 quickly, not hang.
        self.REDIS_SOCKET_TIMEOUT = _float(env, "REDIS_SOCKET_TIMEOUT", 1.0)
        # Tries after the first for a command that met a broken connection
        # (cluster and Sentinel: after asking again where the primary is).
        self.REDIS_RETRIES = _int(env, "REDIS_RETRIES", 2)
        # Revocations (logout, ending sessions, a spent mailed token) wait for
        # this many replicas to have them, or answer 503 (app/redis_client.py).
        # Unset: 1 on a cluster or Sentinel, 0 on one server.
        self.REDIS_REPLICA_ACKS: int | None = (
            _int(env, "REDIS_REPLICA_ACKS", 0) if env.get("REDIS_REPLICA_ACKS") else None
        )
        self.REDIS_REPLICA_TIMEOUT = _float(env, "REDIS_REPLICA_TIMEOUT", 0.5)

        # Mail (app/mail.py): SMTP, or the log when SMTP_URL is unset.
        self.SMTP_URL: str | None = env.get("SMTP_URL") or None
        self.MAIL_FROM = env.get("MAIL_FROM") or "Auth service <no-reply@localhost>"
        # Where links in mail point; unset: the service's own demo page.
        self.PUBLIC_URL: str | None = (env.get("PUBLIC_URL") or "").rstrip("/") or None
        self.MAIL_MAX_AGE = _int(env, "MAIL_MAX_AGE", 86400)
        self.MAIL_POLL_INTERVAL = _float(env, "MAIL_POLL_INTERVAL", 1.0)
        self.MAIL_SMTP_TIMEOUT = _float(env, "MAIL_SMTP_TIMEOUT", 10.0)
        self.MAIL_KEY_PREFIX = env.get("MAIL_KEY_PREFIX") or "mail:"
        # Passkeys (app/auth/passkeys.py): the relying party's id (a host name)
        # and the page origins a passkey may be used from. Unset: derived
        # from PUBLIC_URL; in development and tests, from each request.
        self.WEBAUTHN_RP_ID: str | None = (env.get("WEBAUTHN_RP_ID") or "").strip().lower() or None
        self.WEBAUTHN_ORIGINS = _list(env, "WEBAUTHN_ORIGINS")
        self.WEBAUTHN_RP_NAME = env.get("WEBAUTHN_RP_NAME") or "Auth service"
        self._derive_webauthn_party()
        # Passkey sign-ins a client network may fail, and public challenges
        # it may ask for, per window.
        self.RATELIMIT_PASSKEY_PER_IP = env.get("RATELIMIT_PASSKEY_PER_IP") or "30 per minute"
        self.RATELIMIT_PASSKEY_OPTIONS_PER_IP = (
            env.get("RATELIMIT_PASSKEY_OPTIONS_PER_IP") or "60 per minute"
        )
        self.MAIL_DELIVERY_THREAD = _bool(
            env, "MAIL_DELIVERY_THREAD", self.DEFAULT_MAIL_DELIVERY_THREAD
        )

        # flask-smorest / OpenAPI
        self.API_TITLE = "Auth service"
        self.API_VERSION = "1.0.0"
        self.OPENAPI_VERSION = "3.0.3"
        self.OPENAPI_URL_PREFIX = "/"
        self.OPENAPI_JSON_PATH = "openapi.json"
        # /docs is app/docs.py's own page, not flask-smorest's (which needs inline script).

        self.validate()

    def _derive_webauthn_party(self) -> None:
        """The relying party from PUBLIC_URL when not given: its host is the
        id, its origin the one origin."""
        public = urlsplit(self.PUBLIC_URL or "")
        if self.WEBAUTHN_RP_ID is None and public.hostname:
            self.WEBAUTHN_RP_ID = public.hostname.lower()
        if self.WEBAUTHN_ORIGINS or self.WEBAUTHN_RP_ID is None:
            return
        try:
            port = public.port
        except ValueError:
            return  # validate_mail refuses this PUBLIC_URL
        if public.hostname == self.WEBAUTHN_RP_ID and public.scheme in {"http", "https"}:
            default = 443 if public.scheme == "https" else 80
            suffix = f":{port}" if port not in (None, default) else ""
            self.WEBAUTHN_ORIGINS = [f"{public.scheme}://{self.WEBAUTHN_RP_ID}{suffix}"]
        else:
            self.WEBAUTHN_ORIGINS = [f"https://{self.WEBAUTHN_RP_ID}"]

    def validate_webauthn(self) -> None:
        rp_id = self.WEBAUTHN_RP_ID
        if rp_id is not None and (rp_id.startswith(".") or not TRUSTED_HOST.fullmatch(rp_id)):
            raise ConfigurationError(
                f"WEBAUTHN_RP_ID must be a host name like auth.example.com, "
                f"got {self.WEBAUTHN_RP_ID!r}"
            )
        for origin in self.WEBAUTHN_ORIGINS:
            problem = origin_problem(origin, "WEBAUTHN_ORIGINS")
            if problem:
                raise ConfigurationError(problem)
            host = urlsplit(origin).hostname or ""
            if rp_id is not None and host != rp_id and not host.endswith("." + rp_id):
                raise ConfigurationError(
                    f"WEBAUTHN_ORIGINS entry {origin!r} is not on WEBAUTHN_RP_ID {rp_id!r}: "
                    "browsers only use a passkey on its relying party's host or subdomains"
                )
        if not self.WEBAUTHN_RP_NAME.strip() or len(self.WEBAUTHN_RP_NAME) > 64:
            raise ConfigurationError("WEBAUTHN_RP_NAME must be 1 to 64 characters")

    def validate(self) -> None:
        """Refuse settings that cannot work in any environment."""
        if not 4 <= self.BCRYPT_ROUNDS <= 31:
            raise ConfigurationError("BCRYPT_ROUNDS must be between 4 and 31")
        if self.SESSION_IDLE_TIMEOUT <= 0 or self.SESSION_MAX_AGE <= 0:
            raise ConfigurationError("session timeouts must be positive")
        if self.LOG_FORMAT not in {"text", "json"}:
            raise ConfigurationError("LOG_FORMAT must be text or json")
        if not 0 <= self.TRUSTED_PROXY_HOPS <= 5:
            raise ConfigurationError("TRUSTED_PROXY_HOPS must be between 0 and 5")
        if self.PASSWORD_RESET_TTL <= 0 or self.EMAIL_VERIFY_TTL <= 0:
            raise ConfigurationError("PASSWORD_RESET_TTL and EMAIL_VERIFY_TTL must be positive")
        if not 1 <= self.PASSWORD_WORK_SLOTS <= 256:
            raise ConfigurationError("PASSWORD_WORK_SLOTS must be between 1 and 256")
        if not 0 <= self.PASSWORD_WORK_WAIT <= 10:
            raise ConfigurationError("PASSWORD_WORK_WAIT must be between 0 and 10 seconds")
        if not 32 <= self.RATELIMIT_IPV6_PREFIX <= 128:
            raise ConfigurationError("RATELIMIT_IPV6_PREFIX must be between 32 and 128")
        for name in ("RATELIMIT_LOGIN_PER_IDENTIFIER", "RATELIMIT_LOGIN_PER_IP",
                     "RATELIMIT_REGISTER_PER_IP", "RATELIMIT_MAIL_PER_IP",
                     "RATELIMIT_MAIL_PER_ADDRESS", "RATELIMIT_SECOND_FACTOR_PER_ACCOUNT",
                     "RATELIMIT_PASSKEY_PER_IP", "RATELIMIT_PASSKEY_OPTIONS_PER_IP"):  # fmt: skip
            try:
                limits.parse(getattr(self, name))
            except ValueError:
                raise ConfigurationError(
                    f"{name} must read like '5 per minute', got {getattr(self, name)!r}"
                ) from None
        if not 1 <= self.PASSWORD_MIN_LENGTH <= 1024:
            raise ConfigurationError("PASSWORD_MIN_LENGTH must be between 1 and 1024")
        if not PEPPER_ID.fullmatch(self.PASSWORD_PEPPER_ID):
            raise ConfigurationError(
                f"PASSWORD_PEPPER_ID must be {PEPPER_ID_RULE}, got {self.PASSWORD_PEPPER_ID!r}"
            )
        if not PEPPER_ID.fullmatch(self.SECOND_FACTOR_KEY_ID):
            raise ConfigurationError(
                f"SECOND_FACTOR_KEY_ID must be {PEPPER_ID_RULE}, got {self.SECOND_FACTOR_KEY_ID!r}"
            )
        if self.SECOND_FACTOR_KEY_ID in self.SECOND_FACTOR_OLD_KEYS:
            raise ConfigurationError(
                f"SECOND_FACTOR_OLD_KEYS must not reuse the current id "
                f"{self.SECOND_FACTOR_KEY_ID!r} (SECOND_FACTOR_KEY_ID)"
            )
        if not 30 <= self.SECOND_STEP_TTL <= 3600:
            raise ConfigurationError("SECOND_STEP_TTL must be between 30 and 3600 seconds")
        for origin in self.CORS_ORIGINS:
            problem = origin_problem(origin)
            if problem:
                raise ConfigurationError(problem)
        name = self.SESSION_COOKIE_NAME
        if name.lower().startswith(SECURE_ONLY_COOKIE_PREFIXES) and not self.SESSION_COOKIE_SECURE:
            prefix = name[: name.index("-") + 1]
            raise ConfigurationError(
                f"SESSION_COOKIE_NAME {name!r} needs SESSION_COOKIE_SECURE=true: "
                f"browsers drop {prefix} cookies that are not Secure"
            )
        self.validate_redis()
        self.validate_mail()
        self.validate_webauthn()

    def validate_redis(self) -> None:
        # Keys carry hash tags of their own ({tag}); a brace in the prefix
        # would become the tag and put every user in one cluster slot.
        if "{" in self.SESSION_KEY_PREFIX or "}" in self.SESSION_KEY_PREFIX:
            raise ConfigurationError("SESSION_KEY_PREFIX must not contain { or }")
        if self.REDIS_URL is not None:
            from app.redis_client import RedisUrlError, parse_redis_url

            try:
                target = parse_redis_url(self.REDIS_URL)
            except RedisUrlError as error:
                # The URL may hold a password: it is never repeated in the message.
                raise ConfigurationError(f"REDIS_URL {error}") from None
            if self.REDIS_REPLICA_ACKS is None:
                self.REDIS_REPLICA_ACKS = 1 if target.replicated else 0
        if not 0.05 <= self.REDIS_SOCKET_TIMEOUT <= 30:
            raise ConfigurationError("REDIS_SOCKET_TIMEOUT must be between 0.05 and 30 seconds")
        if not 0 <= self.REDIS_RETRIES <= 10:
            raise ConfigurationError("REDIS_RETRIES must be between 0 and 10")
        if self.REDIS_REPLICA_ACKS is not None and not 0 <= self.REDIS_REPLICA_ACKS <= 5:
            raise ConfigurationError("REDIS_REPLICA_ACKS must be between 0 and 5")
        if not 0.01 <= self.REDIS_REPLICA_TIMEOUT <= 10:
            raise ConfigurationError("REDIS_REPLICA_TIMEOUT must be between 0.01 and 10 seconds")

    def validate_mail(self) -> None:
        if self.SMTP_URL is not None:
            problem = _smtp_url_problem(self.SMTP_URL)
            if problem:
                # The URL may hold a password: it is never repeated in the message.
                raise ConfigurationError(f"SMTP_URL {problem}")
        if "@" not in parseaddr(self.MAIL_FROM)[1] or any(c in self.MAIL_FROM for c in "\r\n"):
            raise ConfigurationError(
                f"MAIL_FROM must be an address like 'Name <no-reply@example.com>', "
                f"got {self.MAIL_FROM!r}"
            )
        public = urlsplit(self.PUBLIC_URL or "")
        if self.PUBLIC_URL is not None and (
            public.scheme not in {"http", "https"} or not public.netloc
        ):
            raise ConfigurationError(
                f"PUBLIC_URL must look like https://auth.example.com, got {self.PUBLIC_URL!r}"
            )
        if not 60 <= self.MAIL_MAX_AGE <= 30 * 86400:
            raise ConfigurationError("MAIL_MAX_AGE must be between 60 and 2592000 seconds")
        if not 0.05 <= self.MAIL_POLL_INTERVAL <= 60:
            raise ConfigurationError("MAIL_POLL_INTERVAL must be between 0.05 and 60 seconds")
        # A send must end well within the outbox's 120-second claim.
        if not 1 <= self.MAIL_SMTP_TIMEOUT <= 30:
            raise ConfigurationError("MAIL_SMTP_TIMEOUT must be between 1 and 30 seconds")
        if "{" in self.MAIL_KEY_PREFIX or "}" in self.MAIL_KEY_PREFIX:
            raise ConfigurationError("MAIL_KEY_PREFIX must not contain { or }")

    def warnings(self) -> list[str]:
        """Settings worth one log line at start-up, that do not stop it."""
        return []


class DevelopmentConfig(Config):
    """A laptop: SQLite under instance/, the embedded Redis of the run command."""

    ENV_NAME = "development"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        if self.SQLALCHEMY_DATABASE_URI is None:
            self.SQLALCHEMY_DATABASE_URI = f"sqlite:///{INSTANCE_DIR / 'auth.sqlite3'}"
        if self.SECRET_KEY is None:
            self.SECRET_KEY = instance_secret("secret_key")
        if self.PASSWORD_PEPPER is None:
            self.PASSWORD_PEPPER = instance_secret("password_pepper")
        if self.SECOND_FACTOR_KEY is None:
            self.SECOND_FACTOR_KEY = instance_secret("second_factor_key")
        if self.REDIS_URL is None:
            # The embedded server that `make run` starts (scripts/devserver.py).
            self.REDIS_URL = f"unix://{EMBEDDED_REDIS_SOCKET}"


class TestingConfig(Config):
    """The fast test tier: in-memory SQLite, fakeredis injected, cheap bcrypt."""

    ENV_NAME = "testing"
    DEFAULT_BCRYPT_ROUNDS = 4
    DEFAULT_MAIL_DELIVERY_THREAD = False

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self.TESTING = True
        self.SECRET_KEY = self.SECRET_KEY or secrets.token_urlsafe(48)
        self.PASSWORD_PEPPER = self.PASSWORD_PEPPER or secrets.token_urlsafe(48)
        self.SECOND_FACTOR_KEY = self.SECOND_FACTOR_KEY or secrets.token_urlsafe(48)
        self.SQLALCHEMY_DATABASE_URI = self.SQLALCHEMY_DATABASE_URI or "sqlite://"
        self.RATELIMIT_ENABLED = False


class ProductionConfig(Config):
    """Many workers and hosts: every secret and URL must be given explicitly."""

    ENV_NAME = "production"
    DEFAULT_BLOCKLIST_ENABLED = True
    DEFAULT_LOG_FORMAT = "json"
    # Secure, Path=/ and no Domain (app/auth/transport.py): the browser then
    # refuses the cookie from any other host or from plain HTTP, so a sibling
    # subdomain cannot plant or overwrite it.
    DEFAULT_SESSION_COOKIE_NAME = "__Host-session"
    DEFAULT_HSTS_ENABLED = True
    FORCE_SECURE_COOKIE = True

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        # Named in the refusal, so that a forgotten APP_ENV reads as one.
        self._app_env_defaulted = not (env.get("APP_ENV") or "").strip()
        super().__init__(env)

    def validate(self) -> None:
        super().validate()
        missing = [
            name
            for name, value in (
                ("SECRET_KEY", self.SECRET_KEY),
                ("PASSWORD_PEPPER", self.PASSWORD_PEPPER),
                ("SECOND_FACTOR_KEY", self.SECOND_FACTOR_KEY),
                ("DATABASE_URL", self.SQLALCHEMY_DATABASE_URI),
                ("REDIS_URL", self.REDIS_URL),
            )
            if not value
        ]
        if missing:
            names = ", ".join(missing)
            if self._app_env_defaulted:
                raise ConfigurationError(
                    f"APP_ENV is unset, so production: needs {names} in the environment "
                    "(or set APP_ENV=development)"
                )
            raise ConfigurationError(f"APP_ENV=production needs {names} in the environment")
        for name, value in (
            ("SECRET_KEY", self.SECRET_KEY),
            ("PASSWORD_PEPPER", self.PASSWORD_PEPPER),
            ("SECOND_FACTOR_KEY", self.SECOND_FACTOR_KEY),
        ):
            if len(value or "") < MIN_SECRET_KEY_LENGTH:
                raise ConfigurationError(
                    f"{name} is too weak: use at least {MIN_SECRET_KEY_LENGTH} random "
                    'characters (python -c "import secrets; print(secrets.token_urlsafe(48))")'
                )
        if self.SECRET_KEY == self.PASSWORD_PEPPER:
            raise ConfigurationError(
                "SECRET_KEY and PASSWORD_PEPPER must be two different secrets: "
                "one leaked must not give away the other"
            )
        if self.SECOND_FACTOR_KEY in (self.SECRET_KEY, self.PASSWORD_PEPPER):
            raise ConfigurationError(
                "SECOND_FACTOR_KEY must differ from SECRET_KEY and PASSWORD_PEPPER: "
                "one leaked must not give away the others"
            )
        if self.WEBAUTHN_RP_ID is None:
            raise ConfigurationError(
                "APP_ENV=production needs PUBLIC_URL or WEBAUTHN_RP_ID in the environment "
                "(the host passkeys are bound to)"
            )
        if self.BCRYPT_ROUNDS < MIN_PRODUCTION_BCRYPT_ROUNDS:
            raise ConfigurationError(
                f"BCRYPT_ROUNDS must be at least {MIN_PRODUCTION_BCRYPT_ROUNDS} in production, "
                f"got {self.BCRYPT_ROUNDS}"
            )

    def warnings(self) -> list[str]:
        if self.TRUSTED_HOSTS is None:
            return [
                "TRUSTED_HOSTS is empty: answering requests for any Host; "
                "list the host names this service is reached by"
            ]
        return []


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_from_env(env: Mapping[str, str] | None = None) -> Config:
    """Build the configuration named by ``APP_ENV`` (unset or empty: production)."""
    env = os.environ if env is None else env
    name = (env.get("APP_ENV") or "").strip().lower() or "production"
    try:
        config_class = CONFIGS[name]
    except KeyError:
        raise ConfigurationError(
            f"APP_ENV must be one of {', '.join(CONFIGS)}, got {name!r}"
        ) from None
    return config_class(env)
