"""Session lifecycle, cookies, cross-site requests and headers, tested the way
an attacker would try them (docs/SECURITY.md)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import API, PASSWORD, UNKNOWN_SID, AuthActions, SessionKeys

JSON = "application/json"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TestLifecycle:
    def test_idle_timeout_slides_on_use(
        self, auth: AuthActions, user: Any, keys: SessionKeys
    ) -> None:
        token = auth.token()
        keys.redis.expire(keys.of(token), 60)  # as if unused for 29 minutes
        assert auth.client.get(f"{API}/me", headers=bearer(token)).status_code == 200
        assert 1790 <= keys.ttl(token) <= 1800

    def test_absolute_lifetime_ends_a_session_in_constant_use(
        self, auth: AuthActions, user: Any, keys: SessionKeys, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        token = auth.token()
        store = auth.client.application.extensions["session_store"]
        start = time.time()
        elapsed = 0
        while elapsed < 86400 - 1500:  # used every 25 minutes, never idle
            elapsed += 1500
            monkeypatch.setattr(store, "clock", lambda e=elapsed: start + e)
            assert auth.client.get(f"{API}/me", headers=bearer(token)).status_code == 200
            # The TTL never reaches past the absolute end of the session.
            assert 0 < keys.ttl(token) <= min(1800, 86400 - elapsed)
        monkeypatch.setattr(store, "clock", lambda: start + 86400)
        assert auth.client.get(f"{API}/me", headers=bearer(token)).status_code == 401
        assert not keys.exists(token)

    def test_no_session_key_ever_lacks_a_ttl(
        self, auth: AuthActions, user: Any, keys: SessionKeys
    ) -> None:
        auth.login()
        tokens = [auth.token() for _ in range(3)]
        auth.client.get(f"{API}/me")
        auth.client.get(f"{API}/me", headers=bearer(tokens[0]))
        auth.client.post(f"{API}/logout", headers=bearer(tokens[1]))
        assert len(keys.all()) == 3
        assert len(keys.sessions_and_indexes()) == 4  # and the user's index
        assert all(keys.redis.ttl(key) > 0 for key in keys.everything())

    def test_a_foreign_value_under_our_prefix_is_not_a_session(
        self, client: FlaskClient, keys: SessionKeys
    ) -> None:
        sid = "B" * 8 + "." + "B" * 43
        keys.redis.set(keys.of(sid), b"\x81\xa7user_id\x01", ex=100)  # no created_at
        assert client.get(f"{API}/me", headers=bearer(sid)).status_code == 401
        assert not keys.exists(sid)

    def test_redis_never_holds_the_session_id(
        self, auth: AuthActions, user: Any, keys: SessionKeys
    ) -> None:
        """Only a selector (key name) and a verifier (in the value) are stored:
        a copy of Redis gives no usable id, and the right selector with a wrong
        secret does not authenticate."""
        token = auth.token()
        random_part = token.split(".")[1]
        for key in keys.everything():
            assert random_part not in key
            assert random_part.encode() not in keys.redis.dump(key)
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        assert keys.of(forged) == keys.of(token)  # same key in Redis...
        assert auth.client.get(f"{API}/me", headers=bearer(forged)).status_code == 401
        assert auth.client.get(f"{API}/me", headers=bearer(token)).status_code == 200

    def test_a_write_back_racing_with_logout_cannot_revive_the_session(
        self, app: Flask, auth: AuthActions, user: Any, keys: SessionKeys, monkeypatch: Any
    ) -> None:
        """The one write to a live session (last seen, once a minute) lands
        after a logout deleted the key: it must not create it again."""
        token = auth.token()
        store = app.extensions["session_store"]
        monkeypatch.setattr(store, "clock", lambda: time.time() + 61)  # write-back is due
        real_set = store.client.set
        writes: list[Any] = []

        def set_after_logout(*args: Any, **kwargs: Any) -> Any:
            keys.delete(token)  # the logout lands between this request's read and write
            writes.append(args)
            return real_set(*args, **kwargs)

        monkeypatch.setattr(store.client, "set", set_after_logout)
        assert auth.client.get(f"{API}/me", headers=bearer(token)).status_code == 200
        assert len(writes) == 1  # the write-back ran...
        assert not keys.exists(token)  # ...and brought nothing back
        assert keys.all() == []

    def test_logout_is_final_under_concurrent_use(
        self, app: Flask, auth: AuthActions, user: Any, keys: SessionKeys, monkeypatch: Any
    ) -> None:
        """Requests racing with the logout never write the session back, even
        when every one of them writes its last-seen time."""
        monkeypatch.setattr("app.auth.session_store.LAST_SEEN_EVERY", 0)
        token = auth.token()
        stop = threading.Event()
        per_thread: list[list[int]] = [[] for _ in range(4)]

        def hammer(statuses: list[int]) -> None:
            client = app.test_client()
            while not stop.is_set():
                statuses.append(client.get(f"{API}/me", headers=bearer(token)).status_code)

        threads = [threading.Thread(target=hammer, args=(s,)) for s in per_thread]
        for thread in threads:
            thread.start()
        while min(map(len, per_thread)) < 10:
            time.sleep(0.001)
        assert auth.client.post(f"{API}/logout", headers=bearer(token)).status_code == 200
        counts = [len(statuses) for statuses in per_thread]
        while any(len(s) < n + 10 for s, n in zip(per_thread, counts, strict=True)):
            time.sleep(0.001)
        stop.set()
        for thread in threads:
            thread.join()
        assert not keys.exists(token)
        assert keys.all() == []
        for statuses in per_thread:
            # Each thread saw the session alive, then dead for good.
            first_401 = statuses.index(401)
            assert set(statuses[:first_401]) == {200}
            assert set(statuses[first_401:]) == {401}

    def test_an_authenticated_request_costs_one_redis_command(
        self, auth: AuthActions, user: Any, app: Flask
    ) -> None:
        token = auth.token()
        sent: list[str] = []
        client = app.extensions["redis"]
        original = client.execute_command

        def counting(*args: Any, **kwargs: Any) -> Any:
            sent.append(str(args[0]))
            return original(*args, **kwargs)

        client.execute_command = counting
        for _ in range(5):
            assert auth.client.get(f"{API}/me", headers=bearer(token)).status_code == 200
        assert sent == ["GETEX"] * 5


class TestShortMaxAge:
    @pytest.fixture
    def app_config(self, app_config: Any) -> Any:
        app_config.SESSION_MAX_AGE = 600
        return app_config

    def test_caps_the_first_ttl(self, auth: AuthActions, user: Any, keys: SessionKeys) -> None:
        token = auth.token()
        assert 0 < keys.ttl(token) <= 600

    def test_expires_in_is_the_ttl_the_key_really_has(
        self, client: FlaskClient, user: Any, keys: SessionKeys
    ) -> None:
        body = client.post(f"{API}/token", json={"email": user["email"], "password": PASSWORD}).json
        assert body["expires_in"] == 600
        assert 595 <= keys.ttl(body["access_token"]) <= 600


def test_expires_in_is_the_idle_timeout_by_default(
    client: FlaskClient, user: Any, keys: SessionKeys
) -> None:
    body = client.post(f"{API}/token", json={"email": user["email"], "password": PASSWORD}).json
    assert body["expires_in"] == 1800
    assert 1795 <= keys.ttl(body["access_token"]) <= 1800


class TestLazySessions:
    """Redis is reached only by views that need the session: nothing else
    costs a command or slides a session's lifetime."""

    @pytest.fixture
    def commands(self, app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
        sent: list[str] = []
        client = app.extensions["redis"]
        original = client.execute_command

        def counting(*args: Any, **kwargs: Any) -> Any:
            sent.append(str(args[0]))
            return original(*args, **kwargs)

        original_pipeline = client.pipeline

        def counting_pipeline(*args: Any, **kwargs: Any) -> Any:
            sent.append("pipeline")
            return original_pipeline(*args, **kwargs)

        monkeypatch.setattr(client, "execute_command", counting)
        monkeypatch.setattr(client, "pipeline", counting_pipeline)
        return sent

    @pytest.mark.parametrize(
        ("method", "path", "extra"),
        [
            ("GET", "/healthz", {}),
            ("GET", "/openapi.json", {}),
            ("GET", "/docs", {}),
            ("GET", "/", {}),
            ("GET", "/static/app.css", {}),
            ("GET", "/api/auth/nowhere", {}),
            ("PUT", "/api/auth/me", {}),
            ("POST", "/api/auth/logout", {"headers": {"Origin": "https://evil.example"}}),
            ("POST", "/api/auth/logout", {"data": "x", "content_type": "text/plain"}),
            ("POST", "/api/auth/logout-all", {"data": "x" * 70_000, "content_type": JSON}),
        ],
        ids=[
            "health",
            "openapi",
            "docs",
            "page",
            "static",
            "404",
            "405",
            "cross-site",
            "form-with-cookie",
            "413",
        ],
    )
    def test_requests_that_need_no_session_touch_no_redis(
        self,
        auth: AuthActions,
        user: Any,
        keys: SessionKeys,
        commands: list[str],
        method: str,
        path: str,
        extra: dict[str, Any],
    ) -> None:
        token = auth.token()
        auth.login()
        cookie = auth.session_cookie()
        assert cookie is not None
        for sid in (token, cookie):
            keys.redis.expire(keys.of(sid), 100)
        commands.clear()
        extra = dict(extra)  # the parameter's own dict stays whole for a rerun
        headers = {**extra.pop("headers", {}), **bearer(token)}
        response = auth.client.open(path, method=method, headers=headers, **extra)
        assert response.status_code < 500
        assert commands == []
        assert all(0 < keys.ttl(sid) <= 100 for sid in (token, cookie))  # nothing slid

    def test_a_view_that_needs_the_session_reads_it_once(
        self, auth: AuthActions, user: Any, commands: list[str]
    ) -> None:
        token = auth.token()
        commands.clear()
        assert auth.client.get(f"{API}/me", headers=bearer(token)).status_code == 200
        assert commands == ["GETEX"]


class TestBearerTransport:
    """A client that authenticates with a bearer token never gets a cookie,
    even when its request also carries one; and its logins leave the
    cookie's session alone."""

    def test_no_bearer_request_gets_a_cookie(
        self, auth: AuthActions, user: Any, keys: SessionKeys
    ) -> None:
        auth.login()
        cookie = auth.session_cookie()
        token = auth.token()
        headers = bearer(token)
        responses = [
            auth.client.post(
                f"{API}/token",
                json={"email": user["email"], "password": PASSWORD},
                headers=headers,
            ),
            auth.client.get(f"{API}/me", headers=headers),
            auth.client.get(f"{API}/sessions", headers=headers),
            auth.client.post(f"{API}/logout-all", json={"keep_current": True}, headers=headers),
            auth.client.post(f"{API}/logout", headers=headers),
        ]
        assert [response.status_code for response in responses] == [200] * 5
        for response in responses:
            assert "Set-Cookie" not in response.headers
        assert auth.session_cookie() == cookie  # the browser's cookie was never touched
        assert not keys.exists(token)

    def test_a_token_login_does_not_end_the_cookie_session(
        self, auth: AuthActions, user: Any, keys: SessionKeys
    ) -> None:
        auth.login()
        cookie = auth.session_cookie()
        assert cookie is not None
        response = auth.client.post(
            f"{API}/token", json={"email": user["email"], "password": PASSWORD}
        )
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers
        assert keys.exists(cookie)
        assert auth.client.get(f"{API}/me").status_code == 200


class TestCookie:
    def test_attributes(self, auth: AuthActions, user: Any) -> None:
        header = auth.login().headers["Set-Cookie"]
        attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
        assert attributes == {"httponly", "path", "samesite"}
        assert "SameSite=Lax" in header
        assert "Path=/" in header

    def test_fixation_with_a_planted_live_session(
        self, app: Flask, auth: AuthActions, user: Any, keys: SessionKeys
    ) -> None:
        """The attacker logs in, plants their cookie in the victim's browser;
        the victim's login must not keep the attacker's id."""
        attacker = app.test_client()
        attacker.post(
            f"{API}/register",
            json={"username": "eve", "email": "eve@example.com", "password": PASSWORD},
        )
        attacker.post(f"{API}/login", json={"email": "eve@example.com", "password": PASSWORD})
        planted = attacker.get_cookie("session").value  # type: ignore[union-attr]
        auth.client.set_cookie("session", planted)
        auth.login()
        victim_sid = auth.session_cookie()
        assert victim_sid != planted
        assert not keys.exists(planted)
        assert attacker.get(f"{API}/me").status_code == 401  # the attacker's id is dead
        assert auth.client.get(f"{API}/me").json["username"] == "johndoe"  # type: ignore[index]


FOREIGN = "https://evil.example"


class TestCrossSite:
    @pytest.fixture
    def logged_in(self, auth: AuthActions, user: Any) -> AuthActions:
        assert auth.login().status_code == 200
        return auth

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"data": {"x": "1"}},  # application/x-www-form-urlencoded
            {"data": "x", "content_type": "text/plain"},
            {"data": "--b--", "content_type": "multipart/form-data; boundary=b"},
            {"json": {}, "headers": {"Origin": FOREIGN}},
            {"headers": {"Origin": FOREIGN}},  # bodiless, foreign origin
            {"headers": {"Origin": "null"}},  # sandboxed iframe, file:// page
            {"json": {}, "headers": {"Origin": "http://localhost.evil.example"}},
        ],
        ids=[
            "form",
            "text-plain",
            "multipart",
            "json-foreign",
            "bodiless-foreign",
            "null",
            "lookalike",
        ],
    )
    def test_forged_logout_is_403_and_the_session_lives(
        self, logged_in: AuthActions, keys: SessionKeys, kwargs: dict[str, Any]
    ) -> None:
        sid = logged_in.session_cookie()
        assert sid
        response = logged_in.client.post(f"{API}/logout", **kwargs)
        assert response.status_code == 403
        assert response.json == {"detail": "Cross-site request refused"}
        assert "Set-Cookie" not in response.headers
        assert keys.exists(sid)
        assert logged_in.client.get(f"{API}/me").status_code == 200

    @pytest.mark.parametrize(
        "headers", [{}, {"Origin": "http://localhost"}], ids=["no-origin", "own-origin"]
    )
    def test_same_origin_logout_works(
        self, logged_in: AuthActions, keys: SessionKeys, headers: dict[str, str]
    ) -> None:
        assert logged_in.client.post(f"{API}/logout", json={}, headers=headers).status_code == 200
        assert keys.all() == []

    def test_listed_origin_is_allowed(
        self, app: Flask, logged_in: AuthActions, keys: SessionKeys
    ) -> None:
        app.config["CORS_ORIGINS"] = ["https://app.example"]
        headers = {"Origin": "https://app.example"}
        assert logged_in.client.post(f"{API}/logout", headers=headers).status_code == 200

    def test_login_csrf_from_a_foreign_origin(
        self, client: FlaskClient, user: Any, keys: SessionKeys
    ) -> None:
        response = client.post(
            f"{API}/login",
            json={"email": "john@example.com", "password": PASSWORD},
            headers={"Origin": FOREIGN},
        )
        assert response.status_code == 403
        assert "Set-Cookie" not in response.headers
        assert keys.all() == []

    def test_register_from_a_foreign_origin(self, client: FlaskClient) -> None:
        body = {"username": "eve", "email": "eve@example.com", "password": PASSWORD}
        response = client.post(f"{API}/register", json=body, headers={"Origin": FOREIGN})
        assert response.status_code == 403
        credentials = {"email": body["email"], "password": PASSWORD}
        assert client.post(f"{API}/login", json=credentials).status_code == 401  # not created

    def test_form_login_with_a_cookie_is_403_without_one_415(
        self, client: FlaskClient, user: Any
    ) -> None:
        form = {"email": "john@example.com", "password": PASSWORD}
        assert client.post(f"{API}/login", data=form).status_code == 415
        client.set_cookie("session", UNKNOWN_SID)
        assert client.post(f"{API}/login", data=form).status_code == 403

    def test_token_form_is_allowed_with_a_cookie(self, logged_in: AuthActions) -> None:
        form = {"username": "johndoe", "password": PASSWORD}
        assert logged_in.client.post(f"{API}/token", data=form).status_code == 200

    def test_safe_methods_are_not_checked(self, logged_in: AuthActions) -> None:
        response = logged_in.client.get(f"{API}/me", headers={"Origin": FOREIGN})
        assert response.status_code == 200


