"""Reliability suites: the session's Prefect test server (tests/conftest.py; child processes record into it
too) and a fresh stage — world, emulators, state and report folders, environment — per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from prefect.variables import Variable

from state.watermarks import watermark_name
from tests.reliability.stage import Stage, environment, open_stage


@pytest.fixture(scope="session", autouse=True)
def prefect_harness(prefect_api: str) -> None:
    """Every reliability test records into the session's Prefect test server."""


@pytest.fixture
def make_stage(tmp_path) -> Iterator[Callable[..., Stage]]:
    """Open a stage (options as `open_stage`), apply its environment and clear the watermarks."""
    with ExitStack() as stack:

        def make(**options) -> Stage:
            stage = stack.enter_context(open_stage(tmp_path, **options))
            stack.enter_context(environment(stage.env()))
            for sync in ("materials", "outbound", "returns"):
                Variable.unset(watermark_name(sync))
            return stage

        yield make


@pytest.fixture
def stage(make_stage) -> Stage:
    return make_stage()
