"""Shared fixtures: the sandbox world, both emulators served over real HTTP on 127.0.0.1, and the session's
Prefect test server.

`make test` runs the suite in two processes (pytest-xdist, one file each at a time): whatever a test uses
beside the others — a port, a file, a database — must be its own (tmp_path, port 0) or its process's
(the `worker_id` fixture names it).
"""

from __future__ import annotations

import process_settings  # noqa: F401  first: its defaults must be set before Prefect or Polars load

from collections.abc import Iterator
from typing import NoReturn

import pytest

from sandbox.data import SandboxWorld, generate_world
from sandbox.server import BackgroundServer
from tests.servers import served

TEST_SEED = 7


@pytest.fixture
def world() -> SandboxWorld:
    """A small deterministic world (fresh per test: emulators mutate what they serve)."""
    return generate_world(seed=TEST_SEED, days=10, orders_per_day=12)


@pytest.fixture
def jst_server(world: SandboxWorld) -> Iterator[BackgroundServer]:
    from sandbox.jushuitan import create_app

    with served(create_app(world)) as server:
        yield server


@pytest.fixture
def kingdee_server(world: SandboxWorld) -> Iterator[BackgroundServer]:
    from sandbox.kingdee import create_app

    with served(create_app(world.kingdee)) as server:
        yield server


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """One Prefect test server for the session (~13 s to start, PREFECT_NOTES.md), shared by the flow and
    reliability tests; its API URL is for child processes (PREFECT_API_URL: no ephemeral server each).
    A sync flow call otherwise waits ~1 s for its heartbeat thread."""
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield str(PREFECT_API_URL.value())


@pytest.fixture
def egress(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every request this process tries to send anywhere but loopback, refused before it leaves.

    httpx's own transports are wrapped, so a test of a production URL proves that nothing was sent
    (the list stays empty) without ever reaching, or even resolving, that address.
    """
    import ipaddress

    import httpx

    attempted: list[str] = []
    send, send_async = httpx.HTTPTransport.handle_request, httpx.AsyncHTTPTransport.handle_async_request

    def loopback(request: httpx.Request) -> bool:
        try:
            return request.url.host == "localhost" or ipaddress.ip_address(request.url.host).is_loopback
        except ValueError:
            return False

    def refuse(request: httpx.Request) -> NoReturn:
        attempted.append(str(request.url))
        raise httpx.ConnectError(f"the test refused a request to {request.url.host}", request=request)

    def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        return send(self, request) if loopback(request) else refuse(request)

    async def handle_async_request(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        return await send_async(self, request) if loopback(request) else refuse(request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", handle_request)
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", handle_async_request)
    return attempted
