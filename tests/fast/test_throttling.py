"""Throttling of failed logins and registrations (docs/API.md,
Throttling), on fakeredis with Lua."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
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

    def test_counters_live_in_redis_with_a_ttl_and_nothing_readable(
        self, client: FlaskClient, user: Any, redis: Any
    ) -> None:
        post_from(client, "198.51.100.1", "login", WRONG)
        keys = sorted(key.decode() for key in redis.scan_iter("ratelimit:login-*"))
        assert [key.rsplit(":", 1)[0] for key in keys] == [
            "ratelimit:login-account",
            "ratelimit:login-ip",
        ]
        assert all(0 < redis.ttl(key) <= 60 for key in keys)
        assert all(int(redis.get(key)) == 1 for key in keys)
        for secret in ("john", "198.51.100", "user:"):
            assert not any(secret in key.split(":", 2)[2] for key in keys)


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


class TestOneAccountOneBucket:
    """Every spelling that reaches an account counts against that account."""

    def test_email_and_username_share_the_account_bucket(
        self, client: FlaskClient, user: Any
    ) -> None:
        for body in [WRONG, {"username": "JohnDoe", "password": "wrong"}] * 2 + [WRONG]:
            assert post_from(client, "198.51.100.1", "login", body).status_code == 401
        assert_throttled(
            post_from(
                client, "198.51.100.1", "login", {"username": "johndoe", "password": PASSWORD}
            )
        )

    def test_unknown_identifiers_are_counted_by_their_normal_form(
        self, client: FlaskClient
    ) -> None:
        full_width = "".join(chr(ord(c) + 0xFEE0) for c in "nobody")  # full-width letters
        spellings = [full_width, "NOBODY", "nobody", full_width.upper(), "noBody"]
        for name in spellings:
            body = {"username": name, "password": "wrong"}
            assert post_from(client, "198.51.100.1", "login", body).status_code == 401
        assert_throttled(
            post_from(client, "198.51.100.1", "login", {"username": "nobody", "password": "x"})
        )


class TestNetworks:
    def test_one_ipv6_64_is_one_client(self, client: FlaskClient, user: Any) -> None:
        for i in range(5):
            ip = f"2001:db8:1:2::{i + 1:x}"
            assert post_from(client, ip, "login", WRONG).status_code == 401
        assert_throttled(post_from(client, "2001:db8:1:2:ffff:ffff:ffff:ffff", "login", RIGHT))
        assert post_from(client, "2001:db8:1:3::1", "login", RIGHT).status_code == 200

    def test_an_ipv4_mapped_address_is_its_ipv4_address(
        self, client: FlaskClient, user: Any
    ) -> None:
        for _ in range(5):
            assert post_from(client, "::ffff:198.51.100.1", "login", WRONG).status_code == 401
        assert_throttled(post_from(client, "198.51.100.1", "login", RIGHT))


class TestCountBeforeVerify:
    @pytest.fixture
    def app_config(self, app_config: Any) -> Any:
        app_config.PASSWORD_WORK_WAIT = 10  # every guess waits its turn: none is refused busy
        # Only the account's bucket may bind: a guess refused by the network's
        # bucket (full for a moment with reservations about to be refunded)
        # would leave the account under its limit, which is safe but not exact.
        app_config.RATELIMIT_LOGIN_PER_IP = "100 per minute"
        return app_config

    def test_parallel_guesses_get_at_most_five_password_checks(
        self, app: Flask, user: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Twenty guesses at once, in four spellings: five bcrypt checks, no more."""
        import bcrypt

        checks: list[int] = []
        real_checkpw = bcrypt.checkpw
        barrier = threading.Barrier(20)

        def counted_checkpw(password: bytes, hashed: bytes) -> bool:
            checks.append(1)
            return bool(real_checkpw(password, hashed))

        monkeypatch.setattr(bcrypt, "checkpw", counted_checkpw)
        spellings = ["john@example.com", "JOHN@example.com", "johndoe", "JohnDoe"]

        def guess(i: int) -> int:
            field = "email" if "@" in spellings[i % 4] else "username"
            body = {field: spellings[i % 4], "password": f"guess-{i}"}
            barrier.wait()
            return post_from(app.test_client(), "198.51.100.1", "login", body).status_code

        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = sorted(pool.map(guess, range(20)))
        assert statuses == [401] * 5 + [429] * 15
        assert len(checks) == 5


class TestFailClosed:
    """Without its counters the service cannot tell how many guesses were
    made: login answers 503 before looking at the password, so the answer
    cannot tell a right password from a wrong one."""

    @pytest.fixture
    def redis_down(self, app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[int]:
        import bcrypt
        import redis as redis_py

        checks: list[int] = []
        monkeypatch.setattr(bcrypt, "checkpw", lambda *args: checks.append(1) or False)
        client = app.extensions["redis"]

        def down(*args: Any, **kwargs: Any) -> Any:
            raise redis_py.ConnectionError("Redis is down")

        monkeypatch.setattr(client.connection_pool, "get_connection", down)
        return checks

    @pytest.mark.parametrize("path", ["login", "token"])
    @pytest.mark.parametrize("password", [PASSWORD, "wrong-password"])
    def test_right_and_wrong_passwords_get_the_same_503(
        self, client: FlaskClient, user: Any, redis_down: list[int], path: str, password: str
    ) -> None:
        response = post_from(
            client, "198.51.100.1", path, {"email": "john@example.com", "password": password}
        )
        assert response.status_code == 503
        assert response.json == {"detail": "Session store unavailable"}
        assert response.headers["Retry-After"] == "1"
        assert redis_down == []  # no password was checked

    def test_also_with_throttling_off(
        self, app: Flask, client: FlaskClient, user: Any, redis_down: list[int]
    ) -> None:
        app.extensions["throttle"].enabled = False
        for password in (PASSWORD, "wrong-password"):
            response = post_from(
                client, "198.51.100.1", "login", {"email": "john@example.com", "password": password}
            )
            assert response.status_code == 503
        assert redis_down == []

    def test_registration_goes_on_unthrottled(
        self, client: FlaskClient, redis_down: list[int]
    ) -> None:
        body = {"username": "ann", "email": "ann@example.com", "password": PASSWORD}
        assert post_from(client, "198.51.100.1", "register", body).status_code == 201
