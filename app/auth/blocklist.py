"""Commonly used passwords (NIST SP 800-63B 5.1.1.2): refused at registration.

The list ships in ``data/`` with its origin in ``data/README.md``.
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

from app.auth.passwords import normalize

COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common-passwords.txt.gz"


@functools.cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def is_common(password: str) -> bool:
    """Case-insensitive, after the same NFKC normalisation as hashing."""
    return normalize(password).strip().lower() in common_passwords()
