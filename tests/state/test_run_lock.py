from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from state.run_lock import RunInProgress, run_lock

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from state.run_lock import run_lock
from state.settings import SyncSettings
with run_lock(sys.argv[1], SyncSettings()):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_different_syncs_do_not_block_each_other(state_settings):
    with run_lock("outbound", state_settings), run_lock("returns", state_settings):
        with pytest.raises(RunInProgress):
            with run_lock("outbound", state_settings):
                pass


def test_a_lock_held_by_another_process_is_refused_and_freed_when_that_process_is_killed(state_settings):
    # The child sees the same SYNC_STATE_DIR and SYNC_DATABASE_URL, as a second worker would.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, "outbound"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "locked\n", holder.stderr.read()
        with pytest.raises(RunInProgress, match="another outbound run is in progress.*nothing was written"):
            with run_lock("outbound", state_settings):
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    finally:
        holder.kill()
        holder.wait()
    # The server ends the dead process's session as soon as it sees its connection close.
    deadline = time.monotonic() + 10
    while True:
        try:
            with run_lock("outbound", state_settings):
                return
        except RunInProgress:
            assert time.monotonic() < deadline, "the lock of a killed process was never released"
            time.sleep(0.05)
