"""Login, token, me and logout with what they do in Redis."""

from __future__ import annotations

from datetime import datetime
from http.cookies import SimpleCookie
from typing import Any

import pytest
from flask import Flask

from tests.conftest import API, PASSWORD, UNKNOWN_SID, AuthActions, SessionKeys

INVALID_CREDENTIALS = {"detail": "Invalid email or password"}
NOT_AUTHENTICATED = {"detail": "Could not validate credentials"}


def set_cookie_header(response: Any) -> SimpleCookie:
    headers = response.headers.getlist("Set-Cookie")
    assert len(headers) == 1, headers
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(headers[0])
    return cookie


class TestCookieLogin:
    def test_returns_the_user_and_an_httponly_cookie(
        self, auth: AuthActions, user: dict[str, Any], keys: SessionKeys
    ) -> None:
        response = auth.login()
        assert response.status_code == 200
        assert response.json == user
        morsel = set_cookie_header(response)["session"]
        assert morsel["httponly"] is True
        assert morsel["samesite"] == "Lax"
        assert morsel["path"] == "/"
        assert not morsel["secure"]  # only in production (see test_config)
        assert not morsel["expires"]  # a browser-session cookie; Redis owns expiry
        sid = morsel.value
        assert len(sid) == 52
        assert sid not in response.text  # the id never travels in the body

    def test_creates_a_redis_key_with_the_idle_ttl(
        self, app: Flask, auth: AuthActions, user: dict[str, Any], keys: SessionKeys
    ) -> None:
        sid = set_cookie_header(auth.login())["session"].value
        assert keys.all() == [keys.of(sid)]
        assert 0 < keys.ttl(sid) <= app.config["SESSION_IDLE_TIMEOUT"] == 1800

    def test_me_with_the_cookie(self, auth: AuthActions, user: dict[str, Any]) -> None:
        auth.login()
        response = auth.client.get(f"{API}/me")
        assert response.status_code == 200
        assert response.json == user
        assert "Set-Cookie" not in response.headers

    def test_login_by_username_in_any_case(self, auth: AuthActions, user: dict[str, Any]) -> None:
        response = auth.client.post(
            f"{API}/login", json={"username": "JOHNDOE", "password": PASSWORD}
        )
        assert response.status_code == 200
        assert response.json == user

    def test_login_by_email_in_any_case(self, auth: AuthActions, user: dict[str, Any]) -> None:
        assert auth.login(email=" John@Example.com").status_code == 200

    def test_every_login_gets_a_new_id_and_drops_the_old_one(
        self, auth: AuthActions, user: dict[str, Any], keys: SessionKeys
    ) -> None:
        first = set_cookie_header(auth.login())["session"].value
        second = set_cookie_header(auth.login())["session"].value
        assert first != second
        assert keys.all() == [keys.of(second)]

    def test_a_planted_session_id_is_never_adopted(
        self, auth: AuthActions, user: dict[str, Any], keys: SessionKeys
    ) -> None:
        planted = UNKNOWN_SID
        auth.client.set_cookie("session", planted)
        sid = set_cookie_header(auth.login())["session"].value
        assert sid != planted
        assert not keys.exists(planted)

    def test_a_bearer_token_survives_a_cookie_login(
        self, auth: AuthActions, user: dict[str, Any], keys: SessionKeys
    ) -> None:
        token = auth.token()
        auth.client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"})
        auth.login()
        assert keys.exists(token)


