from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from flows.outbound import sync_outbound
from state.run_lock import RunInProgress, run_lock
from state.settings import SyncSettings


def test_a_second_run_of_the_same_sync_writes_nothing_while_the_first_holds_the_lock(sandbox):
    window = {"since": sandbox.world.start - timedelta(days=1), "until": datetime.now(sandbox.world.end.tzinfo)}
    with run_lock("outbound", SyncSettings()):
        with pytest.raises(RunInProgress, match="another outbound run is in progress"):
            sync_outbound(**window)
    assert sandbox.bills("SAL_OUTSTOCK") == {}
    assert sync_outbound(**window)["written"] > 0  # the lock is free again


def test_different_syncs_do_not_block_each_other(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNC_STATE_DIR", str(tmp_path))
    settings = SyncSettings()
    with run_lock("outbound", settings), run_lock("returns", settings):
        with pytest.raises(RunInProgress):
            with run_lock("outbound", settings):
                pass
