"""Clients generated from the live /openapi.json, unpatched, run the session
flow against a production gunicorn: register, token, me, sessions, end a
session, logout, and me refused after it.

- Python: openapi-python-client (a dev requirement) generates a package into a
  temporary directory; the flow uses only its API functions and models.
- TypeScript: openapi-typescript generates the types of the paths, and
  tests/clients/flow.ts calls them through openapi-fetch; ``tsc --strict``
  must accept it, and node runs it.

A failure here is a client that a team would get from the document today.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import secrets
import shutil
import subprocess
import sys
import typing
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests import node_tools
from tests.real.services import Gunicorn

PACKAGE = "auth_service_client"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


# --- Python ---------------------------------------------------------------------


@pytest.fixture
def python_client(tmp_path: Path) -> Iterator[Any]:
    """A function that generates the client package from a document's URL and
    imports it; its modules are forgotten afterwards."""

    def generate(url: str) -> ModuleType:
        config = tmp_path / "generator.yaml"
        # No post hooks: formatting the generated code (ruff) changes nothing it does.
        config.write_text("post_hooks: []\n")
        result = subprocess.run(  # noqa: S603
            [
                sys.executable, "-m", "openapi_python_client", "generate",
                "--url", url, "--meta", "none", "--config", str(config),
                "--output-path", str(tmp_path / PACKAGE),
                "--fail-on-warning",  # a skipped endpoint or model is a failure
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"openapi-python-client:\n{result.stdout}\n{result.stderr}"
        sys.path.insert(0, str(tmp_path))
        return importlib.import_module(PACKAGE)

    yield generate
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))
    for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
        del sys.modules[name]


def snake_case(name: str) -> str:
    """listSessions -> list_sessions, as the generator names modules."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()


def endpoint(package: ModuleType, document: dict[str, Any], method: str, path: str) -> Any:
    """The generated module of one operation. It is named after the operation's
    operationId, as teams import it; without one, the generator falls back to
    the method and the path (its generate_operation_id), which this follows so
    that the flow still runs and finds what else is wrong
    (tests/fast/test_openapi_document.py requires the operationIds)."""
    operation_id = document["paths"][path][method].get("operationId")
    if operation_id is None:
        operation_id = f"{method}_{path.replace('{', '').replace('}', '')}"
    name = snake_case(operation_id)
    api = importlib.import_module(f"{package.__name__}.api")
    modules = [info.name for info in pkgutil.walk_packages(api.__path__, f"{api.__name__}.")]
    found = [module for module in modules if module.rsplit(".", 1)[-1] == name]
    assert len(found) == 1, f"{method.upper()} {path}: not exactly one module {name} in {modules}"
    return importlib.import_module(found[0])


def body(module: Any, data: dict[str, Any], media_type: str) -> Any:
    """A model of the operation's body holding exactly ``data`` that the
    generated client sends as ``media_type``, built with the model's own
    ``from_dict``. The body parameter's type lists one model per media type
    (or per ``oneOf`` branch); the generated ``_get_kwargs`` says which media
    type each one is sent as."""
    hint = typing.get_type_hints(module.sync_detailed)["body"]
    candidates = [c for c in typing.get_args(hint) or (hint,) if hasattr(c, "from_dict")]
    sent_as = {}
    for candidate in dict.fromkeys(candidates):
        try:
            model = candidate.from_dict(data)
        except (KeyError, TypeError, ValueError):
            continue
        if model.to_dict() != data:
            continue
        content_type = module._get_kwargs(body=model).get("headers", {}).get("Content-Type")
        if content_type == media_type:
            return model
        sent_as[candidate.__name__] = content_type
    pytest.fail(
        f"{module.__name__}: no body model holds {sorted(data)} and is sent as {media_type}; "
        f"models that hold it are sent as {sent_as or 'nothing'} (candidates: "
        f"{[c.__name__ for c in candidates]})"
    )


