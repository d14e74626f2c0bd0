"""The password module: the pre-hash scheme, legacy hashes, rehash decisions."""

from __future__ import annotations

import bcrypt
import pytest

from app.auth.passwords import (
    SCHEME,
    Hasher,
    burn_verify,
    hash_password,
    needs_rehash,
    verify_password,
)

HASHER = Hasher(rounds=4, pepper=b"p" * 48)


def test_stored_format_names_scheme_pepper_and_cost() -> None:
    stored = hash_password("pa55word", Hasher(rounds=5, pepper=b"k" * 48, pepper_id="7"))
    scheme, pepper_id, inner = stored.split("$", 2)
    assert (scheme, pepper_id) == (SCHEME, "7")
    assert inner.startswith("$2b$05$")
    assert len(inner) == 60


def test_verify() -> None:
    stored = hash_password("pa55word", HASHER)
    assert verify_password("pa55word", stored, HASHER)
    assert not verify_password("pa55worD", stored, HASHER)


def test_same_password_gets_a_new_salt_each_time() -> None:
    assert hash_password("pa55word", HASHER) != hash_password("pa55word", HASHER)


def test_every_character_counts_past_72_bytes() -> None:
    """bcrypt alone reads 72 bytes: without pre-hashing these would collide."""
    shared = "a" * 72
    stored = hash_password(shared + "-one", HASHER)
    assert verify_password(shared + "-one", stored, HASHER)
    assert not verify_password(shared + "-two", stored, HASHER)
    assert not verify_password(shared, stored, HASHER)


def test_a_1024_character_password_hashes_and_verifies() -> None:
    password = "é" * 1024  # 2048 bytes
    assert verify_password(password, hash_password(password, HASHER), HASHER)


def test_nul_bytes_do_not_cut_the_password() -> None:
    stored = hash_password("abc\x00def", HASHER)
    assert verify_password("abc\x00def", stored, HASHER)
    assert not verify_password("abc\x00xyz", stored, HASHER)
    assert not verify_password("abc", stored, HASHER)


def test_unicode_is_nfkc_normalised() -> None:
    composed, decomposed = "caf\u00e9-pa55", "cafe\u0301-pa55"
    assert composed != decomposed
    assert verify_password(decomposed, hash_password(composed, HASHER), HASHER)
    fullwidth = "".join(chr(ord(char) + 0xFEE0) for char in "Abc123")  # fullwidth forms
    assert verify_password(fullwidth + "!", hash_password("Abc123!", HASHER), HASHER)


def test_the_pepper_is_part_of_the_hash() -> None:
    stored = hash_password("pa55word", HASHER)
    other_pepper = Hasher(rounds=4, pepper=b"q" * 48, pepper_id="1")
    assert not verify_password("pa55word", stored, other_pepper)


def test_a_bare_sha_prehash_is_not_what_is_stored() -> None:
    """The inner bcrypt input is an HMAC under the pepper, not sha384(password)."""
    import base64
    import hashlib

    inner = hash_password("pa55word", HASHER).split("$", 2)[2].encode()
    bare = base64.b64encode(hashlib.sha384(b"pa55word").digest())
    assert not bcrypt.checkpw(bare, inner)


def test_old_peppers_still_verify_and_ask_for_a_rehash() -> None:
    old = Hasher(rounds=4, pepper=b"old" * 16, pepper_id="1")
    rotated = Hasher(rounds=4, pepper=b"new" * 16, pepper_id="2", old_peppers={"1": b"old" * 16})
    stored = hash_password("pa55word", old)
    assert verify_password("pa55word", stored, rotated)
    assert needs_rehash(stored, rotated)
    assert not needs_rehash(hash_password("pa55word", rotated), rotated)
    forgotten = Hasher(rounds=4, pepper=b"new" * 16, pepper_id="2")
    assert not verify_password("pa55word", stored, forgotten)


def test_legacy_plain_bcrypt_verifies_and_asks_for_a_rehash() -> None:
    legacy = bcrypt.hashpw(b"pa55word", bcrypt.gensalt(4)).decode()
    assert verify_password("pa55word", legacy, HASHER)
    assert not verify_password("pa55worD", legacy, HASHER)
    assert not verify_password("x" * 100, legacy, HASHER)  # > 72 bytes: no raise
    assert needs_rehash(legacy, HASHER)


def test_lower_cost_asks_for_a_rehash() -> None:
    stored = hash_password("pa55word", HASHER)
    assert not needs_rehash(stored, HASHER)
    assert needs_rehash(stored, Hasher(rounds=5, pepper=HASHER.pepper))


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain",
        "$2b$04$short",
        "$argon2id$v=19$x",
        f"{SCHEME}$1$garbage",
        f"{SCHEME}$9$$2b$04$x",
    ],
)
def test_malformed_stored_hash_never_verifies_or_raises(stored: str) -> None:
    assert not verify_password("pa55word", stored, HASHER)
    assert needs_rehash(stored, HASHER)


def test_legacy_bcrypt_verifies_a_password_of_exactly_72_bytes() -> None:
    """bcrypt's whole input: the longest password a legacy hash can hold."""
    password = "é" * 36  # 72 bytes of UTF-8
    legacy = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    assert verify_password(password, legacy, HASHER)
    assert not verify_password(password + "!", legacy, HASHER)  # 73 bytes


@pytest.fixture
def checkpw_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Every ``bcrypt.checkpw(secret, hash)`` made, passed on to the real one."""
    calls: list[tuple[bytes, bytes]] = []
    real = bcrypt.checkpw

    def checkpw(secret: bytes, hashed: bytes) -> bool:
        calls.append((secret, hashed))
        return real(secret, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", checkpw)
    return calls


def cost(bcrypt_hash: bytes) -> int:
    """The cost field of ``$2b$<cost>$<salt and digest>``."""
    return int(bcrypt_hash.split(b"$")[2])


@pytest.mark.parametrize("rounds", [4, 5])
def test_burn_verify_uses_the_same_scheme_and_cost(
    checkpw_calls: list[tuple[bytes, bytes]], rounds: int
) -> None:
    """An unknown account costs what a known one does: one bcrypt check, at
    the configured cost, of the same pre-hashed secret a real hash would get."""
    hasher = Hasher(rounds=rounds, pepper=b"p" * 48, pepper_id="3")
    stored = hash_password("guess", hasher)
    assert not verify_password("anything", stored, hasher)
    [(real_secret, real_hash)] = checkpw_calls
    checkpw_calls.clear()

    burn_verify("anything", hasher)
    assert len(checkpw_calls) == 1
    [(secret, dummy_hash)] = checkpw_calls
    assert cost(dummy_hash) == cost(real_hash) == rounds
    assert dummy_hash.startswith(b"$2b$")
    assert secret == real_secret  # same pepper, same HMAC-SHA384 pre-hash
