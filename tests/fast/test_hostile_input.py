"""Hostile bodies, endpoint by endpoint: each gets its documented JSON error
and changes nothing, in the database or in Redis.

Policy for unknown fields: ignored (see README), so they are not in this table.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import User
from tests.conftest import API, PASSWORD, AuthActions, SessionKeys

# Shaped as a browser sends them; no service call gets this far in this table.
ATTESTATION = {
    "id": "AAEC",
    "rawId": "AAEC",
    "type": "public-key",
    "response": {"clientDataJSON": "e30", "attestationObject": "oA", "transports": ["internal"]},
}
ASSERTION = {
    "id": "AAEC",
    "rawId": "AAEC",
    "type": "public-key",
    "response": {"clientDataJSON": "e30", "authenticatorData": "AA", "signature": "AA"},
}
VALID = {
    "register": {"username": "eve", "email": "eve@example.com", "password": PASSWORD},
    "login": {"email": "john@example.com", "password": PASSWORD},
    "token": {"email": "john@example.com", "password": PASSWORD},
    "logout-all": {"keep_current": False},
    "password/change": {"current_password": PASSWORD, "new_password": "an0ther-passw0rd"},
    "password/forgot": {"email": "john@example.com"},
    "password/reset": {"token": "x" * 43, "new_password": "an0ther-passw0rd"},
    "email/verify": {"token": "x" * 43},
    "account/delete": {"password": PASSWORD},
    "login/second-factor": {"token": "x" * 43, "code": "123456"},
    "token/second-factor": {"token": "x" * 43, "recovery_code": "abcde-fghij"},
    "totp/setup": {"password": PASSWORD},
    "totp/confirm": {"code": "123456"},
    "totp/disable": {"code": "123456"},
    "recovery-codes": {"password": PASSWORD},
    "passkeys/register/options": {"password": PASSWORD},
    "passkeys/register": {"credential": ATTESTATION, "name": "Laptop"},
    "passkeys/1/delete": {"password": PASSWORD},
    "passkeys/authenticate/options": {"token": "x" * 43},
    "passkeys/login": {"challenge_id": "x" * 43, "credential": ASSERTION},
    "passkeys/token": {"challenge_id": "x" * 43, "credential": ASSERTION},
    "passkeys/1": {"name": "Laptop"},  # PATCH
}
PATCHED = {"passkeys/1"}
STRING_FIELDS = {
    "register": ["username", "email", "password"],
    "login": ["email", "password"],
    "token": ["email", "password"],
    "logout-all": [],
    "password/change": ["current_password", "new_password"],
    "password/forgot": ["email"],
    "password/reset": ["token", "new_password"],
    "email/verify": ["token"],
    "account/delete": ["password"],
    "login/second-factor": ["token", "code"],
    "token/second-factor": ["token", "recovery_code"],
    "totp/setup": ["password"],
    "totp/confirm": ["code"],
    "totp/disable": ["code"],
    "recovery-codes": ["password"],
    "passkeys/register/options": ["password"],
    "passkeys/register": ["name"],
    "passkeys/1/delete": ["password"],
    "passkeys/authenticate/options": ["token"],
    "passkeys/login": ["challenge_id"],
    "passkeys/token": ["challenge_id"],
    "passkeys/1": ["name"],
}
# Bodies that carry a WebAuthn credential (PublicKeyCredential.toJSON()).
CREDENTIAL_FIELDS = {
    "passkeys/register": ("credential", ATTESTATION),
    "passkeys/login": ("credential", ASSERTION),
    "passkeys/token": ("credential", ASSERTION),
}
# Fields that may hold any character: a password, or a token (any text that
# is not a live token is simply not one: a 400, tested in test_lifecycle.py).
ANY_TEXT = {"password", "current_password", "new_password", "token"}
DEEP = 5000


JSON = "application/json"


def case(body: str | bytes, status: int, name: str, content_type: str = JSON) -> Any:
    return pytest.param(body, content_type, status, id=name)


def raw_cases(endpoint: str) -> list[Any]:
    """(raw body, content type, status) for what any JSON endpoint must survive."""
    valid = json.dumps(VALID[endpoint])
    nested = '{"x": ' + "[" * DEEP + "]" * DEEP + "}"
    oversized = valid[:-1] + ', "pad": "' + "x" * 70_000 + '"}'
    cases = [
        case('{"email": ', 400, "truncated"),
        case("{'a': 1}", 400, "single-quotes"),
        case(b"\xff\xfe\x00", 400, "not-utf8"),
        case(nested, 400, "deeply-nested"),
        case("[]", 422, "array"),
        case('"text"', 422, "string"),
        case("42", 422, "number"),
        case("true", 422, "boolean"),
        case(valid, 415, "text-plain", "text/plain"),
        case(valid, 415, "xml", "application/xml"),
        case(oversized, 413, "oversized"),
        # Longer than Python's integer-conversion limit (4,300 digits).
        case('{"x": ' + "1" * 5000 + "}", 400, "huge-integer"),
    ]
    bad_values = [("null", None), ("int", 7), ("list", ["a"]), ("object", {"$gt": ""}),
                  ("bool", True), ("too-long", "x" * 1100)]  # fmt: skip
    bad_chars = [("nul", "a\x00b"), ("control", "a\x07b"), ("newline", "a\nb")]
    # JSON can spell a lone surrogate, which has no UTF-8 form: in any field,
    # the password included, it is a 422, never a 500 from hashing it.
    surrogates = [
        ("lone-high-surrogate", '"ab\\ud800cdefgh"'),
        ("lone-low-surrogate", '"\\udfffabcdefg"'),
    ]
    for name in STRING_FIELDS[endpoint]:
        for label, value in bad_values:
            body = json.dumps({**VALID[endpoint], name: value})
            cases.append(case(body, 422, f"{name}-{label}"))
        if name not in ANY_TEXT:
            suffix = "@example.com" if name == "email" else ""
            for label, chars in bad_chars:
                body = json.dumps({**VALID[endpoint], name: chars + suffix})
                cases.append(case(body, 422, f"{name}-{label}"))
        for label, literal in surrogates:
            body = valid[:-1] + f', "{name}": {literal}}}'
            cases.append(case(body, 422, f"{name}-{label}"))
        # Duplicate keys: the last one wins (RFC 8259 leaves it open).
        cases.append(case(valid[:-1] + f', "{name}": 12345}}', 422, f"{name}-duplicate-key"))
    if endpoint.endswith("second-factor"):
        token = {"token": "x" * 43}
        shapes = [
            ("no-factor", token),
            ("two-factors", {**token, "code": "123456", "recovery_code": "abcde-fghij"}),
            ("code-and-passkey", {**token, "code": "123456", "passkey": {}}),
            ("no-token", {"code": "123456"}),
            ("code-5-digits", {**token, "code": "12345"}),
            ("code-7-digits", {**token, "code": "1234567"}),
            ("code-arabic-digits", {**token, "code": "\u0661\u0662\u0663\u0664\u0665\u0666"}),
            ("code-fullwidth-digits", {**token, "code": "\uff11\uff12\uff13\uff14\uff15\uff16"}),
            ("code-number", {**token, "code": 123456}),
            ("recovery-code-unicode", {**token, "recovery_code": "abcde\u2010fghij"}),
            ("recovery-code-65", {**token, "recovery_code": "a" * 65}),
            ("passkey-string", {**token, "passkey": "x"}),
            ("passkey-list", {**token, "passkey": [1]}),
            ("passkey-null", {**token, "passkey": None}),
        ]
        cases += [case(json.dumps(body), 422, name) for name, body in shapes]
    if endpoint == "totp/disable":
        both = {"password": PASSWORD, "code": "123456"}
        cases += [case(json.dumps(both), 422, "password-and-code"), case("{}", 422, "neither")]
    if endpoint in CREDENTIAL_FIELDS:
        cases.extend(credential_cases(endpoint))
    if endpoint == "logout-all":
        for label, value in [("string", "yes"), ("int", 1), ("null", None), ("list", [True])]:
            body = json.dumps({"keep_current": value})
            cases.append(case(body, 422, f"keep_current-{label}"))
        duplicate = '{"keep_current": true, "keep_current": "x"}'
        cases.append(case(duplicate, 422, "keep_current-duplicate-key"))
    return cases


def without(mapping: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if key != name}


def credential_cases(endpoint: str) -> list[Any]:
    """A credential of the wrong type, shape, encoding or size: a 422, before
    any WebAuthn parser sees it."""
    field, credential = CREDENTIAL_FIELDS[endpoint]
    base = VALID[endpoint]
    response = credential["response"]
    first = next(iter(response))  # clientDataJSON
    variants: list[tuple[str, Any]] = [
        ("null", None),
        ("string", "AAEC"),
        ("list", [credential]),
        ("int", 1),
        ("empty", {}),
        ("no-response", {k: v for k, v in credential.items() if k != "response"}),
        ("response-null", {**credential, "response": None}),
        ("response-list", {**credential, "response": [response]}),
        ("response-string", {**credential, "response": "e30"}),
        ("wrong-type", {**credential, "type": "password"}),
        ("type-int", {**credential, "type": 1}),
        ("rawId-plus-slash", {**credential, "rawId": "a+b/"}),
        ("rawId-padded", {**credential, "rawId": "AAE="}),
        ("rawId-empty", {**credential, "rawId": ""}),
        ("rawId-int", {**credential, "rawId": 12}),
        ("rawId-space", {**credential, "rawId": "AA EC"}),
        ("rawId-unicode", {**credential, "rawId": "\uff21\uff21\uff25\uff23"}),  # fullwidth
        ("id-huge", {**credential, "id": "A" * 5000}),
        (f"{first}-huge", {**credential, "response": {**response, first: "A" * 20000}}),
        (f"{first}-missing", {**credential, "response": without(response, first)}),
        (f"{first}-nul", {**credential, "response": {**response, first: "e30\x00"}}),
        (f"{first}-object", {**credential, "response": {**response, first: {"a": 1}}}),
    ]  # fmt: skip
    if "transports" in response:
        variants += [
            ("transports-string", {**credential, "response": {**response, "transports": "usb"}}),
            ("transports-many", {**credential, "response": {**response, "transports": ["x"] * 11}}),
            ("transports-ints", {**credential, "response": {**response, "transports": [1]}}),
        ]
    else:
        variants += [
            ("userHandle-int", {**credential, "response": {**response, "userHandle": 5}}),
            ("userHandle-bad", {**credential, "response": {**response, "userHandle": "a=b"}}),
            ("signature-huge", {**credential, "response": {**response, "signature": "A" * 3000}}),
        ]
    return [
        case(json.dumps({**base, field: value}), 422, f"{field}-{label}")
        for label, value in variants
    ]


def table(method: str = "POST") -> list[Any]:
    return [
        pytest.param(endpoint, *case.values, id=f"{endpoint}:{case.id}")
        for endpoint in VALID
        if (endpoint in PATCHED) == (method == "PATCH")
        for case in raw_cases(endpoint)
    ]


@pytest.fixture
def signed_in(app: Flask, auth: AuthActions, user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {auth.token()}"}


def user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User)) or 0


@pytest.mark.parametrize(("endpoint", "body", "content_type", "status"), table())
def test_hostile_body(
    client: FlaskClient,
    keys: SessionKeys,
    signed_in: dict[str, str],
    endpoint: str,
    body: str | bytes,
    content_type: str,
    status: int,
) -> None:
    check_hostile(client, keys, signed_in, "POST", endpoint, body, content_type, status)


@pytest.mark.parametrize(("endpoint", "body", "content_type", "status"), table("PATCH"))
def test_hostile_patch_body(
    client: FlaskClient,
    keys: SessionKeys,
    signed_in: dict[str, str],
    endpoint: str,
    body: str | bytes,
    content_type: str,
    status: int,
) -> None:
    check_hostile(client, keys, signed_in, "PATCH", endpoint, body, content_type, status)


def check_hostile(
    client: FlaskClient,
    keys: SessionKeys,
    signed_in: dict[str, str],
    method: str,
    endpoint: str,
    body: str | bytes,
    content_type: str,
    status: int,
) -> None:
    users, sessions = user_count(), keys.everything()
    response = client.open(
        f"{API}/{endpoint}", method=method, data=body, content_type=content_type, headers=signed_in
    )
    assert response.status_code == status, response.json
    assert response.mimetype == "application/json"
    detail = response.json["detail"]  # type: ignore[index]
    if status == 422:
        assert detail
        assert all({"loc", "msg", "type"} == set(problem) for problem in detail)
    else:
        assert isinstance(detail, str)
    assert user_count() == users
    assert keys.everything() == sessions
