"""Two-host tests: child processes record into the session's Prefect test server (tests/conftest.py) and
share a fresh database on the session's PostgreSQL (tests/state/postgres.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from tests.hosts.harness import TwoHosts, two_hosts
from tests.state.postgres import Postgres, postgres  # noqa: F401  fixtures for pytest


@pytest.fixture
def make_hosts(tmp_path, postgres: Postgres, prefect_api: str) -> Iterator[Callable[..., TwoHosts]]:  # noqa: F811
    """Open two hosts (options as `two_hosts`) on a state database of the test's own."""
    with ExitStack() as stack:

        def make(**options) -> TwoHosts:
            database = stack.enter_context(postgres.fresh_database())
            return stack.enter_context(two_hosts(tmp_path, database, prefect_api, **options))

        yield make
