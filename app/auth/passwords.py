"""The one place that hashes and verifies passwords (bcrypt).

Pure functions with no Flask import: callers pass the cost. Neither a
password nor a hash is ever logged or returned from here.
"""

from __future__ import annotations

import functools
import secrets

import bcrypt

# bcrypt reads at most 72 bytes and bcrypt 5 raises beyond that. Until the
# pre-hashing scheme lands, longer passwords are refused by validation.
BCRYPT_MAX_BYTES = 72


def _encode(password: str) -> bytes:
    return password.encode("utf-8")


def hash_password(password: str, rounds: int) -> str:
    """A bcrypt hash (``$2b$<cost>$...``) of ``password`` at cost ``rounds``."""
    return bcrypt.hashpw(_encode(password), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches; never raises for a bad input or hash."""
    secret = _encode(password)
    if len(secret) > BCRYPT_MAX_BYTES:
        return False
    try:
        return bcrypt.checkpw(secret, password_hash.encode("ascii"))
    except ValueError:  # a malformed stored hash must not become a 500
        return False


@functools.cache
def _dummy_hash(rounds: int) -> str:
    return hash_password(secrets.token_urlsafe(16), rounds)


def burn_verify(password: str, rounds: int) -> None:
    """Spend one verify at ``rounds`` for an unknown account.

    Login answers an unknown email after the same bcrypt work as a wrong
    password, so response time does not reveal which accounts exist.
    """
    verify_password(password, _dummy_hash(rounds))