class TestBadCredentials:
    @pytest.mark.parametrize(
        "credentials",
        [
            {"email": "john@example.com", "password": "wrong-password"},
            {"email": "nobody@example.com", "password": PASSWORD},
            {"username": "johndoe", "password": "wrong-password"},
            {"username": "nobody", "password": PASSWORD},
        ],
    )
    @pytest.mark.parametrize("endpoint", ["login", "token"])
    def test_one_401_for_every_failure(
        self, client: Any, user: dict[str, Any], keys: SessionKeys, endpoint: str, credentials: Any
    ) -> None:
        response = client.post(f"{API}/{endpoint}", json=credentials)
        assert response.status_code == 401
        assert response.json == INVALID_CREDENTIALS
        assert "Set-Cookie" not in response.headers
        assert keys.all() == []

    def test_a_corrupt_stored_hash_is_a_401_not_a_500(
        self, auth: AuthActions, user: dict[str, Any]
    ) -> None:
        from app.extensions import db
        from app.models import User

        stored = db.session.get(User, user["id"])
        assert stored is not None
        stored.password_hash = "not-a-bcrypt-hash"
        db.session.commit()
        assert auth.login().status_code == 401


class TestToken:
    def test_returns_an_opaque_token_and_no_cookie(
        self, app: Flask, client: Any, user: dict[str, Any], keys: SessionKeys
    ) -> None:
        response = client.post(f"{API}/token", json={"email": user["email"], "password": PASSWORD})
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers
        body = response.json
        assert set(body) == {"access_token", "token_type", "user_id", "expires_in"}
        assert body["token_type"] == "Bearer"
        assert body["user_id"] == str(user["id"])
        assert body["expires_in"] == 1800
        token = body["access_token"]
        assert len(token) == 52
        assert token.count(".") == 1  # tag.random: opaque, not a JWT
        assert not token.startswith("eyJ")
        assert keys.all() == [keys.of(token)]
        assert 0 < keys.ttl(token) <= 1800

    def test_oauth2_password_form_with_an_email_as_username(
        self, client: Any, user: dict[str, Any]
    ) -> None:
        response = client.post(
            f"{API}/token",
            data={"grant_type": "password", "username": "John@Example.com", "password": PASSWORD},
        )
        assert response.status_code == 200, response.json
        assert response.json["user_id"] == str(user["id"])

    def test_oauth2_password_form_with_a_username(self, client: Any, user: dict[str, Any]) -> None:
        response = client.post(f"{API}/token", data={"username": "johndoe", "password": PASSWORD})
        assert response.status_code == 200

    def test_form_with_a_malformed_email_as_username_is_422(
        self, client: Any, user: dict[str, Any]
    ) -> None:
        response = client.post(f"{API}/token", data={"username": "a@b@c", "password": PASSWORD})
        assert response.status_code == 422
        assert [p["loc"] for p in response.json["detail"]] == [["body", "username"]]

    def test_form_is_refused_by_login(self, client: Any, user: dict[str, Any]) -> None:
        response = client.post(f"{API}/login", data={"username": "johndoe", "password": PASSWORD})
        assert response.status_code == 415

    def test_bearer_me_never_sets_a_cookie(self, auth: AuthActions, user: dict[str, Any]) -> None:
        token = auth.token()
        response = auth.client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert response.json == user
        assert "Set-Cookie" not in response.headers

    def test_each_token_is_a_separate_session(
        self, auth: AuthActions, user: dict[str, Any], keys: SessionKeys
    ) -> None:
        first, second = auth.token(), auth.token()
        assert first != second
        assert len(keys.all()) == 2


