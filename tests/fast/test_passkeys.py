"""Passkeys (WebAuthn): registration, management, passwordless sign-in and
the second factor, with real payloads from a software authenticator
(tests/softauthn.py) checked by the service's real verifier."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient

from app.auth import passkeys
from app.exceptions import InvalidSecondFactor
from app.extensions import db
from app.models import Passkey, RecoveryCode
from tests.conftest import API, PASSWORD, AuthActions, SessionKeys
from tests.fast.test_lifecycle import Mailbox, mailbox  # noqa: F401  (a fixture)
from tests.softauthn import SoftAuthenticator, b64url, unb64url

INVALID = {"detail": "Invalid passkey"}
BAD_REGISTRATION = {"detail": "Invalid or expired passkey registration"}


def post(client: FlaskClient, path: str, body: Any = None, **kwargs: Any) -> Any:
    return client.post(f"{API}/{path}", json=body, **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator()


@pytest.fixture
def signed_in(auth: AuthActions, user: Any) -> AuthActions:
    assert auth.login().status_code == 200
    return auth


def register_passkey(
    client: FlaskClient, authenticator: SoftAuthenticator, name: str = "Laptop", **kwargs: Any
) -> Any:
    options = post(client, "passkeys/register/options", {"password": PASSWORD})
    assert options.status_code == 200, options.json
    credential = authenticator.create(options.json, **kwargs)
    return post(client, "passkeys/register", {"credential": credential, "name": name})


def sign_in_options(client: FlaskClient) -> dict[str, Any]:
    response = post(client, "passkeys/authenticate/options", {})
    assert response.status_code == 200, response.json
    return response.json  # type: ignore[no-any-return]


def passkey_login(
    client: FlaskClient, authenticator: SoftAuthenticator, path: str = "passkeys/login", **kw: Any
) -> Any:
    options = sign_in_options(client)
    credential = authenticator.get(options, **kw)
    return post(client, path, {"challenge_id": options["challenge_id"], "credential": credential})


def rows() -> list[Passkey]:
    return list(db.session.scalars(sa.select(Passkey).order_by(Passkey.id)))


def events(client: FlaskClient) -> list[str]:
    return [event["type"] for event in client.get(f"{API}/events").json]


class TestRegistration:
    def test_options_follow_the_design(
        self, signed_in: AuthActions, authenticator: SoftAuthenticator
    ) -> None:
        response = post(signed_in.client, "passkeys/register/options", {"password": PASSWORD})
        assert response.status_code == 200
        options = response.json
        assert options["rp"] == {"name": "Auth service", "id": "localhost"}
        assert options["user"]["name"] == "johndoe"
        assert len(unb64url(options["user"]["id"])) == 32  # a handle, not the id
        assert options["authenticatorSelection"] == {
            "residentKey": "required",
            "requireResidentKey": True,
            "userVerification": "preferred",
        }
        assert options["attestation"] == "none"
        assert options["excludeCredentials"] == []
        assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]
        assert options["timeout"] == 300_000
        assert response.headers["Cache-Control"] == "no-store"

    def test_a_passkey_is_registered_listed_and_announced(
        self,
        signed_in: AuthActions,
        authenticator: SoftAuthenticator,
        keys: SessionKeys,
        mailbox: Mailbox,  # noqa: F811
    ) -> None:
        other = signed_in.token()  # another session of the account
        mailbox()  # the registration mail
        response = register_passkey(signed_in.client, authenticator)
        assert response.status_code == 201
        body = response.json
        # The account's first second factor: its recovery codes come with it, once.
        codes = body.pop("recovery_codes")
        assert len(set(codes)) == 10
        assert db.session.query(RecoveryCode).count() == 10  # stored as hashes only
        assert not any(code in row.code_hash for row in db.session.query(RecoveryCode)
                       for code in codes)  # fmt: skip
        assert set(body) == {"id", "name", "created_at", "last_used_at"}
        assert body["name"] == "Laptop"
        assert body["last_used_at"] is None
        assert signed_in.client.get(f"{API}/passkeys").json == [body]
        # Every other session ended; this one lives on.
        assert not keys.exists(other)
        assert signed_in.client.get(f"{API}/me").status_code == 200
        assert events(signed_in.client)[0] == "passkey_added"
        [*_, notice] = mailbox()
        assert "a passkey was added" in notice.subject
        assert "Laptop" in notice.text
        [row] = rows()
        assert row.credential_id == next(iter(authenticator.credentials))
        assert row.sign_count == 0
        assert row.aaguid == "00112233-4455-6677-8899-aabbccddeeff"
        assert row.transports == "internal"
        assert row.user_handle == passkeys.user_handle(row.user_id)

    def test_has_passkey_says_whether_the_account_has_a_second_factor(
        self, signed_in: AuthActions, authenticator: SoftAuthenticator, user: Any
    ) -> None:
        assert passkeys.has_passkey(user["id"]) is False
        assert passkeys.passkey_count(user["id"]) == 0
        register_passkey(signed_in.client, authenticator)
        assert passkeys.has_passkey(user["id"]) is True
        assert passkeys.passkey_count(user["id"]) == 1

    def test_a_second_passkey_excludes_the_first(
        self, signed_in: AuthActions, authenticator: SoftAuthenticator
    ) -> None:
        first = register_passkey(signed_in.client, authenticator).json
        assert len(first.pop("recovery_codes")) == 10  # the first second factor brings them
        options = post(signed_in.client, "passkeys/register/options", {"password": PASSWORD}).json
        [excluded] = options["excludeCredentials"]
        assert excluded["id"] == b64url(next(iter(authenticator.credentials)))
        assert excluded["transports"] == ["internal"]
        second = post(
            signed_in.client,
            "passkeys/register",
            {"credential": SoftAuthenticator().create(options), "name": "Phone"},
        )
        assert second.status_code == 201
        assert "recovery_codes" not in second.json  # not the first: the codes stay as they are
        listed = signed_in.client.get(f"{API}/passkeys").json
        assert [item["name"] for item in listed] == ["Laptop", "Phone"]
        assert listed[0] == first

    def test_the_wrong_password_gets_no_options_and_counts_as_a_failed_login(
        self, signed_in: AuthActions
    ) -> None:
        response = post(signed_in.client, "passkeys/register/options", {"password": "wrong"})
        assert response.status_code == 400
        assert response.json == {"detail": "Password is incorrect"}
        assert events(signed_in.client)[0] == "login_failed"

    def test_a_replayed_registration_is_refused(
        self, signed_in: AuthActions, authenticator: SoftAuthenticator
    ) -> None:
        options = post(signed_in.client, "passkeys/register/options", {"password": PASSWORD}).json
        body = {"credential": authenticator.create(options), "name": "Laptop"}
        assert post(signed_in.client, "passkeys/register", body).status_code == 201
        again = post(signed_in.client, "passkeys/register", body)
        assert again.status_code == 400
        assert again.json == BAD_REGISTRATION
        assert len(rows()) == 1

    def test_only_the_session_that_asked_can_finish(
        self, signed_in: AuthActions, authenticator: SoftAuthenticator
    ) -> None:
        options = post(signed_in.client, "passkeys/register/options", {"password": PASSWORD}).json
        other = signed_in.token()
        body = {"credential": authenticator.create(options), "name": "Laptop"}
        response = post(signed_in.client, "passkeys/register", body, headers=bearer(other))
        assert response.status_code == 400
        assert response.json == BAD_REGISTRATION
        assert rows() == []

    @pytest.mark.parametrize(
        "wrong",
        [
            {"origin": "https://evil.example.com"},
            {"origin": "http://localhost:8080"},
            {"rp_id": "evil.example.com"},
            {"challenge": b64url(b"x" * 64)},
        ],
        ids=["foreign-origin", "other-port", "other-rp-id", "other-challenge"],
    )
    def test_a_credential_made_for_something_else_is_refused(
        self, signed_in: AuthActions, authenticator: SoftAuthenticator, wrong: dict[str, str]
    ) -> None:
        response = register_passkey(signed_in.client, authenticator, **wrong)
        assert response.status_code == 400
        assert response.json == BAD_REGISTRATION
        assert rows() == []
        assert "passkey_added" not in events(signed_in.client)

    def test_without_options_first_nothing_registers(
        self, signed_in: AuthActions, authenticator: SoftAuthenticator
    ) -> None:
        options = {"rp": {"id": "localhost"}, "user": {"id": b64url(b"u" * 32)}}
        credential = authenticator.create({**options, "challenge": b64url(b"c" * 32)})
        response = post(
            signed_in.client, "passkeys/register", {"credential": credential, "name": "x"}
        )
        assert response.status_code == 400
        assert rows() == []

    def test_garbage_that_has_the_right_shape_is_a_400(self, signed_in: AuthActions) -> None:
        post(signed_in.client, "passkeys/register/options", {"password": PASSWORD})
        junk = b64url(b"\xa1\x00junk")
        credential = {
            "id": "AAAA",
            "rawId": "AAAA",
            "type": "public-key",
            "response": {"clientDataJSON": junk, "attestationObject": junk},
        }
        response = post(
            signed_in.client, "passkeys/register", {"credential": credential, "name": "x"}
        )
        assert response.status_code == 400
        assert response.json == BAD_REGISTRATION

    def test_one_credential_cannot_be_registered_twice(
        self, app: Flask, signed_in: AuthActions, authenticator: SoftAuthenticator
    ) -> None:
        assert register_passkey(signed_in.client, authenticator).status_code == 201
        options = post(signed_in.client, "passkeys/register/options", {"password": PASSWORD}).json
        credential = authenticator.create(options)
        # The same credential id again (as a broken or hostile authenticator might send).
        [first, second] = list(authenticator.credentials)
        row = rows()[0]
        row.credential_id = second
        db.session.commit()
        response = post(
            signed_in.client, "passkeys/register", {"credential": credential, "name": "x"}
        )
        assert response.status_code == 400
        assert len(rows()) == 1
        assert first != second

    def test_an_account_holds_at_most_max_passkeys(
        self,
        signed_in: AuthActions,
        authenticator: SoftAuthenticator,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        assert register_passkey(signed_in.client, authenticator).status_code == 201
        options = post(signed_in.client, "passkeys/register/options", {"password": PASSWORD}).json
        # The limit is reached between the options and the answer (another
        # session's registration, in real life): the answer is refused too.
        monkeypatch.setattr(passkeys, "MAX_PASSKEYS", 1)
        late = post(
            signed_in.client,
            "passkeys/register",
            {"credential": SoftAuthenticator().create(options), "name": "x"},
        )
        assert late.status_code == 409
        assert late.json == {"detail": "Too many passkeys: remove one first"}
        refused = post(signed_in.client, "passkeys/register/options", {"password": PASSWORD})
        assert refused.status_code == 409
        assert len(rows()) == 1

    def test_every_passkey_endpoint_but_sign_in_needs_a_session(self, client: FlaskClient) -> None:
        for method, path, body in [
            ("get", "passkeys", None),
            ("post", "passkeys/register/options", {"password": PASSWORD}),
            ("post", "passkeys/register", {"credential": {}, "name": "x"}),
            ("patch", "passkeys/1", {"name": "x"}),
            ("post", "passkeys/1/delete", {"password": PASSWORD}),
        ]:
            response = getattr(client, method)(f"{API}/{path}", json=body)
            assert response.status_code in {401, 422}, path
            if response.status_code == 401:
                assert response.headers["WWW-Authenticate"] == "Bearer"


class TestManagement:
    def test_rename(self, signed_in: AuthActions, authenticator: SoftAuthenticator) -> None:
        created = register_passkey(signed_in.client, authenticator).json
        created.pop("recovery_codes")
        response = signed_in.client.patch(
            f"{API}/passkeys/{created['id']}", json={"name": "Work laptop"}
        )
        assert response.status_code == 200
        assert response.json == {**created, "name": "Work laptop"}
        assert rows()[0].name == "Work laptop"

    def test_another_accounts_passkey_is_not_found(
        self, signed_in: AuthActions, authenticator: SoftAuthenticator, client: FlaskClient
    ) -> None:
        created = register_passkey(signed_in.client, authenticator).json
        signed_in.register("mallory", "mallory@example.com")
        mallory = signed_in.token("mallory@example.com")
        for response in [
            client.patch(
                f"{API}/passkeys/{created['id']}", json={"name": "mine"}, headers=bearer(mallory)
            ),
            post(
                client,
                f"passkeys/{created['id']}/delete",
                {"password": PASSWORD},
                headers=bearer(mallory),
            ),
        ]:
            assert response.status_code == 404
            assert response.json == {"detail": "Passkey not found"}
        assert rows()[0].name == "Laptop"

    @pytest.mark.parametrize("passkey_id", ["999", "0", "2147483648", "99999999999999999999", "x"])
    def test_unknown_ids_are_404(self, signed_in: AuthActions, passkey_id: str) -> None:
        response = signed_in.client.patch(f"{API}/passkeys/{passkey_id}", json={"name": "x"})
        assert response.status_code == 404
        assert response.mimetype == "application/json"

    def test_remove(
        self,
        signed_in: AuthActions,
        authenticator: SoftAuthenticator,
        keys: SessionKeys,
        mailbox: Mailbox,  # noqa: F811
    ) -> None:
        created = register_passkey(signed_in.client, authenticator).json
        # Another session, made now: with a passkey the password alone makes none.
        other_login = passkey_login(signed_in.client.application.test_client(), authenticator,
                                    path="passkeys/token")  # fmt: skip
        other = other_login.json["access_token"]
        wrong = post(signed_in.client, f"passkeys/{created['id']}/delete", {"password": "nope"})
        assert wrong.status_code == 400
        assert len(rows()) == 1
        response = post(
            signed_in.client, f"passkeys/{created['id']}/delete", {"password": PASSWORD}
        )
        assert response.status_code == 200
        assert response.json == {"message": "Passkey removed"}
        assert rows() == []
        assert not keys.exists(other)
        assert events(signed_in.client)[0] == "passkey_removed"
        assert "a passkey was removed" in mailbox()[-1].subject
        # It signs in no more.
        assert passkey_login(signed_in.client, authenticator).json == INVALID

    def test_deleting_the_account_deletes_its_passkeys(
        self, signed_in: AuthActions, authenticator: SoftAuthenticator
    ) -> None:
        register_passkey(signed_in.client, authenticator)
        assert post(signed_in.client, "account/delete", {"password": PASSWORD}).status_code == 200
        assert rows() == []
        # A new account that gets the same id (SQLite reuses it) inherits nothing.
        signed_in.register()
        assert passkey_login(signed_in.client, authenticator).status_code == 401


class TestPasswordlessSignIn:
    @pytest.fixture
    def enrolled(
        self, signed_in: AuthActions, authenticator: SoftAuthenticator, client: FlaskClient
    ) -> SoftAuthenticator:
        assert register_passkey(signed_in.client, authenticator).status_code == 201
        post(client, "logout")
        client.delete_cookie("session")
        return authenticator

    def test_options_name_no_account(self, client: FlaskClient) -> None:
        options = sign_in_options(client)
        assert set(options) == {
            "challenge_id",
            "challenge",
            "timeout",
            "rpId",
            "allowCredentials",
            "userVerification",
        }
        assert options["allowCredentials"] == []
        assert options["userVerification"] == "required"
        assert options["rpId"] == "localhost"
        # No body at all is the same request.
        assert client.post(f"{API}/passkeys/authenticate/options").status_code == 200

    def test_sign_in_starts_a_cookie_session(
        self, client: FlaskClient, enrolled: SoftAuthenticator, user: Any
    ) -> None:
        response = passkey_login(client, enrolled)
        assert response.status_code == 200
        assert response.json == user
        assert "HttpOnly" in response.headers["Set-Cookie"]
        assert client.get(f"{API}/me").json == user
        assert events(client)[0] == "login"
        [row] = rows()
        assert row.sign_count == 1
        assert row.last_used_at is not None
        listed = client.get(f"{API}/passkeys").json
        assert listed[0]["last_used_at"] is not None

    def test_token_gives_a_bearer_token(
        self, client: FlaskClient, enrolled: SoftAuthenticator, user: Any
    ) -> None:
        response = passkey_login(client, enrolled, path="passkeys/token")
        assert response.status_code == 200
        body = response.json
        assert set(body) == {"access_token", "token_type", "user_id", "expires_in"}
        assert body["token_type"] == "Bearer"
        assert body["user_id"] == str(user["id"])
        assert "Set-Cookie" not in response.headers
        me = client.get(f"{API}/me", headers=bearer(body["access_token"]))
        assert me.json == user

    def test_a_replayed_assertion_is_refused(
        self, client: FlaskClient, enrolled: SoftAuthenticator
    ) -> None:
        options = sign_in_options(client)
        body = {"challenge_id": options["challenge_id"], "credential": enrolled.get(options)}
        assert post(client, "passkeys/login", body).status_code == 200
        again = post(client, "passkeys/login", body)
        assert again.status_code == 401
        assert again.json == INVALID

    def test_a_challenge_is_spent_by_a_failure_too(
        self, client: FlaskClient, enrolled: SoftAuthenticator
    ) -> None:
        options = sign_in_options(client)
        bad = {
            "challenge_id": options["challenge_id"],
            "credential": enrolled.get(options, origin="https://evil.example.com"),
        }
        assert post(client, "passkeys/login", bad).status_code == 401
        good = {"challenge_id": options["challenge_id"], "credential": enrolled.get(options)}
        assert post(client, "passkeys/login", good).json == INVALID

    def test_an_assertion_for_another_challenge_is_refused(
        self, client: FlaskClient, enrolled: SoftAuthenticator
    ) -> None:
        first, second = sign_in_options(client), sign_in_options(client)
        body = {"challenge_id": second["challenge_id"], "credential": enrolled.get(first)}
        assert post(client, "passkeys/login", body).json == INVALID

    def test_an_unknown_challenge_id_is_refused(
        self, client: FlaskClient, enrolled: SoftAuthenticator
    ) -> None:
        options = sign_in_options(client)
        body = {"challenge_id": "x" * 43, "credential": enrolled.get(options)}
        assert post(client, "passkeys/login", body).json == INVALID

    @pytest.mark.parametrize(
        "wrong",
        [
            {"origin": "https://evil.example.com"},
            {"rp_id": "evil.example.com"},
            {"user_verified": False},
            {"with_user_handle": False},
            {"signing_key": "another"},
        ],
        ids=["foreign-origin", "other-rp-id", "no-user-verification", "no-user-handle", "bad-sig"],
    )
    def test_a_wrong_assertion_is_refused(
        self, client: FlaskClient, enrolled: SoftAuthenticator, wrong: dict[str, Any]
    ) -> None:
        if wrong.get("signing_key") == "another":
            wrong = {"signing_key": ec.generate_private_key(ec.SECP256R1())}
        response = passkey_login(client, enrolled, **wrong)
        assert response.status_code == 401
        assert response.json == INVALID
        assert "Set-Cookie" not in response.headers
        assert rows()[0].sign_count == 0

    def test_an_unknown_credential_is_refused(self, client: FlaskClient, user: Any) -> None:
        stranger = SoftAuthenticator()
        stranger.create(
            {"rp": {"id": "localhost"}, "user": {"id": b64url(b"u" * 32)}, "challenge": "AA"}
        )
        assert passkey_login(client, stranger).json == INVALID

    def test_a_user_handle_of_another_account_is_refused(
        self, client: FlaskClient, enrolled: SoftAuthenticator
    ) -> None:
        [credential] = enrolled.credentials.values()
        credential.user_handle = b"someone else's handle"
        assert passkey_login(client, enrolled).json == INVALID

    def test_a_cloned_authenticator_is_refused(
        self, client: FlaskClient, enrolled: SoftAuthenticator
    ) -> None:
        clone = enrolled.clone()
        assert passkey_login(client, enrolled).status_code == 200  # counter 1
        assert passkey_login(client, enrolled).status_code == 200  # counter 2
        # The clone still counts from 0: its 1 is a step backwards.
        response = passkey_login(client, clone)
        assert response.status_code == 401
        assert response.json == INVALID
        assert rows()[0].sign_count == 2
        # The same counter value again is refused too.
        assert passkey_login(client, enrolled, sign_count=2).json == INVALID

    def test_authenticators_without_a_counter_keep_working(
        self, client: FlaskClient, enrolled: SoftAuthenticator
    ) -> None:
        for _ in range(2):
            assert passkey_login(client, enrolled, sign_count=0).status_code == 200
        assert rows()[0].sign_count == 0

    def test_the_counter_moves_only_from_the_value_it_was_read_at(
        self, client: FlaskClient, enrolled: SoftAuthenticator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Two hosts verifying one counter value: the conditional UPDATE lets one through."""
        options = sign_in_options(client)
        body = {"challenge_id": options["challenge_id"], "credential": enrolled.get(options)}
        real_verify = passkeys.verify_authentication_response

        def raced(**kwargs: Any) -> Any:
            verified = real_verify(**kwargs)
            # Another host accepted counter 1 meanwhile.
            db.session.execute(sa.update(Passkey).values(sign_count=1))
            return verified

        monkeypatch.setattr(passkeys, "verify_authentication_response", raced)
        assert post(client, "passkeys/login", body).json == INVALID


