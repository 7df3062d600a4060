"""`make serve`: the production path on one machine. A Prefect server (SQLite, 127.0.0.1), the process
work pool, every deployment of prefect.yaml, both emulators, the credential blocks and a worker, until
Ctrl-C. The integration test (tests/deploy) drives the same functions headlessly.

Each child runs in its own process group, so Ctrl-C reaches only this process, which then stops exactly
the processes it started (and their children) by process-group id.
"""

from __future__ import annotations

import process_settings  # noqa: F401  first: its defaults must be set before Prefect or Polars load

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType, TracebackType

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"
POOL = "jst-kingdee"  # prefect.yaml's work pool
# A fresh SQLite database on 2 cores needs ~11 s; 120 s leaves room for a loaded CI machine.
STARTUP_TIMEOUT = 120.0


def free_port() -> int:
    """A port free on loopback right now (the OS picks it; a race with another process is unlikely)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def prefect_env(home: Path, api_url: str) -> dict[str, str]:
    """The environment of every child: this process's, minus any Prefect profile or server it points at."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home.resolve()),
        PREFECT_API_URL=api_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",  # offline machines log telemetry errors otherwise
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=str(int(STARTUP_TIMEOUT)),
    )
    return env


class Processes:
    """The child processes started here. `stop()` ends each one's process group, newest first:
    SIGTERM, a second SIGTERM (a Prefect worker needs two), then SIGKILL."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(
        self, name: str, args: Sequence[str], extra_env: dict[str, str] | None = None, to_terminal: bool = False
    ) -> subprocess.Popen:
        """Start `args` in the background; its output goes to <logs>/<name>.log unless `to_terminal`."""
        self.logs.mkdir(parents=True, exist_ok=True)
        output = None if to_terminal else open(self.logs / f"{name}.log", "ab")
        try:
            process = subprocess.Popen(
                list(args),
                cwd=ROOT,
                env={**self.env, **(extra_env or {})},
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            if output:
                output.close()
        self.started.append((name, process))
        return process

    def run(self, args: Sequence[str], timeout: float = STARTUP_TIMEOUT) -> str:
        """Run a command to completion; its output is in the error if it fails."""
        done = subprocess.run(
            list(args), cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, args))} failed (rc={done.returncode}):\n{done.stdout}{done.stderr}")
        return done.stdout

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        while self.started:
            _name, process = self.started.pop()
            for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                # The group id is the child's PID; it cannot be reused before the child is reaped below.
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    continue
                # Reaped: grandchildren still in the group (a flow run) get the same signal once more.
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    pass
                break


def wait_until(url: str, process: subprocess.Popen, timeout: float, what: str) -> None:
    """Poll `url` until it answers 200 (and not `false`); fail early if `process` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with rc={process.returncode}")
        try:
            answer = httpx.get(url, timeout=2.0, trust_env=False)
            if answer.status_code == 200 and answer.text.strip() != "false":
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{what} not ready at {url} after {timeout:.0f} s")


def start_prefect_server(
    processes: Processes, port: int, schedules: bool = True, timeout: float = STARTUP_TIMEOUT
) -> str:
    """A Prefect server on 127.0.0.1:`port` with its SQLite database under PREFECT_HOME; returns the API URL.

    `schedules=False` turns the scheduler off, so only runs asked for explicitly exist (tests).
    """
    extra = {} if schedules else {"PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false"}
    server = processes.start(
        "prefect-server", [BIN / "prefect", "server", "start", "--host", LOOPBACK, "--port", str(port)], extra
    )
    api_url = f"http://{LOOPBACK}:{port}/api"
    try:
        wait_until(f"{api_url}/health", server, timeout, "prefect server")
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}\n{processes.log_tail('prefect-server')}") from None
    return api_url


