"""POST /register (§2): 201 User, 400 duplicates, 422 per invalid field."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models import User
from tests.conftest import API, PASSWORD, AuthActions

ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User)) or 0


class TestSuccess:
    def test_returns_201_and_the_user(self, auth: AuthActions) -> None:
        response = auth.register()
        assert response.status_code == 201
        body = response.json
        assert body is not None
        assert set(body) == {"id", "username", "email", "created_at", "updated_at"}
        assert body["username"] == "johndoe"
        assert body["email"] == "john@example.com"
        assert isinstance(body["id"], int)
        assert ISO_Z.fullmatch(body["created_at"])
        assert ISO_Z.fullmatch(body["updated_at"])

    def test_stores_a_bcrypt_hash_never_the_password(self, auth: AuthActions) -> None:
        auth.register()
        stored = db.session.scalars(select(User)).one()
        assert stored.password_hash.startswith("$2b$04$")
        assert PASSWORD not in stored.password_hash
        assert "password" not in (auth.register(username="other", email="o@example.com").text)

    def test_email_is_trimmed_and_lower_cased(self, auth: AuthActions) -> None:
        response = auth.register(email="  John.Doe@Example.COM ")
        assert response.status_code == 201
        assert response.json["email"] == "john.doe@example.com"  # type: ignore[index]

    def test_does_not_log_in(self, auth: AuthActions, redis: Any) -> None:
        response = auth.register()
        assert "Set-Cookie" not in response.headers
        assert list(redis.scan_iter("session:*")) == []

    def test_unicode_email_domain_is_normalised(self, auth: AuthActions) -> None:
        response = auth.register(email="ann@BÜCHER.example")
        assert response.status_code == 201
        assert response.json["email"] == "ann@bücher.example"  # type: ignore[index]

    def test_v1_prefix_serves_the_same_endpoint(self, client: Any) -> None:
        response = AuthActions(client, prefix="/api/v1/auth").register()
        assert response.status_code == 201


class TestDuplicates:
    @pytest.mark.parametrize("email", ["john@example.com", "JOHN@example.com", " john@EXAMPLE.com"])
    def test_same_email_in_any_case_is_400(
        self, auth: AuthActions, user: dict[str, Any], email: str
    ) -> None:
        response = auth.register(username="another", email=email)
        assert response.status_code == 400
        assert response.json == {"detail": "Email already registered"}
        assert user_count() == 1

    @pytest.mark.parametrize("username", ["johndoe", "JohnDoe", "JOHNDOE"])
    def test_same_username_in_any_case_is_400(
        self, auth: AuthActions, user: dict[str, Any], username: str
    ) -> None:
        response = auth.register(username=username, email="other@example.com")
        assert response.status_code == 400
        assert response.json == {"detail": "Username already taken"}
        assert user_count() == 1

    @pytest.mark.parametrize(
        ("username", "email", "detail"),
        [
            ("JohnDoe", "other@example.com", "Username already taken"),
            ("someone", "JOHN@example.com", "Email already registered"),
        ],
    )
    def test_database_index_decides_a_race(
        self,
        app: Flask,
        auth: AuthActions,
        user: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch,
        username: str,
        email: str,
        detail: str,
    ) -> None:
        """A registration whose pre-check ran before the winner committed.

        The pre-check is made to see nothing, as it would mid-race; the unique
        index must refuse the insert and the loser must get the 400.
        """
        from app.auth import service

        real_find = service._find_by_email
        calls = {"n": 0}

        def stale_find(value: str) -> User | None:
            calls["n"] += 1
            return None if calls["n"] == 1 else real_find(value)

        monkeypatch.setattr(service, "_find_by_email", stale_find)
        monkeypatch.setattr(service, "_find_by_username", lambda value: None)
        response = auth.register(username=username, email=email)
        assert response.status_code == 400
        assert response.json == {"detail": detail}
        assert user_count() == 1


LONG = "a" * 51
VALID = {"username": "johndoe", "email": "john@example.com", "password": PASSWORD}


def field(loc: str, type_: str) -> tuple[tuple[str, ...], str]:
    return (("body", loc) if loc else ("body",), type_)


INVALID_BODIES = [
    pytest.param({}, {field("username", "value_error.missing"), field("email", "value_error.missing"), field("password", "value_error.missing")}, id="empty-object"),
    pytest.param({**VALID, "username": None}, {field("username", "type_error.none.not_allowed")}, id="null-username"),
    pytest.param({**VALID, "username": 12345}, {field("username", "type_error.str")}, id="int-username"),
    pytest.param({**VALID, "username": ["a", "b"]}, {field("username", "type_error.str")}, id="list-username"),
    pytest.param({**VALID, "username": "ab"}, {field("username", "value_error.any_str.min_length")}, id="short-username"),
    pytest.param({**VALID, "username": LONG}, {field("username", "value_error.any_str.max_length")}, id="long-username"),
    pytest.param({**VALID, "username": "john doe"}, {field("username", "value_error.str.regex")}, id="space-in-username"),
    pytest.param({**VALID, "username": "john@doe"}, {field("username", "value_error.str.regex")}, id="at-in-username"),
    pytest.param({**VALID, "username": "jo\x00hn"}, {field("username", "value_error.str.regex")}, id="nul-in-username"),
    pytest.param({**VALID, "email": "not-an-email"}, {field("email", "value_error.email")}, id="bad-email"),
    pytest.param({**VALID, "email": "a@[127.0.0.1]"}, {field("email", "value_error.email")}, id="ip-literal-email"),
    pytest.param({**VALID, "email": "a" * 250 + "@example.com"}, {field("email", "value_error.any_str.max_length")}, id="long-email"),
    pytest.param({**VALID, "email": 42}, {field("email", "type_error.str")}, id="int-email"),
    pytest.param({**VALID, "password": "12345"}, {field("password", "value_error.any_str.min_length")}, id="short-password"),
    pytest.param({**VALID, "password": "x" * 1025}, {field("password", "value_error.any_str.max_length"), field("password", "value_error.any_str.max_bytes")}, id="long-password"),
    pytest.param({**VALID, "password": "é" * 37}, {field("password", "value_error.any_str.max_bytes")}, id="password-over-72-bytes"),
    pytest.param({**VALID, "password": True}, {field("password", "type_error.str")}, id="bool-password"),
    pytest.param([VALID], {field("", "type_error.dict")}, id="array-body"),
    pytest.param("johndoe", {field("", "type_error.dict")}, id="string-body"),
    # webargs reads a JSON null body as "no body": every field is missing.
    pytest.param(None, {field("username", "value_error.missing"), field("email", "value_error.missing"), field("password", "value_error.missing")}, id="null-body"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "problems"), INVALID_BODIES)
def test_invalid_input_is_422_per_field_and_changes_nothing(
    client: Any, redis: Any, body: Any, problems: set[tuple[tuple[str, ...], str]]
) -> None:
    response = client.post(f"{API}/register", json=body)
    assert response.status_code == 422, response.json
    detail = response.json["detail"]
    assert {(tuple(p["loc"]), p["type"]) for p in detail} == problems
    assert all(isinstance(p["msg"], str) and p["msg"] for p in detail)
    assert user_count() == 0
    assert list(redis.scan_iter()) == []


def test_unknown_fields_are_ignored(client: Any) -> None:
    response = client.post(f"{API}/register", json={**VALID, "is_admin": True, "id": 99})
    assert response.status_code == 201
    assert response.json["id"] != 99


def test_duplicate_json_keys_take_the_last_value(client: Any) -> None:
    raw = '{"username": "first", "username": "second", "email": "a@example.com", "password": "%s"}'
    response = client.post(
        f"{API}/register", data=raw % PASSWORD, content_type="application/json"
    )
    assert response.status_code == 201
    assert response.json["username"] == "second"


def test_the_422_message_of_the_contract(client: Any) -> None:
    response = client.post(f"{API}/register", json={**VALID, "email": "nope"})
    assert response.json == {
        "detail": [
            {
                "loc": ["body", "email"],
                "msg": "value is not a valid email address",
                "type": "value_error.email",
            }
        ]
    }