class TestSecondFactor:
    """``verify_second_factor``, as the second step of a login calls it."""

    @pytest.fixture
    def second_step(
        self, app: Flask, monkeypatch: pytest.MonkeyPatch, signed_in: AuthActions, user: Any
    ) -> dict[str, int]:
        # Called outside this test's requests: the configured party, as in production.
        app.config["WEBAUTHN_RP_ID"] = "localhost"
        app.config["WEBAUTHN_ORIGINS"] = ["http://localhost"]
        tokens = {"live-token": user["id"]}
        monkeypatch.setattr(passkeys, "_second_step_user", tokens.get)
        return tokens

    def options(self, client: FlaskClient) -> dict[str, Any]:
        response = post(client, "passkeys/authenticate/options", {"token": "live-token"})
        assert response.status_code == 200, response.json
        return response.json  # type: ignore[no-any-return]

    def test_options_list_the_accounts_passkeys(
        self,
        signed_in: AuthActions,
        authenticator: SoftAuthenticator,
        second_step: dict[str, int],
    ) -> None:
        register_passkey(signed_in.client, authenticator)
        options = self.options(signed_in.client)
        assert "challenge_id" not in options
        assert options["userVerification"] == "preferred"
        [allowed] = options["allowCredentials"]
        assert allowed["id"] == b64url(next(iter(authenticator.credentials)))

    def test_an_unknown_token_is_a_400(self, client: FlaskClient) -> None:
        response = post(client, "passkeys/authenticate/options", {"token": "nope"})
        assert response.status_code == 400
        assert response.json == {"detail": "Invalid or expired second-step token"}

    def test_success_once(
        self,
        app: Flask,
        signed_in: AuthActions,
        authenticator: SoftAuthenticator,
        second_step: dict[str, int],
        user: Any,
    ) -> None:
        register_passkey(signed_in.client, authenticator)
        # Presence is enough after a password: no user verification needed.
        assertion = authenticator.get(self.options(signed_in.client), user_verified=False)
        passkeys.verify_second_factor(user["id"], assertion)
        assert rows()[0].sign_count == 1
        with pytest.raises(InvalidSecondFactor):  # the challenge is spent
            passkeys.verify_second_factor(user["id"], assertion)

    def test_another_accounts_passkey_is_refused(
        self,
        signed_in: AuthActions,
        authenticator: SoftAuthenticator,
        second_step: dict[str, int],
        client: FlaskClient,
        user: Any,
    ) -> None:
        # Mallory has a passkey of her own, and Ann's password.
        signed_in.register("mallory", "mallory@example.com")
        mallory = signed_in.token("mallory@example.com")
        client.delete_cookie("session")
        options = post(
            client, "passkeys/register/options", {"password": PASSWORD}, headers=bearer(mallory)
        ).json
        body = {"credential": authenticator.create(options), "name": "Mallory's"}
        assert post(client, "passkeys/register", body, headers=bearer(mallory)).status_code == 201
        assertion = authenticator.get(self.options(client))
        with pytest.raises(InvalidSecondFactor):
            passkeys.verify_second_factor(user["id"], assertion)

    def test_a_challenge_of_another_account_is_refused(
        self,
        signed_in: AuthActions,
        authenticator: SoftAuthenticator,
        second_step: dict[str, int],
        user: Any,
    ) -> None:
        register_passkey(signed_in.client, authenticator)
        assertion = authenticator.get(self.options(signed_in.client))
        with pytest.raises(InvalidSecondFactor):
            passkeys.verify_second_factor(user["id"] + 1, assertion)

    def test_a_passwordless_challenge_does_not_serve(
        self,
        signed_in: AuthActions,
        authenticator: SoftAuthenticator,
        second_step: dict[str, int],
        user: Any,
    ) -> None:
        register_passkey(signed_in.client, authenticator)
        assertion = authenticator.get(sign_in_options(signed_in.client))
        with pytest.raises(InvalidSecondFactor):
            passkeys.verify_second_factor(user["id"], assertion)

    @pytest.mark.parametrize(
        "credential",
        [
            {},
            {"response": "x"},
            {"response": {"clientDataJSON": "!!"}},
            {"response": {"clientDataJSON": b64url(b"not json")}},
            {"response": {"clientDataJSON": b64url(json.dumps({"challenge": 5}).encode())}},
            {"response": {"clientDataJSON": b64url(json.dumps([1]).encode())}},
            {"response": {"clientDataJSON": b64url(b"[" * 30000 + b"]" * 30000)}},
            {"response": {"clientDataJSON": b64url(b"\xff\xfe")}},
            {"response": {"clientDataJSON": 5}},
        ],
    )
    def test_malformed_assertions_are_refused(
        self, second_step: dict[str, int], user: Any, credential: dict[str, Any]
    ) -> None:
        with pytest.raises(InvalidSecondFactor):
            passkeys.verify_second_factor(user["id"], credential)

    def test_a_malformed_assertion_with_a_live_challenge_is_refused(
        self,
        signed_in: AuthActions,
        authenticator: SoftAuthenticator,
        second_step: dict[str, int],
        user: Any,
    ) -> None:
        register_passkey(signed_in.client, authenticator)
        assertion = authenticator.get(self.options(signed_in.client))
        assertion["rawId"] = "!!"
        with pytest.raises(InvalidSecondFactor):
            passkeys.verify_second_factor(user["id"], assertion)


