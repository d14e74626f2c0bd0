"""The second factor on the real stack: a production gunicorn (two workers)
on PostgreSQL and Redis, codes computed with pyotp from the real clock; and
migration 0004 up and down on PostgreSQL."""

from __future__ import annotations

import threading
import time
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from app import create_app
from app.extensions import db
from tests.conftest import make_config
from tests.real.services import Gunicorn, Reply

USER = {"username": "ann", "email": "ann@example.com", "password": "pa55word!"}
CREDENTIALS = {"email": USER["email"], "password": USER["password"]}
RACERS = 8


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def race(server: Gunicorn, path: str, bodies: list[dict[str, Any]]) -> list[Reply]:
    start = threading.Barrier(len(bodies))
    replies: list[Reply] = []
    lock = threading.Lock()

    def send(body: dict[str, Any]) -> None:
        start.wait()
        reply = server.call("POST", path, body, timeout=30)
        with lock:
            replies.append(reply)

    threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return replies


def second_step_token(server: Gunicorn, endpoint: str = "token") -> str:
    reply = server.call("POST", f"/api/auth/{endpoint}", CREDENTIALS)
    assert reply.status == 401, reply.body
    assert reply.body["detail"] == "Second factor required"
    assert reply.headers.get("Set-Cookie") is None
    return str(reply.body["second_factor"]["token"])


def enrol(server: Gunicorn) -> tuple[str, list[str], str]:
    assert server.call("POST", "/api/auth/register", USER).status == 201
    token = server.call("POST", "/api/auth/token", CREDENTIALS).body["access_token"]
    setup = server.call(
        "POST", "/api/auth/totp/setup", {"password": USER["password"]}, headers=bearer(token)
    )
    assert setup.status == 200, setup.body
    secret = setup.body["secret"]
    confirm = server.call(
        "POST", "/api/auth/totp/confirm", {"code": pyotp.TOTP(secret).now()}, headers=bearer(token)
    )
    assert confirm.status == 200, confirm.body
    return secret, confirm.body["recovery_codes"], token


def test_two_factor_login_on_gunicorn_once_per_code_and_per_token(
    production_gunicorn: Any,
) -> None:
    server: Gunicorn = production_gunicorn(
        "second-factor", RATELIMIT_SECOND_FACTOR_PER_ACCOUNT="1000 per hour"
    )
    secret, codes, _ = enrol(server)
    # One code, eight logins racing with it on two workers: one session.
    code = pyotp.TOTP(secret).at(time.time() + 30)  # the next step: the confirming one is spent
    bodies = [{"token": second_step_token(server), "code": code} for _ in range(RACERS)]
    replies = race(server, "/api/auth/token/second-factor", bodies)
    assert sorted(r.status for r in replies) == [200] + [401] * (RACERS - 1), [
        r.body for r in replies
    ]
    winner = next(r for r in replies if r.status == 200)
    me = server.call("GET", "/api/auth/me", headers=bearer(winner.body["access_token"]))
    assert me.status == 200
    # One token, several recovery codes racing: one session, the others 400.
    token = second_step_token(server)
    bodies = [{"token": token, "recovery_code": code} for code in codes[:RACERS]]
    replies = race(server, "/api/auth/token/second-factor", bodies)
    statuses = sorted(r.status for r in replies)
    assert statuses.count(200) == 1, [r.body for r in replies]
    assert set(statuses) - {200} <= {400}
    # A browser login finishes with a recovery code and gets the cookie.
    token = second_step_token(server, "login")
    reply = server.call(
        "POST", "/api/auth/login/second-factor", {"token": token, "recovery_code": codes[-1]}
    )
    assert reply.status == 200
    assert reply.cookie()
    again = server.call(
        "POST", "/api/auth/login/second-factor", {"token": token, "recovery_code": codes[-2]}
    )
    assert (again.status, again.body) == (400, {"detail": "Invalid or expired second-step token"})


def test_wrong_codes_kill_the_token_and_fill_the_accounts_bucket(
    production_gunicorn: Any,
) -> None:
    server: Gunicorn = production_gunicorn(
        "second-factor-throttle", RATELIMIT_SECOND_FACTOR_PER_ACCOUNT="6 per hour"
    )
    secret, codes, _ = enrol(server)
    wrong = pyotp.TOTP(secret).at(time.time() + 3600)
    token = second_step_token(server)
    for _ in range(5):
        reply = server.call(
            "POST", "/api/auth/token/second-factor", {"token": token, "code": wrong}
        )
        assert (reply.status, reply.body) == (401, {"detail": "Invalid code"})
    dead = server.call(
        "POST", "/api/auth/token/second-factor", {"token": token, "recovery_code": codes[0]}
    )
    assert dead.status == 400  # five wrong: the token is gone
    fresh = second_step_token(server)
    sixth = server.call("POST", "/api/auth/token/second-factor", {"token": fresh, "code": wrong})
    assert sixth.status == 401
    throttled = server.call(
        "POST", "/api/auth/token/second-factor", {"token": fresh, "recovery_code": codes[0]}
    )
    assert throttled.status == 429
    assert int(throttled.headers["Retry-After"]) > 0


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection")
def test_migration_0004_up_and_down_on_postgresql(postgres_database: Any, redis: Any) -> None:
    url = postgres_database("second-factor-migration")
    app = create_app(make_config(REDIS_CLIENT=redis, SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        upgrade(revision="0004")
        with db.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO users (id, username, email, username_key, email_key, "
                    "password_hash, created_at, updated_at) VALUES (1, 'ann', "
                    "'ann@example.com', 'ann', 'ann@example.com', 'x', now(), now())"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO totp_authenticators (user_id, secret_sealed, key_id, "
                    "last_used_step, created_at) VALUES (1, 'sealed', '1', 0, now())"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO recovery_codes (user_id, code_hash, created_at) "
                    "VALUES (1, 'h1', now()), (1, 'h2', now())"
                )
            )
            with pytest.raises(sa.exc.IntegrityError), connection.begin_nested():
                connection.execute(  # one authenticator per account
                    sa.text(
                        "INSERT INTO totp_authenticators (user_id, secret_sealed, key_id, "
                        "last_used_step, created_at) VALUES (1, 's', '1', 0, now())"
                    )
                )
            # The database itself cascades: an account deleted by hand takes its factors.
            connection.execute(sa.text("DELETE FROM users WHERE id = 1"))
            left = connection.execute(
                sa.text(
                    "SELECT (SELECT count(*) FROM totp_authenticators) + "
                    "(SELECT count(*) FROM recovery_codes)"
                )
            ).scalar()
        assert left == 0
        downgrade(revision="0003_email_verified")
        tables = set(sa.inspect(db.engine).get_table_names())
        assert "totp_authenticators" not in tables
        assert "recovery_codes" not in tables
        assert "users" in tables
        upgrade()
        assert {"totp_authenticators", "recovery_codes"} <= set(
            sa.inspect(db.engine).get_table_names()
        )
        db.engine.dispose()
