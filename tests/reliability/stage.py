"""The stage every reliability scenario plays on: a fresh sandbox world, both emulators over real HTTP on
127.0.0.1 behind a `Tap` (stop or act at the n-th request of a kind), the environment a sync run reads,
and sync runs in this process or in a child process that can be killed.

Shared by the pytest suites and `make soak`, so both exercise exactly the same machinery.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sandbox.data import SandboxWorld, generate_world
from sandbox.server import BackgroundServer
from tests.servers import served

ROOT = Path(__file__).resolve().parents[2]
OUTBOUND_QUERY = "/open/orders/out/simple/query"
HOLD_LIMIT_SECONDS = 120  # a held request is let go after this, whatever happens to the test


@dataclass
class Checkpoint:
    """The `nth` request whose path contains `marker`: run `action` first (in a worker thread, so it
    may call the emulator's admin endpoints), then optionally hold the request `before` the emulator
    sees it or hold its answer `after` the emulator has acted on it, until `release` is set — or
    `answer` it in the emulator's place: (headers, body) of the request -> (status, body)."""

    marker: str
    nth: int
    hold: str | None = None  # None | "before" | "after"
    action: Callable[[], None] | None = None
    answer: Callable[[dict[str, str], bytes], tuple[int, bytes]] | None = None
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    seen: int = 0


class Tap:
    """ASGI wrapper in front of an emulator (and its fault middleware); admin paths pass untouched."""

    def __init__(self, app) -> None:
        self.app = app
        self.checkpoints: list[Checkpoint] = []

    def at(self, marker: str, nth: int = 1, *, hold: str | None = None, action=None, answer=None) -> Checkpoint:
        checkpoint = Checkpoint(marker, nth, hold, action, answer)
        self.checkpoints.append(checkpoint)
        return checkpoint

    def release_all(self) -> None:
        for checkpoint in self.checkpoints:
            checkpoint.release.set()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__admin"):
            await self.app(scope, receive, send)
            return
        due = []
        for checkpoint in self.checkpoints:
            if checkpoint.marker in scope["path"]:
                checkpoint.seen += 1
                if checkpoint.seen == checkpoint.nth:
                    due.append(checkpoint)
        for checkpoint in due:
            if checkpoint.action:
                await asyncio.to_thread(checkpoint.action)
            if checkpoint.hold == "before":
                await _hold(checkpoint)
            if checkpoint.answer:
                await _answer(checkpoint.answer, scope, receive, send)
                return
        after = [c for c in due if c.hold == "after"]
        if not after:
            await self.app(scope, receive, send)
            return
        answer: list[dict] = []

        async def keep(message: dict) -> None:
            answer.append(message)

        await self.app(scope, receive, keep)
        for checkpoint in after:
            await _hold(checkpoint)
        try:
            for message in answer:
                await send(message)
        except (OSError, RuntimeError):
            pass  # the client is gone (killed while its answer was held)


async def _answer(answer, scope, receive, send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
    status, content = answer(headers, body)
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": content})


async def _hold(checkpoint: Checkpoint) -> None:
    checkpoint.reached.set()
    for _ in range(HOLD_LIMIT_SECONDS * 100):
        if checkpoint.release.is_set():
            return
        await asyncio.sleep(0.01)


@dataclass
class Stage:
    world: SandboxWorld
    jst: BackgroundServer
    kingdee: BackgroundServer
    jst_tap: Tap
    kingdee_tap: Tap
    root: Path
    settings: dict[str, str] = field(default_factory=dict)  # extra env for this scenario

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def env(self) -> dict[str, str]:
        """What a sync run reads: both emulators, private state/report folders, quick retries, and an
        incremental window that covers the whole world."""
        return {
            "JST_BASE_URL": self.jst.url,
            "JST_TOKEN_STORE_PATH": str(self.state / "jushuitan_token.json"),
            "JST_RETRY_BASE_SECONDS": "0.05",
            "JST_RETRY_CAP_SECONDS": "0.5",
            "KINGDEE_SERVER_URL": f"{self.kingdee.url}/k3cloud",
            "KINGDEE_RETRY_BASE_SECONDS": "0.05",
            "KINGDEE_RETRY_CAP_SECONDS": "0.5",
            "SYNC_REPORTS_DIR": str(self.reports),
            "SYNC_STATE_DIR": str(self.state),
            "SYNC_SHOPS_TABLE": str(ROOT / "config/shops.csv"),
            "SYNC_WAREHOUSES_TABLE": str(ROOT / "config/warehouses.csv"),
            "SYNC_INITIAL_LOOKBACK_DAYS": "30",
            "SYNC_SAFETY_LAG_MINUTES": "0",
            **self.settings,
        }

    def bills(self, form: str = "SAL_OUTSTOCK") -> list[dict]:
        return httpx.get(f"{self.kingdee.url}/__admin/bills/{form}").json()

    def kingdee_stats(self) -> dict:
        return httpx.get(f"{self.kingdee.url}/__admin/stats").json()

    def kingdee_save_faults(self) -> dict:
        return httpx.get(f"{self.kingdee.url}/__admin/save_faults").json()

    def jst_stats(self) -> dict:
        return httpx.get(f"{self.jst.url}/__admin/stats").json()

    def fault_state(self, system: str) -> dict:
        """The transport fault knobs of one emulator and how often each fault `fired`."""
        return httpx.get(f"{(self.jst if system == 'jst' else self.kingdee).url}/__admin/faults").json()

    def admin(self, system: str, path: str, body: object = None) -> dict:
        base = self.jst.url if system == "jst" else self.kingdee.url
        response = httpx.post(f"{base}/__admin/{path}", json=body if body is not None else {})
        response.raise_for_status()
        return response.json()


@contextmanager
def open_stage(
    root: Path,
    seed: int = 7,
    *,
    days: int = 10,
    orders_per_day: int = 12,
    jst_options: dict | None = None,
    kingdee_options: dict | None = None,
    world: SandboxWorld | None = None,
    settings: dict[str, str] | None = None,
) -> Iterator[Stage]:
    """Both emulators for a new world (or `world`), served on loopback ports (tests.servers) until the block ends;
    `settings` are extra environment variables for the runs (JST_*, KINGDEE_*, SYNC_*)."""
    from sandbox.jushuitan import create_app as jushuitan_app
    from sandbox.kingdee import create_app as kingdee_app

    world = world or generate_world(seed=seed, days=days, orders_per_day=orders_per_day)
    jst_tap = Tap(jushuitan_app(world, **(jst_options or {})))
    kingdee_tap = Tap(kingdee_app(world.kingdee, **(kingdee_options or {})))
    with ExitStack() as stack:
        jst = stack.enter_context(served(jst_tap))
        kingdee = stack.enter_context(served(kingdee_tap))
        stack.callback(kingdee_tap.release_all)  # runs first: held handlers end before the servers are let go
        stack.callback(jst_tap.release_all)
        yield Stage(world, jst, kingdee, jst_tap, kingdee_tap, root, dict(settings or {}))


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for an in-process run, restoring the previous values afterwards."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def start_child(
    stage: Stage, prefect_api_url: str, *args: str, pause_at: str = "", cwd: Path = ROOT
) -> subprocess.Popen:
    """`jst-kingdee sync ...` in a child process against the stage, recording into the test's Prefect
    server. `pause_at` ("module:function") makes the child stop for good just before that call; `cwd` is
    its working directory (this checkout stays first on its import path)."""
    env = {
        **os.environ,
        **stage.env(),
        "PREFECT_API_URL": prefect_api_url,
        "PREFECT_HOME": str(stage.root / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
        "CRASH_PAUSE_AT": pause_at,
        "CRASH_PAUSE_MARK": str(stage.root / "paused"),
        "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.child", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
