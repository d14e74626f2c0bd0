"""gunicorn's access log, with every request-controlled value escaped
(``logger_class`` in gunicorn.conf.py).

gunicorn writes the decoded path (``%(U)s``) and request headers as they
came: ``GET /me%0A127.0.0.1 "GET /forged" 200`` wrote a second, forged line,
``%1b`` a terminal escape sequence, and its ``"`` → ``\\"`` quoting left a
``\\`` before it free to undo the quoting. Here, in every atom, control and
other non-printable characters become ``\\xNN``/``\\uNNNN`` escapes, and
``\\`` and ``"`` are backslash-escaped: one request, one line, fields intact.

Imports only gunicorn and the standard library: the gunicorn master loads
it, and the app must stay out of the master (workers import it after the
fork, and import it afresh after a ``kill -HUP`` reload).
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger


def _escape_char(char: str) -> str:
    if char in '"\\':
        return "\\" + char
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape(value: str) -> str:
    """``value`` with nothing that could end a log line or a quoted field."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return value  # the common case, at the cost of three scans in C
    return "".join(map(_escape_char, value))


class EscapedAtoms(dict[str, Any]):
    """gunicorn's ``SafeAtoms`` (missing atoms read as ``-``, header atoms
    case-insensitively), escaping only the atoms the format actually reads."""

    def __getitem__(self, key: str) -> Any:
        if key.startswith("{"):
            key = key.lower()
        value = self.get(key, "-")
        return escape(value) if isinstance(value, str) else value


class EscapingLogger(Logger):
    atoms_wrapper_class = EscapedAtoms
