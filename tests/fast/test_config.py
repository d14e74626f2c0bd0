"""Configuration from the environment and production refusals (docs/API.md, Configuration)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from app import create_app
from config import (
    EMBEDDED_REDIS_SOCKET,
    ConfigurationError,
    DevelopmentConfig,
    ProductionConfig,
    config_from_env,
)

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k" * 48
PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": STRONG_KEY,
    "PASSWORD_PEPPER": "p" * 48,
    "SECOND_FACTOR_KEY": "f" * 48,
    "DATABASE_URL": "postgresql+psycopg://auth@db/auth",
    "REDIS_URL": "redis://cache:6379/0",
    "WEBAUTHN_RP_ID": "auth.example.com",
}


UNSET_MEANS_PRODUCTION = (
    "APP_ENV is unset, so production: needs SECRET_KEY, PASSWORD_PEPPER, SECOND_FACTOR_KEY, "
    "DATABASE_URL, REDIS_URL in the environment (or set APP_ENV=development)"
)


def test_development_uses_local_services() -> None:
    config = config_from_env({"APP_ENV": "development"})
    assert isinstance(config, DevelopmentConfig)
    assert config.SQLALCHEMY_DATABASE_URI.endswith("instance/auth.sqlite3")  # type: ignore[union-attr]
    assert f"unix://{EMBEDDED_REDIS_SOCKET}" == config.REDIS_URL
    assert config.BCRYPT_ROUNDS == 12
    assert config.SESSION_COOKIE_SECURE is False


@pytest.mark.parametrize("app_env", [None, "", "  "])
def test_app_env_unset_means_production_which_refuses_without_secrets(
    app_env: str | None,
) -> None:
    """A process nobody configured must not run with development settings."""
    env = {} if app_env is None else {"APP_ENV": app_env}
    with pytest.raises(ConfigurationError) as refused:
        config_from_env(env)
    assert str(refused.value) == UNSET_MEANS_PRODUCTION


def test_app_env_unset_with_production_settings_is_production() -> None:
    config = config_from_env({k: v for k, v in PRODUCTION.items() if k != "APP_ENV"})
    assert isinstance(config, ProductionConfig)
    assert config.SESSION_COOKIE_SECURE is True
    assert config.SESSION_COOKIE_NAME == "__Host-session"
    assert config.HSTS_ENABLED is True
    assert config.PASSWORD_BLOCKLIST_ENABLED is True


def test_every_documented_variable_is_read() -> None:
    config = config_from_env(
        {
            **PRODUCTION,
            "BCRYPT_ROUNDS": "11",
            "SESSION_IDLE_TIMEOUT": "600",
            "SESSION_MAX_AGE": "7200",
            "SESSION_COOKIE_NAME": "sid",
            "CORS_ORIGINS": "https://a.example, https://b.example,",
            "PASSWORD_MIN_LENGTH": "10",
            "MAX_CONTENT_LENGTH": "1024",
            "RATELIMIT_ENABLED": "false",
            "LOG_LEVEL": "warning",
            "HSTS_ENABLED": "false",
            "TRUSTED_HOSTS": "auth.example.com, .example.org:8443",
        }
    )
    assert config.BCRYPT_ROUNDS == 11
    assert config.SESSION_IDLE_TIMEOUT == 600
    assert config.SESSION_MAX_AGE == 7200
    assert config.SESSION_COOKIE_NAME == "sid"
    assert config.CORS_ORIGINS == ["https://a.example", "https://b.example"]
    assert config.PASSWORD_MIN_LENGTH == 10
    assert config.MAX_CONTENT_LENGTH == 1024
    assert config.RATELIMIT_ENABLED is False
    assert config.LOG_LEVEL == "WARNING"
    assert config.HSTS_ENABLED is False
    assert config.TRUSTED_HOSTS == ["auth.example.com", ".example.org"]


def test_production_forces_secure_cookies() -> None:
    config = config_from_env({**PRODUCTION, "SESSION_COOKIE_SECURE": "false"})
    assert isinstance(config, ProductionConfig)
    assert config.SESSION_COOKIE_SECURE is True


def test_production_cookie_is_secure_on_the_wire(monkeypatch: pytest.MonkeyPatch) -> None:
    config = config_from_env(PRODUCTION)
    config.REDIS_CLIENT = fakeredis.FakeRedis()  # type: ignore[attr-defined]
    config.SQLALCHEMY_DATABASE_URI = "sqlite://"
    config.BCRYPT_ROUNDS = 4
    app = create_app(config)
    from app.extensions import db

    with app.app_context():
        db.create_all()
    client = app.test_client()
    client.post(
        "/api/auth/register",
        json={"username": "ann", "email": "ann@example.com", "password": "Tr0ub4dor&3-horse"},
    )
    response = client.post(
        "/api/auth/login", json={"email": "ann@example.com", "password": "Tr0ub4dor&3-horse"}
    )
    assert response.status_code == 200
    assert "; Secure" in response.headers["Set-Cookie"]


@pytest.mark.parametrize(
    "missing", ["SECRET_KEY", "PASSWORD_PEPPER", "SECOND_FACTOR_KEY", "DATABASE_URL", "REDIS_URL"]
)
def test_production_refuses_to_start_without(missing: str) -> None:
    env = {name: value for name, value in PRODUCTION.items() if name != missing}
    with pytest.raises(ConfigurationError, match=f"APP_ENV=production needs {missing}"):
        config_from_env(env)


@pytest.mark.parametrize("name", ["SECRET_KEY", "PASSWORD_PEPPER", "SECOND_FACTOR_KEY"])
@pytest.mark.parametrize("value", ["dev", "changeme", "x" * 31])
def test_production_refuses_a_weak_secret(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{name} is too weak"):
        config_from_env({**PRODUCTION, name: value})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"APP_ENV": "staging"}, "APP_ENV must be one of"),
        ({"BCRYPT_ROUNDS": "twelve"}, "BCRYPT_ROUNDS must be an integer"),
        ({"BCRYPT_ROUNDS": "3"}, "BCRYPT_ROUNDS must be between 4 and 31"),
        ({"SESSION_IDLE_TIMEOUT": "0"}, "session timeouts must be positive"),
        ({"PASSWORD_MIN_LENGTH": "0"}, "PASSWORD_MIN_LENGTH must be between"),
        ({"RATELIMIT_ENABLED": "maybe"}, "RATELIMIT_ENABLED must be true or false"),
    ],
)
def test_invalid_values_are_refused_with_a_clear_message(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        config_from_env(env)


def test_password_min_length_applies_to_registration(redis: Any) -> None:
    from tests.conftest import make_config

    app = create_app(make_config(REDIS_CLIENT=redis, PASSWORD_MIN_LENGTH=12))
    from app.extensions import db

    with app.app_context():
        db.create_all()
    response = app.test_client().post(
        "/api/auth/register",
        json={"username": "ann", "email": "ann@example.com", "password": "elevenchars"},
    )
    assert response.status_code == 422
    assert response.json["detail"][0]["msg"] == "ensure this value has at least 12 characters"  # type: ignore[index]


def test_wsgi_without_app_env_refuses_to_start_as_production() -> None:
    """`flask --app wsgi …` or gunicorn started with nothing set: production's refusal."""
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"configuration error: {UNSET_MEANS_PRODUCTION}"]


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL"])
def test_wsgi_refuses_to_start_with_one_line(missing: str) -> None:
    """What an operator sees: one line naming what is missing, no traceback."""
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    env.update({name: value for name, value in PRODUCTION.items() if name != missing})
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"configuration error: APP_ENV=production needs {missing} in the environment"
    ]


