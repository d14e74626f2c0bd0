"""Account lifecycle: change and recover a password, prove an address,
delete an account, read one's own security activity (docs/API.md)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.mail import Message
from tests.conftest import API, PASSWORD, AuthActions, SessionKeys

NEW_PASSWORD = "an0ther-passw0rd"
FORGOT_BODY = {"message": "If that address has an account, a reset link is on its way"}
TOKEN_LINK = re.compile(r"https?://\S+\?token=([A-Za-z0-9_-]+)")


class Collecting:
    """A mail transport that keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, message: Message, message_id: str) -> None:
        self.sent.append(message)


Mailbox = Callable[[], list[Message]]


@pytest.fixture
def mailbox(app: Flask) -> Mailbox:
    """Every mail delivered so far (the outbox is drained into it on each call)."""
    transport = Collecting()

    def read() -> list[Message]:
        app.extensions["outbox"].deliver_due(transport)
        return transport.sent

    return read


def token_in(message: Message) -> str:
    tokens = TOKEN_LINK.findall(message.text)
    assert len(tokens) == 1, message.text  # exactly one token= link
    assert message.text.count("token=") == 1
    return str(tokens[0])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(client: FlaskClient, path: str, body: Any = None, **kwargs: Any) -> Any:
    return client.post(f"{API}/{path}", json=body, **kwargs)


class TestVerification:
    def test_registration_mails_a_link_that_proves_the_address(
        self, auth: AuthActions, mailbox: Mailbox
    ) -> None:
        assert auth.register().json["email_verified"] is False  # type: ignore[index]
        [mail] = mailbox()
        assert mail.to == "john@example.com"
        assert "confirm your email address" in mail.subject
        assert "/verify-email?token=" in mail.text
        assert token_in(mail) in mail.html
        token = auth.token()
        response = post(auth.client, "email/verify", {"token": token_in(mail)})
        assert response.status_code == 200
        assert response.json["email_verified"] is True
        # The live session's snapshot of its user says so at once.
        me = auth.client.get(f"{API}/me", headers=bearer(token)).json
        assert me["email_verified"] is True

    def test_a_verification_token_works_once(self, auth: AuthActions, mailbox: Mailbox) -> None:
        auth.register()
        token = token_in(mailbox()[0])
        assert post(auth.client, "email/verify", {"token": token}).status_code == 200
        again = post(auth.client, "email/verify", {"token": token})
        assert again.status_code == 400
        assert again.json == {"detail": "Invalid or expired verification token"}

    @pytest.mark.parametrize("token", ["x" * 43, "short", "é" * 43, "A" * 100])
    def test_unknown_tokens_are_400(self, client: FlaskClient, token: str) -> None:
        response = post(client, "email/verify", {"token": token})
        assert response.status_code == 400
        assert response.json == {"detail": "Invalid or expired verification token"}

    def test_resend_mails_a_new_link_until_verified(
        self, auth: AuthActions, mailbox: Mailbox
    ) -> None:
        auth.register()
        token = auth.token()
        response = post(auth.client, "email/verify/resend", headers=bearer(token))
        assert response.status_code == 202
        first, second = mailbox()
        assert token_in(first) != token_in(second)
        assert post(auth.client, "email/verify", {"token": token_in(second)}).status_code == 200
        assert post(auth.client, "email/verify/resend", headers=bearer(token)).status_code == 202
        assert len(mailbox()) == 2  # already verified: nothing more is sent

    def test_resend_needs_a_session(self, client: FlaskClient) -> None:
        assert post(client, "email/verify/resend").status_code == 401


