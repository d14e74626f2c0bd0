"""The mail outbox (app/mail.py) on fakeredis: queue, claims, retries, encryption, transports.

Nothing here starts the app's delivery thread; tests call ``deliver_due``
with a fake transport (and one drives a ``DeliveryThread`` of its own).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
import redis as redis_py

import config as settings
from app import create_app, mail
from app.mail import (
    LEASE,
    ConsoleTransport,
    DeliveryThread,
    Message,
    Outbox,
    PermanentFailure,
    SmtpTransport,
    compose,
)
from app.mail import start_delivery as real_start_delivery  # before the fast tier stubs it
from config import ConfigurationError, ProductionConfig
from tests.conftest import make_config

PREFIX = "test-mail:"
KEY = b"a secret key of the app, 32 chars+"
ADDRESS = "ann.example@example.com"
TOKEN = "tok_Q2hhbmdlIG1lIGlmIHlvdSBjYW4"
LINK = f"https://auth.example.com/reset?token={TOKEN}"
SUBJECT = "Reset your password, Ann"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    """A transport that keeps what it was given; fails while ``failing`` is set."""

    def __init__(self, delay: float = 0.0) -> None:
        self.sent: list[tuple[Message, str]] = []
        self.calls = 0
        self.failing: BaseException | None = None
        self.delay = delay
        self.lock = threading.Lock()

    def send(self, message: Message, message_id: str) -> None:
        with self.lock:
            self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        if self.failing is not None:
            raise self.failing
        with self.lock:
            self.sent.append((message, message_id))

    def ids(self) -> list[str]:
        return [message_id for _, message_id in self.sent]


def reset_mail(to: str = ADDRESS) -> Message:
    return compose(to, SUBJECT, ["Someone asked to reset your password."], LINK, "Reset it")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(redis: fakeredis.FakeRedis, clock: Clock) -> Outbox:
    return Outbox(redis, PREFIX, KEY, clock=clock, max_age=86400)


@pytest.fixture
def transport() -> Recorder:
    return Recorder()


class MailLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def clear(self) -> None:
        self.records.clear()


@pytest.fixture
def mail_log() -> Iterator[MailLog]:
    """Every record of the app.mail logger, whatever an earlier app did to "app"'s."""
    logger = logging.getLogger("app.mail")
    handler = MailLog()
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


def given_up(mail_log: MailLog) -> list[str]:
    return [r.getMessage() for r in mail_log.records if r.getMessage().startswith("mail given up")]


def dump(client: Any, prefix: str = PREFIX) -> dict[bytes, Any]:
    """Every key under the prefix with everything it holds."""
    everything: dict[bytes, Any] = {}
    for key in client.scan_iter(match=prefix + "*"):
        kind = client.type(key)
        if kind == b"hash":
            everything[key] = client.hgetall(key)
        elif kind == b"zset":
            everything[key] = client.zrange(key, 0, -1, withscores=True)
        else:
            everything[key] = client.dump(key)
    return everything