# --- production refuses weak settings, each in one line naming the variable ---

ID_RULE = "1-16 characters of A-Z, a-z, 0-9, '_' and '-'"
NOT_EXACT = (
    "(scheme://host[:port]: no path or trailing '/', query, fragment, user info or default port)"
)
REFUSALS = {
    "bcrypt cost 9": (
        {"BCRYPT_ROUNDS": "9"},
        "BCRYPT_ROUNDS must be at least 10 in production, got 9",
    ),
    "bcrypt cost 4": (
        {"BCRYPT_ROUNDS": "4"},
        "BCRYPT_ROUNDS must be at least 10 in production, got 4",
    ),
    "pepper equal to the secret key": (
        {"PASSWORD_PEPPER": STRONG_KEY},
        "SECRET_KEY and PASSWORD_PEPPER must be two different secrets: "
        "one leaked must not give away the other",
    ),
    "second-factor key equal to the secret key": (
        {"SECOND_FACTOR_KEY": STRONG_KEY},
        "SECOND_FACTOR_KEY must differ from SECRET_KEY and PASSWORD_PEPPER: "
        "one leaked must not give away the others",
    ),
    "second-factor key equal to the pepper": (
        {"SECOND_FACTOR_KEY": "p" * 48},
        "SECOND_FACTOR_KEY must differ from SECRET_KEY and PASSWORD_PEPPER: "
        "one leaked must not give away the others",
    ),
    "second-factor key id": (
        {"SECOND_FACTOR_KEY_ID": "k$1"},
        f"SECOND_FACTOR_KEY_ID must be {ID_RULE}, got 'k$1'",
    ),
    "second-factor old key id": (
        {"SECOND_FACTOR_OLD_KEYS": "a b:secret"},
        f"SECOND_FACTOR_OLD_KEYS ids must be {ID_RULE}, got 'a b'",
    ),
    "second-factor old key shape": (
        {"SECOND_FACTOR_OLD_KEYS": "justakey"},
        "SECOND_FACTOR_OLD_KEYS must look like id:secret,id:secret",
    ),
    "second-factor old key reusing the current id": (
        {"SECOND_FACTOR_OLD_KEYS": "1:old-secret"},
        "SECOND_FACTOR_OLD_KEYS must not reuse the current id '1' (SECOND_FACTOR_KEY_ID)",
    ),
    "second-step ttl": (
        {"SECOND_STEP_TTL": "5"},
        "SECOND_STEP_TTL must be between 30 and 3600 seconds",
    ),
    "second-factor throttle": (
        {"RATELIMIT_SECOND_FACTOR_PER_ACCOUNT": "often"},
        "RATELIMIT_SECOND_FACTOR_PER_ACCOUNT must read like '5 per minute', got 'often'",
    ),
    "cors wildcard": (
        {"CORS_ORIGINS": "https://app.example,*"},
        "CORS_ORIGINS must name origins, not '*': credentials go to listed origins only",
    ),
    "cors null": (
        {"CORS_ORIGINS": "null"},
        "CORS_ORIGINS must not list 'null': every sandboxed frame and file: page sends it",
    ),
    "cors trailing slash": (
        {"CORS_ORIGINS": "https://app.example/"},
        f"CORS_ORIGINS entry 'https://app.example/' is not an exact origin: "
        f"write 'https://app.example' {NOT_EXACT}",
    ),
    "cors path": (
        {"CORS_ORIGINS": "https://app.example/login"},
        f"CORS_ORIGINS entry 'https://app.example/login' is not an exact origin: "
        f"write 'https://app.example' {NOT_EXACT}",
    ),
    "cors query": (
        {"CORS_ORIGINS": "https://app.example?x=1"},
        f"CORS_ORIGINS entry 'https://app.example?x=1' is not an exact origin: "
        f"write 'https://app.example' {NOT_EXACT}",
    ),
    "cors fragment": (
        {"CORS_ORIGINS": "https://app.example:8443#top"},
        f"CORS_ORIGINS entry 'https://app.example:8443#top' is not an exact origin: "
        f"write 'https://app.example:8443' {NOT_EXACT}",
    ),
    "cors userinfo": (
        {"CORS_ORIGINS": "https://ann@app.example"},
        f"CORS_ORIGINS entry 'https://ann@app.example' is not an exact origin: "
        f"write 'https://app.example' {NOT_EXACT}",
    ),
    "cors default port": (
        {"CORS_ORIGINS": "https://app.example:443"},
        f"CORS_ORIGINS entry 'https://app.example:443' is not an exact origin: "
        f"write 'https://app.example' {NOT_EXACT}",
    ),
    "cors upper case": (
        {"CORS_ORIGINS": "https://App.Example"},
        f"CORS_ORIGINS entry 'https://App.Example' is not an exact origin: "
        f"write 'https://app.example' {NOT_EXACT}",
    ),
    "cors other scheme": (
        {"CORS_ORIGINS": "ftp://app.example"},
        "CORS_ORIGINS entry 'ftp://app.example' must start with http:// or https://",
    ),
    "cors no scheme": (
        {"CORS_ORIGINS": "app.example:3000"},
        "CORS_ORIGINS entry 'app.example:3000' must start with http:// or https://",
    ),
    "cors no host": (
        {"CORS_ORIGINS": "https://"},
        "CORS_ORIGINS entry 'https://' has no host: write scheme://host[:port]",
    ),
    "cors bad port": (
        {"CORS_ORIGINS": "https://app.example:99999"},
        "CORS_ORIGINS entry 'https://app.example:99999' is not an origin: "
        "write scheme://host[:port]",
    ),
    "pepper id with a dollar": (
        {"PASSWORD_PEPPER_ID": "2$x"},
        f"PASSWORD_PEPPER_ID must be {ID_RULE}, got '2$x'",
    ),
    "pepper id too long": (
        {"PASSWORD_PEPPER_ID": "a" * 17},
        f"PASSWORD_PEPPER_ID must be {ID_RULE}, got '{'a' * 17}'",
    ),
    "pepper id with a space": (
        {"PASSWORD_PEPPER_ID": "v 2"},
        f"PASSWORD_PEPPER_ID must be {ID_RULE}, got 'v 2'",
    ),
    "old pepper id with a dollar": (
        {"PASSWORD_OLD_PEPPERS": "1$:" + "o" * 48},
        f"PASSWORD_OLD_PEPPERS ids must be {ID_RULE}, got '1$'",
    ),
    "untrusted host entry that is a url": (
        {"TRUSTED_HOSTS": "https://auth.example.com"},
        "TRUSTED_HOSTS entry 'https://auth.example.com' is not a host name "
        "(example.com, .example.com for every subdomain, or an IPv4 address)",
    ),
    "untrusted host wildcard": (
        {"TRUSTED_HOSTS": "*.example.com"},
        "TRUSTED_HOSTS entry '*.example.com' is not a host name "
        "(example.com, .example.com for every subdomain, or an IPv4 address)",
    ),
}


