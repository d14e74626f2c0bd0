"""The mail outbox against a real Redis and a real SMTP server (aiosmtpd) on loopback.

Delivery runs as in the service: the app factory's delivery thread, or
``DeliveryThread``s and processes of their own, sending with
``SmtpTransport`` (smtplib) to an aiosmtpd server each test starts on a
free 127.0.0.1 port. Every key lives under a private prefix, deleted after.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import multiprocessing
import os
import random
import secrets
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app import create_app, mail
from app.mail import DeliveryThread, Outbox, SmtpTransport, compose
from tests.conftest import make_config
from tests.real.conftest import RUN_ID
from tests.real.services import LOOPBACK, free_port

KEY = b"the app's SECRET_KEY, for these tests only"
MAIL_FROM = "Auth service <no-reply@auth.example.com>"


class Inbox:
    """aiosmtpd handler: keeps every message it accepts (parsed) and its envelope."""

    def __init__(self, delay: float = 0.0) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.delay = delay
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.delay:  # uneven, so that the two workers' sends interleave in many ways
            await asyncio.sleep(self.delay * random.uniform(0.2, 1.8))
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        with self.lock:
            self.messages.append(parsed)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(message["Message-ID"]) for message in self.messages]


class SmtpServer:
    """A real SMTP server on 127.0.0.1:<port>, stopped and started at will."""

    def __init__(self, inbox: Inbox, port: int | None = None, **options: Any) -> None:
        self.inbox = inbox
        self.port = port or free_port()
        self.options = options
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        self.controller = Controller(
            self.inbox, hostname=LOOPBACK, port=self.port, ready_timeout=10, **self.options
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def smtp(inbox: Inbox) -> Iterator[SmtpServer]:
    server = SmtpServer(inbox)
    yield server
    server.stop()


@pytest.fixture
def mail_prefix() -> str:
    return f"test-{RUN_ID}-mail-{secrets.token_hex(3)}:"


@pytest.fixture
def client(real_redis_url: str, mail_prefix: str) -> Iterator[redis_py.Redis]:
    client = redis_py.Redis.from_url(real_redis_url)
    yield client
    for key in client.scan_iter(match=mail_prefix + "*", count=1000):
        client.delete(key)
    client.close()


def keys_left(client: redis_py.Redis, prefix: str) -> list[bytes]:
    return list(client.scan_iter(match=prefix + "*", count=1000))


def wait_for(condition: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(0.02)


def letter(n: int) -> mail.Message:
    return compose(
        f"user{n}@example.com",
        f"Verify your address ({n}) <b>",
        [f"Hello user {n} & welcome."],
        f"https://auth.example.com/verify?token=t{n}&x=1",
        "Verify",
    )


class FastClock:
    """Time that runs ``speed`` times faster: retries after 2, 4, 8 s take a tenth."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.start = time.time()

    def __call__(self) -> float:
        return self.start + (time.time() - self.start) * self.speed


def test_the_factory_thread_delivers_each_mail_once_with_both_bodies_and_headers(
    client: redis_py.Redis, mail_prefix: str, smtp: SmtpServer, inbox: Inbox
) -> None:
    smtp.start()
    app = create_app(
        make_config(
            REDIS_CLIENT=client,
            SMTP_URL=f"smtp://{LOOPBACK}:{smtp.port}",
            MAIL_FROM=MAIL_FROM,
            MAIL_KEY_PREFIX=mail_prefix,
            MAIL_DELIVERY_THREAD=True,
        )
    )
    thread = mail._started[os.getpid()]
    try:
        assert thread.outbox is app.extensions["outbox"]
        outbox: Outbox = app.extensions["outbox"]
        started = time.monotonic()
        ids = [outbox.enqueue(letter(n)) for n in range(3)]
        wait_for(lambda: len(inbox.messages) >= 3, what="3 mails")
        # The thread woke on enqueue: no poll interval (1 s) between them.
        assert time.monotonic() - started < 1.0
        time.sleep(0.3)  # and nothing more comes
    finally:
        mail._started.pop(os.getpid()).stop()
    assert not thread.is_alive()

    assert sorted(inbox.message_ids()) == sorted(f"<{i}@auth.example.com>" for i in ids)
    by_to = {str(m["To"]): m for m in inbox.messages}
    assert sorted(by_to) == [f"user{n}@example.com" for n in range(3)]
    for n in range(3):
        received = by_to[f"user{n}@example.com"]
        assert received["From"] == MAIL_FROM
        assert received["Subject"] == f"Verify your address ({n}) <b>"
        assert received["Date"].datetime.tzinfo is not None
        assert received.get_content_type() == "multipart/alternative"
        text = received.get_body(("plain",))
        html = received.get_body(("html",))
        assert text is not None
        assert html is not None
        assert f"https://auth.example.com/verify?token=t{n}&x=1" in text.get_content()
        assert f'href="https://auth.example.com/verify?token=t{n}&amp;x=1"' in html.get_content()
        assert "&lt;b&gt;" in html.get_content()
    assert sorted(inbox.envelopes) == [
        ("no-reply@auth.example.com", [f"user{n}@example.com"]) for n in range(3)
    ]
    assert outbox.pending() == 0
    assert keys_left(client, mail_prefix) == []