class TestPasswordThenPasskey:
    """The whole second step over the API: a right password, then a passkey."""

    @pytest.fixture
    def enrolled(
        self, app: Flask, signed_in: AuthActions, authenticator: SoftAuthenticator
    ) -> AuthActions:
        app.config["WEBAUTHN_RP_ID"] = "localhost"
        app.config["WEBAUTHN_ORIGINS"] = ["http://localhost"]
        assert register_passkey(signed_in.client, authenticator).status_code == 201
        return signed_in

    @pytest.mark.parametrize(("flow", "finish"), [("login", "login"), ("token", "token")])
    def test_a_passkey_finishes_a_password_login_once(
        self,
        app: Flask,
        enrolled: AuthActions,
        authenticator: SoftAuthenticator,
        user: Any,
        flow: str,
        finish: str,
    ) -> None:
        client = app.test_client()
        step = post(client, flow, {"email": user["email"], "password": PASSWORD})
        assert step.status_code == 401
        second = step.json["second_factor"]
        assert second["methods"] == ["recovery_code", "passkey"]
        assert "Set-Cookie" not in step.headers
        options = post(client, "passkeys/authenticate/options", {"token": second["token"]})
        assert options.status_code == 200
        assertion = authenticator.get(options.json, user_verified=False)
        body = {"token": second["token"], "passkey": assertion}
        done = post(client, f"{finish}/second-factor", body)
        assert done.status_code == 200, done.json
        if finish == "login":
            assert done.json["email"] == user["email"]
            assert client.get(f"{API}/me").status_code == 200
        else:
            assert (
                client.get(f"{API}/me", headers=bearer(done.json["access_token"])).json["email"]
                == user["email"]
            )
        assert post(app.test_client(), f"{finish}/second-factor", body).status_code == 400

    def test_a_wrong_passkey_costs_an_attempt_and_no_session(
        self, app: Flask, enrolled: AuthActions, user: Any
    ) -> None:
        client = app.test_client()
        step = post(client, "login", {"email": user["email"], "password": PASSWORD})
        token = step.json["second_factor"]["token"]
        options = post(client, "passkeys/authenticate/options", {"token": token}).json
        stranger = SoftAuthenticator()  # a key the account never registered
        stranger.create({"rp": {"id": "localhost"}, "user": {"id": "AAAA"}, "challenge": "AAAA"})
        done = post(client, "login/second-factor", {"token": token,
                    "passkey": stranger.get(options, user_verified=False)})  # fmt: skip
        assert done.status_code == 401
        assert done.json == {"detail": "Invalid code"}
        assert client.get(f"{API}/me").status_code == 401

    def test_removing_the_last_passkey_removes_the_recovery_codes(
        self, enrolled: AuthActions
    ) -> None:
        assert db.session.query(RecoveryCode).count() == 10
        [passkey] = enrolled.client.get(f"{API}/passkeys").json
        removed = post(enrolled.client, f"passkeys/{passkey['id']}/delete", {"password": PASSWORD})
        assert removed.status_code == 200
        assert db.session.query(RecoveryCode).count() == 0
        assert enrolled.client.get(f"{API}/second-factor").json == {
            "totp": False,
            "passkeys": 0,
            "recovery_codes_left": 0,
        }


