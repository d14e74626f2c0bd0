"""Throttling of failed logins and registrations (docs/API.md,
Throttling), on fakeredis with Lua."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import API, PASSWORD, AuthActions

WRONG = {"email": "john@example.com", "password": "wrong-password"}
RIGHT = {"email": "john@example.com", "password": PASSWORD}


@pytest.fixture
def app_config(app_config: Any) -> Any:
    app_config.RATELIMIT_ENABLED = True
    app_config.RATELIMIT_LOGIN_PER_IDENTIFIER = "5 per minute"
    app_config.RATELIMIT_LOGIN_PER_IP = "8 per minute"
    app_config.RATELIMIT_REGISTER_PER_IP = "3 per hour"
    return app_config


def post_from(client: FlaskClient, ip: str, path: str, body: Any) -> Any:
    return client.post(f"{API}/{path}", json=body, environ_base={"REMOTE_ADDR": ip})


def assert_throttled(response: Any, window: int = 60) -> None:
    assert response.status_code == 429
    assert response.json == {"detail": "Too many attempts: try again later"}
    # Whole seconds until the window ends (rounded up), never 0.
    assert 1 <= int(response.headers["Retry-After"]) <= window + 1


class TestFailedLogins:
    def test_sixth_failure_for_one_identifier_is_429_even_with_the_right_password(
        self, client: FlaskClient, user: Any
    ) -> None:
        for _ in range(5):
            assert post_from(client, "198.51.100.1", "login", WRONG).status_code == 401
        assert_throttled(post_from(client, "198.51.100.1", "login", RIGHT))
        assert_throttled(post_from(client, "198.51.100.1", "token", RIGHT))  # shared with /token

    def test_login_and_token_failures_add_up(self, client: FlaskClient, user: Any) -> None:
        for path in ("login", "token", "login", "token", "login"):
            assert post_from(client, "198.51.100.1", path, WRONG).status_code == 401
        assert_throttled(post_from(client, "198.51.100.1", "token", WRONG))

    def test_the_identifier_is_normalised(self, client: FlaskClient, user: Any) -> None:
        for email in ("john@example.com", "JOHN@example.com", " John@Example.com "):
            for _ in range(2):
                post_from(client, "198.51.100.1", "login", {**WRONG, "email": email})
        assert_throttled(post_from(client, "198.51.100.1", "login", RIGHT))

    def test_the_victim_elsewhere_is_not_locked_out(self, client: FlaskClient, user: Any) -> None:
        for _ in range(6):
            post_from(client, "203.0.113.66", "login", WRONG)  # the attacker
        assert post_from(client, "198.51.100.1", "login", RIGHT).status_code == 200

    def test_successes_do_not_count(self, client: FlaskClient, user: Any) -> None:
        for _ in range(12):
            assert post_from(client, "198.51.100.1", "login", RIGHT).status_code == 200

    def test_spraying_many_identifiers_hits_the_per_ip_limit(
        self, client: FlaskClient, user: Any
    ) -> None:
        for i in range(8):
            body = {"email": f"victim{i}@example.com", "password": "123456"}
            assert post_from(client, "203.0.113.66", "login", body).status_code == 401
        assert_throttled(post_from(client, "203.0.113.66", "login", RIGHT))
        assert post_from(client, "198.51.100.1", "login", RIGHT).status_code == 200

    def test_form_logins_count_by_their_username(self, client: FlaskClient, user: Any) -> None:
        form = {"username": "johndoe", "password": "wrong-password"}
        for _ in range(5):
            response = client.post(
                f"{API}/token", data=form, environ_base={"REMOTE_ADDR": "198.51.100.1"}
            )
            assert response.status_code == 401
        response = client.post(
            f"{API}/token",
            data={**form, "password": PASSWORD},
            environ_base={"REMOTE_ADDR": "198.51.100.1"},
        )
        assert_throttled(response)

    def test_counters_live_in_redis_with_a_ttl_and_no_email(
        self, client: FlaskClient, user: Any, redis: Any
    ) -> None:
        post_from(client, "198.51.100.1", "login", WRONG)
        keys = [key.decode() for key in redis.scan_iter("LIMITS:LIMITER/ratelimit/*login*")]
        assert keys
        ttls = {key: redis.ttl(key) for key in keys}
        assert all(0 < ttl <= 60 for ttl in ttls.values()), ttls
        assert not any("john" in key for key in keys)


class TestRegistrations:
    def body(self, i: int) -> dict[str, str]:
        return {"username": f"user{i}", "email": f"user{i}@example.com", "password": PASSWORD}

    def test_fourth_registration_from_one_ip_is_429(self, client: FlaskClient) -> None:
        for i in range(3):
            assert post_from(client, "198.51.100.1", "register", self.body(i)).status_code == 201
        assert_throttled(post_from(client, "198.51.100.1", "register", self.body(3)), 3600)
        assert post_from(client, "198.51.100.2", "register", self.body(3)).status_code == 201

    def test_invalid_bodies_do_not_count(self, client: FlaskClient) -> None:
        for _ in range(5):
            response = post_from(client, "198.51.100.1", "register", {"username": "x"})
            assert response.status_code == 422
        assert post_from(client, "198.51.100.1", "register", self.body(0)).status_code == 201

    def test_duplicates_count(self, client: FlaskClient) -> None:
        post_from(client, "198.51.100.1", "register", self.body(0))
        for _ in range(2):
            assert post_from(client, "198.51.100.1", "register", self.body(0)).status_code == 400
        assert_throttled(post_from(client, "198.51.100.1", "register", self.body(1)), 3600)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json", "/docs"])
def test_docs_and_probes_are_never_throttled(client: FlaskClient, path: str) -> None:
    for _ in range(40):
        assert client.get(path).status_code == 200


def test_other_endpoints_are_not_throttled(app: Flask, auth: AuthActions, user: Any) -> None:
    token = auth.token()
    for _ in range(40):
        response = auth.client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200


def test_off_in_tests_by_default() -> None:
    from tests.conftest import make_config

    assert make_config().RATELIMIT_ENABLED is False