def deploy(processes: Processes, pool: str = POOL) -> None:
    """The process work pool first (deploying to a missing pool fails), then every deployment."""
    processes.run([BIN / "prefect", "work-pool", "create", pool, "--type", "process", "--overwrite"])
    processes.run([BIN / "prefect", "--no-prompt", "deploy", "--all"])


def start_emulators(
    processes: Processes, jst_port: int, kingdee_port: int, days: int = 14, orders_per_day: int = 40
) -> tuple[str, str]:
    """`jst-kingdee sandbox serve` on the given ports; returns the Jushuitan and Kingdee base URLs."""
    args = [BIN / "jst-kingdee", "sandbox", "serve", "--jst-port", str(jst_port), "--kingdee-port", str(kingdee_port)]
    args += ["--days", str(days), "--orders-per-day", str(orders_per_day)]
    emulators = processes.start("emulators", args)
    jst_url, kingdee_url = f"http://{LOOPBACK}:{jst_port}", f"http://{LOOPBACK}:{kingdee_port}"
    for url in (jst_url, kingdee_url):
        wait_until(f"{url}/__admin/stats", emulators, 60.0, "emulators")
    return jst_url, f"{kingdee_url}/k3cloud"


def worker_args(pool: str = POOL, run_once: bool = False) -> list[str | Path]:
    return [BIN / "prefect", "worker", "start", "--pool", pool, *(["--run-once"] if run_once else [])]


def sandbox_env(jst_url: str, kingdee_url: str, state: Path) -> dict[str, str]:
    """What flow runs need to reach the emulators and keep their state apart from development runs."""
    return {
        "JST_BASE_URL": jst_url,
        "KINGDEE_SERVER_URL": kingdee_url,
        "JST_TOKEN_STORE_PATH": str(state / "jushuitan_token.json"),
        "SYNC_STATE_DIR": str(state),
        "SYNC_REPORTS_DIR": str(ROOT / "reports"),
    }


def serve(port: int, jst_port: int, kingdee_port: int, home: Path) -> int:
    """Run the deployments locally: server, pool, deployments, emulators, blocks and a worker, until
    interrupted (0) or until one of them exits (1)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from connectors.settings import JushuitanSettings, KingdeeSettings
    from deploy.blocks import register_blocks

    def interrupted(_sig: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # SIGINT explicitly: a shell starting this in the background would otherwise leave Ctrl-C ignored;
    # SIGTERM (`kill <pid>`) stops everything the same way.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, interrupted)
    api_url = f"http://{LOOPBACK}:{port}/api"
    state = (home / "state").resolve()
    with Processes(prefect_env(home, api_url), home / "logs") as processes:
        try:
            print(f"Starting the Prefect server (logs in {processes.logs}) ...")
            start_prefect_server(processes, port)
            deploy(processes)
            jst_url, kingdee_url = start_emulators(processes, jst_port, kingdee_port)
            with temporary_settings(updates={PREFECT_API_URL: api_url}):
                register_blocks(
                    jushuitan=JushuitanSettings(base_url=jst_url), kingdee=KingdeeSettings(server_url=kingdee_url)
                )
            processes.env.update(sandbox_env(jst_url, kingdee_url, state))
            processes.start("worker", worker_args(), to_terminal=True)
            print(
                f"\nPrefect UI: http://{LOOPBACK}:{port}   (API {api_url})\n"
                f"Emulators: Jushuitan {jst_url}, Kingdee {kingdee_url}\n"
                "Deployments: sync-outbound/every-15-min, sync-returns/hourly, sync-materials/nightly, "
                "sync-sweep/nightly-sweep, sync-all/on-demand, set-mappings/form, doctor/on-demand (run them from the "
                "UI).\n"
                "Ctrl-C stops everything started here.\n"
            )
            while not (dead := [(name, p.returncode) for name, p in processes.started if p.poll() is not None]):
                time.sleep(1.0)
            print(f"{dead[0][0]} exited (rc={dead[0][1]}); stopping everything.", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nStopping ...")
            return 0
