"""Look-alike identities: the Unicode TR39 *skeleton* of a name.

Two strings that render alike ("paypal" in Latin letters and in Cyrillic
ones; "l", "1" and "I"; "rn" and "m") have the same skeleton: NFD, then
every character replaced by its prototype from Unicode's confusables data,
then NFD again (UTS #39, section 4). An account's username and the local
part of its email are unique by skeleton (case-folded), so a look-alike of
an existing identity cannot register beside it.

Written here, in a few lines, because no maintained Python package computes
the skeleton without compiling ICU; the data is Unicode's own file, shipped
in ``data/`` with its origin in ``data/README.md``.
"""

from __future__ import annotations

import functools
import gzip
import unicodedata
from pathlib import Path

CONFUSABLES_FILE = Path(__file__).parent / "data" / "confusables.txt.gz"


@functools.cache
def prototypes() -> dict[str, str]:
    """Each confusable character and the prototype it is shown as."""
    table = {}
    with gzip.open(CONFUSABLES_FILE, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("#") or not line.strip():
                continue
            source, _, prototype = line.strip().partition(";")
            table[chr(int(source, 16))] = "".join(chr(int(c, 16)) for c in prototype.split())
    return table


def skeleton(text: str) -> str:
    """UTS #39 skeleton(X): equal for strings that are confusable."""
    table = prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    mapped = "".join(table.get(char, char) for char in decomposed)
    return unicodedata.normalize("NFD", mapped)


def username_key(username: str) -> str:
    """What two usernames must not share: their case-folded skeleton."""
    return skeleton(username).casefold()


def email_key(email: str) -> str:
    """What two addresses must not share: the case-folded skeleton of the
    local part, and the (already normalised) domain."""
    local, _, domain = email.rpartition("@")
    return f"{skeleton(local).casefold()}@{domain.lower()}"
