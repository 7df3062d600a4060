from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from flows.outbound import sync_outbound
from state.database import DatabaseUnreachable
from state.run_lock import RunInProgress, run_lock
from state.settings import SyncSettings
from tests.state.postgres import free_port


def test_a_second_run_of_the_same_sync_writes_nothing_while_the_first_holds_the_lock(sandbox):
    window = {"since": sandbox.world.start - timedelta(days=1), "until": datetime.now(sandbox.world.end.tzinfo)}
    with run_lock("outbound", SyncSettings()):
        with pytest.raises(RunInProgress, match="another outbound run is in progress"):
            sync_outbound(**window)
    assert sandbox.bills("SAL_OUTSTOCK") == {}
    assert sync_outbound(**window)["written"] > 0  # the lock is free again


def test_a_run_whose_state_database_is_unreachable_fails_at_start_and_writes_nothing(sandbox, monkeypatch):
    url = f"postgresql+psycopg://sync:s3cret@127.0.0.1:{free_port()}/state"
    monkeypatch.setenv("SYNC_DATABASE_URL", url)
    window = {"since": sandbox.world.start - timedelta(days=1), "until": datetime.now(sandbox.world.end.tzinfo)}
    with pytest.raises(DatabaseUnreachable, match="nothing was read or written") as unreachable:
        sync_outbound(**window)
    assert "s3cret" not in str(unreachable.value)
    assert sandbox.bills("SAL_OUTSTOCK") == {}
    assert not SyncSettings().state_dir.exists()
