"""The one place that hashes and verifies passwords. Pure: no Flask import.

Scheme (OWASP Password Storage Cheat Sheet, "pre-hashing passwords"):

    bcrypt(base64(HMAC-SHA384(NFKC(password), pepper)))

* HMAC with a secret pepper, not a bare SHA digest: a leaked table of bare
  ``bcrypt(sha(password))`` hashes can be "shucked" against other breaches.
* base64 of the 48-byte digest is 64 ASCII bytes: under bcrypt's 72-byte
  limit and free of NUL bytes, so every character of a long password counts.
* NFKC first, so the same password typed on two keyboards (composed "é" or
  "e" + combining accent) is the same password.

Stored format names the scheme and the pepper version so that peppers can be
rotated and old hashes still verify:

    bcrypt_hmac_sha384$<pepper id>$<bcrypt hash>

Plain bcrypt hashes (``$2b$...``, imported from another system) still
verify; ``needs_rehash`` says when a hash should be replaced at the next
successful login (old scheme, old pepper, or a cost below the configured one).

Every verification costs the same bcrypt work, 2^rounds, whatever the
stored hash: a cheaper hash (a lower cost, a plain bcrypt one) is topped up
with dummy work of the costs it lacks (2^c + 2^c + 2^(c+1) + … + 2^(r-1) =
2^r), and a hash that cannot be checked at all (an unknown pepper, a
malformed value) or an unknown account spends one dummy verify at the
current cost. So response times do not tell which accounts have hashes
that are not yet on the current scheme.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

import bcrypt

SCHEME = "bcrypt_hmac_sha384"
BCRYPT_MAX_BYTES = 72  # bcrypt reads no further; bcrypt 5 raises beyond it


@dataclass(frozen=True)
class Hasher:
    """How passwords are hashed now, and which old peppers still verify."""

    rounds: int
    pepper: bytes
    pepper_id: str = "1"
    old_peppers: Mapping[str, bytes] = field(default_factory=dict)

    def pepper_for(self, pepper_id: str) -> bytes | None:
        if pepper_id == self.pepper_id:
            return self.pepper
        return self.old_peppers.get(pepper_id)


def normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def _prehash(password: str, pepper: bytes) -> bytes:
    digest = hmac.new(pepper, normalize(password).encode("utf-8"), hashlib.sha384).digest()
    return base64.b64encode(digest)


def hash_password(password: str, hasher: Hasher) -> str:
    inner = bcrypt.hashpw(_prehash(password, hasher.pepper), bcrypt.gensalt(hasher.rounds))
    return f"{SCHEME}${hasher.pepper_id}${inner.decode('ascii')}"


def _checkpw(secret: bytes, bcrypt_hash: str) -> tuple[bool, int]:
    """Whether ``secret`` matches, and the cost spent finding out (0: none)."""
    cost = _bcrypt_cost(bcrypt_hash)
    if not 4 <= cost <= 31 or len(secret) > BCRYPT_MAX_BYTES:
        return False, 0
    try:
        return bcrypt.checkpw(secret, bcrypt_hash.encode("ascii")), cost
    except ValueError:  # malformed hash: never a 500
        return False, 0


def _check(password: str, stored: str, hasher: Hasher) -> tuple[bool, int]:
    scheme, _, rest = stored.partition("$")
    if scheme == SCHEME:
        pepper_id, _, inner = rest.partition("$")
        pepper = hasher.pepper_for(pepper_id)
        if pepper is None:
            return False, 0
        return _checkpw(_prehash(password, pepper), inner)
    if stored.startswith("$2"):  # bare bcrypt of the raw password
        return _checkpw(password.encode("utf-8"), stored)
    return False, 0


def verify_password(password: str, stored: str, hasher: Hasher) -> bool:
    """Whether ``password`` matches ``stored``, at the cost of one verify at
    the current cost whatever ``stored`` is (see the module docstring); never raises."""
    matches, spent = _check(password, stored, hasher)
    _top_up(spent, hasher)
    return matches


def _top_up(spent: int, hasher: Hasher, secret: bytes = b"top-up") -> None:
    """Dummy work so that a check that cost 2^spent costs 2^rounds in all."""
    costs = range(spent, hasher.rounds) if spent else [hasher.rounds]
    for cost in costs:
        bcrypt.checkpw(secret, _dummy_hash(cost))


def _bcrypt_cost(bcrypt_hash: str) -> int:
    try:
        return int(bcrypt_hash.split("$")[2])
    except (IndexError, ValueError):
        return 0


def needs_rehash(stored: str, hasher: Hasher) -> bool:
    """True for a hash that is not the current scheme, pepper and cost."""
    scheme, _, rest = stored.partition("$")
    pepper_id, _, inner = rest.partition("$")
    return scheme != SCHEME or pepper_id != hasher.pepper_id or _bcrypt_cost(inner) < hasher.rounds


@functools.cache
def _dummy_hash(cost: int) -> bytes:
    """A bcrypt hash of nothing anyone knows, at this cost: made once per process."""
    return bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(cost))


def burn_verify(password: str, hasher: Hasher) -> None:
    """Spend one verify, as for a real account, on a login for an unknown one.

    The same pre-hash and the same cost: response time does not tell which
    accounts exist.
    """
    _top_up(0, hasher, secret=_prehash(password, hasher.pepper))
