"""The password module: bcrypt at the configured cost, never raising."""

from __future__ import annotations

import pytest

from app.auth.passwords import burn_verify, hash_password, verify_password


def test_hash_names_bcrypt_and_its_cost() -> None:
    hashed = hash_password("pa55word", rounds=5)
    assert hashed.startswith("$2b$05$")
    assert len(hashed) == 60


def test_verify() -> None:
    hashed = hash_password("pa55word", rounds=4)
    assert verify_password("pa55word", hashed)
    assert not verify_password("pa55worD", hashed)


def test_same_password_gets_a_new_salt_each_time() -> None:
    assert hash_password("pa55word", 4) != hash_password("pa55word", 4)


@pytest.mark.parametrize("stored", ["", "plain", "$2b$04$short", "$argon2id$v=19$x"])
def test_malformed_stored_hash_never_verifies_or_raises(stored: str) -> None:
    assert not verify_password("pa55word", stored)


def test_over_72_bytes_is_refused_rather_than_truncated() -> None:
    hashed = hash_password("a" * 72, rounds=4)
    assert not verify_password("a" * 72 + "b", hashed)


def test_burn_verify_spends_one_verify() -> None:
    burn_verify("anything", rounds=4)  # must not raise; its cost is tested by timing in #5
