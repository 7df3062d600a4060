"""Shared fixtures: the sandbox world and both emulators served over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.data import SandboxWorld, generate_world
from sandbox.server import BackgroundServer, serve_in_thread

TEST_SEED = 7


@pytest.fixture
def world() -> SandboxWorld:
    """A small deterministic world (fresh per test: emulators mutate what they serve)."""
    return generate_world(seed=TEST_SEED, days=10, orders_per_day=12)


@pytest.fixture
def jst_server(world: SandboxWorld) -> Iterator[BackgroundServer]:
    from sandbox.jushuitan_app import create_app

    with serve_in_thread(create_app(world)) as server:
        yield server


@pytest.fixture
def kingdee_server(world: SandboxWorld) -> Iterator[BackgroundServer]:
    from sandbox.kingdee_app import create_app

    with serve_in_thread(create_app(world.kingdee)) as server:
        yield server
