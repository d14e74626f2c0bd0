"""Mail: a durable, encrypted outbox in Redis, delivered by the service's own processes.

A request that sends mail only *enqueues* it (``Outbox.enqueue``: one Redis
round trip) and never waits for SMTP. A daemon thread in every service
process (``start_delivery``) takes due messages from the shared queue and
hands them to a transport: SMTP (``SMTP_URL``), or the log (``ConsoleTransport``,
``make run``'s mode). An SMTP outage delays mail and loses none: a failed
send is retried after min(60, 2^attempts) seconds, until the message is older
than ``max_age`` (``MAIL_MAX_AGE``); then it is dropped with one log line
(``mail given up``, its id and age: never its address or body).

**Delivery guarantee.** Each enqueued message is handed to the SMTP server
exactly once, or given up with that line (older than ``max_age``; refused
for good, a 5xx for its recipient; unreadable after a ``SECRET_KEY``
rotation) -- except in the crash window, where delivery is *at least once*:
when the server has accepted a message but the acknowledgement never
reaches Redis (the process dies, or loses Redis, between the server's reply
and the ack), or the server's reply to the message's data is lost (a
timeout or a broken connection after the data went out), the message is
sent again: after its claim (``LEASE``, 120 s) runs out, or at its next
retry. A send that outlasts its claim can be repeated the same way
(``MAIL_SMTP_TIMEOUT`` <= 30 s keeps sends well inside it). Every attempt
carries the same ``Message-ID`` (``<id@MAIL_FROM's domain>``), so receivers
can de-duplicate. Mail is as durable as Redis is: with persistence and
replicas configured, a Redis restart loses none.

**Encrypted at rest.** Queued mail holds live links (password reset, address
verification). Redis holds each body only as AES-256-GCM ciphertext under a
key derived from ``SECRET_KEY`` (HKDF-SHA256, info ``mail-outbox``), bound
to its message id; a copy of Redis yields no address, subject or link.
Rotating ``SECRET_KEY`` makes queued mail unreadable: it is given up, one
line each.

**Key layout.** Every key carries the ``{mail}`` hash tag, so that all of
them share one Redis Cluster slot and every script and ``MULTI`` is
single-slot. Scripts touch only the keys they are given::

    <prefix>{mail}:due       sorted set: message id -> due time (ms since the epoch);
                             a claimed message's score is its claim's end.
                             TTL = TTL below, renewed at every enqueue
    <prefix>{mail}:m:<id>    hash: c = version 1 + nonce + AES-GCM ciphertext of
                             [to, subject, text, html]; t = enqueued at (ms);
                             n = failed attempts. TTL = max_age + 2 * LEASE + 60,
                             set at enqueue, never extended

No key lives forever: the due set lives at least as long as its newest
message. **Claiming**: a script takes the first member whose due time has
come and moves its score to now + ``LEASE``; that new score is the claim's
token. Acknowledging (delete the hash and the member) and rescheduling
(a new score, attempts + 1) are scripts that act only while the member's
score still equals the token, so a worker whose claim ran out cannot undo
another's. Two workers, processes or hosts never hold a claim on the same
message at once. Hosts' clocks must agree to within a few seconds (NTP).
"""

from __future__ import annotations

import atexit
import html
import logging
import os
import re
import secrets
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import click
import msgspec
import redis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:  # the wiring below takes the app; nothing else here knows Flask
    from flask import Flask

log = logging.getLogger(__name__)

LEASE = 120  # seconds a claim lasts: longer than any send (MAIL_SMTP_TIMEOUT <= 30)
MAX_BACKOFF = 60  # seconds: the longest wait between two attempts
BATCH = 20  # messages one round of the delivery thread may send
_PAYLOAD_V1 = b"\x01"
_NONCE_BYTES = 12
LINK = re.compile(r"https?://[^\s<>\"']+")


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    text: str  # plain-text body
    html: str  # HTML body (escape every interpolated value)