def test_an_smtp_outage_delays_the_mail_and_it_arrives_exactly_once(
    client: redis_py.Redis, mail_prefix: str, smtp: SmtpServer, inbox: Inbox
) -> None:
    # The server is not started: every connection to its port is refused.
    outbox = Outbox(client, mail_prefix, KEY, clock=FastClock(speed=20))
    transport = SmtpTransport(f"smtp://{LOOPBACK}:{smtp.port}", MAIL_FROM, timeout=2)
    worker = DeliveryThread(outbox, transport, poll_interval=0.05).start()
    try:
        started = time.monotonic()
        message_id = outbox.enqueue(letter(1))
        assert time.monotonic() - started < 0.1  # the request never waits for SMTP

        def attempts() -> int:
            return int(client.hget(outbox.message_key(message_id), "n") or 0)

        wait_for(lambda: attempts() >= 4, what="4 failed attempts")  # 2+4+8 s of backoff
        assert inbox.messages == []
        assert outbox.pending() == 1
        smtp.start()  # back, on the same port
        wait_for(lambda: len(inbox.messages) == 1, timeout=20, what="the mail")
        wait_for(lambda: outbox.pending() == 0, what="the ack")
        time.sleep(0.5)  # a duplicate would come now
    finally:
        worker.stop()
    assert inbox.message_ids() == [f"<{message_id}@auth.example.com>"]
    assert keys_left(client, mail_prefix) == []


def consume(redis_url: str, prefix: str, port: int, ready: Any, go: Any, sent: Any) -> None:
    """One worker process: deliver until the queue stays empty; report what it sent."""
    outbox = Outbox(redis_py.Redis.from_url(redis_url), prefix, KEY)
    transport = SmtpTransport(f"smtp://{LOOPBACK}:{port}", MAIL_FROM, timeout=5)
    ids: list[str] = []

    class Counting:
        def send(self, message: mail.Message, message_id: str) -> None:
            transport.send(message, message_id)
            ids.append(message_id)

    ready.set()
    go.wait(30)
    deadline = time.monotonic() + 60
    while outbox.pending() and time.monotonic() < deadline:
        if not outbox.deliver_due(Counting(), limit=5):
            time.sleep(0.01)  # the rest is claimed by the other: wait for its acks
    sent.put(ids)


def test_two_worker_processes_share_the_queue_and_send_each_message_once(
    client: redis_py.Redis, mail_prefix: str, real_redis_url: str
) -> None:
    inbox = Inbox(delay=0.02)  # each send takes a while: the two overlap
    server = SmtpServer(inbox).start()
    context = multiprocessing.get_context("spawn")
    go, sent = context.Event(), context.Queue()
    readies = [context.Event() for _ in range(2)]
    outbox = Outbox(client, mail_prefix, KEY)
    ids = [outbox.enqueue(letter(n)) for n in range(30)]
    workers = [
        context.Process(
            target=consume, args=(real_redis_url, mail_prefix, server.port, ready, go, sent)
        )
        for ready in readies
    ]
    try:
        for worker in workers:
            worker.start()
        for ready in readies:
            assert ready.wait(60)
        go.set()
        reports = [sent.get(timeout=90) for _ in workers]
        for worker in workers:
            worker.join(10)
            assert worker.exitcode == 0
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
        server.stop()
    received = Counter(inbox.message_ids())
    assert received == Counter(f"<{i}@auth.example.com>" for i in ids)  # each exactly once
    assert sorted(reports[0] + reports[1]) == sorted(ids)
    assert all(reports), "both processes took part"
    assert keys_left(client, mail_prefix) == []