@pytest.mark.parametrize(("env", "message"), REFUSALS.values(), ids=REFUSALS.keys())
def test_production_refuses_a_weak_setting_in_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        config_from_env({**PRODUCTION, **env})
    assert str(refused.value) == message
    assert "\n" not in message


# What would corrupt the hash format or never match a browser's Origin is
# refused everywhere; what only weakens (cheap bcrypt, one secret for both
# uses) is the test configuration's privilege.
EVERYWHERE = ["pepper id with a dollar", "old pepper id with a dollar", "cors wildcard",
              "cors trailing slash", "untrusted host wildcard"]  # fmt: skip
PRODUCTION_ONLY = ["bcrypt cost 4", "pepper equal to the secret key"]


@pytest.mark.parametrize("refusal", EVERYWHERE)
@pytest.mark.parametrize("app_env", ["development", "testing"])
def test_broken_formats_are_refused_in_every_environment(app_env: str, refusal: str) -> None:
    env, message = REFUSALS[refusal]
    with pytest.raises(ConfigurationError) as refused:
        config_from_env({**PRODUCTION, **env, "APP_ENV": app_env})
    assert str(refused.value) == message


@pytest.mark.parametrize("refusal", PRODUCTION_ONLY)
def test_cheap_settings_are_fine_for_tests(refusal: str) -> None:
    env, _ = REFUSALS[refusal]
    config_from_env({**PRODUCTION, **env, "APP_ENV": "testing"})