class Transport(Protocol):
    def send(self, message: Message, message_id: str) -> None:
        """Deliver or raise. ``PermanentFailure``: this message never can be."""


class PermanentFailure(Exception):
    """The server refused this message for good (every recipient rejected with
    a 5xx): retrying cannot help, so the outbox gives it up at once."""


def compose(
    to: str,
    subject: str,
    paragraphs: Sequence[str],
    link: str | None = None,
    link_label: str = "Open the link",
) -> Message:
    """A ``Message`` with a text and an HTML body from plain values.

    Every value is escaped in the HTML; ``link`` must be an http(s) URL and
    appears in both bodies (in the text on a line of its own).
    """
    if link is not None and not re.fullmatch(r"https?://[^\s<>\"']+", link):
        raise ValueError("a mail link must be an http(s) URL without spaces or quotes")
    text_parts = list(paragraphs)
    html_parts = [f"<p>{html.escape(paragraph)}</p>" for paragraph in paragraphs]
    if link is not None:
        text_parts.append(link)
        href = html.escape(link, quote=True)
        html_parts.append(f'<p><a href="{href}">{html.escape(link_label)}</a></p>')
        html_parts.append(f"<p>{html.escape(link)}</p>")
    body = "\n".join(html_parts)
    document = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )
    return Message(to=to, subject=subject, text="\n\n".join(text_parts) + "\n", html=document)


def _check(message: Message) -> None:
    """Refuse, in the request, what could never be sent (or could forge headers)."""
    if any(c in message.to + message.subject for c in "\r\n"):
        raise ValueError("a mail's address and subject must be one line each")
    address = parseaddr(message.to)[1]
    if "@" not in address or "," in message.to:
        raise ValueError("a mail goes to exactly one email address")


def describe(error: BaseException) -> str:
    """An error in words that hold no address: SMTP replies may echo them."""
    name = type(error).__name__
    code = getattr(error, "smtp_code", None)
    if code is not None:
        return f"{name} {code}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in error.recipients.values()})
        return f"{name} {','.join(map(str, codes))}"
    if isinstance(error, OSError) and error.strerror:
        return f"{name}: {error.strerror}"
    return name


# --- the outbox --------------------------------------------------------------------

# KEYS[1]: the due set. ARGV: now (ms), lease (ms). The first due member,
# its score moved to now + lease: {1, id, that score}. Nothing due: {0} or
# {0, the first member's due time}.
_CLAIM = """
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then return {0} end
local now = tonumber(ARGV[1])
if tonumber(first[2]) > now then return {0, tonumber(first[2])} end
local claim = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', claim, first[1])
return {1, first[1], claim}
"""
# KEYS: the due set, the message. ARGV: id, claim. Sent (or given up):
# both go, if the claim is still ours. 1 if it was.
_ACK = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
"""
# KEYS: the due set, the message. ARGV: id, claim, next due time (ms),
# attempts. Never re-creates an expired message (it would have no TTL).
_RETRY = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
redis.call('HSET', KEYS[2], 'n', ARGV[4])
return 1
"""


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def backoff(attempts: int) -> int:
    """Seconds to wait after the ``attempts``-th failed attempt: 2, 4, 8, … 60."""
    return min(MAX_BACKOFF, 1 << min(attempts, 6))


@dataclass(frozen=True)
class Round:
    """What one ``Outbox.deliver_round`` did."""

    sent: int
    failed: bool  # a send failed: the transport is likely down, wait before the next
    next_due_at: float | None  # when the first queued message is due, if known


