"""Loopback servers kept for the whole test process, each serving the fresh emulator app of one test at a time.

Stopping uvicorn takes ~0.15 s a server (its 0.1 s shutdown ticks), and most tests start two: a minute over
the suite. A test still gets a new app (a new world, new counters and faults) on a real socket; only the
port outlives it.
"""

from __future__ import annotations

import atexit
from collections.abc import Iterator
from contextlib import contextmanager

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