class TestCors:
    @pytest.fixture
    def app_config(self, app_config: Any) -> Any:
        app_config.CORS_ORIGINS = ["https://app.example"]
        return app_config

    def test_listed_origin_gets_credentialed_cors(self, client: FlaskClient) -> None:
        response = client.options(
            f"{API}/login",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert response.headers["Access-Control-Allow-Credentials"] == "true"

    def test_other_origins_get_no_cors_headers(self, client: FlaskClient) -> None:
        response = client.options(
            f"{API}/login", headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"}
        )
        assert "Access-Control-Allow-Origin" not in response.headers
        response = client.get(f"{API}/me", headers={"Origin": FOREIGN})
        assert "Access-Control-Allow-Origin" not in response.headers

    def test_no_cors_without_listed_origins(self, app: Flask) -> None:
        app.config["CORS_ORIGINS"] = []
        fresh = app.test_client()
        response = fresh.get("/healthz", headers={"Origin": "https://app.example"})
        assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/docs"),
        ("get", "/openapi.json"),
        ("get", "/nope"),
        ("get", f"{API}/me"),
        ("post", f"{API}/logout"),
        ("post", f"{API}/login"),
        ("put", f"{API}/login"),
    ],
)
def test_security_headers_on_every_response(client: FlaskClient, method: str, path: str) -> None:
    response = getattr(client, method)(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_no_store_wherever_credentials_or_user_data_travel(auth: AuthActions, user: Any) -> None:
    login = auth.login()
    token = auth.client.post(
        f"{API}/token", json={"email": "john@example.com", "password": PASSWORD}
    )
    me = auth.client.get(f"{API}/me")
    logout = auth.client.post(f"{API}/logout")
    failed = auth.client.get(f"{API}/me")
    for response in (login, token, me, logout, failed):
        assert response.headers["Cache-Control"] == "no-store"
