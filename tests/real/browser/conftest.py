"""The browser tier, inside the real tier whose fixtures it uses: real
headless Chromium (Debian's, never a downloaded build) driving the demo page
on a real gunicorn and Redis.

Screenshots of every step go to artifacts/browser/.
"""

from __future__ import annotations

import functools
import http.server
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.real.conftest import flask_db_upgrade
from tests.real.services import ROOT, Gunicorn

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 720})
    yield context
    context.close()


class Shots:
    """Numbered screenshots of a test's steps."""

    def __init__(self, name: str) -> None:
        self.directory = ARTIFACTS / name
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        self.count = 0

    def take(self, page: Any, step: str) -> Path:
        self.count += 1
        path = self.directory / f"{self.count:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)


class StaticSite:
    """tests/browser/ served from another port: another origin."""

    def __init__(self) -> None:
        handler = functools.partial(
            http.server.SimpleHTTPRequestHandler, directory=str(Path(__file__).parent)
        )
        handler.log_message = lambda *args: None  # type: ignore[attr-defined]
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sites() -> Iterator[tuple[StaticSite, StaticSite]]:
    """Two other origins: the first is listed in CORS_ORIGINS, the second is not."""
    listed, unlisted = StaticSite(), StaticSite()
    yield listed, unlisted
    listed.close()
    unlisted.close()


@pytest.fixture
def service(
    make_gunicorn: Any,
    real_redis_url: str,
    key_prefix: str,
    redis: Any,
    tmp_path: Path,
    sites: tuple[StaticSite, StaticSite],
) -> Gunicorn:
    """The service as `make run` serves it (development settings), on real Redis."""
    database_url = f"sqlite:///{tmp_path / 'browser.sqlite3'}"
    flask_db_upgrade(database_url)
    server: Gunicorn = make_gunicorn(
        {
            "APP_ENV": "development",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "PASSWORD_PEPPER": secrets.token_urlsafe(48),
            "DATABASE_URL": database_url,
            "REDIS_URL": real_redis_url,
            "SESSION_KEY_PREFIX": key_prefix,
            "RATELIMIT_ENABLED": "false",
            "BCRYPT_ROUNDS": "4",
            "CORS_ORIGINS": sites[0].origin,
        }
    )
    server.start()
    return server
