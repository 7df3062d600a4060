"""Two "hosts" on one machine, as two worker hosts of a production set-up see each other: separate
`jst-kingdee` processes, each with its own working directory, SYNC_STATE_DIR, token file, report folder,
Prefect home and Jushuitan call-count file, sharing only the Prefect server (watermarks, the Jushuitan token
block) and one PostgreSQL state database (ledger, run lock, hand-kept tables, run records). Both reach the
same emulators, behind the reliability stage's taps (tests/reliability/stage.py), so a test can hold a
request or count the traffic.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from prefect.variables import Variable
from sqlalchemy import URL

from connectors.settings import JushuitanSettings
from deploy.blocks import jushuitan_client
from state.settings import SyncSettings
from state.watermarks import watermark_name
from tests.reliability.stage import Stage, open_stage, start_child

RUN_SECONDS = 180  # one CLI run on a loaded 2-core machine takes a few seconds; this only bounds a hang
SYNCS = ("materials", "outbound", "returns")


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Host:
    """One worker host: `stage` is the shared emulators seen from this host's own folder (`stage.root`)."""

    name: str
    stage: Stage
    prefect_api: str

    @property
    def root(self) -> Path:
        return self.stage.root

    def start(self, *args: str) -> subprocess.Popen:
        """`jst-kingdee *args` in a process of this host, from its own working directory."""
        return start_child(self.stage, self.prefect_api, *args, cwd=self.root)

    def run(self, *args: str) -> Finished:
        return finish(self.start(*args))

    def report_files(self) -> list[Path]:
        reports = self.stage.reports
        return sorted(path for path in reports.rglob("*") if path.is_file()) if reports.exists() else []


@dataclass(frozen=True)
class TwoHosts:
    stage: Stage  # the emulators (and their taps) both hosts reach
    database: URL  # the state database both hosts share
    a: Host
    b: Host

    def state_settings(self) -> SyncSettings:
        """Settings of this test process on the shared state database (to read the ledger or run records)."""
        return SyncSettings(database_url=self.database.render_as_string(hide_password=False))


def finish(process: subprocess.Popen) -> Finished:
    out, err = process.communicate(timeout=RUN_SECONDS)
    return Finished(process.returncode, out, err)


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}")
        time.sleep(0.02)


@contextmanager
def two_hosts(root: Path, database: URL, prefect_api: str, settings: dict[str, str] | None = None, **stage_options):
    """Emulators for a new world (`open_stage` options) and hosts "a" and "b" under `root`; `settings` are
    environment both hosts get. Watermarks are cleared, and the token block both hosts use already holds a
    token, as it does in production once the first run has fetched one."""
    token_block = f"hosts-{uuid.uuid4().hex[:12]}-token"
    shared = {
        "SYNC_DATABASE_URL": database.render_as_string(hide_password=False),
        "JST_TOKEN_BLOCK": token_block,
        **(settings or {}),
    }
    with open_stage(root / "emulators", settings=shared, **stage_options) as stage:
        for sync in SYNCS:
            Variable.unset(watermark_name(sync))
        with jushuitan_client(JushuitanSettings(base_url=stage.jst.url, token_block=token_block)) as client:
            list(client.shops())
        hosts = {}
        for name in ("a", "b"):
            (folder := root / f"host-{name}").mkdir()
            hosts[name] = Host(name, replace(stage, root=folder, settings=shared), prefect_api)
        yield TwoHosts(stage, database, hosts["a"], hosts["b"])
