"""POST /register: 201 User, 400 duplicates, 422 per invalid field."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models import User
from tests.conftest import API, PASSWORD, AuthActions, SessionKeys

ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User)) or 0


class TestSuccess:
    def test_returns_201_and_the_user(self, auth: AuthActions) -> None:
        response = auth.register()
        assert response.status_code == 201
        body = response.json
        assert body is not None
        assert set(body) == {
            "id",
            "username",
            "email",
            "created_at",
            "updated_at",
            "email_verified",
        }
        assert body["email_verified"] is False
        assert body["username"] == "johndoe"
        assert body["email"] == "john@example.com"
        assert isinstance(body["id"], int)
        assert ISO_Z.fullmatch(body["created_at"])
        assert ISO_Z.fullmatch(body["updated_at"])

    def test_stores_a_bcrypt_hash_never_the_password(self, auth: AuthActions) -> None:
        auth.register()
        stored = db.session.scalars(select(User)).one()
        assert stored.password_hash.startswith("bcrypt_hmac_sha384$1$$2b$04$")
        assert PASSWORD not in stored.password_hash
        assert "password" not in (auth.register(username="other", email="o@example.com").text)

    def test_email_is_trimmed_and_lower_cased(self, auth: AuthActions) -> None:
        response = auth.register(email="  John.Doe@Example.COM ")
        assert response.status_code == 201
        assert response.json["email"] == "john.doe@example.com"  # type: ignore[index]

    def test_does_not_log_in(self, auth: AuthActions, keys: SessionKeys) -> None:
        response = auth.register()
        assert "Set-Cookie" not in response.headers
        assert keys.all() == []

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

        real_find = service.find_by_email
        calls = {"n": 0}

        def stale_find(value: str) -> User | None:
            calls["n"] += 1
            return None if calls["n"] == 1 else real_find(value)

        monkeypatch.setattr(service, "find_by_email", stale_find)
        monkeypatch.setattr(service, "_find_by_username", lambda value: None)
        response = auth.register(username=username, email=email)
        assert response.status_code == 400
        assert response.json == {"detail": detail}
        assert user_count() == 1


VALID = {"username": "johndoe", "email": "john@example.com", "password": PASSWORD}


Problems = set[tuple[tuple[str, ...], str]]
MISSING_ALL: Problems = {
    (("body", name), "value_error.missing") for name in ("username", "email", "password")
}
WHOLE_BODY: Problems = {(("body",), "type_error.dict")}


def bad(name: str, value: Any, *types: str) -> Any:
    """A valid body with one field replaced, and the problem types expected for it."""
    problems = {(("body", name), type_) for type_ in types}
    return pytest.param({**VALID, name: value}, problems, id=f"{name}={str(value)[:20]!r}")


INVALID_BODIES = [
    pytest.param({}, MISSING_ALL, id="empty-object"),
    # webargs reads a JSON null body as "no body": every field is missing.
    pytest.param(None, MISSING_ALL, id="null-body"),
    pytest.param([VALID], WHOLE_BODY, id="array-body"),
    pytest.param("johndoe", WHOLE_BODY, id="string-body"),
    bad("username", None, "type_error.none.not_allowed"),
    bad("username", 12345, "type_error.str"),
    bad("username", ["a", "b"], "type_error.str"),
    bad("username", {"$ne": ""}, "type_error.str"),
    bad("username", "ab", "value_error.any_str.min_length"),
    bad("username", "a" * 51, "value_error.any_str.max_length"),
    bad("username", "john doe", "value_error.str.regex"),
    bad("username", "john@doe", "value_error.str.regex"),
    bad("username", "jo\x00hn", "value_error.str.regex"),
    bad("username", "jo\nhn", "value_error.str.regex"),
    bad("email", "not-an-email", "value_error.email"),
    bad("email", "a@[127.0.0.1]", "value_error.email"),
    bad("email", "a\x00b@example.com", "value_error.email"),
    bad("email", "a" * 250 + "@example.com", "value_error.any_str.max_length"),
    bad("email", 42, "type_error.str"),
    bad("password", "12345", "value_error.any_str.min_length"),
    bad("password", "x" * 1025, "value_error.any_str.max_length"),
    bad("password", True, "type_error.str"),
    bad("password", 123456, "type_error.str"),
]


@pytest.mark.parametrize(("body", "problems"), INVALID_BODIES)
def test_invalid_input_is_422_per_field_and_changes_nothing(
    client: Any, keys: SessionKeys, body: Any, problems: Problems
) -> None:
    response = client.post(f"{API}/register", json=body)
    assert response.status_code == 422, response.json
    detail = response.json["detail"]
    assert {(tuple(p["loc"]), p["type"]) for p in detail} == problems
    assert all(isinstance(p["msg"], str) and p["msg"] for p in detail)
    assert user_count() == 0
    assert keys.all() == []


def test_unknown_fields_are_ignored(client: Any) -> None:
    response = client.post(f"{API}/register", json={**VALID, "is_admin": True, "id": 99})
    assert response.status_code == 201
    assert response.json["id"] != 99


def test_duplicate_json_keys_take_the_last_value(client: Any) -> None:
    raw = '{"username": "first", "username": "second", "email": "a@example.com", "password": "%s"}'
    response = client.post(f"{API}/register", data=raw % PASSWORD, content_type="application/json")
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
