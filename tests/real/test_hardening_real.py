"""The audit's findings on a live production gunicorn from gunicorn.conf.py
(docs/SECURITY.md): the access log cannot be forged, a weak setting stops
gunicorn before it forks, TRUSTED_HOSTS, HSTS and the API's CSP."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.real.services import LOOPBACK, ROOT, free_port

WEAK = {
    "bcrypt": ({"BCRYPT_ROUNDS": "4"}, "BCRYPT_ROUNDS must be at least 10 in production, got 4"),
    "cors": (
        {"CORS_ORIGINS": "*"},
        "CORS_ORIGINS must name origins, not '*': credentials go to listed origins only",
    ),
    "same-secret": (
        {"PASSWORD_PEPPER": "s" * 48, "SECRET_KEY": "s" * 48},
        "SECRET_KEY and PASSWORD_PEPPER must be two different secrets: "
        "one leaked must not give away the other",
    ),
    "pepper-id": (
        {"PASSWORD_PEPPER_ID": "2$"},
        "PASSWORD_PEPPER_ID must be 1-16 characters of A-Z, a-z, 0-9, '_' and '-', got '2$'",
    ),
}


@pytest.mark.parametrize("weak", WEAK)
def test_production_gunicorn_refuses_a_weak_setting_before_forking(
    gunicorn_env: dict[str, str], weak: str
) -> None:
    settings, reason = WEAK[weak]
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}},
        **gunicorn_env,
        "DATABASE_URL": "postgresql+psycopg://127.0.0.1:1/never-contacted",
        "BIND": f"{LOOPBACK}:{free_port()}",
        **settings,
    }
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert result.stderr.splitlines()[-1] == f"configuration error: {reason}"
    assert result.stderr.count("configuration error") == 1
    assert "Traceback" not in result.stderr
    assert "Booting worker" not in result.stderr  # refused in the master, before forking
