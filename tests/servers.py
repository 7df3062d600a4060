"""Loopback servers kept for the whole test process, each serving the fresh emulator app of one test at a time.

Stopping uvicorn takes ~0.15 s a server (its 0.1 s shutdown ticks), and most tests start two: a minute over
the suite. A test still gets a new app (a new world, new counters and faults) on a real socket; only the
port outlives it.
"""

from __future__ import annotations

import atexit
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sandbox.server import BackgroundServer


class _Socket:
    """One started server whose requests go to the app plugged in now (none between tests)."""

    def __init__(self) -> None:
        self.app = None
        self.server = BackgroundServer(self).start()
        atexit.register(self.server.stop)

    async def __call__(self, scope, receive, send) -> None:
        if self.app is None:
            raise RuntimeError(f"a request reached {self.server.url} between tests")
        await self.app(scope, receive, send)


_free: list[_Socket] = []


@contextmanager
def served(app) -> Iterator[BackgroundServer]:
    """`app` on a free kept server (a new one when all are in use), like sandbox.server.serve_in_thread."""
    socket = _free.pop() if _free else _Socket()
    socket.app = app
    try:
        yield socket.server
    finally:
        socket.app = None
        _free.append(socket)


def point_at_sandbox(env, jst_url: str, kingdee_url: str, folder: Path) -> None:
    """Settings of a run against these emulators, with its token, reports and state under `folder` and the
    checkout's hand-kept tables as the seed. `env`: a pytest MonkeyPatch."""
    root = Path(__file__).resolve().parents[1]
    env.setenv("JST_BASE_URL", jst_url)
    env.setenv("JST_TOKEN_STORE_PATH", str(folder / "token.json"))
    env.setenv("KINGDEE_SERVER_URL", f"{kingdee_url}/k3cloud")
    env.setenv("SYNC_REPORTS_DIR", str(folder / "reports"))
    env.setenv("SYNC_STATE_DIR", str(folder / "state"))
    env.setenv("SYNC_SHOPS_TABLE", str(root / "config/shops.csv"))
    env.setenv("SYNC_WAREHOUSES_TABLE", str(root / "config/warehouses.csv"))
