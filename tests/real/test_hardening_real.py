"""The audit's findings on a live production gunicorn from gunicorn.conf.py
(docs/SECURITY.md): the access log cannot be forged, a weak setting stops
gunicorn before it forks, TRUSTED_HOSTS, HSTS and the API's CSP."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from typing import Any
from urllib.parse import quote

import pytest

from tests.real.services import LOOPBACK, ROOT, Gunicorn, free_port

# Each would have written a second line that reads like a request of its
# own, a terminal escape, or a quote that ends the path's field early.
FORGED_LINE = '127.0.0.1 "GET /forged HTTP/1.1" 200 2 0ms'
RAW_PATHS = {
    "lf": "/api/auth/me\n" + FORGED_LINE,
    "crlf": "/api/auth/me\r\n" + FORGED_LINE,
    "escape-sequence": "/api/auth/me\x1b[2K\r" + FORGED_LINE,
    "quote-and-backslash": '/api/auth/me\\" 401 0 0ms forged',
    "nel": "/api/auth/me\u0085" + FORGED_LINE,
    "line-separator": "/api/auth/me\u2028" + FORGED_LINE,
}
# Header values, with what gunicorn lets through: TAB, the bytes of NEL and
# LINE SEPARATOR in UTF-8 (obs-text), a quote.
HEADERS = (
    b'User-Agent: ua\t\xc2\x85\xe2\x80\xa8"forged\r\nReferer: https://x.example/"\t\xc2\x85\r\n'
)
# An access line, reading the path's field the way a log parser does: \" and
# \\ are escapes, any other " ends it.
ACCESS_LINE = re.compile(
    r'<\d+> 127\.0\.0\.1 "GET ((?:[^"\\]|\\.)*) HTTP/1\.1" 404 \d+ \d+ms (\S+)'
)
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def raw_request(port: int, head: bytes) -> bytes:
    """Send bytes as they are (http.client would refuse them); the status line back."""
    with socket.create_connection((LOOPBACK, port), timeout=10) as connection:
        connection.sendall(head)
        reply = b""
        while b"\r\n" not in reply:
            chunk = connection.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.split(b"\r\n", 1)[0]


def lines_of(server: Gunicorn, request_id: str) -> list[str]:
    """The access-log lines that end with ``request_id``, once they are written."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [line for line in server.log().splitlines() if line.endswith(" " + request_id)]
        if lines:
            return lines
        time.sleep(0.05)  # a worker logs a request just after answering it
    return []


def unescape(logged: str) -> str:
    """The inverse of escaped_access_log.escape: what a log reader would recover."""
    return re.sub(
        r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|[\\\"])",
        lambda m: chr(int(m.group(1)[1:], 16)) if len(m.group(1)) > 1 else m.group(1),
        logged,
    )


def test_a_path_cannot_forge_an_access_log_line(production_gunicorn: Any) -> None:
    """Each path on a production gunicorn: exactly one access line for the
    request, whole, and no forged line anywhere in the log."""
    server: Gunicorn = production_gunicorn("forge")
    for name, raw in RAW_PATHS.items():
        request_id = f"forge-{name}-{os.getpid()}"
        head = (
            f"GET {quote(raw, safe='/')} HTTP/1.1\r\nHost: {LOOPBACK}\r\n"
            f"X-Request-ID: {request_id}\r\n"
        ).encode() + HEADERS + b"Connection: close\r\n\r\n"  # fmt: skip
        assert raw_request(server.port, head) == b"HTTP/1.1 404 NOT FOUND", name  # no such path
        lines = lines_of(server, request_id)
        assert len(lines) == 1, (name, server.log())
        # Its fields parse, the path comes back from its escapes (PATH_INFO
        # holds the path's bytes as latin-1 characters, PEP 3333), and the
        # request id is the last field.
        parsed = ACCESS_LINE.fullmatch(lines[0])
        assert parsed, (name, lines[0])
        assert parsed.group(2) == request_id
        assert unescape(parsed.group(1)) == raw.encode().decode("latin-1"), name
    log = server.log()
    forged = [line for line in log.splitlines() if "forged" in line]
    assert len(forged) == len(RAW_PATHS), log  # the requests' own lines, nothing else
    assert not RAW_CONTROL.search(log), log
    # worker_pids_in_access_log (tests/real/services.py) still reads escaped lines.
    assert server.worker_pids_in_access_log("/api/auth/me\\x0a" + FORGED_LINE.replace('"', '\\"'))


def test_control_characters_in_a_header_are_refused_and_log_nothing_forged(
    production_gunicorn: Any,
) -> None:
    """gunicorn itself answers 400 to these, before the app: no access line for
    the request, and its warning names the header, never quotes its value."""
    server: Gunicorn = production_gunicorn("refused")
    headers = [b"User-Agent: a\nforged line", b"User-Agent: a\x1b[2Kforged", b"Referer: a\rforged"]
    for number, header in enumerate(headers):
        before = len(server.log())
        request_id = f"refused-{number}-{os.getpid()}"
        head = (
            f"GET /healthz HTTP/1.1\r\nHost: {LOOPBACK}\r\nX-Request-ID: {request_id}\r\n".encode()
            + header
            + b"\r\n\r\n"
        )
        assert raw_request(server.port, head) == b"HTTP/1.1 400 Bad Request", header
        time.sleep(0.3)
        added = server.log()[before:]
        assert "Invalid request from ip=127.0.0.1: Invalid HTTP Header" in added, added
        assert request_id not in added  # never reached the app, so no access line
        assert "forged" not in added, added
        assert not RAW_CONTROL.search(added), added


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
