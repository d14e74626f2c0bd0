"""Passkeys on production gunicorn (2 workers), real Redis and PostgreSQL, with
the software authenticator of tests/softauthn.py; the migration on PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import redis as redis_py
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from app import create_app
from app.extensions import db
from tests.conftest import make_config
from tests.real.services import Gunicorn, Reply, cookie_header
from tests.softauthn import SoftAuthenticator

USER = {"username": "ann", "email": "ann@example.com", "password": "pa55word!"}
CREDENTIALS = {"email": USER["email"], "password": USER["password"]}
API = "/api/auth"


def enrol(
    server: Gunicorn, authenticator: SoftAuthenticator, registered: bool = False
) -> dict[str, str]:
    """Ann registers, signs in, and adds a passkey: her session's cookie header."""
    if not registered:
        assert server.call("POST", f"{API}/register", USER).status == 201
    session = cookie_header(server.call("POST", f"{API}/login", CREDENTIALS).cookie() or "")
    options = server.call(
        "POST", f"{API}/passkeys/register/options", {"password": USER["password"]}, headers=session
    )
    assert options.status == 200, options.body
    body = {"credential": authenticator.create(options.body), "name": "Laptop"}
    created = server.call("POST", f"{API}/passkeys/register", body, headers=session)
    assert created.status == 201, created.body
    return session


def sign_in_body(server: Gunicorn, authenticator: SoftAuthenticator) -> dict[str, Any]:
    options = server.call("POST", f"{API}/passkeys/authenticate/options", {})
    assert options.status == 200, options.body
    return {
        "challenge_id": options.body["challenge_id"],
        "credential": authenticator.get(options.body),
    }


def webauthn_keys(redis: redis_py.Redis, prefix: str) -> list[bytes]:
    return list(redis.scan_iter(match=f"{prefix}webauthn:*"))


def test_enrol_and_sign_in_without_a_password_across_workers(
    production_gunicorn: Any, redis: redis_py.Redis, key_prefix: str
) -> None:
    server: Gunicorn = production_gunicorn("passkeys")
    authenticator = SoftAuthenticator()
    assert server.call("POST", f"{API}/register", USER).status == 201
    other = server.call("POST", f"{API}/token", CREDENTIALS).body["access_token"]
    session = enrol(server, authenticator, registered=True)
    # Enrolling ended every other session, on every worker.
    ended = server.call_until_every_worker_answered(
        "GET", f"{API}/me", {"Authorization": f"Bearer {other}"}
    )
    assert {reply.status for reply in ended} == {401}
    [listed] = server.call("GET", f"{API}/passkeys", headers=session).body
    assert listed["name"] == "Laptop"

    login = server.call("POST", f"{API}/passkeys/login", sign_in_body(server, authenticator))
    assert login.status == 200, login.body
    assert login.body["username"] == "ann"
    cookie = login.cookie()
    assert cookie is not None
    assert server.call("GET", f"{API}/me", headers=cookie_header(cookie)).status == 200

    token = server.call("POST", f"{API}/passkeys/token", sign_in_body(server, authenticator))
    assert token.status == 200, token.body
    bearer = {"Authorization": f"Bearer {token.body['access_token']}"}
    assert server.call("GET", f"{API}/me", headers=bearer).body["username"] == "ann"

    # Every challenge was taken by the request that answered it.
    assert webauthn_keys(redis, key_prefix) == []
    events = [event["type"] for event in server.call("GET", f"{API}/events", headers=bearer).body]
    assert events[:3] == ["login", "login", "passkey_added"]

    # Renamed, then removed: it signs in no more.
    passkey_id = listed["id"]
    renamed = server.call(
        "PATCH", f"{API}/passkeys/{passkey_id}", {"name": "Old laptop"}, headers=bearer
    )
    assert renamed.body["name"] == "Old laptop"
    removed = server.call(
        "POST",
        f"{API}/passkeys/{passkey_id}/delete",
        {"password": USER["password"]},
        headers=bearer,
    )
    assert removed.status == 200
    refused = server.call("POST", f"{API}/passkeys/login", sign_in_body(server, authenticator))
    assert refused.status == 401
    assert refused.body == {"detail": "Invalid passkey"}


def test_one_assertion_sent_by_many_at_once_signs_in_once(production_gunicorn: Any) -> None:
    server: Gunicorn = production_gunicorn("passkey-race")
    authenticator = SoftAuthenticator()
    enrol(server, authenticator)
    body = sign_in_body(server, authenticator)
    racers = 8
    start = threading.Barrier(racers)
    replies: list[Reply] = []
    lock = threading.Lock()

    def send() -> None:
        start.wait()
        reply = server.call("POST", f"{API}/passkeys/login", body, timeout=30)
        with lock:
            replies.append(reply)

    threads = [threading.Thread(target=send) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(reply.status for reply in replies) == [200] + [401] * (racers - 1)


def test_a_cloned_authenticator_is_refused_on_postgresql(production_gunicorn: Any) -> None:
    server: Gunicorn = production_gunicorn("passkey-clone")
    authenticator = SoftAuthenticator()
    enrol(server, authenticator)
    clone = authenticator.clone()
    for _ in range(2):
        reply = server.call("POST", f"{API}/passkeys/login", sign_in_body(server, authenticator))
        assert reply.status == 200
    reply = server.call("POST", f"{API}/passkeys/login", sign_in_body(server, clone))
    assert reply.status == 401


def test_the_passkeys_migration_up_and_down_on_postgresql(
    postgres_database: Any, redis: redis_py.Redis
) -> None:
    url = postgres_database("passkeys-migration")
    app = create_app(make_config(REDIS_CLIENT=redis, SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        upgrade()
        with db.engine.begin() as connection:
            user_id = connection.execute(
                sa.text(
                    "INSERT INTO users (username, email, username_key, email_key, password_hash, "
                    "created_at, updated_at) VALUES ('ann', 'ann@example.com', 'ann', "
                    "'ann@example.com', 'x', now(), now()) RETURNING id"
                )
            ).scalar_one()
            connection.execute(
                sa.text(
                    "INSERT INTO passkeys (user_id, credential_id, public_key, sign_count, aaguid, "
                    "user_handle, name, created_at) VALUES (:user, :cid, 'k', 4294967295, "
                    "'00000000-0000-0000-0000-000000000000', 'h', 'Laptop', now())"
                ),
                {"user": user_id, "cid": b"\x00\xff"},
            )
            # The largest counter an authenticator can send fits.
            assert connection.execute(sa.text("SELECT sign_count FROM passkeys")).scalar_one() == (
                2**32 - 1
            )
            duplicate = sa.text(
                "INSERT INTO passkeys (user_id, credential_id, public_key, sign_count, aaguid, "
                "user_handle, name, created_at) VALUES (:user, :cid, 'k', 0, 'a', 'h', 'x', now())"
            )
        with db.engine.connect() as connection:
            try:
                connection.execute(duplicate, {"user": user_id, "cid": b"\x00\xff"})
                raise AssertionError("a credential id registered twice")
            except sa.exc.IntegrityError:
                connection.rollback()
        with db.engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM users"))
            # ON DELETE CASCADE: the account's passkeys went with it.
            assert connection.execute(sa.text("SELECT count(*) FROM passkeys")).scalar_one() == 0
        downgrade(revision="0003_email_verified")
        assert "passkeys" not in sa.inspect(db.engine).get_table_names()
        upgrade()
        assert "passkeys" in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()