# --- credentials and TLS, as SMTP_URL spells them -------------------------------------


def test_credentials_from_the_url_are_percent_decoded_and_used(
    client: redis_py.Redis, mail_prefix: str, inbox: Inbox
) -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"p@ss:w/rd")

    # A relay on loopback that takes AUTH without TLS (aiosmtpd refuses it by default).
    server = SmtpServer(inbox, authenticator=authenticator, auth_require_tls=False).start()
    try:
        outbox = Outbox(client, mail_prefix, KEY)
        message_id = outbox.enqueue(letter(1))
        good = SmtpTransport(
            f"smtp://mailer%40auth:p%40ss%3Aw%2Frd@{LOOPBACK}:{server.port}", MAIL_FROM
        )
        assert outbox.deliver_due(good) == 1
        bad = SmtpTransport(  # aiosmtpd then stalls smtplib's next mechanism: a short timeout
            f"smtp://mailer%40auth:wrong@{LOOPBACK}:{server.port}", MAIL_FROM, timeout=1
        )
        outbox.enqueue(letter(2))
        assert outbox.deliver_due(bad) == 0  # refused login: kept for a retry
        assert outbox.pending() == 1
    finally:
        server.stop()
    assert logins == [(b"mailer@auth", b"p@ss:w/rd"), (b"mailer@auth", b"wrong")]
    assert inbox.message_ids() == [f"<{message_id}@auth.example.com>"]


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 that clients trust
    (through SSL_CERT_FILE, as the system's CAs would be)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test SMTP server")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


@pytest.mark.parametrize("scheme", ["starttls", "smtps"])
def test_tls_both_ways_and_an_untrusted_certificate_is_refused(
    client: redis_py.Redis, mail_prefix: str, inbox: Inbox, tls: ssl.SSLContext, scheme: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    if scheme == "starttls":
        server = SmtpServer(inbox, tls_context=tls, require_starttls=True).start()
        url = f"smtp://{LOOPBACK}:{server.port}?starttls=true"
    else:
        server = SmtpServer(inbox, ssl_context=tls).start()
        url = f"smtps://{LOOPBACK}:{server.port}"
    try:
        outbox = Outbox(client, mail_prefix, KEY)
        message_id = outbox.enqueue(letter(1))
        assert outbox.deliver_due(SmtpTransport(url, MAIL_FROM)) == 1
        assert inbox.message_ids() == [f"<{message_id}@auth.example.com>"]

        monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent")  # now the certificate is unknown
        outbox.enqueue(letter(2))
        assert outbox.deliver_due(SmtpTransport(url, MAIL_FROM)) == 0
        assert outbox.pending() == 1
        assert len(inbox.messages) == 1
    finally:
        server.stop()


def test_a_reset_requested_while_smtp_is_down_arrives_when_it_is_back(
    production_gunicorn: Any, inbox: Inbox
) -> None:
    """Through the API of a production gunicorn: the request is answered at
    once, the mail waits in the outbox while the SMTP server is away, and
    arrives, once, with a working link when it is back."""
    smtp = SmtpServer(inbox)  # not started: the mail server is down
    server = production_gunicorn(
        "mail-outage",
        SMTP_URL=f"smtp://{LOOPBACK}:{smtp.port}",
        MAIL_POLL_INTERVAL="0.2",
    )
    user = {"username": "ann", "email": "ann@example.com", "password": "pa55word!"}
    assert server.call("POST", "/api/auth/register", user).status == 201
    reply = server.call("POST", "/api/auth/password/forgot", {"email": user["email"]})
    assert reply.status == 202
    assert reply.seconds < 2  # answered without waiting for the mail server
    time.sleep(1.5)  # a few failed delivery rounds
    assert inbox.messages == []
    smtp.start()
    try:
        wait_for(lambda: len(inbox.messages) >= 2, timeout=90, what="the two mails")
        time.sleep(1)  # anything sent twice would arrive now
        subjects = sorted(str(message["Subject"]) for message in inbox.messages)
        assert subjects == [
            "Auth service: confirm your email address",
            "Auth service: reset your password",
        ]
        assert len(set(inbox.message_ids())) == 2
        reset = next(m for m in inbox.messages if "reset" in str(m["Subject"]))
        text = reset.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        token = text.split("token=", 1)[1].split()[0]
        body = {"token": token, "new_password": "an0ther-passw0rd"}
        assert server.call("POST", "/api/auth/password/reset", body).status == 200
    finally:
        smtp.stop()