@pytest.mark.parametrize(
    "origins",
    ["https://app.example", "http://localhost:3000", "http://127.0.0.1:8080",
     "http://[::1]:3000", "https://xn--bcher-kva.example"],
)  # fmt: skip
def test_exact_origins_are_accepted(origins: str) -> None:
    assert [origins] == config_from_env({**PRODUCTION, "CORS_ORIGINS": origins}).CORS_ORIGINS


def test_a_valid_pepper_id_and_old_peppers_are_accepted() -> None:
    config = config_from_env(
        {**PRODUCTION, "PASSWORD_PEPPER_ID": "2026-02_b", "PASSWORD_OLD_PEPPERS": "1:a:b$c"}
    )
    assert config.PASSWORD_PEPPER_ID == "2026-02_b"
    assert config.PASSWORD_OLD_PEPPERS == {"1": "a:b$c"}  # only the id is constrained


def test_second_factor_keys_rotate_like_the_pepper() -> None:
    config = config_from_env(
        {**PRODUCTION, "SECOND_FACTOR_KEY_ID": "2027", "SECOND_FACTOR_OLD_KEYS": "2026:o:l$d"}
    )
    assert (config.SECOND_FACTOR_KEY_ID, config.SECOND_FACTOR_OLD_KEYS) == (
        "2027",
        {"2026": "o:l$d"},
    )


