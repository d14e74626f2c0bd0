"""Schemathesis fuzzes a live server from its own /openapi.json: every
generated request must get a non-5xx answer that matches the documented
status codes, content types, headers and bodies, and every other check
Schemathesis has (tests/real/schemathesis.toml says where one accepts more).

Phases: examples (the document's own examples), coverage (boundary values),
fuzzing, and stateful: scenarios that chain operations along the document's
OpenAPI links, register -> token -> sessions -> end a session.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.real.services import Gunicorn, Reply

CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
USER = {"username": "fuzz", "email": "fuzz@example.com", "password": "fuzz-pa55word"}
# A blocklisted password is a 422 for a body the schema calls valid: no schema
# can list 19,640 passwords, so positive_data_acceptance would fail on the
# first one Hypothesis draws. Everything else is production's.
NO_BLOCKLIST = {"PASSWORD_BLOCKLIST_ENABLED": "false"}


def schemathesis(
    server: Gunicorn, tmp_path: Path, phases: str, *args: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run the CLI once; its outcome and its JSON report."""
    report = tmp_path / f"report-{secrets.token_hex(4)}.json"
    result = subprocess.run(  # noqa: S603
        [
            sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
            f"http://127.0.0.1:{server.port}/openapi.json",
            "--checks", "all",
            "--phases", phases,
            "--max-examples", "40",
            "--workers", "1",
            "--seed", "20261123",  # reproducible in CI; change it to explore
            "--report", "json", "--report-json-path", str(report),
            *args,
        ],
        cwd=tmp_path, env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    return result, json.loads(report.read_text()) if report.exists() else {}


def assert_ran(
    result: subprocess.CompletedProcess[str], report: dict[str, Any], phases: str
) -> None:
    assert result.returncode == 0, result.stdout[-6000:]
    # A phase with nothing to do is skipped, and a skipped phase tests nothing.
    skipped = {
        name: report["phases"][name].get("skip_reason")
        for name in phases.split(",")
        if report["phases"][name]["status"] == "skip"
    }
    assert not skipped, f"phases skipped: {skipped}\n{result.stdout[-3000:]}"


def test_the_api_conforms_to_its_openapi_document(production_gunicorn: Any, tmp_path: Path) -> None:
    server: Gunicorn = production_gunicorn("fuzz", **NO_BLOCKLIST)
    assert server.call("POST", "/api/auth/register", USER).status == 201
    token = server.call(
        "POST", "/api/auth/token", {"email": USER["email"], "password": USER["password"]}
    ).body["access_token"]
    phases = "examples,coverage,fuzzing"

    # Everything but the logouts, signed in (a logout would end the session
    # the rest of the run uses) ...
    signed_in = schemathesis(
        server, tmp_path, phases, "--header", f"Authorization: Bearer {token}",
        "--exclude-path-regex", "/logout",
    )  # fmt: skip
    assert_ran(*signed_in, phases)
    # ... then the logouts, and every operation again without credentials.
    anonymous = schemathesis(server, tmp_path, phases)
    assert_ran(*anonymous, phases)


# --- stateful: the document's links ----------------------------------------------

# The chain the stateful phase must be able to follow: (operation, response,
# the operation its link leads to).
REGISTER = ("post", "/api/auth/register")
TOKEN = ("post", "/api/auth/token")
LIST_SESSIONS = ("get", "/api/auth/sessions")
END_SESSION = ("delete", "/api/auth/sessions/{handle}")
CHAIN = [
    (REGISTER, "201", TOKEN),
    (TOKEN, "200", LIST_SESSIONS),
    (LIST_SESSIONS, "200", END_SESSION),
]


@dataclass
class Exchange:
    """One request and its answer, as OpenAPI runtime expressions see them."""

    method: str
    path: str
    parameters: dict[str, dict[str, Any]]  # location -> name -> value
    body: Any
    reply: Reply


def resolve_pointer(document: Any, pointer: str) -> Any:
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        document = document[int(token)] if isinstance(document, list) else document[token]
    return document


def runtime_value(expression: str, exchange: Exchange) -> Any:
    """One runtime expression (OpenAPI 3.0, "Link Object"), against one exchange."""
    if expression == "$statusCode":
        return exchange.reply.status
    if expression == "$method":
        return exchange.method.upper()
    source, _, rest = expression.removeprefix("$").partition(".")
    if rest.startswith("body"):
        document = exchange.body if source == "request" else exchange.reply.body
        return resolve_pointer(document, rest.removeprefix("body").removeprefix("#"))
    location, _, name = rest.partition(".")
    if source == "response":
        return exchange.reply.headers[name]
    values = {key.lower(): value for key, value in exchange.parameters.get(location, {}).items()}
    return values[name.lower()]


def evaluate(value: Any, exchange: Exchange) -> Any:
    """A link's parameter or body: constants stay, expressions are evaluated,
    also when embedded in a string ("Bearer {$response.body#/access_token}")."""
    if isinstance(value, dict):
        return {key: evaluate(item, exchange) for key, item in value.items()}
    if isinstance(value, list):
        return [evaluate(item, exchange) for item in value]
    if not isinstance(value, str):
        return value
    if value.startswith("$"):
        return runtime_value(value, exchange)
    return re.sub(r"\{(\$[^}]+)\}", lambda match: str(runtime_value(match[1], exchange)), value)


def find_link(
    document: dict[str, Any], source: tuple[str, str], status: str, target: tuple[str, str]
) -> dict[str, Any] | None:
    """The link from ``source``'s ``status`` response to ``target``, by operationId or ref."""
    method, path = target
    target_id = document["paths"][path][method].get("operationId")
    target_ref = "/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method
    responses = document["paths"][source[1]][source[0]]["responses"]
    for link in responses.get(status, {}).get("links", {}).values():
        by_id = target_id is not None and link.get("operationId") == target_id
        if by_id or link.get("operationRef", "").endswith(target_ref):
            return link
    return None


def parameter_location(document: dict[str, Any], target: tuple[str, str], name: str) -> str:
    """Where a link's unqualified parameter goes: where the target declares it."""
    method, path = target
    item = document["paths"][path]
    for parameter in [*item.get("parameters", []), *item[method].get("parameters", [])]:
        if parameter["name"] == name:
            return str(parameter["in"])
    raise AssertionError(
        f"link parameter {name!r}: {method.upper()} {path} declares no such parameter"
    )


def follow(
    server: Gunicorn,
    document: dict[str, Any],
    link: dict[str, Any],
    target: tuple[str, str],
    previous: Exchange,
) -> Exchange:
    """Send the request a link describes, from the exchange it starts at."""
    method, path = target
    parameters: dict[str, dict[str, Any]] = {}
    for name, value in link.get("parameters", {}).items():
        location, _, bare = name.rpartition(".")
        location = location or parameter_location(document, target, bare)
        parameters.setdefault(location, {})[bare] = evaluate(value, previous)
    body = evaluate(link["requestBody"], previous) if "requestBody" in link else None
    url = path.format(**parameters.get("path", {}))
    reply = server.call(method.upper(), url, body, headers=parameters.get("header", {}))
    return Exchange(method, path, parameters, body, reply)


def test_stateful_scenarios_follow_the_documented_links(
    production_gunicorn: Any, tmp_path: Path
) -> None:
    server: Gunicorn = production_gunicorn("stateful", **NO_BLOCKLIST)
    document = server.call("GET", "/openapi.json").body

    # The links are in the document ...
    links = [find_link(document, source, status, target) for source, status, target in CHAIN]
    missing = [
        f"{source[0].upper()} {source[1]} {status} -> {target[0].upper()} {target[1]}"
        for (source, status, target), link in zip(CHAIN, links, strict=True)
        if link is None
    ]
    assert not missing, f"no OpenAPI link for: {missing}"

    # ... and followed by hand, they lead from a registration to its session's end.
    user = {"username": "linked", "email": "linked@example.com", "password": "linked-pa55word"}
    steps = [Exchange(*REGISTER, {}, user, server.call("POST", REGISTER[1], user))]
    assert steps[0].reply.status == 201, steps[0].reply.body
    for link, (source, _, target) in zip(links, CHAIN, strict=True):
        steps.append(follow(server, document, link, target, steps[-1]))
        expected = 204 if target == END_SESSION else 200
        reply = steps[-1].reply
        assert reply.status == expected, f"{source} -> {target}: {reply.status} {reply.body}"
    # The account's one session, the token's, is the one that ended.
    bearer = {"Authorization": f"Bearer {steps[1].reply.body['access_token']}"}
    assert server.call("GET", "/api/auth/me", headers=bearer).status == 401

    # Schemathesis' stateful phase explores scenarios along every link, checked as above.
    assert_ran(*schemathesis(server, tmp_path, "stateful"), "stateful")
