"""The PostgreSQL state database goes away in the middle of a run (issue 15): the run fails saying so, its
watermark stays, and the next run, with the database back, books every bill exactly once.

The database is cut by a TCP forwarder (tests/state/forwarder.py) between the run and the session's
PostgreSQL, on the run's second BatchSave: its first bills are in Kingdee, its lock connection drops, and
every later connection is refused, as a lost network or a stopped server looks from a worker."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import psycopg
import pytest
from prefect.variables import Variable

from basics.shanghai import now_shanghai
from flows.outbound import sync_outbound
from sandbox.data import SandboxWorld, generate_world
from state.database import StateLost
from state.watermarks import watermark_name
from tests.conftest import TEST_SEED
from tests.flows.oracle import Scheme
from tests.servers import served
from tests.state.forwarder import Forwarder, forwarding
from tests.state.postgres import Postgres, postgres  # noqa: F401  fixture for pytest

PASSWORD = "s3cret-Pa55"


@pytest.fixture
def world() -> SandboxWorld:
    """The tests' world, ended an hour ago: an incremental run's window (up to now, less the safety lag)
    covers every document, so the oracle's bills are the run's."""
    end = now_shanghai().replace(second=0, microsecond=0) - timedelta(hours=1)
    return generate_world(seed=TEST_SEED, days=10, orders_per_day=12, end=end)


class CutOnBatchSave:
    """The Kingdee emulator, with the state database cut as its `nth` BatchSave arrives (before it is handled)."""

    def __init__(self, app) -> None:
        self.app, self.nth, self.seen, self.forwarder = app, 2, 0, None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].endswith(".BatchSave.common.kdsvc") and self.forwarder:
            self.seen += 1
            if self.seen == self.nth:
                self.forwarder.cut()
        await self.app(scope, receive, send)


@pytest.fixture
def cutter(world: SandboxWorld) -> CutOnBatchSave:
    from sandbox.kingdee import create_app

    return CutOnBatchSave(create_app(world.kingdee))


@pytest.fixture
def kingdee_server(cutter: CutOnBatchSave):
    with served(cutter) as server:
        yield server


@dataclass(frozen=True)
class StateBehindForwarder:
    forwarder: Forwarder
    server: Postgres
    database: str

    def rows(self, sql: str, database: str | None = None) -> list[tuple]:
        """Rows read past the forwarder, straight from the server."""
        with psycopg.connect(
            host="127.0.0.1", port=self.server.port, user="postgres", dbname=database or self.database
        ) as db:
            return db.execute(sql).fetchall()

    def wait_for_cut_sessions_to_end(self) -> None:
        """The server ends the cut sessions (the run lock's among them) on its own, a moment later."""
        deadline = time.monotonic() + 30
        query = f"SELECT COUNT(*) FROM pg_stat_activity WHERE datname = '{self.database}'"
        while self.rows(query, "postgres") != [(0,)]:
            assert time.monotonic() < deadline, "the server kept the sessions of the cut connections"
            time.sleep(0.05)


@pytest.fixture
def state(postgres: Postgres, monkeypatch: pytest.MonkeyPatch) -> Iterator[StateBehindForwarder]:  # noqa: F811
    name = f"test_{uuid.uuid4().hex}"
    postgres.execute(f"CREATE DATABASE {name}")
    with forwarding(postgres) as forwarder:
        url = forwarder.url(postgres.url(name)).set(password=PASSWORD)
        monkeypatch.setenv("SYNC_DATABASE_URL", url.render_as_string(hide_password=False))
        yield StateBehindForwarder(forwarder, postgres, name)
    postgres.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_a_state_database_lost_mid_run_fails_the_run_and_the_next_run_books_each_bill_once(
    sandbox, cutter, state, monkeypatch
):
    monkeypatch.setenv("SYNC_INITIAL_LOOKBACK_DAYS", "30")
    monkeypatch.setenv("SYNC_BATCH_SIZE", "10")
    expected = Scheme(sandbox.world).outbound_bookable()
    cutter.forwarder = state.forwarder

    with pytest.raises(StateLost, match="stopped answering.*before its watermark moves") as lost:
        sync_outbound()
    assert PASSWORD not in str(lost.value)
    assert Variable.get(watermark_name("outbound"), default=None) is None
    assert state.rows("SELECT COUNT(*) FROM sync_runs") == [(0,)]
    booked_before = len(sandbox.bills("SAL_OUTSTOCK"))
    assert 10 <= booked_before <= len(expected)  # the first batch went in before the cut

    state.forwarder.restore()
    state.wait_for_cut_sessions_to_end()
    summary = sync_outbound()
    numbers = Counter(bill["FBillNo"] for bill in httpx.get(f"{sandbox.kingdee.url}/__admin/bills/SAL_OUTSTOCK").json())
    assert set(numbers) == set(expected) and set(numbers.values()) == {1}
    assert summary["skipped_existing"] == booked_before
    assert summary["written"] == len(expected) - booked_before
    assert Variable.get(watermark_name("outbound"), default=None) == summary["window"][1]
    assert state.rows("SELECT sync FROM sync_runs") == [("outbound",)]
