"""TOTP (RFC 6238) as authenticator apps speak it, and recovery codes.

Codes are pyotp's: SHA-1, 6 digits, 30-second steps. A code is accepted for
the step before, the current one or the one after (one step of clock drift
either way), and only for a step later than the last one accepted: a code,
once used, never works again, nor does any older one. The caller makes
that stick across hosts with a conditional UPDATE of the last step
(``second_factor.py``); this module only does the arithmetic, with an
injected clock, so that tests compute codes for instants they choose.

A pending setup (the secret shown to the user, not yet confirmed by a code)
lives in Redis for ``SETUP_TTL`` seconds, sealed with the second-factor key
(``secret_box.py``): a copy of Redis yields no secret. Layout::

    <prefix>totp-setup:<HMAC(user id)>   string: msgpack [key id, sealed secret]

Single-key commands only (Redis Cluster).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pyotp
import redis
import segno

from app.auth.secret_box import CannotOpen, SecretBox

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
SETUP_TTL = 600
ISSUER = "Auth service"

# Recovery codes: 10 base32 characters (50 bits), shown as xxxxx-xxxxx.
RECOVERY_CODE_COUNT = 10
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_RECOVERY_CODE = re.compile(r"[a-z2-7]{10}")


class Totp:
    def __init__(self, clock: Callable[[], float] = time.time, issuer: str = ISSUER) -> None:
        self.clock = clock
        self.issuer = issuer

    @staticmethod
    def new_secret() -> str:
        """160 random bits in base32, RFC 4226's recommended length."""
        return pyotp.random_base32(32)

    def uri(self, secret: str, account: str) -> str:
        return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=self.issuer)

    @staticmethod
    def qr_svg(uri: str) -> str:
        """The URI as a QR code: a standalone SVG document, drawn here (no
        third party ever sees the secret)."""
        out = io.BytesIO()
        segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False, svgns=True)
        return out.getvalue().decode("ascii")

    def step(self) -> int:
        return int(self.clock()) // STEP_SECONDS

    def matching_step(self, secret: str, code: str, after: int) -> int | None:
        """The step within the drift window, later than ``after``, whose code
        ``code`` is; None when there is none."""
        if len(code) != DIGITS or not code.isascii() or not code.isdigit():
            return None
        otp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
        now = self.step()
        found = None
        # Every candidate compared, in constant time: the answer's timing
        # says nothing about which step matched.
        for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
            if hmac.compare_digest(otp.generate_otp(step), code) and step > after and found is None:
                found = step
        return found


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        text = "".join(secrets.choice(_BASE32) for _ in range(10))
        codes.append(f"{text[:5]}-{text[5:]}")
    return codes


def normal_recovery_code(code: str) -> str | None:
    """The code as stored (dashes, spaces and case dropped); None if it
    cannot be one."""
    text = code.replace("-", "").replace(" ", "").lower()
    return text if _RECOVERY_CODE.fullmatch(text) else None


def recovery_code_text(user_id: int, normal: str) -> str:
    """What is HMAC'd: the account's id too, so one code hashes differently per account."""
    return f"recovery-code:{user_id}:{normal}"


class _Pending(msgspec.Struct, array_like=True, frozen=True):
    key_id: str
    sealed: bytes


class PendingSetups:
    """Secrets shown at setup, waiting for their first code."""

    def __init__(self, client: redis.Redis, prefix: str, secret: bytes, box: SecretBox) -> None:
        self.client: Any = client
        self.prefix = prefix
        self.secret = secret
        self.box = box

    def _key(self, user_id: int) -> str:
        mac = hmac.new(self.secret, f"totp-setup:{user_id}".encode(), hashlib.sha256).digest()
        return f"{self.prefix}totp-setup:{base64.urlsafe_b64encode(mac[:16]).decode().rstrip('=')}"

    def put(self, user_id: int, secret: str) -> None:
        """Replaces any pending setup of the account."""
        key_id, sealed = self.box.seal(secret.encode("ascii"), f"totp-setup:{user_id}")
        raw = msgspec.msgpack.encode(_Pending(key_id, sealed))
        self.client.set(self._key(user_id), raw, ex=SETUP_TTL)

    def get(self, user_id: int) -> str | None:
        raw = self.client.get(self._key(user_id))
        if raw is None:
            return None
        try:
            pending = msgspec.msgpack.decode(raw, type=_Pending)
            return self.box.open(pending.key_id, pending.sealed, f"totp-setup:{user_id}").decode()
        except (msgspec.DecodeError, msgspec.ValidationError, CannotOpen, UnicodeDecodeError):
            return None

    def drop(self, user_id: int) -> None:
        self.client.delete(self._key(user_id))