class TestDelivery:
    def test_a_queued_message_is_sent_once_and_then_gone(
        self, outbox: Outbox, transport: Recorder, redis: Any
    ) -> None:
        message = reset_mail()
        message_id = outbox.enqueue(message)
        assert outbox.pending() == 1

        assert outbox.deliver_due(transport) == 1
        assert transport.sent == [(message, message_id)]
        assert outbox.deliver_due(transport) == 0
        assert transport.calls == 1
        assert outbox.pending() == 0
        assert dump(redis) == {}

    def test_ids_are_distinct_and_every_message_goes(
        self, outbox: Outbox, transport: Recorder
    ) -> None:
        ids = [outbox.enqueue(reset_mail(f"user{n}@example.com")) for n in range(25)]
        assert len(set(ids)) == 25
        assert outbox.deliver_due(transport, limit=20) == 20
        assert outbox.deliver_due(transport, limit=20) == 5
        assert sorted(transport.ids()) == sorted(ids)
        assert {m.to for m, _ in transport.sent} == {f"user{n}@example.com" for n in range(25)}

    def test_enqueue_is_one_round_trip(
        self, outbox: Outbox, redis: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        outbox.pending()  # the pool's connection exists
        sent: list[object] = []
        original = redis_py.connection.AbstractConnection.send_packed_command

        def counting(connection: Any, command: Any, check_health: bool = True) -> None:
            sent.append(command)
            original(connection, command, check_health)

        monkeypatch.setattr(redis_py.connection.AbstractConnection, "send_packed_command", counting)
        outbox.enqueue(reset_mail())
        assert len(sent) == 1
        assert outbox.pending() == 1

    def test_a_message_that_could_forge_headers_is_refused_in_the_request(
        self, outbox: Outbox
    ) -> None:
        for bad in (
            Message(ADDRESS, "Hi\r\nBcc: everyone@example.com", "t", "h"),
            Message(f"{ADDRESS}\nBcc: x@example.com", "Hi", "t", "h"),
            Message(f"{ADDRESS}, mallory@example.com", "Hi", "t", "h"),
            Message("not an address", "Hi", "t", "h"),
        ):
            with pytest.raises(ValueError, match="mail"):
                outbox.enqueue(bad)
        assert outbox.pending() == 0


class TestAtRest:
    def test_redis_holds_no_address_subject_link_or_token(self, outbox: Outbox, redis: Any) -> None:
        outbox.enqueue(reset_mail())
        everything = dump(redis)
        assert len(everything) == 2  # the due set and one message
        flat = repr(everything).encode() + b"".join(
            part
            for value in everything.values()
            if isinstance(value, dict)
            for item in value.items()
            for part in item
        )
        for secret in (ADDRESS, "example.com", SUBJECT, "Reset", LINK, TOKEN, TOKEN[:12]):
            assert secret.encode() not in flat, secret

    def test_another_key_cannot_read_it_and_gives_it_up(
        self, outbox: Outbox, redis: Any, clock: Clock, transport: Recorder, mail_log: MailLog
    ) -> None:
        message_id = outbox.enqueue(reset_mail())
        rotated = Outbox(redis, PREFIX, b"another key, as after a rotation", clock=clock)
        assert rotated.deliver_due(transport) == 0
        assert transport.calls == 0
        assert given_up(mail_log) == [
            f"mail given up: {message_id}, age 0 s: unreadable (SECRET_KEY changed?)"
        ]
        assert outbox.pending() == 0

    def test_a_ciphertext_moved_to_another_message_does_not_open(
        self, outbox: Outbox, redis: Any, transport: Recorder, mail_log: MailLog
    ) -> None:
        first = outbox.enqueue(reset_mail("first@example.com"))
        second = outbox.enqueue(reset_mail("second@example.com"))
        sealed = redis.hget(outbox.message_key(first), "c")
        redis.hset(outbox.message_key(second), "c", sealed)
        assert outbox.deliver_due(transport) == 1
        assert [m.to for m, _ in transport.sent] == ["first@example.com"]
        assert len(given_up(mail_log)) == 1

    def test_every_key_expires_no_sooner_than_max_age_plus_the_lease(
        self, outbox: Outbox, redis: Any, transport: Recorder
    ) -> None:
        for n in range(3):
            outbox.enqueue(reset_mail(f"u{n}@example.com"))
        transport.failing = OSError(111, "Connection refused")
        outbox.deliver_due(transport)  # one rescheduled: its hash written again
        keys = list(dump(redis))
        assert len(keys) == 4
        for key in keys:
            assert outbox.max_age + LEASE <= redis.ttl(key) <= outbox.ttl, key


class TestClaims:
    def test_two_workers_racing_send_each_message_exactly_once(
        self, redis_server: fakeredis.FakeServer, clock: Clock
    ) -> None:
        workers = [
            Outbox(fakeredis.FakeRedis(server=redis_server), PREFIX, KEY, clock=clock)
            for _ in range(2)
        ]
        ids = {workers[0].enqueue(reset_mail(f"u{n}@example.com")) for n in range(50)}
        transports = [Recorder(delay=0.002), Recorder(delay=0.002)]
        start = threading.Barrier(2)

        def work(outbox: Outbox, transport: Recorder) -> None:
            start.wait()
            # Bounded: a broken claim could otherwise send the same message forever.
            while outbox.deliver_due(transport, limit=3) and transport.calls < 100:
                pass

        threads = [
            threading.Thread(target=work, args=pair, daemon=True)
            for pair in zip(workers, transports, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        sent = transports[0].ids() + transports[1].ids()
        assert sorted(sent) == sorted(ids)  # every one, none twice
        assert all(transport.sent for transport in transports)  # both took part
        assert workers[1].pending() == 0

    def test_a_worker_that_dies_mid_send_leaves_it_to_the_next_after_the_lease(
        self, outbox: Outbox, transport: Recorder, clock: Clock
    ) -> None:
        message_id = outbox.enqueue(reset_mail())
        transport.failing = SystemExit(1)  # not an error the outbox handles: a dying process
        with pytest.raises(SystemExit):
            outbox.deliver_due(transport)
        transport.failing = None
        clock.advance(LEASE - 1)
        assert outbox.deliver_due(transport) == 0
        clock.advance(2)
        assert outbox.deliver_due(transport) == 1
        assert transport.ids() == [message_id]

    def test_a_claim_that_ran_out_cannot_undo_the_next_ones(
        self, redis_server: fakeredis.FakeServer, clock: Clock, mail_log: MailLog
    ) -> None:
        """The crash window, as documented: a send slower than the lease is
        repeated by another worker; the slow one's ack then changes nothing."""
        slow = Outbox(fakeredis.FakeRedis(server=redis_server), PREFIX, KEY, clock=clock)
        other = Outbox(fakeredis.FakeRedis(server=redis_server), PREFIX, KEY, clock=clock)
        message_id = slow.enqueue(reset_mail())
        fast = Recorder()

        class Slow(Recorder):
            def send(self, message: Message, message_id: str) -> None:
                clock.advance(LEASE + 1)
                assert other.deliver_due(fast) == 1  # the lease ran out: taken over
                super().send(message, message_id)

        assert slow.deliver_due(Slow()) == 1
        assert fast.ids() == [message_id]
        assert slow.pending() == 0
        assert any("may arrive twice" in r.getMessage() for r in mail_log.records)


class TestRetries:
    def test_a_failed_send_is_retried_with_growing_backoff_capped_at_60_s(
        self, outbox: Outbox, transport: Recorder, clock: Clock, redis: Any
    ) -> None:
        message_id = outbox.enqueue(reset_mail())
        key = outbox.message_key(message_id)
        transport.failing = OSError(111, "Connection refused")
        waits = []
        for attempt in range(1, 9):
            assert outbox.deliver_due(transport) == 0
            assert transport.calls == attempt
            assert int(redis.hget(key, "n")) == attempt
            wait = redis.zscore(outbox.due_key, message_id) / 1000 - clock()
            waits.append(round(wait))
            clock.advance(wait - 0.1)
            assert outbox.deliver_due(transport) == 0
            assert transport.calls == attempt  # not due yet: not tried
            clock.advance(0.2)
        assert waits == [2, 4, 8, 16, 32, 60, 60, 60]
        transport.failing = None
        assert outbox.deliver_due(transport) == 1
        assert transport.ids() == [message_id]

    def test_first_retry_not_before_2_s_but_after(
        self, outbox: Outbox, transport: Recorder, clock: Clock
    ) -> None:
        outbox.enqueue(reset_mail())
        transport.failing = TimeoutError("timed out")
        outbox.deliver_due(transport)
        transport.failing = None
        clock.advance(1.9)
        assert outbox.deliver_due(transport) == 0
        clock.advance(0.2)
        assert outbox.deliver_due(transport) == 1

    def test_a_round_stops_at_the_first_failure(self, outbox: Outbox, transport: Recorder) -> None:
        for n in range(5):
            outbox.enqueue(reset_mail(f"u{n}@example.com"))
        transport.failing = ConnectionRefusedError(111, "Connection refused")
        round_ = outbox.deliver_round(transport)
        assert (round_.sent, round_.failed, transport.calls) == (0, True, 1)

    def test_older_than_max_age_it_is_given_up_with_one_line_and_no_address(
        self, redis: Any, clock: Clock, transport: Recorder, mail_log: MailLog
    ) -> None:
        outbox = Outbox(redis, PREFIX, KEY, clock=clock, max_age=600)
        message_id = outbox.enqueue(reset_mail())
        transport.failing = OSError(111, "Connection refused")
        outbox.deliver_due(transport)
        clock.advance(590)
        outbox.deliver_due(transport)  # still young enough: rescheduled (in 4 s)
        assert transport.calls == 2
        assert outbox.pending() == 1

        class SlowFailure(Recorder):
            def send(self, message: Message, message_id: str) -> None:
                clock.advance(5)  # past max_age when the failure comes back
                raise OSError(111, "Connection refused")

        clock.advance(5)
        mail_log.clear()
        assert outbox.deliver_due(SlowFailure()) == 0
        assert outbox.pending() == 0
        assert dump(redis) == {}
        assert given_up(mail_log) == [
            f"mail given up: {message_id}, age 600 s: failed: ConnectionRefusedError: "
            "Connection refused"
        ]
        for record in mail_log.records:
            assert ADDRESS not in record.getMessage()
            assert "example.com" not in record.getMessage()

    def test_one_found_already_too_old_is_given_up_unsent(
        self, redis: Any, clock: Clock, transport: Recorder, mail_log: MailLog
    ) -> None:
        outbox = Outbox(redis, PREFIX, KEY, clock=clock, max_age=600)
        message_id = outbox.enqueue(reset_mail())
        clock.advance(600)
        assert outbox.deliver_due(transport) == 0
        assert transport.calls == 0
        assert given_up(mail_log) == [f"mail given up: {message_id}, age 600 s: too old"]

    def test_a_message_whose_key_expired_leaves_the_queue_with_one_line(
        self, outbox: Outbox, transport: Recorder, redis: Any, mail_log: MailLog
    ) -> None:
        message_id = outbox.enqueue(reset_mail())
        redis.delete(outbox.message_key(message_id))  # as its TTL would, with no worker running
        assert outbox.deliver_due(transport) == 0
        assert transport.calls == 0
        assert outbox.pending() == 0
        assert given_up(mail_log) == [f"mail given up: {message_id}, age unknown: expired in Redis"]

    def test_a_refused_recipient_is_given_up_at_once(
        self, outbox: Outbox, transport: Recorder, mail_log: MailLog
    ) -> None:
        message_id = outbox.enqueue(reset_mail())
        transport.failing = PermanentFailure()
        assert outbox.deliver_due(transport) == 0
        assert outbox.pending() == 0
        assert given_up(mail_log) == [
            f"mail given up: {message_id}, age 0 s: refused: PermanentFailure"
        ]

    def test_failures_are_logged_without_the_address(
        self, outbox: Outbox, transport: Recorder, mail_log: MailLog
    ) -> None:
        import smtplib

        outbox.enqueue(reset_mail())
        transport.failing = smtplib.SMTPRecipientsRefused(
            {ADDRESS: (450, b"4.2.2 <ann.example@example.com>: mailbox full")}
        )
        outbox.deliver_due(transport)
        lines = [r.getMessage() for r in mail_log.records]
        assert len(lines) == 1
        assert "SMTPRecipientsRefused 450" in lines[0]
        assert "example.com" not in lines[0]


class TestDeliveryThread:
    def test_delivers_at_once_survives_a_redis_outage_and_stops(
        self, redis_server: fakeredis.FakeServer, mail_log: MailLog
    ) -> None:
        outbox = Outbox(fakeredis.FakeRedis(server=redis_server), PREFIX, KEY)
        transport = Recorder()
        worker = DeliveryThread(outbox, transport, poll_interval=0.05).start()
        try:
            first = outbox.enqueue(reset_mail())
            wait_for(lambda: transport.ids() == [first])

            redis_server.connected = False
            wait_for(lambda: any("paused" in r.getMessage() for r in mail_log.records))
            redis_server.connected = True
            second = outbox.enqueue(reset_mail())
            wait_for(lambda: transport.ids() == [first, second], timeout=10)
            # Logged once the round that sent it returns: just after the send.
            wait_for(lambda: any("resumed" in r.getMessage() for r in mail_log.records))
            messages = [r.getMessage() for r in mail_log.records]
            assert sum("mail delivery paused" in m for m in messages) == 1
            assert sum("mail delivery resumed" in m for m in messages) == 1
        finally:
            worker.stop()
        assert not worker.is_alive()

    def test_sleeps_no_longer_than_until_the_next_due_message(self, outbox: Outbox) -> None:
        worker = DeliveryThread(outbox, Recorder(), poll_interval=1.0)
        assert worker._wait(mail.Round(0, False, outbox.clock() + 0.25)) == pytest.approx(0.25)
        assert worker._wait(mail.Round(0, False, outbox.clock() - 5)) == 0
        assert worker._wait(mail.Round(0, False, None)) == 1.0
        assert worker._wait(mail.Round(0, True, outbox.clock())) == 1.0  # SMTP down: no hurry


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


class TestMessages:
    def test_html_escapes_every_value(self) -> None:
        message = compose(
            ADDRESS,
            "<script>alert('subject')</script>",
            ["Hello <script>alert('name')</script> & welcome"],
            "https://auth.example.com/verify?token=a&next=%2F",
            "Verify <b>now</b>",
        )
        assert "<script>" not in message.html
        assert "<b>" not in message.html
        assert "&lt;script&gt;alert(&#x27;subject&#x27;)" in message.html
        assert 'href="https://auth.example.com/verify?token=a&amp;next=%2F"' in message.html
        assert "Hello <script>alert('name')</script> & welcome" in message.text
        assert "https://auth.example.com/verify?token=a&next=%2F" in message.text.splitlines()

    def test_only_http_links(self) -> None:
        for link in ("javascript:alert(1)", 'https://x.example/" onclick="x', "data:text/html,x"):
            with pytest.raises(ValueError, match="link"):
                compose(ADDRESS, "Hi", ["x"], link)

    def test_the_smtp_message_has_both_bodies_and_every_header(self) -> None:
        transport = SmtpTransport("smtp://mail.example.net", "Auth <no-reply@auth.example.com>")
        email = transport.build(reset_mail(), "0123abcd")
        assert email["Message-ID"] == "<0123abcd@auth.example.com>"
        assert email["From"] == "Auth <no-reply@auth.example.com>"
        assert email["To"] == ADDRESS
        assert email["Subject"] == SUBJECT
        assert email["Date"]
        parts = {part.get_content_type(): part.get_content() for part in email.iter_parts()}
        assert email.get_content_type() == "multipart/alternative"
        assert LINK in parts["text/plain"]
        assert "Reset it" in parts["text/html"]


class TestTransports:
    def test_console_logs_subject_and_link_but_not_the_address(self, mail_log: MailLog) -> None:
        ConsoleTransport().send(reset_mail(), "0123abcd")
        (record,) = mail_log.records
        assert SUBJECT in record.getMessage()
        assert LINK in record.getMessage()
        assert "0123abcd" in record.getMessage()
        assert ADDRESS not in record.getMessage()

    def test_smtp_url_parts(self) -> None:
        plain = SmtpTransport("smtp://relay.internal", "a@example.com")
        assert (plain.host, plain.port, plain.starttls, plain.implicit_tls) == (
            "relay.internal",
            25,
            False,
            False,
        )
        assert plain.username is None
        submission = SmtpTransport(
            "smtp://us%40er:p%3Ass%2Fw0rd@smtp.example.com:587?starttls=true", "a@example.com"
        )
        assert (submission.port, submission.starttls) == (587, True)
        assert (submission.username, submission.password) == ("us@er", "p:ss/w0rd")
        implicit = SmtpTransport("smtps://smtp.example.com", "a@example.com")
        assert (implicit.port, implicit.implicit_tls) == (465, True)
        with pytest.raises(ValueError, match="SMTP_URL"):
            SmtpTransport("http://smtp.example.com", "a@example.com")


class TestConfiguration:
    @pytest.mark.parametrize(
        ("url", "problem"),
        [
            ("http://user:hunter2@smtp.example.com", "must start with smtp:// or smtps://"),
            ("smtp://user:hunter2@smtp.example.com:99999", "port"),
            ("smtp://user:hunter2@smtp.example.com:0", "port"),
            ("smtp://user:hunter2@smtp.example.com:25x", "port"),
            ("smtp://", "names no host"),
            ("smtp://smtp.example.com?starttls=maybe", "starttls must be true or false"),
            ("smtp://smtp.example.com?tls=true", "unknown parameters: tls"),
            ("smtps://smtp.example.com?starttls=true", "smtps://"),
        ],
    )
    def test_a_bad_smtp_url_stops_start_up_in_one_line_without_the_password(
        self, url: str, problem: str
    ) -> None:
        with pytest.raises(ConfigurationError) as caught:
            settings.TestingConfig(env={"SMTP_URL": url})
        assert problem in str(caught.value)
        assert str(caught.value).startswith("SMTP_URL ")
        assert "\n" not in str(caught.value)
        assert "hunter2" not in str(caught.value)

    def test_good_settings_and_defaults(self) -> None:
        config = settings.TestingConfig(
            env={
                "SMTP_URL": "smtp://u:p@smtp.example.com:587?starttls=true",
                "PUBLIC_URL": "https://auth.example.com/",
            }
        )
        assert config.PUBLIC_URL == "https://auth.example.com"
        defaults = settings.TestingConfig(env={})
        assert defaults.SMTP_URL is None
        assert defaults.MAIL_FROM == "Auth service <no-reply@localhost>"
        assert (defaults.MAIL_MAX_AGE, defaults.MAIL_POLL_INTERVAL) == (86400, 1.0)
        assert defaults.MAIL_SMTP_TIMEOUT == 10
        assert defaults.MAIL_DELIVERY_THREAD is False  # the fast tier drives delivery itself

    @pytest.mark.parametrize(
        "env",
        [
            {"MAIL_FROM": "nobody"},
            {"PUBLIC_URL": "auth.example.com"},
            {"MAIL_MAX_AGE": "0"},
            {"MAIL_POLL_INTERVAL": "0"},
            {"MAIL_SMTP_TIMEOUT": "300"},
            {"MAIL_KEY_PREFIX": "mail{x}:"},
        ],
    )
    def test_other_bad_mail_settings(self, env: dict[str, str]) -> None:
        with pytest.raises(ConfigurationError, match=next(iter(env))):
            settings.TestingConfig(env=env)


class TestWiring:
    def test_the_factory_builds_outbox_and_transport_without_a_thread(
        self, mail_threads_started: list[Any]
    ) -> None:
        app = create_app(make_config(REDIS_CLIENT=fakeredis.FakeRedis()))
        assert isinstance(app.extensions["outbox"], Outbox)
        assert isinstance(app.extensions["mail_transport"], ConsoleTransport)
        smtp = create_app(
            make_config(REDIS_CLIENT=fakeredis.FakeRedis(), SMTP_URL="smtp://127.0.0.1:2525")
        )
        assert isinstance(smtp.extensions["mail_transport"], SmtpTransport)
        assert mail_threads_started == []  # MAIL_DELIVERY_THREAD is off in testing

    def test_production_without_smtp_delivers_to_the_log_and_says_so(
        self, mail_log: MailLog, mail_threads_started: list[Any]
    ) -> None:
        config = ProductionConfig(
            env={
                "SECRET_KEY": "k" * 40,
                "PASSWORD_PEPPER": "p" * 40,
                "SECOND_FACTOR_KEY": "f" * 40,
                "DATABASE_URL": "sqlite://",
                "REDIS_URL": "redis://127.0.0.1:1/0",
                "WEBAUTHN_RP_ID": "auth.example.com",
            }
        )
        config.REDIS_CLIENT = fakeredis.FakeRedis()  # type: ignore[attr-defined]
        app = create_app(config)
        assert mail_threads_started == [app]
        assert isinstance(app.extensions["mail_transport"], ConsoleTransport)
        assert [r.getMessage() for r in mail_log.records if r.levelno == logging.WARNING] == [
            "SMTP_URL is not set: mail is written to the log, not sent"
        ]

    def test_one_delivery_thread_per_process(self) -> None:
        app = create_app(make_config(REDIS_CLIENT=fakeredis.FakeRedis()))
        try:
            thread = real_start_delivery(app)
            assert thread.is_alive()
            assert thread.outbox is app.extensions["outbox"]
            assert thread.transport is app.extensions["mail_transport"]
            other = create_app(make_config(REDIS_CLIENT=fakeredis.FakeRedis()))
            assert real_start_delivery(other) is thread  # a second app: still the one thread
            assert [t.name for t in threading.enumerate()].count("mail-delivery") == 1
        finally:
            running = mail._started.pop(os.getpid(), None)
            if running is not None:
                running.stop()
        assert not thread.is_alive()


def test_production_without_smtp_logs_no_link(caplog: pytest.LogCaptureFixture) -> None:
    """A live token in a log line could be redeemed by whoever reads the logs."""
    from app.mail import ConsoleTransport

    body = "Open https://auth.example.com/reset-password?token=SECRET123 now"
    message = Message(to="a@example.com", subject="reset", text=body, html=body)
    with caplog.at_level("INFO", logger="app.mail"):
        ConsoleTransport(show_links=False).send(message, "id1")
        ConsoleTransport(show_links=True).send(message, "id2")
    withheld, shown = (record.getMessage() for record in caplog.records[-2:])
    assert "SECRET123" not in withheld
    assert "links withheld" in withheld
    assert "token=SECRET123" in shown
