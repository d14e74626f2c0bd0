"""Every login costs the same bcrypt work, whatever the account's stored hash.

Proved by counting, not by timing: each bcrypt check is recorded with the
cost of the hash it was given, and a check at cost c is 2^c units of work.
A hash below the current scheme, pepper or cost must not answer faster
(an attacker could tell those accounts apart), nor may an unknown account.
"""

from __future__ import annotations

from typing import Any

import bcrypt
import pytest
from flask import Flask

from app.auth.passwords import Hasher, burn_verify, hash_password, verify_password
from app.extensions import db
from app.models import User
from tests.conftest import PASSWORD, AuthActions

ROUNDS = 6
HASHER = Hasher(rounds=ROUNDS, pepper=b"p" * 32, pepper_id="2", old_peppers={"1": b"o" * 32})


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The cost of every bcrypt check made, in order."""
    costs: list[int] = []
    real_checkpw = bcrypt.checkpw

    def counted(password: bytes, hashed: bytes) -> bool:
        costs.append(int(hashed.split(b"$")[2]))
        return bool(real_checkpw(password, hashed))

    monkeypatch.setattr(bcrypt, "checkpw", counted)
    return costs


def units(costs: list[int]) -> int:
    return sum(2**cost for cost in costs)


def stored_hashes() -> dict[str, str]:
    current = hash_password(PASSWORD, HASHER)
    old_pepper = hash_password(PASSWORD, Hasher(ROUNDS, b"o" * 32, "1"))
    return {
        "current": current,
        "lower cost": hash_password(PASSWORD, Hasher(4, HASHER.pepper, "2")),
        "old pepper": old_pepper,
        "unknown pepper": old_pepper.replace("$1$", "$9$", 1),
        "plain bcrypt": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode(),
        "plain bcrypt, cost 5": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(5)).decode(),
        "malformed": "bcrypt_hmac_sha384$2$not-a-bcrypt-hash",
        "garbage": "x",
        "empty": "",
    }


@pytest.mark.parametrize("kind", list(stored_hashes()))
@pytest.mark.parametrize("password", [PASSWORD, "wrong-password", "é" * 80])
def test_every_stored_hash_costs_one_verify_at_the_current_cost(
    work: list[int], kind: str, password: str
) -> None:
    stored = stored_hashes()[kind]
    work.clear()
    verify_password(password, stored, HASHER)
    assert units(work) == 2**ROUNDS, (kind, work)


def test_the_answers_stay_right(work: list[int]) -> None:
    hashes = stored_hashes()
    for kind in ("current", "lower cost", "old pepper", "plain bcrypt"):
        assert verify_password(PASSWORD, hashes[kind], HASHER), kind
        assert not verify_password("wrong-password", hashes[kind], HASHER), kind
    for kind in ("unknown pepper", "malformed", "garbage", "empty"):
        assert not verify_password(PASSWORD, hashes[kind], HASHER), kind


def test_an_unknown_account_costs_the_same(work: list[int]) -> None:
    burn_verify("anything", HASHER)
    assert work == [ROUNDS]


class TestOverTheApi:
    @pytest.fixture
    def app_config(self, app_config: Any) -> Any:
        app_config.BCRYPT_ROUNDS = 6
        return app_config

    def test_unknown_known_and_legacy_accounts_cost_the_same(
        self, app: Flask, auth: AuthActions, user: Any, work: list[int]
    ) -> None:
        auth.register("legacy", "legacy@example.com")
        legacy = db.session.scalar(db.select(User).filter_by(username="legacy"))
        assert legacy is not None
        legacy.password_hash = bcrypt.hashpw(b"legacy", bcrypt.gensalt(4)).decode()
        db.session.commit()
        for email in ("john@example.com", "legacy@example.com", "nobody@example.com"):
            work.clear()
            assert auth.login(email, "wrong-password").status_code == 401
            assert units(work) == 2**6, (email, work)
