"""/openapi.json is a product: teams generate clients from it.

These hold the document the app serves to account, in-process and in seconds:
the OpenAPI specification (openapi-spec-validator), Redocly's recommended
rules (redocly.yaml at the root), and the operations clients are generated
from (each endpoint once, named by its operationId). Clients generated from it
run against a live server in tests/real/test_generated_clients.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from jsonschema_path import SchemaPath
from openapi_spec_validator.shortcuts import get_validator_cls

from tests import node_tools

# What a generated client calls each endpoint: api.auth.register, client.POST("/api/auth/token")...
OPERATIONS = {
    ("post", "/api/auth/register"): "register",
    ("post", "/api/auth/login"): "login",
    ("post", "/api/auth/token"): "token",
    ("get", "/api/auth/me"): "me",
    ("post", "/api/auth/logout"): "logout",
    ("get", "/api/auth/sessions"): "listSessions",
    ("delete", "/api/auth/sessions/{handle}"): "endSession",
    ("post", "/api/auth/logout-all"): "logoutAll",
    ("post", "/api/auth/password/change"): "changePassword",
    ("post", "/api/auth/password/forgot"): "forgotPassword",
    ("post", "/api/auth/password/reset"): "resetPassword",
    ("post", "/api/auth/email/verify"): "verifyEmail",
    ("post", "/api/auth/email/verify/resend"): "resendVerification",
    ("post", "/api/auth/account/delete"): "deleteAccount",
    ("get", "/api/auth/events"): "listEvents",
    ("post", "/api/auth/login/second-factor"): "loginSecondFactor",
    ("post", "/api/auth/token/second-factor"): "tokenSecondFactor",
    ("get", "/api/auth/second-factor"): "secondFactorStatus",
    ("post", "/api/auth/totp/setup"): "setupTotp",
    ("post", "/api/auth/totp/confirm"): "confirmTotp",
    ("post", "/api/auth/totp/disable"): "disableTotp",
    ("post", "/api/auth/recovery-codes"): "regenerateRecoveryCodes",
    ("get", "/api/auth/passkeys"): "listPasskeys",
    ("post", "/api/auth/passkeys/register/options"): "passkeyRegistrationOptions",
    ("post", "/api/auth/passkeys/register"): "registerPasskey",
    ("patch", "/api/auth/passkeys/{passkey_id}"): "renamePasskey",
    ("post", "/api/auth/passkeys/{passkey_id}/delete"): "deletePasskey",
    ("post", "/api/auth/passkeys/authenticate/options"): "passkeyAuthenticationOptions",
    ("post", "/api/auth/passkeys/login"): "passkeyLogin",
    ("post", "/api/auth/passkeys/token"): "passkeyToken",
}
PROBES = {("get", "/healthz"), ("get", "/readyz")}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validator = get_validator_cls(document)(SchemaPath.from_dict(document))
    errors = [
        f"at {'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors()
    ]
    assert not errors, "openapi-spec-validator:\n" + "\n".join(errors)


def test_redocly_recommended_rules_find_no_problem(
    document: dict[str, Any], node_bin: Path, tmp_path: Path
) -> None:
    source = tmp_path / "openapi.json"
    source.write_text(json.dumps(document))
    config = node_tools.ROOT / "redocly.yaml"
    result = node_tools.run(
        node_bin, "redocly", "lint", source, "--config", config, "--format", "json", cwd=tmp_path
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"redocly lint gave no report (exit {result.returncode}):\n{result.stderr}")
    problems = [
        f"{problem['severity']} {problem['ruleId']} at {problem['location'][0]['pointer']}: "
        f"{problem['message']}"
        for problem in report["problems"]
    ]
    # Warnings too: each one is something a client generator or a reader trips on.
    assert not problems, f"redocly lint ({len(problems)} problems):\n" + "\n".join(problems)


def test_each_endpoint_is_one_operation_named_by_its_operation_id(
    document: dict[str, Any],
) -> None:
    found = {(method, path): op.get("operationId") for method, path, op in operations(document)}
    expected = set(OPERATIONS) | PROBES
    # A path documented twice (an alias) would give every client two functions for it.
    assert set(found) == expected, (
        f"operations not expected: {sorted(set(found) - expected)}; "
        f"missing: {sorted(expected - set(found))}"
    )
    wrong = {
        f"{method.upper()} {path}": found[method, path]
        for (method, path), name in OPERATIONS.items()
        if found[method, path] != name
    }
    assert not wrong, f"operationIds (want {OPERATIONS}): {wrong}"


def test_every_api_operation_documents_its_client_errors(document: dict[str, Any]) -> None:
    """Redocly's operation-4xx-response, for /api only: the probes have no 4XX to document."""
    bare = [
        f"{method.upper()} {path}"
        for method, path, operation in operations(document)
        if path.startswith("/api/")
        and not any(code.startswith("4") for code in operation["responses"])
    ]
    assert not bare, f"no 4XX response documented: {bare}"
