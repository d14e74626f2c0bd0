"""See and end your sessions: list, revoke one, log out everywhere (docs/API.md)."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import User
from tests.conftest import API, PASSWORD, AuthActions, SessionKeys

CREDENTIALS = {"email": "john@example.com", "password": PASSWORD}
FIELDS = {"id", "kind", "created_at", "last_seen_at", "expires_at", "ip", "user_agent", "current"}
HANDLE = re.compile(r"[A-Za-z0-9_-]{22}")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Devices:
    """One account logged in three times: a laptop and a phone (cookies), a script (token)."""

    def __init__(self, app: Flask) -> None:
        self.laptop = app.test_client()
        self.phone = app.test_client()
        self.script = app.test_client()
        assert (
            self.laptop.post(
                f"{API}/login", json=CREDENTIALS, headers={"User-Agent": "Laptop/1.0"}
            ).status_code
            == 200
        )
        assert (
            self.phone.post(
                f"{API}/login", json=CREDENTIALS, headers={"User-Agent": "Phone/2.0 " + "x" * 200}
            ).status_code
            == 200
        )
        response = self.script.post(
            f"{API}/token", json=CREDENTIALS, headers={"User-Agent": "curl/8"}
        )
        self.token = response.json["access_token"]  # type: ignore[index]

    def me(self, who: str) -> int:
        if who == "script":
            return self.script.get(f"{API}/me", headers=bearer(self.token)).status_code
        client: FlaskClient = getattr(self, who)
        return client.get(f"{API}/me").status_code


@pytest.fixture
def devices(app: Flask, user: Any) -> Devices:
    return Devices(app)


class TestList:
    def test_three_logins_three_sessions_one_current(self, devices: Devices) -> None:
        response = devices.laptop.get(f"{API}/sessions")
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        listed = response.json
        assert [s["kind"] for s in listed] == ["bearer", "cookie", "cookie"]  # newest first
        assert [s["current"] for s in listed] == [False, False, True]
        assert [s["user_agent"] for s in listed] == [
            "curl/8",
            ("Phone/2.0 " + "x" * 200)[:128],
            "Laptop/1.0",
        ]
        for entry in listed:
            assert set(entry) == FIELDS
            assert HANDLE.fullmatch(entry["id"])
            assert entry["ip"] == "127.0.0.1"
            assert entry["created_at"] <= entry["last_seen_at"] < entry["expires_at"]

    def test_the_current_flag_follows_the_caller(self, devices: Devices) -> None:
        listed = devices.script.get(f"{API}/sessions", headers=bearer(devices.token)).json
        assert [s["current"] for s in listed] == [True, False, False]

    def test_a_handle_is_not_a_credential(self, devices: Devices) -> None:
        for entry in devices.laptop.get(f"{API}/sessions").json:  # type: ignore[union-attr]
            assert devices.token != entry["id"]
            assert devices.script.get(f"{API}/me", headers=bearer(entry["id"])).status_code == 401

    def test_an_expired_session_leaves_the_list_and_the_index(
        self, devices: Devices, keys: SessionKeys
    ) -> None:
        keys.delete(devices.token)  # what its TTL running out does
        listed = devices.laptop.get(f"{API}/sessions").json
        assert [s["kind"] for s in listed] == ["cookie", "cookie"]  # type: ignore[union-attr]
        [index] = keys.indexes()
        assert keys.redis.zcard(index) == 2

    def test_other_users_sessions_are_not_listed(self, app: Flask, devices: Devices) -> None:
        other = AuthActions(app.test_client())
        other.register(username="eve", email="eve@example.com")
        other.login(email="eve@example.com")
        assert len(other.client.get(f"{API}/sessions").json) == 1  # type: ignore[arg-type]
        assert len(devices.laptop.get(f"{API}/sessions").json) == 3  # type: ignore[arg-type]


class TestRevokeOne:
    def test_revoked_session_is_dead_at_once(self, devices: Devices, keys: SessionKeys) -> None:
        listed = devices.laptop.get(f"{API}/sessions").json
        script = next(s for s in listed if s["kind"] == "bearer")  # type: ignore[union-attr]
        response = devices.laptop.delete(f"{API}/sessions/{script['id']}")
        assert response.status_code == 204
        assert response.data == b""
        assert devices.me("script") == 401
        assert not keys.exists(devices.token)
        assert devices.me("laptop") == devices.me("phone") == 200
        assert len(devices.laptop.get(f"{API}/sessions").json) == 2  # type: ignore[arg-type]
        again = devices.laptop.delete(f"{API}/sessions/{script['id']}")
        assert again.status_code == 404

    def test_revoking_your_own_session_expires_your_cookie(self, devices: Devices) -> None:
        own = next(s for s in devices.laptop.get(f"{API}/sessions").json if s["current"])  # type: ignore[union-attr]
        response = devices.laptop.delete(f"{API}/sessions/{own['id']}")
        assert response.status_code == 204
        assert "session=;" in response.headers["Set-Cookie"]
        assert devices.me("laptop") == 401

    @pytest.mark.parametrize(
        "handle", ["A" * 22, "nope", "x" * 300, "..", "%00", "%C3%90%0D%C2%B8", "é" * 22]
    )
    def test_unknown_handle_is_404(self, devices: Devices, keys: SessionKeys, handle: str) -> None:
        before = keys.everything()
        response = devices.laptop.delete(f"{API}/sessions/{handle}")
        assert response.status_code == 404
        assert response.json == {"detail": "Session not found"}
        assert keys.everything() == before

    def test_another_users_handle_is_404_and_changes_nothing(
        self, app: Flask, devices: Devices, keys: SessionKeys
    ) -> None:
        eve = AuthActions(app.test_client())
        eve.register(username="eve", email="eve@example.com")
        eve.login(email="eve@example.com")
        eves_handle = eve.client.get(f"{API}/sessions").json[0]["id"]  # type: ignore[index]
        before = keys.everything()
        response = devices.laptop.delete(f"{API}/sessions/{eves_handle}")
        assert response.status_code == 404
        assert response.json == {"detail": "Session not found"}
        assert keys.everything() == before
        assert eve.client.get(f"{API}/me").status_code == 200

    def test_foreign_origin_is_refused(self, devices: Devices) -> None:
        handle = devices.laptop.get(f"{API}/sessions").json[0]["id"]  # type: ignore[index]
        response = devices.laptop.delete(
            f"{API}/sessions/{handle}", headers={"Origin": "https://evil.example"}
        )
        assert response.status_code == 403
        assert devices.me("script") == 200


class TestLogoutAll:
    def test_ends_every_session_and_leaves_no_key(
        self, devices: Devices, keys: SessionKeys
    ) -> None:
        response = devices.phone.post(f"{API}/logout-all")
        assert response.status_code == 200
        assert response.json == {"message": "Logged out everywhere", "ended": 3}
        assert "session=;" in response.headers["Set-Cookie"]
        assert keys.sessions_and_indexes() == []
        assert [devices.me(who) for who in ("laptop", "phone", "script")] == [401, 401, 401]

    def test_by_bearer_with_an_empty_json_body(self, devices: Devices, keys: SessionKeys) -> None:
        response = devices.script.post(
            f"{API}/logout-all",
            data="",
            content_type="application/json",
            headers=bearer(devices.token),
        )
        assert response.status_code == 200
        assert response.json["ended"] == 3  # type: ignore[index]
        assert "Set-Cookie" not in response.headers
        assert keys.sessions_and_indexes() == []

    def test_keep_current_keeps_exactly_the_caller(
        self, devices: Devices, keys: SessionKeys
    ) -> None:
        response = devices.laptop.post(f"{API}/logout-all", json={"keep_current": True})
        assert response.json == {"message": "Logged out of every other session", "ended": 2}
        assert "Set-Cookie" not in response.headers
        assert [devices.me(who) for who in ("laptop", "phone", "script")] == [200, 401, 401]
        assert len(keys.all()) == 1
        listed = devices.laptop.get(f"{API}/sessions").json
        assert [s["current"] for s in listed] == [True]  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        "body",
        [{"keep_current": "yes"}, {"keep_current": 1}, {"keep_current": None}, [], "x"],
        ids=["string", "int", "null", "array", "string-body"],
    )
    def test_invalid_input_is_422_and_ends_nothing(
        self, devices: Devices, keys: SessionKeys, body: Any
    ) -> None:
        response = devices.laptop.post(f"{API}/logout-all", json=body)
        assert response.status_code == 422
        assert len(keys.all()) == 3

    def test_other_users_are_untouched(self, app: Flask, devices: Devices) -> None:
        eve = AuthActions(app.test_client())
        eve.register(username="eve", email="eve@example.com")
        eve.login(email="eve@example.com")
        devices.laptop.post(f"{API}/logout-all")
        assert eve.client.get(f"{API}/me").status_code == 200

    def test_concurrent_me_calls_leave_nothing_behind(
        self, app: Flask, devices: Devices, keys: SessionKeys
    ) -> None:
        """200 /me calls racing a logout-everywhere: nothing is written back."""
        calls = iter(range(200))
        lock = threading.Lock()

        def hammer() -> None:
            client = app.test_client()
            while True:
                with lock:
                    if next(calls, None) is None:
                        return
                client.get(f"{API}/me", headers=bearer(devices.token))

        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(0.01)
        assert devices.laptop.post(f"{API}/logout-all").status_code == 200
        for thread in threads:
            thread.join()
        assert keys.sessions_and_indexes() == []


def test_all_three_need_a_session(client: FlaskClient) -> None:
    for response in (
        client.get(f"{API}/sessions"),
        client.delete(f"{API}/sessions/{'A' * 22}"),
        client.post(f"{API}/logout-all"),
    ):
        assert response.status_code == 401
        assert response.json == {"detail": "Could not validate credentials"}


def test_last_seen_is_written_at_most_once_a_minute(
    app: Flask, devices: Devices, keys: SessionKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = app.extensions["session_store"]
    sent: list[str] = []
    original = keys.redis.execute_command

    def counting(*args: Any, **kwargs: Any) -> Any:
        sent.append(str(args[0]))
        return original(*args, **kwargs)

    monkeypatch.setattr(keys.redis, "execute_command", counting)
    start = keys.record(devices.token)[3]  # its last-seen time, as the store wrote it
    for offset, expected in ((30, ["GETEX"]), (59, ["GETEX"]), (61, ["GETEX", "SET"])):
        monkeypatch.setattr(store, "clock", lambda o=offset: start + o)
        sent.clear()
        assert devices.me("script") == 200
        assert sent == expected, offset
    monkeypatch.undo()
    script = next(
        s
        for s in devices.laptop.get(f"{API}/sessions").json
        if s["kind"] == "bearer"  # type: ignore[union-attr]
    )
    assert script["last_seen_at"] > script["created_at"]


class TestCli:
    def test_list(self, app: Flask, devices: Devices) -> None:
        result = app.test_cli_runner().invoke(args=["sessions", "list", "JOHN@example.com"])
        assert result.exit_code == 0, result.output
        lines = result.output.strip().splitlines()
        assert lines[-1] == "3 live session(s) for john@example.com (user 1)"
        assert [line.split()[1] for line in lines[:-1]] == ["bearer", "cookie", "cookie"]
        assert devices.token not in result.output  # handles, never ids

    def test_revoke_all(self, app: Flask, devices: Devices, keys: SessionKeys) -> None:
        result = app.test_cli_runner().invoke(args=["sessions", "revoke", "john@example.com"])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == "ended 3 session(s) of john@example.com (user 1)"
        assert keys.sessions_and_indexes() == []
        assert [devices.me(who) for who in ("laptop", "phone", "script")] == [401, 401, 401]

    def test_revoke_one_by_handle(self, app: Flask, devices: Devices) -> None:
        runner = app.test_cli_runner()
        handle = runner.invoke(args=["sessions", "list", "john@example.com"]).output.split()[0]
        result = runner.invoke(args=["sessions", "revoke", "john@example.com", "--handle", handle])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"ended session {handle} of john@example.com (user 1)"
        assert devices.me("script") == 401  # the newest session was the script's
        assert devices.me("laptop") == 200
        again = runner.invoke(args=["sessions", "revoke", "john@example.com", "--handle", handle])
        assert again.exit_code == 1
        assert f"no live session {handle}" in again.output

    def test_deleting_a_user_ends_every_session(
        self, app: Flask, devices: Devices, keys: SessionKeys
    ) -> None:
        runner = app.test_cli_runner()
        result = runner.invoke(args=["users", "delete", "john@example.com", "--yes"])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == "deleted user 1 (john@example.com) and ended 3 session(s)"
        assert keys.sessions_and_indexes() == []
        assert [devices.me(who) for who in ("laptop", "phone", "script")] == [401, 401, 401]
        assert db.session.scalar(select(func.count()).select_from(User)) == 0

    def test_deleting_a_user_asks_first(
        self, app: Flask, devices: Devices, keys: SessionKeys
    ) -> None:
        before = keys.everything()
        result = app.test_cli_runner().invoke(
            args=["users", "delete", "john@example.com"], input="n\n"
        )
        assert result.exit_code == 1
        assert "Aborted" in result.output
        assert keys.everything() == before
        assert devices.me("laptop") == 200

    @pytest.mark.parametrize(
        ("email", "message"),
        [("nobody@example.com", "no account with email"), ("not-an-email", "not an email address")],
    )
    def test_unknown_account(self, app: Flask, user: Any, email: str, message: str) -> None:
        for command in (["sessions", "list"], ["sessions", "revoke"], ["users", "delete", "--yes"]):
            result = app.test_cli_runner().invoke(args=[*command, email])
            assert result.exit_code == 1
            assert message in result.output


class TestClientIp:
    def login_from(self, app: Flask, forwarded_for: str) -> str:
        client = app.test_client()
        client.post(
            f"{API}/login",
            json=CREDENTIALS,
            headers={"X-Forwarded-For": forwarded_for},
            environ_base={"REMOTE_ADDR": "10.0.0.2"},  # the proxy in front of us
        )
        listed = client.get(f"{API}/sessions").json
        return str(listed[0]["ip"])  # type: ignore[index]

    def test_forwarded_headers_are_ignored_by_default(self, app: Flask, user: Any) -> None:
        assert self.login_from(app, "198.51.100.7") == "10.0.0.2"

    def test_one_trusted_proxy_gives_the_client_it_saw(self, app_config: Any) -> None:
        from app import create_app
        from app.extensions import db

        app_config.TRUSTED_PROXY_HOPS = 1
        app = create_app(app_config)
        with app.app_context():
            db.create_all()
            AuthActions(app.test_client()).register()
            # A spoofed first entry is not believed: only the hop our proxy added.
            assert self.login_from(app, "6.6.6.6, 198.51.100.7") == "198.51.100.7"
            db.drop_all()
