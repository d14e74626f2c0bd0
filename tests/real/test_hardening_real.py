"""The audit's findings on a live production gunicorn from gunicorn.conf.py
(docs/SECURITY.md): the access log cannot be forged, a weak setting stops
gunicorn before it forks, TRUSTED_HOSTS, HSTS and the API's CSP."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from tests.real.services import LOOPBACK, ROOT, Gunicorn, free_port


def test_production_headers_and_any_host_with_one_warning(production_gunicorn: Any) -> None:
    server: Gunicorn = production_gunicorn("headers")
    for path in ("/api/auth/me", "/healthz", "/nope"):
        reply = server.call("GET", path)
        assert reply.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
        assert reply.headers["Content-Security-Policy"] == (
            "default-src 'none'; frame-ancestors 'none'"
        )
    # Without TRUSTED_HOSTS any host is answered, and the master said so once.
    assert server.call("GET", "/healthz", headers={"Host": "any.example"}).status == 200
    warning = "configuration: TRUSTED_HOSTS is empty: answering requests for any Host"
    assert server.log().count(warning) == 1, server.log()


def test_trusted_hosts_on_a_live_server(production_gunicorn: Any) -> None:
    server: Gunicorn = production_gunicorn("hosts", TRUSTED_HOSTS=f"{LOOPBACK},auth.example.com")
    assert server.call("GET", "/healthz").status == 200  # Host: 127.0.0.1:<port>
    assert server.call("GET", "/healthz", headers={"Host": "auth.example.com:443"}).status == 200
    refused = server.call("GET", "/api/auth/me", headers={"Host": "evil.example"})
    assert refused.status == 400
    assert refused.body == {"detail": "Untrusted Host header"}
    assert "TRUSTED_HOSTS is empty" not in server.log()


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