class TestMe:
    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "Bearer"},
            {"Authorization": "Bearer "},
            {"Authorization": "Bearer " + UNKNOWN_SID},
            {"Authorization": "Bearer not-even-the-right-shape"},
            {"Authorization": "Bearer " + "x" * 5000},
            {"Authorization": "Basic am9objpzM2NyZXQ="},
            {"Authorization": "Token abc"},
        ],
    )
    def test_without_a_live_session_is_401(self, client: Any, headers: dict[str, str]) -> None:
        response = client.get(f"{API}/me", headers=headers)
        assert response.status_code == 401
        assert response.json == NOT_AUTHENTICATED
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "Set-Cookie" not in response.headers

    @pytest.mark.parametrize("value", [UNKNOWN_SID, "junk", "x" * 4000, "../../etc"])
    def test_unknown_cookie_is_401_and_creates_no_key(
        self, client: Any, keys: SessionKeys, value: str
    ) -> None:
        client.set_cookie("session", value)
        response = client.get(f"{API}/me")
        assert response.status_code == 401
        assert keys.all() == []

    def test_me_reads_no_database(
        self, app: Flask, auth: AuthActions, user: dict[str, Any]
    ) -> None:
        """The session's snapshot answers /me: the user table is not queried,
        and what /me shows is the row as it is."""
        from sqlalchemy import event

        from app.extensions import db

        auth.login()
        statements: list[str] = []

        def record(*args: Any) -> None:
            statements.append(args[2])

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            response = auth.client.get(f"{API}/me")
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert response.status_code == 200
        assert response.json == user
        assert statements == []

    def test_the_session_carries_a_snapshot_of_its_user(
        self, auth: AuthActions, user: dict[str, Any], keys: SessionKeys
    ) -> None:
        def epoch(text: str) -> int:
            return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())

        token = auth.token()
        assert keys.record(token)[6] == [
            user["username"],
            user["email"],
            epoch(user["created_at"]),
            epoch(user["updated_at"]),
            False,
        ]

    def test_expired_key_is_401(
        self, auth: AuthActions, user: dict[str, Any], keys: SessionKeys
    ) -> None:
        token = auth.token()
        keys.delete(token)  # what Redis does when the TTL runs out
        response = auth.client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401


class TestLogout:
    def test_cookie_logout_deletes_the_key_and_expires_the_cookie(
        self, auth: AuthActions, user: dict[str, Any], keys: SessionKeys
    ) -> None:
        sid = set_cookie_header(auth.login())["session"].value
        response = auth.client.post(f"{API}/logout")
        assert response.status_code == 200
        assert response.json == {"message": "Successfully logged out"}
        assert not keys.exists(sid)
        morsel = set_cookie_header(response)["session"]
        assert morsel.value == ""
        assert morsel["expires"].startswith("Thu, 01 Jan 1970")
        assert auth.client.get(f"{API}/me").status_code == 401

    def test_a_stolen_cookie_dies_at_logout(
        self, app: Flask, auth: AuthActions, user: dict[str, Any]
    ) -> None:
        sid = set_cookie_header(auth.login())["session"].value
        thief = app.test_client()
        thief.set_cookie("session", sid)
        assert thief.get(f"{API}/me").status_code == 200
        auth.client.post(f"{API}/logout")
        assert thief.get(f"{API}/me").status_code == 401

    def test_bearer_logout_deletes_the_key_without_a_cookie(
        self, auth: AuthActions, user: dict[str, Any], keys: SessionKeys
    ) -> None:
        token = auth.token()
        bearer = {"Authorization": f"Bearer {token}"}
        response = auth.client.post(f"{API}/logout", headers=bearer)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers
        assert not keys.exists(token)
        assert auth.client.get(f"{API}/me", headers=bearer).status_code == 401

    @pytest.mark.parametrize(
        "kwargs",
        [
            {},
            {"data": "", "content_type": "application/json"},
            {"json": {}},
            {"json": {"anything": "ignored"}},
        ],
        ids=["no-body", "empty-json-body", "empty-object", "ignored-fields"],
    )
    def test_anonymous_logout_is_idempotent(
        self, client: Any, keys: SessionKeys, kwargs: dict[str, Any]
    ) -> None:
        for _ in range(2):
            response = client.post(f"{API}/logout", **kwargs)
            assert response.status_code == 200
            assert response.json == {"message": "Successfully logged out"}
            assert "Set-Cookie" not in response.headers
        assert keys.all() == []

    def test_unknown_cookie_is_expired(self, client: Any) -> None:
        client.set_cookie("session", UNKNOWN_SID)
        response = client.post(f"{API}/logout")
        assert response.status_code == 200
        assert set_cookie_header(response)["session"].value == ""

    def test_logout_of_one_session_leaves_the_others(
        self, auth: AuthActions, user: dict[str, Any], keys: SessionKeys
    ) -> None:
        token = auth.token()
        auth.login()
        auth.client.post(f"{API}/logout")
        assert keys.all() == [keys.of(token)]
