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
    "DATABASE_URL": "postgresql+psycopg://auth@db/auth",
    "REDIS_URL": "redis://cache:6379/0",
}


UNSET_MEANS_PRODUCTION = (
    "APP_ENV is unset, so production: needs SECRET_KEY, PASSWORD_PEPPER, DATABASE_URL, "
    "REDIS_URL in the environment (or set APP_ENV=development)"
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


@pytest.mark.parametrize("missing", ["SECRET_KEY", "PASSWORD_PEPPER", "DATABASE_URL", "REDIS_URL"])
def test_production_refuses_to_start_without(missing: str) -> None:
    env = {name: value for name, value in PRODUCTION.items() if name != missing}
    with pytest.raises(ConfigurationError, match=f"APP_ENV=production needs {missing}"):
        config_from_env(env)


@pytest.mark.parametrize("name", ["SECRET_KEY", "PASSWORD_PEPPER"])
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


# --- HSTS ---


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
