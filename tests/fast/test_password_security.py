"""Password storage and login as an attacker would probe them (docs/SECURITY.md)."""

from __future__ import annotations

from typing import Any

import bcrypt
import pytest
from flask import Flask
from sqlalchemy import select

from app import build_password_hasher
from app.auth.blocklist import common_passwords
from app.extensions import db
from app.models import User
from tests.conftest import AuthActions


def fullwidth(text: str) -> str:
    """The same text in fullwidth forms, which NFKC folds back."""
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


def stored_hash() -> str:
    return db.session.scalars(select(User)).one().password_hash


def reconfigure(app: Flask, **settings: Any) -> None:
    """What a restart with new settings does to the password hasher."""
    app.config.update(settings)
    app.extensions["password_hasher"] = build_password_hasher(app)


class TestNoTruncation:
    def test_passwords_sharing_their_first_72_bytes_are_different(self, auth: AuthActions) -> None:
        shared = "correct horse battery staple " * 3  # 87 characters
        assert auth.register(password=shared + "one").status_code == 201
        assert auth.login(password=shared + "two").status_code == 401
        assert auth.login(password=shared[:72]).status_code == 401
        assert auth.login(password=shared + "one").status_code == 200

    def test_1024_characters_of_multibyte_text_are_accepted(self, auth: AuthActions) -> None:
        password = "пароль-" * 146 + "ab"  # 1024 characters, ~1.9 KB of UTF-8
        assert len(password) == 1024
        assert auth.register(password=password).status_code == 201
        assert auth.login(password=password).status_code == 200
        assert auth.login(password=password[:-1] + "c").status_code == 401

    def test_composed_and_decomposed_unicode_are_one_password(self, auth: AuthActions) -> None:
        assert auth.register(password="mot-de-passe-\u00e9t\u00e9").status_code == 201
        assert auth.login(password="mot-de-passe-e\u0301te\u0301").status_code == 200


class TestRehash:
    def test_a_lower_cost_is_raised_at_the_next_login(self, app: Flask, auth: AuthActions) -> None:
        auth.register()
        assert "$2b$04$" in stored_hash()
        reconfigure(app, BCRYPT_ROUNDS=5)
        assert auth.login().status_code == 200
        assert "$2b$05$" in stored_hash()

    def test_a_rehash_leaves_updated_at_and_older_sessions_true(
        self, app: Flask, auth: AuthActions
    ) -> None:
        """Nothing the user sees changes: updated_at neither, so the snapshot
        an older session holds (what its /me shows) is still the row."""
        auth.register()
        token = auth.token()
        before = db.session.scalars(select(User)).one().updated_at
        reconfigure(app, BCRYPT_ROUNDS=5)
        assert auth.login().status_code == 200
        db.session.expire_all()
        user = db.session.scalars(select(User)).one()
        assert "$2b$05$" in user.password_hash
        assert user.updated_at == before
        me = auth.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json["updated_at"] == before.strftime("%Y-%m-%dT%H:%M:%SZ")

    def test_a_failed_login_changes_nothing(self, app: Flask, auth: AuthActions) -> None:
        auth.register()
        before = stored_hash()
        reconfigure(app, BCRYPT_ROUNDS=5)
        assert auth.login(password="wrong-password").status_code == 401
        assert stored_hash() == before

    def test_legacy_plain_bcrypt_is_upgraded(self, auth: AuthActions) -> None:
        auth.register()
        user = db.session.scalars(select(User)).one()
        user.password_hash = bcrypt.hashpw(b"s3cret-passw0rd", bcrypt.gensalt(4)).decode()
        db.session.commit()
        assert auth.login().status_code == 200
        assert stored_hash().startswith("bcrypt_hmac_sha384$1$$2b$04$")
        assert auth.login().status_code == 200

    def test_pepper_rotation(self, app: Flask, auth: AuthActions) -> None:
        auth.register()
        old = app.config["PASSWORD_PEPPER"]
        reconfigure(
            app,
            PASSWORD_PEPPER="n" * 48,
            PASSWORD_PEPPER_ID="2",
            PASSWORD_OLD_PEPPERS={"1": old},
        )
        assert auth.login().status_code == 200
        assert stored_hash().startswith("bcrypt_hmac_sha384$2$")
        reconfigure(app, PASSWORD_OLD_PEPPERS={})  # the old pepper can now be retired
        assert auth.login().status_code == 200


class TestNoAccountProbing:
    def test_unknown_and_known_accounts_fail_alike(self, auth: AuthActions) -> None:
        auth.register()
        unknown = auth.login(email="nobody@example.com")
        wrong = auth.login(password="wrong-password")
        assert unknown.status_code == wrong.status_code == 401
        assert unknown.json == wrong.json == {"detail": "Invalid email or password"}
        differ = {"X-Request-ID"}  # one per request, whatever happens
        assert {k: v for k, v in unknown.headers if k not in differ} == {
            k: v for k, v in wrong.headers if k not in differ
        }

    def test_both_paths_cost_one_bcrypt_verify(
        self, app: Flask, auth: AuthActions, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The work, not the clock: an unknown account and a wrong password each
        cost exactly one bcrypt verify, at the configured cost."""
        reconfigure(app, BCRYPT_ROUNDS=5)  # not the fixture's 4: the configured cost counts
        auth.register()
        costs: list[int] = []
        real = bcrypt.checkpw

        def checkpw(secret: bytes, hashed: bytes) -> bool:
            costs.append(int(hashed.split(b"$")[2]))  # $2b$<cost>$...
            return real(secret, hashed)

        monkeypatch.setattr(bcrypt, "checkpw", checkpw)
        for email in ("nobody@example.com", "john@example.com"):
            costs.clear()
            assert auth.login(email=email, password="wrong-password").status_code == 401
            assert costs == [5], email


class TestCommonPasswords:
    @pytest.fixture
    def app_config(self, app_config: Any) -> Any:
        app_config.PASSWORD_BLOCKLIST_ENABLED = True
        return app_config

    @pytest.mark.parametrize(
        "password", ["password123", "PassWord123", fullwidth("password123"), "qwerty123"]
    )
    def test_refused_at_registration(self, auth: AuthActions, password: str) -> None:
        response = auth.register(password=password)
        assert response.status_code == 422
        assert response.json == {
            "detail": [
                {
                    "loc": ["body", "password"],
                    "msg": "This password is too common",
                    "type": "value_error.password.common",
                }
            ]
        }

    def test_uncommon_passwords_pass(self, auth: AuthActions) -> None:
        assert auth.register(password="violet-kayak-49-orbit").status_code == 201

    def test_login_is_not_affected(self, app: Flask, auth: AuthActions) -> None:
        app.config["PASSWORD_BLOCKLIST_ENABLED"] = False
        auth.register(password="password123")
        app.config["PASSWORD_BLOCKLIST_ENABLED"] = True
        assert auth.login(password="password123").status_code == 200

    def test_on_in_production_off_by_default_elsewhere(self) -> None:
        from config import config_from_env
        from tests.fast.test_config import PRODUCTION

        assert config_from_env(PRODUCTION).PASSWORD_BLOCKLIST_ENABLED is True
        assert config_from_env({"APP_ENV": "testing"}).PASSWORD_BLOCKLIST_ENABLED is False
        assert config_from_env({"APP_ENV": "development"}).PASSWORD_BLOCKLIST_ENABLED is False

    def test_the_list_is_large_and_lower_case(self) -> None:
        passwords = common_passwords()
        assert len(passwords) >= 10_000
        assert all(p == p.lower() for p in passwords)
        assert {"123456", "password", "qwerty"} <= passwords