class TestChallengeStorage:
    def test_the_store_takes_each_challenge_once_and_trusts_nothing_else(
        self, app: Flask, redis: Any
    ) -> None:
        store = app.extensions["challenge_store"]
        store.put("sign-in", "id-1", 0, b"c" * 64)
        assert store.take("register", "id-1") is None  # another purpose, another key
        taken = store.take("sign-in", "id-1")
        assert taken is not None
        assert (taken.user_id, taken.challenge) == (0, b"c" * 64)
        assert store.take("sign-in", "id-1") is None
        assert store.take("sign-in", "") is None
        assert store.take("sign-in", "x" * 201) is None
        # A foreign value, or a record of another purpose, under our key is nothing.
        redis.set(store._key("sign-in", "id-2"), b"not msgpack")
        assert store.take("sign-in", "id-2") is None
        store.put("register", "id-3", 1, b"c")
        redis.rename(store._key("register", "id-3"), store._key("sign-in", "id-3"))
        assert store.take("sign-in", "id-3") is None

    def test_challenges_live_five_minutes_under_keyed_names(
        self, app: Flask, client: FlaskClient, redis: Any
    ) -> None:
        options = sign_in_options(client)
        [key] = [k for k in redis.scan_iter(match="*webauthn:*")]
        assert 290 <= redis.ttl(key) <= 300
        # Neither the challenge id nor the challenge is readable in the key.
        assert options["challenge_id"].encode() not in key
        assert options["challenge"].encode() not in key


