"""TOTP, recovery codes and the second step of a login (docs/API.md, Second factor).

Codes are computed with pyotp for instants the test chooses: the service's
TOTP clock (``app.extensions["totp"].clock``) is set, never slept on.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.auth import second_factor, second_step
from app.auth.secret_box import SecretBox
from app.exceptions import InvalidSecondFactor
from app.extensions import db
from app.models import RecoveryCode, TotpAuthenticator, User
from tests.conftest import API, PASSWORD, AuthActions, SessionKeys
from tests.fast.test_lifecycle import Mailbox, mailbox  # noqa: F401  (a fixture)

T0 = 1_900_000_000.0  # a fixed instant, on a step boundary plus 20 s
T0 = T0 - T0 % 30 + 10
RECOVERY = re.compile(r"[a-z2-7]{5}-[a-z2-7]{5}")
SECOND_FACTOR_REQUIRED = "Second factor required"


class Clock:
    def __init__(self, app: Flask) -> None:
        self.now = T0
        app.extensions["totp"].clock = lambda: self.now


@pytest.fixture
def clock(app: Flask) -> Clock:
    return Clock(app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(client: FlaskClient, path: str, body: Any = None, **kwargs: Any) -> Any:
    return client.post(f"{API}/{path}", json=body, **kwargs)


def code_at(secret: str, instant: float) -> str:
    return pyotp.TOTP(secret).at(instant)


class Enrolled:
    """An account with TOTP on: its secret, recovery codes and a bearer token."""

    def __init__(self, secret: str, codes: list[str], token: str) -> None:
        self.secret, self.codes, self.token = secret, codes, token


def enrol(auth: AuthActions, clock: Clock, email: str = "john@example.com") -> Enrolled:
    token = auth.token(email)
    setup = post(auth.client, "totp/setup", {"password": PASSWORD}, headers=bearer(token))
    assert setup.status_code == 200, setup.json
    secret = setup.json["secret"]
    confirm = post(
        auth.client, "totp/confirm", {"code": code_at(secret, clock.now)}, headers=bearer(token)
    )
    assert confirm.status_code == 200, confirm.json
    return Enrolled(secret, confirm.json["recovery_codes"], token)


@pytest.fixture
def enrolled(auth: AuthActions, user: Any, clock: Clock) -> Enrolled:
    return enrol(auth, clock)


def password_step(client: FlaskClient, endpoint: str = "login") -> Any:
    return post(client, endpoint, {"email": "john@example.com", "password": PASSWORD})


def second_step_token(client: FlaskClient, endpoint: str = "login") -> str:
    response = password_step(client, endpoint)
    assert response.status_code == 401, response.json
    return str(response.json["second_factor"]["token"])


def second_session(auth: AuthActions, enrolled: Enrolled, clock: Clock) -> str:
    """Another bearer session of the enrolled account, through both steps."""
    clock.now += 30
    response = post(
        auth.client,
        "token/second-factor",
        {
            "token": second_step_token(auth.client, "token"),
            "code": code_at(enrolled.secret, clock.now),
        },
    )
    assert response.status_code == 200, response.json
    return str(response.json["access_token"])


def events(client: FlaskClient, token: str) -> list[str]:
    return [event["type"] for event in client.get(f"{API}/events", headers=bearer(token)).json]


# --- enrolment ---------------------------------------------------------------------


class TestSetup:
    def test_setup_shows_a_secret_its_uri_and_a_qr_code_and_changes_nothing_yet(
        self, auth: AuthActions, user: Any, redis: Any
    ) -> None:
        token = auth.token()
        response = post(auth.client, "totp/setup", {"password": PASSWORD}, headers=bearer(token))
        assert response.status_code == 200
        body = response.json
        assert set(body) == {"secret", "otpauth_uri", "qr_svg"}
        assert re.fullmatch(r"[A-Z2-7]{32}", body["secret"])
        assert body["otpauth_uri"].startswith("otpauth://totp/Auth%20service:john%40example.com?")
        assert f"secret={body['secret']}" in body["otpauth_uri"]
        assert body["qr_svg"].startswith("<svg")
        assert "http://www.w3.org/2000/svg" in body["qr_svg"]
        status = auth.client.get(f"{API}/second-factor", headers=bearer(token)).json
        assert status == {"totp": False, "passkeys": 0, "recovery_codes_left": 0}
        # Pending in Redis, sealed: the secret is nowhere in clear.
        for key in redis.scan_iter():
            value = redis.dump(key) or b""
            assert body["secret"].encode() not in value
        assert password_step(auth.client).status_code == 200  # not on until confirmed

    def test_setup_asks_the_password_again_and_counts_a_wrong_one(
        self, auth: AuthActions, user: Any
    ) -> None:
        token = auth.token()
        response = post(auth.client, "totp/setup", {"password": "wrong"}, headers=bearer(token))
        assert (response.status_code, response.json) == (400, {"detail": "Password is incorrect"})
        assert events(auth.client, token)[0] == "login_failed"

    def test_setup_needs_a_session(self, client: FlaskClient) -> None:
        response = post(client, "totp/setup", {"password": PASSWORD})
        assert response.status_code == 401

    def test_confirm_with_a_wrong_code_or_without_setup_is_a_400(
        self, auth: AuthActions, user: Any, clock: Clock
    ) -> None:
        token = auth.token()
        response = post(auth.client, "totp/confirm", {"code": "123456"}, headers=bearer(token))
        assert response.json == {"detail": "No two-factor setup pending: start again"}
        secret = post(
            auth.client, "totp/setup", {"password": PASSWORD}, headers=bearer(token)
        ).json["secret"]
        wrong = code_at(secret, clock.now + 300)
        response = post(auth.client, "totp/confirm", {"code": wrong}, headers=bearer(token))
        assert (response.status_code, response.json) == (400, {"detail": "Invalid code"})
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TotpAuthenticator)) == 0

    def test_a_new_setup_replaces_the_pending_one(
        self, auth: AuthActions, user: Any, clock: Clock
    ) -> None:
        token = auth.token()
        first, second = (
            post(auth.client, "totp/setup", {"password": PASSWORD}, headers=bearer(token)).json[
                "secret"
            ]
            for _ in range(2)
        )
        old = post(
            auth.client, "totp/confirm", {"code": code_at(first, clock.now)}, headers=bearer(token)
        )
        assert old.status_code == 400
        new = post(
            auth.client, "totp/confirm", {"code": code_at(second, clock.now)}, headers=bearer(token)
        )
        assert new.status_code == 200

    def test_confirm_turns_totp_on_ends_other_sessions_and_tells_the_owner(
        self,
        auth: AuthActions,
        user: Any,
        clock: Clock,
        keys: SessionKeys,
        mailbox: Mailbox,  # noqa: F811
    ) -> None:
        other = auth.token()
        mine = auth.token()
        secret = post(auth.client, "totp/setup", {"password": PASSWORD}, headers=bearer(mine)).json[
            "secret"
        ]
        response = post(
            auth.client, "totp/confirm", {"code": code_at(secret, clock.now)}, headers=bearer(mine)
        )
        assert response.status_code == 200
        codes = response.json["recovery_codes"]
        assert len(set(codes)) == 10
        assert all(RECOVERY.fullmatch(code) for code in codes)
        assert not keys.exists(other)
        assert keys.exists(mine)
        assert events(auth.client, mine)[0] == "totp_enabled"
        notice = mailbox()[-1]
        assert "two-factor authentication turned on" in notice.subject
        assert "1 other session(s)" in notice.text
        assert secret not in notice.text
        status = auth.client.get(f"{API}/second-factor", headers=bearer(mine)).json
        assert status == {"totp": True, "passkeys": 0, "recovery_codes_left": 10}
        # At rest: the secret sealed, the codes as HMACs; neither in clear.
        row = db.session.scalar(sa.select(TotpAuthenticator))
        assert secret.encode() not in row.secret_sealed
        hashes = db.session.scalars(sa.select(RecoveryCode.code_hash)).all()
        assert len(hashes) == 10
        assert not {code.replace("-", "") for code in codes} & {h[:10] for h in hashes}
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes)

    def test_the_confirming_code_cannot_finish_a_login(
        self, auth: AuthActions, enrolled: Enrolled, clock: Clock
    ) -> None:
        token = second_step_token(auth.client)
        response = post(
            auth.client,
            "login/second-factor",
            {"token": token, "code": code_at(enrolled.secret, clock.now)},
        )
        assert (response.status_code, response.json) == (401, {"detail": "Invalid code"})

    def test_setup_when_totp_is_on_is_a_409(self, auth: AuthActions, enrolled: Enrolled) -> None:
        response = post(
            auth.client, "totp/setup", {"password": PASSWORD}, headers=bearer(enrolled.token)
        )
        assert response.status_code == 409
        assert response.json == {"detail": "Two-factor authentication is already enabled"}


# --- the password step ------------------------------------------------------------------


class TestPasswordStep:
    @pytest.mark.parametrize(("endpoint", "flow"), [("login", "login"), ("token", "token")])
    def test_a_right_password_gets_a_second_step_token_and_no_session(
        self,
        auth: AuthActions,
        enrolled: Enrolled,
        keys: SessionKeys,
        redis: Any,
        endpoint: str,
        flow: str,
    ) -> None:
        sessions = keys.all()
        response = password_step(auth.client, endpoint)
        assert response.status_code == 401
        assert "Set-Cookie" not in response.headers
        body = response.json
        assert set(body) == {"detail", "second_factor"}
        assert body["detail"] == SECOND_FACTOR_REQUIRED
        challenge = body["second_factor"]
        assert challenge["methods"] == ["totp", "recovery_code"]
        assert challenge["expires_in"] == 300
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge["token"])
        assert keys.all() == sessions
        # Stored under an HMAC only, for 300 s.
        [key] = [k for k in keys.everything() if "second-step:" in k]
        assert challenge["token"] not in key
        assert 295 <= redis.ttl(key) <= 300
        assert challenge["token"].encode() not in redis.hget(key, "r")

    @pytest.mark.parametrize("endpoint", ["login", "token"])
    def test_a_wrong_password_says_nothing_of_the_second_factor(
        self, auth: AuthActions, enrolled: Enrolled, endpoint: str
    ) -> None:
        response = post(auth.client, endpoint, {"email": "john@example.com", "password": "nope"})
        assert (response.status_code, response.json) == (
            401,
            {"detail": "Invalid email or password"},
        )
        plain = post(auth.client, endpoint, {"email": "nobody@example.com", "password": "nope"})
        assert plain.json == response.json
        assert plain.headers.get("WWW-Authenticate") == response.headers.get("WWW-Authenticate")

    def test_an_account_without_a_second_factor_logs_in_as_before(
        self, auth: AuthActions, user: Any
    ) -> None:
        response = password_step(auth.client)
        assert response.status_code == 200
        assert set(response.json) == {
            "id", "username", "email", "created_at", "updated_at", "email_verified"
        }  # fmt: skip
        assert auth.session_cookie()


# --- the second step ------------------------------------------------------------------


class TestSecondStep:
    def test_a_code_finishes_a_browser_login_with_the_cookie(
        self, auth: AuthActions, enrolled: Enrolled, clock: Clock
    ) -> None:
        clock.now += 30
        token = second_step_token(auth.client)
        response = post(
            auth.client,
            "login/second-factor",
            {"token": token, "code": code_at(enrolled.secret, clock.now)},
        )
        assert response.status_code == 200
        assert response.json["email"] == "john@example.com"
        assert "HttpOnly" in response.headers["Set-Cookie"]
        assert auth.client.get(f"{API}/me").status_code == 200
        assert events(auth.client, enrolled.token)[0] == "login"

    def test_a_code_finishes_an_api_login_with_a_bearer_token(
        self, auth: AuthActions, enrolled: Enrolled, clock: Clock
    ) -> None:
        clock.now += 30
        token = second_step_token(auth.client, "token")
        response = post(
            auth.client,
            "token/second-factor",
            {"token": token, "code": code_at(enrolled.secret, clock.now)},
        )
        assert response.status_code == 200
        assert set(response.json) == {"access_token", "token_type", "user_id", "expires_in"}
        assert "Set-Cookie" not in response.headers
        me = auth.client.get(f"{API}/me", headers=bearer(response.json["access_token"]))
        assert me.status_code == 200

    @pytest.mark.parametrize(
        ("offset", "accepted"),
        [(-60, False), (-30, True), (0, True), (30, True), (60, False), (-3600, False)],
    )
    def test_one_step_of_clock_drift_either_way(
        self, auth: AuthActions, enrolled: Enrolled, clock: Clock, offset: int, accepted: bool
    ) -> None:
        clock.now += 120  # past the confirming code's step
        token = second_step_token(auth.client)
        code = code_at(enrolled.secret, clock.now + offset)
        response = post(auth.client, "login/second-factor", {"token": token, "code": code})
        assert response.status_code == (200 if accepted else 401)

    def test_a_code_works_once_and_no_older_one_after_it(
        self, auth: AuthActions, enrolled: Enrolled, clock: Clock
    ) -> None:
        clock.now += 120
        code = code_at(enrolled.secret, clock.now + 30)  # the next step's, within drift
        first = post(
            auth.client,
            "login/second-factor",
            {"token": second_step_token(auth.client), "code": code},
        )
        assert first.status_code == 200
        for replay in (code, code_at(enrolled.secret, clock.now)):  # the same, and an older step
            again = post(
                auth.client,
                "login/second-factor",
                {"token": second_step_token(auth.client), "code": replay},
            )
            assert (again.status_code, again.json) == (401, {"detail": "Invalid code"})
        clock.now += 60  # a later step's code works
        later = post(
            auth.client,
            "login/second-factor",
            {"token": second_step_token(auth.client), "code": code_at(enrolled.secret, clock.now)},
        )
        assert later.status_code == 200

    def test_a_token_works_once(self, auth: AuthActions, enrolled: Enrolled, clock: Clock) -> None:
        clock.now += 60
        token = second_step_token(auth.client)
        body = {"token": token, "code": code_at(enrolled.secret, clock.now)}
        assert post(auth.client, "login/second-factor", body).status_code == 200
        clock.now += 60
        body["code"] = code_at(enrolled.secret, clock.now)
        again = post(auth.client, "login/second-factor", body)
        assert (again.status_code, again.json) == (
            400,
            {"detail": "Invalid or expired second-step token"},
        )

    def test_a_late_token_is_refused(
        self, auth: AuthActions, enrolled: Enrolled, clock: Clock, keys: SessionKeys, redis: Any
    ) -> None:
        clock.now += 60
        token = second_step_token(auth.client)
        [key] = [k for k in keys.everything() if "second-step:" in k]
        redis.pexpire(key, 1)  # its 300 s are over
        time.sleep(0.01)
        response = post(
            auth.client,
            "login/second-factor",
            {"token": token, "code": code_at(enrolled.secret, clock.now)},
        )
        assert response.json == {"detail": "Invalid or expired second-step token"}

    @pytest.mark.parametrize(("issued_by", "finished_at"), [("login", "token"), ("token", "login")])
    def test_a_token_finishes_only_its_own_flow(
        self, auth: AuthActions, enrolled: Enrolled, clock: Clock, issued_by: str, finished_at: str
    ) -> None:
        clock.now += 60
        token = second_step_token(auth.client, issued_by)
        response = post(
            auth.client,
            f"{finished_at}/second-factor",
            {"token": token, "code": code_at(enrolled.secret, clock.now)},
        )
        assert response.status_code == 400

    @pytest.mark.parametrize("token", ["x" * 43, "short", "é" * 43, "A" * 44])
    def test_an_unknown_token_is_a_400(
        self, auth: AuthActions, enrolled: Enrolled, token: str
    ) -> None:
        response = post(auth.client, "login/second-factor", {"token": token, "code": "123456"})
        assert (response.status_code, response.json) == (
            400,
            {"detail": "Invalid or expired second-step token"},
        )

    def test_a_password_change_kills_the_token(
        self, auth: AuthActions, enrolled: Enrolled, clock: Clock
    ) -> None:
        token = second_step_token(auth.client)
        changed = post(
            auth.client,
            "password/change",
            {"current_password": PASSWORD, "new_password": "an0ther-passw0rd"},
            headers=bearer(enrolled.token),
        )
        assert changed.status_code == 200
        clock.now += 60
        response = post(
            auth.client,
            "login/second-factor",
            {"token": token, "code": code_at(enrolled.secret, clock.now)},
        )
        assert response.status_code == 400

    def test_five_wrong_codes_kill_the_token_and_each_is_an_event(
        self, auth: AuthActions, enrolled: Enrolled, clock: Clock, keys: SessionKeys
    ) -> None:
        clock.now += 60
        token = second_step_token(auth.client)
        wrong = code_at(enrolled.secret, clock.now + 900)
        for _ in range(5):
            response = post(auth.client, "login/second-factor", {"token": token, "code": wrong})
            assert (response.status_code, response.json) == (401, {"detail": "Invalid code"})
        assert not [k for k in keys.everything() if "second-step:" in k]
        right = post(
            auth.client,
            "login/second-factor",
            {"token": token, "code": code_at(enrolled.secret, clock.now)},
        )
        assert right.status_code == 400
        assert events(auth.client, enrolled.token)[:5] == ["second_factor_failed"] * 5

    def test_a_passkey_is_refused_until_the_passkey_branch_provides_it(
        self, auth: AuthActions, enrolled: Enrolled
    ) -> None:
        token = second_step_token(auth.client)
        response = post(
            auth.client, "login/second-factor", {"token": token, "passkey": {"id": "x"}}
        )
        assert (response.status_code, response.json) == (401, {"detail": "Invalid code"})


class TestRecoveryCodes:
    def test_a_recovery_code_finishes_a_login_once_in_any_case_or_dashes(
        self, auth: AuthActions, enrolled: Enrolled
    ) -> None:
        code = enrolled.codes[3]
        typed = f" {code.replace('-', '').upper()} "
        response = post(
            auth.client,
            "login/second-factor",
            {"token": second_step_token(auth.client), "recovery_code": typed},
        )
        assert response.status_code == 200
        again = post(
            auth.client,
            "login/second-factor",
            {"token": second_step_token(auth.client), "recovery_code": code},
        )
        assert (again.status_code, again.json) == (401, {"detail": "Invalid code"})
        status = auth.client.get(f"{API}/second-factor", headers=bearer(enrolled.token)).json
        assert status["recovery_codes_left"] == 9

    def test_a_code_of_another_account_does_not_work(
        self, auth: AuthActions, enrolled: Enrolled, clock: Clock
    ) -> None:
        assert auth.register("eve", "eve@example.com").status_code == 201
        enrol(auth, clock, "eve@example.com")
        response = post(auth.client, "login", {"email": "eve@example.com", "password": PASSWORD})
        token = response.json["second_factor"]["token"]
        johns = post(
            auth.client, "login/second-factor", {"token": token, "recovery_code": enrolled.codes[0]}
        )
        assert (johns.status_code, johns.json) == (401, {"detail": "Invalid code"})

    def test_the_last_codes_still_say_so_in_the_methods(
        self, auth: AuthActions, enrolled: Enrolled
    ) -> None:
        db.session.execute(sa.delete(RecoveryCode))
        db.session.commit()
        response = password_step(auth.client)
        assert response.json["second_factor"]["methods"] == ["totp"]

    def test_regenerating_voids_the_old_set(
        self,
        auth: AuthActions,
        enrolled: Enrolled,
        mailbox: Mailbox,  # noqa: F811
    ) -> None:
        response = post(
            auth.client, "recovery-codes", {"password": PASSWORD}, headers=bearer(enrolled.token)
        )
        assert response.status_code == 200
        fresh = response.json["recovery_codes"]
        assert len(fresh) == 10
        assert not set(fresh) & set(enrolled.codes)
        old = post(
            auth.client,
            "login/second-factor",
            {"token": second_step_token(auth.client), "recovery_code": enrolled.codes[0]},
        )
        assert old.status_code == 401
        new = post(
            auth.client,
            "login/second-factor",
            {"token": second_step_token(auth.client), "recovery_code": fresh[0]},
        )
        assert new.status_code == 200
        assert "recovery_codes_regenerated" in events(auth.client, enrolled.token)
        assert "new recovery codes" in mailbox()[-1].subject

    def test_regenerating_needs_a_second_factor_and_the_password(
        self, auth: AuthActions, user: Any
    ) -> None:
        token = auth.token()
        response = post(
            auth.client, "recovery-codes", {"password": PASSWORD}, headers=bearer(token)
        )
        assert (response.status_code, response.json) == (
            409,
            {"detail": "The account has no second factor"},
        )
        wrong = post(auth.client, "recovery-codes", {"password": "nope"}, headers=bearer(token))
        assert wrong.status_code == 400

    def test_new_recovery_codes_for_a_first_passkey(self, app: Flask, user: Any) -> None:
        codes = second_factor.new_recovery_codes_for(user["id"])
        assert len(codes) == 10
        count = db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode))
        assert count == 10


class TestDisable:
    def test_disable_with_the_password(
        self,
        auth: AuthActions,
        enrolled: Enrolled,
        clock: Clock,
        keys: SessionKeys,
        mailbox: Mailbox,  # noqa: F811
    ) -> None:
        other = second_session(auth, enrolled, clock)
        response = post(
            auth.client, "totp/disable", {"password": PASSWORD}, headers=bearer(enrolled.token)
        )
        assert (response.status_code, response.json) == (
            200,
            {"message": "Two-factor authentication disabled"},
        )
        assert keys.exists(enrolled.token)
        assert not keys.exists(other)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TotpAuthenticator)) == 0
        assert events(auth.client, enrolled.token)[0] == "totp_disabled"
        assert "two-factor authentication turned off" in mailbox()[-1].subject
        assert password_step(auth.client).status_code == 200

    def test_disable_with_a_fresh_code_but_not_a_used_one(
        self, auth: AuthActions, enrolled: Enrolled, clock: Clock
    ) -> None:
        used = code_at(enrolled.secret, clock.now)  # the confirming code
        headers = bearer(enrolled.token)
        refused = post(auth.client, "totp/disable", {"code": used}, headers=headers)
        assert (refused.status_code, refused.json) == (400, {"detail": "Invalid code"})
        clock.now += 30
        fresh = code_at(enrolled.secret, clock.now)
        response = post(auth.client, "totp/disable", {"code": fresh}, headers=headers)
        assert response.status_code == 200
        again = post(auth.client, "totp/disable", {"password": PASSWORD}, headers=headers)
        assert (again.status_code, again.json) == (
            409,
            {"detail": "Two-factor authentication is not enabled"},
        )

    def test_disable_with_a_wrong_password_changes_nothing(
        self, auth: AuthActions, enrolled: Enrolled
    ) -> None:
        response = post(
            auth.client, "totp/disable", {"password": "nope"}, headers=bearer(enrolled.token)
        )
        assert response.status_code == 400
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TotpAuthenticator)) == 1


# --- throttling -----------------------------------------------------------------------


class TestThrottling:
    @pytest.fixture
    def app_config(self, app_config: Any) -> Any:
        app_config.RATELIMIT_ENABLED = True
        app_config.RATELIMIT_SECOND_FACTOR_PER_ACCOUNT = "3 per hour"
        app_config.RATELIMIT_LOGIN_PER_IDENTIFIER = "100 per minute"
        return app_config

    def test_failures_on_the_account_are_throttled_across_tokens_and_successes_refunded(
        self, auth: AuthActions, enrolled: Enrolled, clock: Clock
    ) -> None:
        clock.now += 60
        good = post(
            auth.client,
            "login/second-factor",
            {"token": second_step_token(auth.client), "code": code_at(enrolled.secret, clock.now)},
        )
        assert good.status_code == 200  # refunded: it does not count
        wrong = code_at(enrolled.secret, clock.now + 900)
        for _ in range(3):  # each on a fresh token: the bucket is the account's
            response = post(
                auth.client,
                "login/second-factor",
                {"token": second_step_token(auth.client), "code": wrong},
            )
            assert response.status_code == 401
        clock.now += 60
        token = second_step_token(auth.client)
        right = post(
            auth.client,
            "login/second-factor",
            {"token": token, "code": code_at(enrolled.secret, clock.now)},
        )
        assert right.status_code == 429
        assert int(right.headers["Retry-After"]) > 0
        # Throttled, the code was not even checked: it still works later.
        recovered = post(
            auth.client,
            "login/second-factor",
            {"token": token, "recovery_code": enrolled.codes[0]},
        )
        assert recovered.status_code == 429


# --- at rest, and keys ----------------------------------------------------------------


def test_a_sealed_secret_moved_to_another_account_does_not_open(
    auth: AuthActions, enrolled: Enrolled, clock: Clock
) -> None:
    eve = AuthActions(auth.client)
    eve.register("eve", "eve@example.com")
    eve_id = db.session.scalar(sa.select(User.id).where(User.username == "eve"))
    john = db.session.scalar(sa.select(TotpAuthenticator))
    db.session.add(
        TotpAuthenticator(
            user_id=eve_id, secret_sealed=john.secret_sealed, key_id=john.key_id, last_used_step=0
        )
    )
    db.session.commit()
    clock.now += 60
    response = post(auth.client, "login", {"email": "eve@example.com", "password": PASSWORD})
    token = response.json["second_factor"]["token"]
    attempt = post(
        auth.client,
        "login/second-factor",
        {"token": token, "code": code_at(enrolled.secret, clock.now)},
    )
    assert attempt.status_code == 401


def test_a_rotated_key_still_opens_old_secrets_and_codes_and_reseals_at_use(
    app: Flask, auth: AuthActions, enrolled: Enrolled, clock: Clock
) -> None:
    """SECOND_FACTOR_KEY_ID=2 with the old key in SECOND_FACTOR_OLD_KEYS."""
    old_key = app.config["SECOND_FACTOR_KEY"]
    app.extensions["secret_box"] = SecretBox("2", "n" * 48, {"1": old_key})
    clock.now += 60
    response = post(
        auth.client,
        "login/second-factor",
        {"token": second_step_token(auth.client), "code": code_at(enrolled.secret, clock.now)},
    )
    assert response.status_code == 200
    assert db.session.scalar(sa.select(TotpAuthenticator.key_id)) == "2"  # resealed
    recovered = post(
        auth.client,
        "login/second-factor",
        {"token": second_step_token(auth.client), "recovery_code": enrolled.codes[0]},
    )
    assert recovered.status_code == 200
    # Without the old key, nothing it sealed opens: not a 500, a refusal.
    app.extensions["secret_box"] = SecretBox("3", "m" * 48)
    clock.now += 60
    refused = post(
        auth.client,
        "login/second-factor",
        {"token": second_step_token(auth.client), "code": code_at(enrolled.secret, clock.now)},
    )
    assert refused.status_code == 401


def test_the_account_going_takes_its_second_factor_with_it(
    auth: AuthActions, enrolled: Enrolled
) -> None:
    response = post(
        auth.client, "account/delete", {"password": PASSWORD}, headers=bearer(enrolled.token)
    )
    assert response.status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TotpAuthenticator)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)) == 0


def test_nothing_of_a_factor_reaches_the_log(
    auth: AuthActions, user: Any, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    enrolled = enrol(auth, clock)
    clock.now += 60
    token = second_step_token(auth.client)
    code = code_at(enrolled.secret, clock.now)
    post(auth.client, "login/second-factor", {"token": token, "code": code})
    text = caplog.text
    for secret in (enrolled.secret, token, code, *enrolled.codes):
        assert secret not in text


def test_of_two_hosts_checking_one_code_at_once_only_one_accepts_it(
    app: Flask, enrolled: Enrolled, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read the authenticator before either wrote: the conditional
    UPDATE of the last step is what lets only one through."""
    totp = app.extensions["totp"]
    unguarded = type(totp).matching_step
    monkeypatch.setattr(
        totp, "matching_step", lambda secret, code, after: unguarded(totp, secret, code, -1)
    )
    user = db.session.scalar(sa.select(User))
    clock.now += 60
    code = code_at(enrolled.secret, clock.now)
    second_factor._accept_totp(user, code)
    with pytest.raises(InvalidSecondFactor):
        second_factor._accept_totp(user, code)