def test_development_keeps_its_second_factor_key_in_the_instance_folder() -> None:
    first = config_from_env({"APP_ENV": "development"}).SECOND_FACTOR_KEY
    assert len(first or "") >= 32
    assert first == config_from_env({"APP_ENV": "development"}).SECOND_FACTOR_KEY


# --- the session cookie's name ---


@pytest.mark.parametrize(
    ("app_env", "name"),
    [("production", "__Host-session"), ("development", "session"), ("testing", "session")],
)
def test_cookie_name_per_environment(app_env: str, name: str) -> None:
    assert name == config_from_env({**PRODUCTION, "APP_ENV": app_env}).SESSION_COOKIE_NAME


@pytest.mark.parametrize("name", ["__Host-sid", "__host-sid", "__Secure-sid"])
def test_a_secure_only_cookie_name_needs_secure(name: str) -> None:
    env = {**PRODUCTION, "APP_ENV": "development", "SESSION_COOKIE_NAME": name}
    with pytest.raises(ConfigurationError) as refused:
        config_from_env(env)
    prefix = name[: name.index("-") + 1]
    assert str(refused.value) == (
        f"SESSION_COOKIE_NAME {name!r} needs SESSION_COOKIE_SECURE=true: "
        f"browsers drop {prefix} cookies that are not Secure"
    )
    secure = config_from_env({**env, "SESSION_COOKIE_SECURE": "true"})
    assert name == secure.SESSION_COOKIE_NAME
    # Production forces Secure, so the name is always usable there.
    assert config_from_env({**PRODUCTION, "SESSION_COOKIE_NAME": name}).SESSION_COOKIE_SECURE


# --- HSTS and TRUSTED_HOSTS defaults ---


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({}, True),
        ({"HSTS_ENABLED": "false"}, False),
        ({"APP_ENV": "development"}, False),
        ({"APP_ENV": "testing"}, False),
        ({"APP_ENV": "development", "HSTS_ENABLED": "true"}, True),
    ],
)
def test_hsts_is_on_by_default_in_production_only(env: dict[str, str], enabled: bool) -> None:
    assert config_from_env({**PRODUCTION, **env}).HSTS_ENABLED is enabled


def test_production_without_trusted_hosts_answers_any_host_with_one_warning() -> None:
    config = config_from_env(PRODUCTION)
    assert config.TRUSTED_HOSTS is None
    assert config.warnings() == [
        "TRUSTED_HOSTS is empty: answering requests for any Host; "
        "list the host names this service is reached by"
    ]
    assert config_from_env({**PRODUCTION, "TRUSTED_HOSTS": "auth.example.com"}).warnings() == []
    assert config_from_env({**PRODUCTION, "APP_ENV": "development"}).warnings() == []