class TestThrottling:
    @pytest.fixture
    def app_config(self, app_config: Any) -> Any:
        app_config.RATELIMIT_ENABLED = True
        app_config.RATELIMIT_PASSKEY_PER_IP = "3 per minute"
        app_config.RATELIMIT_PASSKEY_OPTIONS_PER_IP = "5 per minute"
        return app_config

    def test_failed_sign_ins_are_throttled_per_client_network(
        self, signed_in: AuthActions, authenticator: SoftAuthenticator, client: FlaskClient
    ) -> None:
        register_passkey(signed_in.client, authenticator)
        for _ in range(3):
            assert (
                passkey_login(client, authenticator, origin="https://x.example").status_code == 401
            )
        options = sign_in_options(client)
        body = {"challenge_id": options["challenge_id"], "credential": authenticator.get(options)}
        refused = post(client, "passkeys/login", body)
        assert refused.status_code == 429
        assert refused.json == {"detail": "Too many attempts: try again later"}
        # Another network is not affected.
        elsewhere = post(client, "passkeys/login", body, environ_base={"REMOTE_ADDR": "10.9.8.7"})
        assert elsewhere.status_code == 200

    def test_successes_are_refunded(
        self, signed_in: AuthActions, authenticator: SoftAuthenticator, client: FlaskClient
    ) -> None:
        register_passkey(signed_in.client, authenticator)
        for _ in range(4):
            options = post(
                client,
                "passkeys/authenticate/options",
                {},
                environ_base={"REMOTE_ADDR": "10.0.0.1"},
            ).json
            body = {
                "challenge_id": options["challenge_id"],
                "credential": authenticator.get(options),
            }
            response = post(
                client, "passkeys/login", body, environ_base={"REMOTE_ADDR": "10.0.0.2"}
            )
            assert response.status_code == 200

    def test_public_challenges_are_throttled(self, client: FlaskClient) -> None:
        statuses = [post(client, "passkeys/authenticate/options", {}).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
