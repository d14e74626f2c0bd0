"""The browser tier, inside the real tier whose fixtures it uses: real
headless Chromium (Debian's, never a downloaded build) driving the demo page
on a real gunicorn and Redis; for the account lifecycle, a production
gunicorn on PostgreSQL that mails through a real SMTP server (aiosmtpd).

Screenshots of every step go to artifacts/browser/. Waits are Playwright's
(``expect``, auto-waiting locators) or a condition variable, with generous
timeouts: the machine may be loaded, and nothing here sleeps a fixed time.
"""

from __future__ import annotations

import email
import email.policy
import functools
import http.server
import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.real.conftest import flask_db_upgrade
from tests.real.services import LOOPBACK, ROOT, Gunicorn, free_port

TIMEOUT_MS = 30_000  # for every Playwright wait: a loaded machine is slow, not broken
MAIL_TIMEOUT = 60.0  # seconds for a mail to come through the outbox and SMTP
expect.set_options(timeout=TIMEOUT_MS)

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
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def devices(browser: Any) -> Iterator[Callable[[str], Any]]:
    """``devices("Laptop")``: a page in a browser context of its own (its own
    cookies), whose User-Agent ends with that name, so that the sessions list
    can tell the devices apart."""
    contexts: list[Any] = []

    def open_device(name: str) -> Any:
        context = browser.new_context(
            viewport={"width": 1100, "height": 720},
            user_agent=f"Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36 {name}",
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_device
    for context in contexts:
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
            "SECOND_FACTOR_KEY": secrets.token_urlsafe(48),
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


# --- mail through a real SMTP server -------------------------------------------------


@dataclass(frozen=True)
class Mail:
    to: list[str]
    subject: str
    text: str

    @property
    def link(self) -> str:
        """The one link with a token that the mail carries."""
        [link] = re.findall(r"https?://\S+token=\S+", self.text)
        return link


class Mailbox:
    """An aiosmtpd handler that keeps every message it is given, in order."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.changed = threading.Condition()
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = parsed.get_body(("plain",))  # type: ignore[attr-defined]
        mail = Mail(list(envelope.rcpt_tos), str(parsed["Subject"]), body.get_content())
        with self.changed:
            self.mails.append(mail)
            self.changed.notify_all()
        return "250 Message accepted for delivery"

    def matching(self, to: str, subject: str) -> list[Mail]:
        return [mail for mail in self.mails if to in mail.to and subject in mail.subject]

    def wait_for(self, to: str, subject: str, count: int = 1) -> Mail:
        """The ``count``-th mail to ``to`` whose subject contains ``subject``,
        once it has come (woken by each arrival, never polling)."""
        with self.changed:
            arrived = self.changed.wait_for(
                lambda: len(self.matching(to, subject)) >= count, MAIL_TIMEOUT
            )
            if not arrived:
                subjects = [(mail.to, mail.subject) for mail in self.mails]
                raise AssertionError(
                    f"mail #{count} to {to} about {subject!r} not received in "
                    f"{MAIL_TIMEOUT} s; received: {subjects}"
                )
            return self.matching(to, subject)[count - 1]


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on loopback that collects what it is sent."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    controller = Controller(box, hostname=LOOPBACK, port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@dataclass
class MailingService:
    server: Gunicorn
    mailbox: Mailbox

    @property
    def base(self) -> str:
        return f"http://{LOOPBACK}:{self.server.port}"


@pytest.fixture
def mailing_service(
    make_gunicorn: Any,
    gunicorn_env: dict[str, str],
    postgres_database: Any,
    mailbox: Mailbox,
) -> MailingService:
    """The production gunicorn (on a fresh PostgreSQL database) that mails
    through ``mailbox``, with links to itself, so that a mailed link opens
    in the same browser."""
    database_url = postgres_database("browser")
    flask_db_upgrade(database_url)
    server: Gunicorn = make_gunicorn(
        {
            **gunicorn_env,
            "DATABASE_URL": database_url,
            "SMTP_URL": f"smtp://{LOOPBACK}:{mailbox.port}",
            "MAIL_POLL_INTERVAL": "0.2",
        }
    )
    server.env["PUBLIC_URL"] = f"http://{LOOPBACK}:{server.port}"  # its port, known now
    server.start()
    return MailingService(server, mailbox)
