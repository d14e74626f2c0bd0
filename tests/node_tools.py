"""The npm tools some tests run, installed once per checkout.

Redocly CLI (lints /openapi.json), openapi-typescript, openapi-fetch and
TypeScript (the generated TypeScript client) are pinned, exact versions, in
tests/clients/package.json and its package-lock.json. ``installed()`` runs
``npm ci`` into .cache/node/ (gitignored) with npm's download cache in
.cache/npm/: the first run downloads them (about 20 s), a later run finds its
stamp and runs nothing, and a reinstall (a new lock file) needs no network for
what is already cached.

Node and npm come from the machine (``apt-get install -y nodejs npm``); without
them, the tests that need them skip, saying so (and fail under
``REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tests" / "clients"
CACHE = ROOT / ".cache"
PREFIX = CACHE / "node"
BIN = PREFIX / "node_modules" / ".bin"
# The highest `engines.node` minimum among the pinned packages (@redocly/cli 1.34).
# Debian 12's own nodejs is 18.20: high enough.
MIN_NODE = (18, 17)
INSTALL_HINT = "apt-get install -y nodejs npm"

# No telemetry, no update check: a lint must not reach for the network.
ENV = {"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}


def node_version() -> tuple[int, ...]:
    out = subprocess.run(  # noqa: S603
        [str(shutil.which("node")), "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.match(r"v(\d+)\.(\d+)", out.strip())
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((PACKAGE / name).read_bytes())
    return digest.hexdigest()


def installed() -> Path:
    """The .bin directory of the pinned tools, installed if need be; skips
    when node or npm is missing or too old."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not on PATH: {INSTALL_HINT}")
    version = node_version()
    if version < MIN_NODE:
        wanted = ".".join(map(str, MIN_NODE))
        pytest.skip(f"node {'.'.join(map(str, version))} is older than {wanted}: {INSTALL_HINT}")
    stamp = PREFIX / ".installed"
    fingerprint = _fingerprint()
    PREFIX.mkdir(parents=True, exist_ok=True)
    # One installer at a time: two pytest runs in one checkout share .cache/node.
    with (CACHE / "node.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == fingerprint:
            return BIN
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(PACKAGE / name, PREFIX / name)
        result = subprocess.run(  # noqa: S603
            [str(shutil.which("npm")), "ci", "--prefer-offline", "--no-audit", "--no-fund"],
            cwd=PREFIX,
            env={**os.environ, "npm_config_cache": str(CACHE / "npm")},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"npm ci in {PREFIX} failed:\n{result.stdout}\n{result.stderr}")
        stamp.write_text(fingerprint)
    return BIN


def run(
    bin_dir: Path, tool: str, *args: str | Path, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run one of the tools in ``bin_dir`` (from ``installed()``); the caller checks the outcome."""
    return subprocess.run(  # noqa: S603
        [str(bin_dir / tool), *map(str, args)],
        cwd=cwd,
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