def test_peek_names_the_user_of_a_live_token_without_spending_it(
    app: Flask, auth: AuthActions, enrolled: Enrolled, clock: Clock
) -> None:
    """What the passkey options of a second step use to find the account."""
    token = second_step_token(auth.client)
    user_id = db.session.scalar(sa.select(User.id))
    assert second_step.peek(token) == user_id
    assert second_step.peek(token) == user_id  # not spent
    assert second_step.peek("A" * 43) is None
    assert second_step.peek("short") is None
    user = db.session.get(User, user_id)
    user.password_hash = "changed"
    db.session.commit()
    assert second_step.peek(token) is None


def test_unreadable_values_in_redis_are_no_token_and_no_setup(
    app: Flask, auth: AuthActions, user: Any, keys: SessionKeys, redis: Any, clock: Clock
) -> None:
    token = auth.token()
    post(auth.client, "totp/setup", {"password": PASSWORD}, headers=bearer(token))
    [pending] = [k for k in keys.everything() if "totp-setup:" in k]
    redis.set(pending, b"\xc1 not msgpack", keepttl=True)
    response = post(auth.client, "totp/confirm", {"code": "123456"}, headers=bearer(token))
    assert response.json == {"detail": "No two-factor setup pending: start again"}
    enrolled = enrol(auth, clock)
    step = second_step_token(auth.client)
    [key] = [k for k in keys.everything() if "second-step:" in k]
    redis.hset(key, "r", b"\xc1")
    clock.now += 60
    response = post(
        auth.client,
        "login/second-factor",
        {"token": step, "code": code_at(enrolled.secret, clock.now)},
    )
    assert response.status_code == 400


def test_two_confirmations_at_once_turn_totp_on_once(
    app: Flask, auth: AuthActions, user: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unique authenticator per account stops the second (a 409)."""
    token = auth.token()
    secret = post(auth.client, "totp/setup", {"password": PASSWORD}, headers=bearer(token)).json[
        "secret"
    ]
    monkeypatch.setattr(second_step, "has_totp", lambda user_id: False)
    body = {"code": code_at(secret, clock.now)}
    assert post(auth.client, "totp/confirm", body, headers=bearer(token)).status_code == 200
    post(auth.client, "totp/setup", {"password": PASSWORD}, headers=bearer(token))
    secret = post(auth.client, "totp/setup", {"password": PASSWORD}, headers=bearer(token)).json[
        "secret"
    ]
    body = {"code": code_at(secret, clock.now)}
    again = post(auth.client, "totp/confirm", body, headers=bearer(token))
    assert (again.status_code, again.json) == (
        409,
        {"detail": "Two-factor authentication is already enabled"},
    )