def test_the_generated_python_client_runs_the_session_flow(
    production_gunicorn: Any, python_client: Any
) -> None:
    server: Gunicorn = production_gunicorn("python_client")
    base_url = f"http://127.0.0.1:{server.port}"
    document = server.call("GET", "/openapi.json").body
    package = python_client(f"{base_url}/openapi.json")
    client_module = importlib.import_module(f"{package.__name__}.client")

    def op(method: str, path: str) -> Any:
        return endpoint(package, document, method, path)

    register, login, token = (
        op("post", f"/api/auth/{name}") for name in ("register", "login", "token")
    )
    me, logout = op("get", "/api/auth/me"), op("post", "/api/auth/logout")
    list_sessions = op("get", "/api/auth/sessions")
    end_session = op("delete", "/api/auth/sessions/{handle}")

    # An undocumented status raises: the document must list every answer the flow gets.
    anonymous = client_module.Client(base_url=base_url, raise_on_unexpected_status=True)

    def signed_in(access_token: str) -> Any:
        return client_module.AuthenticatedClient(
            base_url=base_url, token=access_token, raise_on_unexpected_status=True
        )

    suffix = secrets.token_hex(4)
    user = {
        "username": f"py_{suffix}",
        "email": f"py_{suffix}@example.com",
        "password": f"py-client-{suffix}",
    }

    registered = register.sync_detailed(client=anonymous, body=body(register, user, JSON))
    assert registered.status_code == 201, registered.content
    created = registered.parsed
    assert (created.username, created.email) == (user["username"], user["email"])
    assert isinstance(created.id, int)
    assert isinstance(created.created_at, datetime)
    assert created.created_at.utcoffset() is not None

    by_username = {"username": user["username"], "password": user["password"]}
    browser = client_module.Client(base_url=base_url, raise_on_unexpected_status=True)
    logged_in = login.sync_detailed(client=browser, body=body(login, by_username, JSON))
    assert logged_in.status_code == 200, logged_in.content
    assert logged_in.parsed.id == created.id
    assert logged_in.headers["Set-Cookie"].startswith("__Host-session=")  # production

    by_email = {"email": user["email"], "password": user["password"]}
    issued = token.sync_detailed(client=anonymous, body=body(token, by_email, JSON))
    assert issued.status_code == 200, issued.content
    assert issued.parsed.token_type == "Bearer"
    assert issued.parsed.user_id == str(created.id)
    assert issued.parsed.expires_in > 0
    client = signed_in(issued.parsed.access_token)

    oauth2_form = {
        "username": user["email"],
        "password": user["password"],
        "grant_type": "password",
    }
    second = token.sync_detailed(client=anonymous, body=body(token, oauth2_form, FORM))
    assert second.status_code == 200, second.content
    second_client = signed_in(second.parsed.access_token)

    whoami = me.sync_detailed(client=client)
    assert whoami.status_code == 200, whoami.content
    assert whoami.parsed.to_dict() == created.to_dict()

    listed = list_sessions.sync_detailed(client=client)
    assert listed.status_code == 200, listed.content
    sessions = listed.parsed
    assert sorted(s.kind for s in sessions) == ["bearer", "bearer", "cookie"]
    [current] = [s for s in sessions if s.current]
    assert current.kind == "bearer"
    assert all(isinstance(s.expires_at, datetime) for s in sessions)

    # The form token's session is the newest bearer one that is not current.
    other = next(s for s in sessions if s.kind == "bearer" and not s.current)
    ended = end_session.sync_detailed(handle=other.id, client=client)
    assert ended.status_code == 204, ended.content
    assert ended.parsed is None
    refused = me.sync_detailed(client=second_client)
    assert refused.status_code == 401, refused.content

    out = logout.sync_detailed(client=client)
    assert out.status_code == 200, out.content
    assert out.parsed.message == "Successfully logged out"

    after = me.sync_detailed(client=client)
    assert after.status_code == 401, after.content
    assert after.parsed.detail == "Could not validate credentials"
    assert after.headers["WWW-Authenticate"] == "Bearer"


# --- TypeScript -----------------------------------------------------------------


def test_the_generated_typescript_client_runs_the_session_flow(
    production_gunicorn: Any, node_bin: Path, tmp_path: Path
) -> None:
    server: Gunicorn = production_gunicorn("ts_client")
    base_url = f"http://127.0.0.1:{server.port}"
    build = tmp_path / "ts"
    build.mkdir()
    for name in ("flow.ts", "tsconfig.json", "package.json"):
        shutil.copyfile(node_tools.PACKAGE / name, build / name)
    # Resolve openapi-fetch and the type packages from the cached install.
    (build / "node_modules").symlink_to(node_tools.PREFIX / "node_modules")

    generated = node_tools.run(
        node_bin, "openapi-typescript", f"{base_url}/openapi.json", "-o", "schema.d.ts", cwd=build
    )
    assert generated.returncode == 0, f"openapi-typescript:\n{generated.stdout}\n{generated.stderr}"

    # One tsc pass type-checks under --strict and, only when that succeeds
    # (noEmitOnError), writes out/flow.js.
    compiled = node_tools.run(node_bin, "tsc", "--strict", "-p", "tsconfig.json", cwd=build)
    assert compiled.returncode == 0, f"tsc --strict:\n{compiled.stdout}\n{compiled.stderr}"

    ran = subprocess.run(  # noqa: S603
        [str(shutil.which("node")), "out/flow.js"],
        cwd=build, env={**os.environ, "AUTH_SERVICE_URL": base_url},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, f"flow.ts:\n{ran.stdout}\n{ran.stderr}"
    assert ran.stdout.strip() == "flow ok"