# --- passkeys: the relying party -------------------------------------------------


def test_production_refuses_to_start_without_a_relying_party() -> None:
    env = {name: value for name, value in PRODUCTION.items() if name != "WEBAUTHN_RP_ID"}
    with pytest.raises(ConfigurationError) as refused:
        config_from_env(env)
    assert str(refused.value) == (
        "APP_ENV=production needs PUBLIC_URL or WEBAUTHN_RP_ID in the environment "
        "(the host passkeys are bound to)"
    )


@pytest.mark.parametrize(
    ("public_url", "rp_id", "origins"),
    [
        ("https://auth.example.com", "auth.example.com", ["https://auth.example.com"]),
        (
            "https://Auth.Example.com:8443/app",
            "auth.example.com",
            ["https://auth.example.com:8443"],
        ),
        ("http://localhost:5000", "localhost", ["http://localhost:5000"]),
        ("https://auth.example.com:443", "auth.example.com", ["https://auth.example.com"]),
    ],
)
def test_the_relying_party_comes_from_public_url(
    public_url: str, rp_id: str, origins: list[str]
) -> None:
    env = {name: value for name, value in PRODUCTION.items() if name != "WEBAUTHN_RP_ID"}
    config = config_from_env({**env, "PUBLIC_URL": public_url})
    assert rp_id == config.WEBAUTHN_RP_ID
    assert origins == config.WEBAUTHN_ORIGINS
    assert config.WEBAUTHN_RP_NAME == "Auth service"


def test_an_explicit_relying_party_wins_over_public_url() -> None:
    config = config_from_env(
        {
            **PRODUCTION,
            "PUBLIC_URL": "https://www.example.com",
            "WEBAUTHN_RP_ID": "example.com",
            "WEBAUTHN_ORIGINS": "https://www.example.com,https://app.example.com",
        }
    )
    assert config.WEBAUTHN_RP_ID == "example.com"
    assert config.WEBAUTHN_ORIGINS == ["https://www.example.com", "https://app.example.com"]


def test_an_rp_id_alone_means_its_https_origin() -> None:
    config = config_from_env(PRODUCTION)
    assert config.WEBAUTHN_ORIGINS == ["https://auth.example.com"]


def test_development_derives_the_relying_party_from_each_request() -> None:
    config = config_from_env({"APP_ENV": "development"})
    assert config.WEBAUTHN_RP_ID is None
    assert config.WEBAUTHN_ORIGINS == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WEBAUTHN_RP_ID": "https://auth.example.com"}, "WEBAUTHN_RP_ID must be a host name"),
        ({"WEBAUTHN_RP_ID": ".example.com"}, "WEBAUTHN_RP_ID must be a host name"),
        ({"WEBAUTHN_ORIGINS": "https://auth.example.com/"}, "WEBAUTHN_ORIGINS entry"),
        ({"WEBAUTHN_ORIGINS": "*"}, "WEBAUTHN_ORIGINS must name origins"),
        ({"WEBAUTHN_ORIGINS": "https://evil.example.org"}, "is not on WEBAUTHN_RP_ID"),
        ({"WEBAUTHN_ORIGINS": "https://notexample.com"}, "is not on WEBAUTHN_RP_ID"),
        ({"WEBAUTHN_RP_NAME": " "}, "WEBAUTHN_RP_NAME must be 1 to 64 characters"),
        ({"RATELIMIT_PASSKEY_PER_IP": "lots"}, "RATELIMIT_PASSKEY_PER_IP must read like"),
    ],
)
def test_bad_relying_party_settings_are_refused(env: dict[str, str], message: str) -> None:
    base = {**PRODUCTION, "WEBAUTHN_RP_ID": "example.com"}
    with pytest.raises(ConfigurationError, match=message):
        config_from_env({**base, **env})


def test_subdomain_origins_of_the_rp_id_are_accepted() -> None:
    config = config_from_env(
        {**PRODUCTION, "WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "https://a.example.com"}
    )
    assert config.WEBAUTHN_ORIGINS == ["https://a.example.com"]