class Outbox:
    """The mail queue in Redis: the only code that knows its keys."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        key: bytes,
        clock: Callable[[], float] = time.time,
        max_age: int = 86400,
    ) -> None:
        self.client: Any = client  # see SessionStore: redis-py's reply types are unions
        self.prefix = prefix
        self.clock = clock
        self.max_age = max_age
        self.ttl = max_age + 2 * LEASE + MAX_BACKOFF
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"mail-outbox")
        self._aead = AESGCM(derived.derive(key))
        self.due_key = f"{prefix}{{mail}}:due"
        self._claim = client.register_script(_CLAIM)
        self._ack = client.register_script(_ACK)
        self._retry = client.register_script(_RETRY)
        # Set by every enqueue: wakes this process's delivery thread at once.
        self.wakeup = threading.Event()

    def message_key(self, message_id: str) -> str:
        return f"{self.prefix}{{mail}}:m:{message_id}"

    # --- at rest ---------------------------------------------------------------------

    def _seal(self, message_id: str, message: Message) -> bytes:
        plain = msgspec.msgpack.encode([message.to, message.subject, message.text, message.html])
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _PAYLOAD_V1 + nonce + self._aead.encrypt(nonce, plain, message_id.encode())

    def _open(self, message_id: str, sealed: bytes) -> Message:
        """The message; ``InvalidTag`` if the key or the id does not match."""
        if sealed[:1] != _PAYLOAD_V1:
            raise InvalidTag
        nonce, ciphertext = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        plain = self._aead.decrypt(nonce, ciphertext, message_id.encode())
        to, subject, text, body = msgspec.msgpack.decode(plain, type=tuple[str, str, str, str])
        return Message(to=to, subject=subject, text=text, html=body)

    # --- the interface ------------------------------------------------------------

    def enqueue(self, message: Message) -> str:
        """Queue a message for delivery now; its id. One round trip, atomic."""
        _check(message)
        message_id = secrets.token_hex(16)
        now = _ms(self.clock())
        key = self.message_key(message_id)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"c": self._seal(message_id, message), "t": now, "n": 0})
            pipe.expire(key, self.ttl)
            pipe.zadd(self.due_key, {message_id: now})
            pipe.expire(self.due_key, self.ttl)
            pipe.execute()
        self.wakeup.set()
        return message_id

    def decoy(self, message: Message) -> None:
        """The work of ``enqueue`` (sealing included), delivering nothing: what
        a request that must not reveal whether it mailed anyone (forgot
        password) does instead. Writes only keys that expire at once."""
        _check(message)
        key = f"{self.prefix}{{mail}}:decoy:{secrets.token_hex(16)}"
        sealed = self._seal(secrets.token_hex(16), message)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"c": sealed, "t": _ms(self.clock()), "n": 0})
            pipe.expire(key, 1)
            pipe.zadd(key + ":due", {key: 0})
            pipe.expire(key + ":due", 1)
            pipe.execute()

    def pending(self) -> int:
        """Messages queued and not yet sent or given up (claimed ones included)."""
        return int(self.client.zcard(self.due_key))

    def deliver_due(self, transport: Transport, limit: int = BATCH) -> int:
        """Claim due messages one at a time and send each; how many were sent."""
        return self.deliver_round(transport, limit).sent

    def deliver_round(self, transport: Transport, limit: int = BATCH) -> Round:
        """``deliver_due``, telling the delivery thread when to come back.

        One claim at a time, so that a message is claimed only when its send
        begins. The round stops at the first failed send: when SMTP is down,
        one connection attempt per round, not one per queued message.
        Redis errors propagate (the caller backs off).
        """
        sent = 0
        for _ in range(limit):
            now = self.clock()
            claim = self._claim(keys=[self.due_key], args=[_ms(now), LEASE * 1000])
            if claim[0] == 0:
                return Round(sent, False, claim[1] / 1000 if len(claim) > 1 else None)
            message_id, token = claim[1].decode(), int(claim[2])
            key = self.message_key(message_id)
            sealed, created, attempts = self.client.hmget(key, "c", "t", "n")
            if sealed is None:  # its key expired: no worker ran for a whole TTL
                self._give_up(message_id, token, None, "expired in Redis")
                continue
            created_at = int(created) / 1000
            age = now - created_at
            if age >= self.max_age:
                self._give_up(message_id, token, age, "too old")
                continue
            try:
                message = self._open(message_id, sealed)
            except (InvalidTag, msgspec.DecodeError, msgspec.ValidationError):
                self._give_up(message_id, token, age, "unreadable (SECRET_KEY changed?)")
                continue
            try:
                transport.send(message, message_id)
            except PermanentFailure as error:
                self._give_up(
                    message_id, token, age, f"refused: {describe(error.__cause__ or error)}"
                )
                continue
            except Exception as error:  # any failure of the transport: try again later
                self._reschedule(message_id, token, int(attempts) + 1, created_at, error)
                return Round(sent, True, None)
            sent += 1
            if not self._ack(keys=[self.due_key, key], args=[message_id, token]):
                # Our claim ran out during the send: another worker may send it too.
                log.warning("mail %s sent after its claim ran out: it may arrive twice", message_id)
        return Round(sent, False, None)

    def _reschedule(
        self, message_id: str, token: int, attempts: int, created: float, error: Exception
    ) -> None:
        now = self.clock()
        if now - created >= self.max_age:
            self._give_up(message_id, token, now - created, f"failed: {describe(error)}")
            return
        delay = backoff(attempts)
        self._retry(
            keys=[self.due_key, self.message_key(message_id)],
            args=[message_id, token, _ms(now + delay), attempts],
        )
        if attempts & (attempts - 1) == 0:  # attempts 1, 2, 4, 8, …: a few lines a day
            log.warning(
                "mail %s not sent (attempt %d, next in %d s): %s",
                message_id,
                attempts,
                delay,
                describe(error),
            )

    def _give_up(self, message_id: str, token: int, age: float | None, reason: str) -> None:
        self._ack(keys=[self.due_key, self.message_key(message_id)], args=[message_id, token])
        shown = "unknown" if age is None else f"{int(age)} s"
        log.warning("mail given up: %s, age %s: %s", message_id, shown, reason)


# --- transports --------------------------------------------------------------------


class ConsoleTransport:
    """No SMTP: one log line per mail with its subject, and its links when
    ``show_links`` (``make run``). Elsewhere (production with no SMTP_URL)
    the links stay out: they carry live tokens, and logs must hold nothing
    that can be redeemed."""

    def __init__(self, show_links: bool = True) -> None:
        self.show_links = show_links

    def send(self, message: Message, message_id: str) -> None:
        links = " ".join(LINK.findall(message.text)) if self.show_links else "(links withheld)"
        log.info(
            "mail %s (not sent: no SMTP_URL): %s %s",
            message_id,
            message.subject,
            links or "(no link)",
        )


class SmtpTransport:
    """``smtplib`` over ``smtp://user:pass@host:port[?starttls=true]`` or ``smtps://``.

    One connection per message; certificates are verified (the system's CAs).
    """

    def __init__(self, url: str, mail_from: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://host:port or smtps://host:port")
        query = parse_qs(parts.query)
        self.implicit_tls = parts.scheme == "smtps"
        self.starttls = query.get("starttls", ["false"])[0].lower() == "true"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.implicit_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password or "")
        self.mail_from = mail_from
        self.envelope_from = parseaddr(mail_from)[1]
        self.domain = self.envelope_from.rpartition("@")[2] or "localhost"
        self.timeout = timeout
        self.local_hostname = socket.gethostname()  # not getfqdn(): no DNS wait per send

    def build(self, message: Message, message_id: str) -> EmailMessage:
        email = EmailMessage()
        email["Message-ID"] = f"<{message_id}@{self.domain}>"
        email["Date"] = formatdate(usegmt=True)
        email["From"] = self.mail_from
        email["To"] = message.to
        email["Subject"] = message.subject
        email.set_content(message.text)
        email.add_alternative(message.html, subtype="html")
        return email

    def _connect(self) -> smtplib.SMTP:
        if self.implicit_tls:
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                context=ssl.create_default_context(),
            )
        return smtplib.SMTP(
            self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
        )

    def send(self, message: Message, message_id: str) -> None:
        email = self.build(message, message_id)
        smtp = self._connect()
        try:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username is not None:
                smtp.login(self.username, self.password)
            try:
                smtp.send_message(email, from_addr=self.envelope_from, to_addrs=[message.to])
            except smtplib.SMTPRecipientsRefused as error:
                if all(code >= 500 for code, _ in error.recipients.values()):
                    raise PermanentFailure from error
                raise
        finally:
            # Accepted is accepted: a failing QUIT must not make it a failure.
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


def build_transport(
    smtp_url: str | None, mail_from: str, timeout: float, show_links: bool = True
) -> Transport:
    if smtp_url is None:
        return ConsoleTransport(show_links)
    return SmtpTransport(smtp_url, mail_from, timeout)


# --- delivery inside the service's processes ------------------------------------------


class DeliveryThread:
    """One daemon thread that delivers due mail until stopped.

    Survives Redis and SMTP outages: an error pauses delivery (one log line,
    then one when it resumes) and backs off up to ``MAX_BACKOFF`` seconds.
    Stopping lets the message being sent finish (up to ``join``'s timeout);
    a process killed mid-send leaves its message claimed, and it is sent
    again when the claim runs out.
    """

    def __init__(self, outbox: Outbox, transport: Transport, poll_interval: float = 1.0) -> None:
        self.outbox = outbox
        self.transport = transport
        self.poll_interval = poll_interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mail-delivery", daemon=True)

    def start(self) -> DeliveryThread:
        self._thread.start()
        return self

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self.outbox.wakeup.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _wait(self, round_: Round) -> float:
        if round_.failed or round_.next_due_at is None:
            return self.poll_interval
        return max(0.0, min(self.poll_interval, round_.next_due_at - self.outbox.clock()))

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            self.outbox.wakeup.clear()  # an enqueue from now on wakes the wait below
            try:
                round_ = self.outbox.deliver_round(self.transport)
            except Exception as error:  # Redis down, or a bug: never let the thread die
                if failures == 0:
                    log.warning("mail delivery paused: %s", describe(error))
                failures += 1
                wait = min(float(MAX_BACKOFF), self.poll_interval * 2 ** min(failures, 10))
            else:
                if failures:
                    log.warning("mail delivery resumed")
                    failures = 0
                if round_.sent >= BATCH:
                    continue  # more may be due right now
                wait = self._wait(round_)
            self.outbox.wakeup.wait(wait)


_started: dict[int, DeliveryThread] = {}  # process id -> its thread
_started_lock = threading.Lock()


def start_delivery(app: Flask) -> DeliveryThread:
    """Start this process's delivery thread (once per process, after any fork)."""
    with _started_lock:
        running = _started.get(os.getpid())
        if running is not None and running.is_alive():
            return running
        thread = DeliveryThread(
            app.extensions["outbox"],
            app.extensions["mail_transport"],
            poll_interval=app.config["MAIL_POLL_INTERVAL"],
        ).start()
        _started[os.getpid()] = thread
    atexit.register(thread.stop)  # at worker exit: let the send in flight finish
    return thread


def _in_cli_command() -> bool:
    """True when a ``flask`` command built the app: a one-off process that
    must not claim mail it could abandon mid-send."""
    return click.get_current_context(silent=True) is not None


def register_mail(app: Flask) -> None:
    """The outbox and the transport in ``app.extensions``; delivery started."""
    config = app.config
    app.extensions["outbox"] = Outbox(
        app.extensions["redis"],
        prefix=config["MAIL_KEY_PREFIX"],
        key=config["SECRET_KEY"].encode("utf-8"),
        max_age=config["MAIL_MAX_AGE"],
    )
    transport = build_transport(
        config["SMTP_URL"],
        config["MAIL_FROM"],
        config["MAIL_SMTP_TIMEOUT"],
        show_links=config["ENV_NAME"] != "production",
    )
    app.extensions["mail_transport"] = transport
    if config["MAIL_DELIVERY_THREAD"] and not _in_cli_command():
        if isinstance(transport, ConsoleTransport) and config["ENV_NAME"] == "production":
            log.warning("SMTP_URL is not set: mail is written to the log, not sent")
        start_delivery(app)