class TestForgotAndReset:
    def test_the_answer_is_the_same_for_known_and_unknown_addresses(
        self, auth: AuthActions, user: Any, mailbox: Mailbox
    ) -> None:
        mailbox()  # the verification mail
        known = post(auth.client, "password/forgot", {"email": "john@example.com"})
        unknown = post(auth.client, "password/forgot", {"email": "nobody@example.com"})
        assert known.status_code == unknown.status_code == 202
        assert known.json == unknown.json == FORGOT_BODY
        assert sorted(known.headers.keys()) == sorted(unknown.headers.keys())
        mails = mailbox()[1:]
        assert [mail.to for mail in mails] == ["john@example.com"]

    def test_known_and_unknown_addresses_cost_the_same_work(
        self, app: Flask, auth: AuthActions, user: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Counted, not timed: database statements and Redis round trips."""
        work: list[str] = []
        redis = app.extensions["redis"]
        for name in ("execute_command", "pipeline", "evalsha", "eval"):
            if hasattr(redis, name):
                original = getattr(redis, name)
                monkeypatch.setattr(
                    redis,
                    name,
                    lambda *a, _n=name, _o=original, **k: work.append(f"redis:{_n}") or _o(*a, **k),
                )

        def statement(*args: Any) -> None:
            work.append("sql")

        sa.event.listen(db.engine, "before_cursor_execute", statement)
        try:
            counts = []
            for email in ("john@example.com", "nobody@example.com"):
                work.clear()
                assert post(auth.client, "password/forgot", {"email": email}).status_code == 202
                counts.append(sorted(work))
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", statement)
        assert counts[0] == counts[1], counts
        assert counts[0]  # something was counted

    def test_a_reset_ends_every_session_and_the_token_is_spent(
        self, app: Flask, auth: AuthActions, user: Any, mailbox: Mailbox, keys: SessionKeys
    ) -> None:
        auth.login()
        cookie = auth.session_cookie()
        token = auth.token()
        post(auth.client, "password/forgot", {"email": "john@example.com"})
        reset = token_in(mailbox()[-1])
        assert "/reset-password?token=" in mailbox()[-1].text
        body = {"token": reset, "new_password": NEW_PASSWORD}
        response = post(auth.client, "password/reset", body)
        assert response.status_code == 200
        assert response.json == {"message": "Password has been reset"}
        assert auth.client.get(f"{API}/me", headers=bearer(token)).status_code == 401
        assert not keys.exists(cookie or "")
        assert keys.all() == []
        again = post(auth.client, "password/reset", {"token": reset, "new_password": "x" * 12})
        assert again.status_code == 400
        assert again.json == {"detail": "Invalid or expired reset token"}
        assert auth.login(password=PASSWORD).status_code == 401
        assert auth.login(password=NEW_PASSWORD).status_code == 200
        assert "your password was reset" in mailbox()[-1].subject
        assert "token=" not in mailbox()[-1].text  # a notice carries no way in

    def test_a_reset_token_dies_when_the_password_changes_by_another_route(
        self, auth: AuthActions, user: Any, mailbox: Mailbox
    ) -> None:
        post(auth.client, "password/forgot", {"email": "john@example.com"})
        reset = token_in(mailbox()[-1])
        token = auth.token()
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        assert post(auth.client, "password/change", body, headers=bearer(token)).status_code == 200
        response = post(auth.client, "password/reset", {"token": reset, "new_password": "y" * 12})
        assert response.status_code == 400

    def test_an_expired_reset_token_is_400(
        self, app: Flask, auth: AuthActions, user: Any, mailbox: Mailbox
    ) -> None:
        post(auth.client, "password/forgot", {"email": "john@example.com"})
        reset = token_in(mailbox()[-1])
        redis = app.extensions["redis"]
        for key in redis.scan_iter(match="*token:*"):
            redis.delete(key)  # what the TTL running out does
        response = post(auth.client, "password/reset", {"token": reset, "new_password": "z" * 12})
        assert response.status_code == 400

    def test_the_new_password_follows_registration_rules(
        self, auth: AuthActions, user: Any, mailbox: Mailbox
    ) -> None:
        post(auth.client, "password/forgot", {"email": "john@example.com"})
        reset = token_in(mailbox()[-1])
        response = post(auth.client, "password/reset", {"token": reset, "new_password": "short"})
        assert response.status_code == 422
        assert response.json["detail"][0]["loc"] == ["body", "new_password"]
        # A 422 spends nothing: the token still works.
        body = {"token": reset, "new_password": NEW_PASSWORD}
        assert post(auth.client, "password/reset", body).status_code == 200

    def test_nothing_in_redis_holds_a_mailed_token(
        self, app: Flask, auth: AuthActions, user: Any, mailbox: Mailbox
    ) -> None:
        post(auth.client, "password/forgot", {"email": "john@example.com"})
        redis = app.extensions["redis"]
        dumped = b"".join(key + (redis.dump(key) or b"") for key in redis.scan_iter())
        reset = token_in(mailbox()[-1])  # read after the dump: the queue held it, encrypted
        assert reset.encode() not in dumped
        assert b"john@example.com" not in dumped


class TestThrottledMail:
    @pytest.fixture
    def app_config(self, app_config: Any) -> Any:
        app_config.RATELIMIT_ENABLED = True
        return app_config

    def test_forgot_is_throttled_per_address(self, client: FlaskClient, user: Any) -> None:
        for _ in range(3):
            assert post(client, "password/forgot", {"email": "john@example.com"}).status_code == 202
        response = post(client, "password/forgot", {"email": "JOHN@example.com"})
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) >= 1
        assert post(client, "password/forgot", {"email": "ann@example.com"}).status_code == 202

    def test_a_wrong_current_password_counts_as_a_failed_login(
        self, auth: AuthActions, user: Any
    ) -> None:
        token = auth.token()
        body = {"current_password": "wrong-password", "new_password": NEW_PASSWORD}
        for _ in range(5):
            response = post(auth.client, "password/change", body, headers=bearer(token))
            assert response.status_code == 400
            assert response.json == {"detail": "Current password is incorrect"}
        assert (
            auth.client.post(
                f"{API}/login", json={"email": "john@example.com", "password": PASSWORD}
            ).status_code
            == 429
        )


class TestChange:
    def test_every_other_session_ends_and_the_callers_stays(
        self, auth: AuthActions, user: Any, mailbox: Mailbox
    ) -> None:
        auth.login()
        cookie_client_token = auth.session_cookie()
        others = [auth.token(), auth.token()]
        mine = auth.token()
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        response = post(auth.client, "password/change", body, headers=bearer(mine))
        assert response.status_code == 200
        assert response.json == {"message": "Password changed", "ended": 3}
        assert auth.client.get(f"{API}/me", headers=bearer(mine)).status_code == 200
        for other in others:
            assert auth.client.get(f"{API}/me", headers=bearer(other)).status_code == 401
        assert cookie_client_token is not None
        assert auth.client.get(f"{API}/me").status_code == 401  # the cookie session too
        assert "your password was changed" in mailbox()[-1].subject

    def test_needs_a_session(self, client: FlaskClient) -> None:
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        assert post(client, "password/change", body).status_code == 401


class TestDelete:
    def test_the_account_goes_and_everything_with_it(
        self, app: Flask, auth: AuthActions, user: Any, mailbox: Mailbox, keys: SessionKeys
    ) -> None:
        post(auth.client, "password/forgot", {"email": "john@example.com"})
        reset = token_in(mailbox()[-1])
        auth.login()
        token = auth.token()
        wrong = post(auth.client, "account/delete", {"password": "nope"}, headers=bearer(token))
        assert wrong.status_code == 400
        assert wrong.json == {"detail": "Password is incorrect"}
        response = auth.client.post(f"{API}/account/delete", json={"password": PASSWORD})
        assert response.status_code == 200
        assert response.json == {"message": "Account deleted"}
        assert "session=;" in response.headers["Set-Cookie"]
        assert auth.client.get(f"{API}/me", headers=bearer(token)).status_code == 401
        # No session, no index, no activity left (mailed tokens expire unused).
        assert keys.sessions_and_indexes() == []
        assert not any(re.search(r":e\d+$", key) for key in keys.everything())
        body = {"token": reset, "new_password": NEW_PASSWORD}
        assert post(auth.client, "password/reset", body).status_code == 400
        assert "your account was deleted" in mailbox()[-1].subject
        # The email and the username are free again.
        assert auth.register().status_code == 201


class TestEvents:
    def test_the_accounts_own_activity_newest_first(
        self, auth: AuthActions, user: Any, client: FlaskClient
    ) -> None:
        auth.login(password="wrong-password")
        token = auth.token()
        second = auth.token()
        auth.client.post(f"{API}/logout", headers=bearer(second))
        events = auth.client.get(
            f"{API}/events", headers={**bearer(token), "User-Agent": "curl/8"}
        ).json
        assert [event["type"] for event in events] == [
            "logout",
            "login",
            "login",
            "login_failed",
        ]
        assert all(set(event) == {"type", "at", "ip", "user_agent"} for event in events)
        assert events[0]["ip"] == "127.0.0.1"

    def test_only_ones_own(self, auth: AuthActions, user: Any) -> None:
        auth.login(password="wrong-password")
        auth.register("ann", "ann@example.com")
        ann = auth.token("ann@example.com")
        assert auth.client.get(f"{API}/events", headers=bearer(ann)).json[0]["type"] == "login"
        assert len(auth.client.get(f"{API}/events", headers=bearer(ann)).json) == 1

    def test_needs_a_session(self, client: FlaskClient) -> None:
        assert client.get(f"{API}/events").status_code == 401
