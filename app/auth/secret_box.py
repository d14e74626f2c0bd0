"""Second-factor secrets at rest: a key ring from the environment.

``SECOND_FACTOR_KEY`` (with its id, ``SECOND_FACTOR_KEY_ID``) is the current
key; ``SECOND_FACTOR_OLD_KEYS`` are retired ones that still open what they
sealed, so a key can be rotated without locking anyone out (what is opened
with an old key is sealed again with the current one at its next use). From
each configured text two keys are derived with HKDF-SHA256, one per purpose,
so that no key does two jobs:

* an AES-256-GCM key that seals TOTP secrets. The authenticated data names
  what a ciphertext belongs to (``totp:<user id>``): a ciphertext copied to
  another row or another user does not open.
* an HMAC-SHA256 key for recovery codes. They carry 50 random bits each, so a
  keyed hash is enough (no slow hash): without the key, a copy of the
  database cannot even test a guess.

No Flask, no Redis, no database: plain bytes in and out.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


class CannotOpen(Exception):
    """Unknown key id, or a ciphertext that is not this key's work for this purpose."""


def _derive(secret: str, purpose: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"second-factor:" + purpose)
    return hkdf.derive(secret.encode("utf-8"))


class SecretBox:
    def __init__(self, key_id: str, key: str, old_keys: Mapping[str, str] | None = None) -> None:
        self.key_id = key_id
        texts = {**(old_keys or {}), key_id: key}
        self._sealers = {kid: AESGCM(_derive(text, b"seal")) for kid, text in texts.items()}
        self._macs = {kid: _derive(text, b"recovery-code") for kid, text in texts.items()}

    def seal(self, plaintext: bytes, context: str) -> tuple[str, bytes]:
        """The current key's id, and nonce + ciphertext bound to ``context``."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._sealers[self.key_id].encrypt(nonce, plaintext, context.encode())
        return self.key_id, nonce + sealed

    def open(self, key_id: str, blob: bytes, context: str) -> bytes:
        sealer = self._sealers.get(key_id)
        if sealer is None or len(blob) <= NONCE_BYTES:
            raise CannotOpen()
        try:
            return sealer.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode())
        except InvalidTag:
            raise CannotOpen() from None

    def mac(self, text: str, key_id: str | None = None) -> str:
        """The hex HMAC of ``text`` under one key of the ring (default: the current)."""
        key = self._macs[key_id or self.key_id]
        return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def macs(self, text: str) -> list[str]:
        """``text``'s HMAC under every key of the ring, the current one first:
        what was stored before a rotation still matches."""
        return [
            self.mac(text, kid) for kid in [self.key_id, *sorted(self._macs.keys() - {self.key_id})]
        ]
