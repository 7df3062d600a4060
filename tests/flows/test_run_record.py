"""A real sync run over the emulators leaves its record in the state store (state/runs.py)."""

from __future__ import annotations

from datetime import datetime

from flows.outbound import sync_outbound
from state.runs import latest_runs
from state.settings import SyncSettings


def test_a_sync_run_records_its_window_counts_and_report_folder(sandbox):
    state = sync_outbound(return_state=True)
    summary = state.result()

    [record] = latest_runs(SyncSettings())
    assert record.run_id == str(state.state_details.flow_run_id)
    assert (record.sync, record.dry_run) == ("outbound", False)
    assert [record.window_start.isoformat(), record.window_end.isoformat()] == summary["window"]
    assert record.counts == {name: summary[name] for name in record.counts} and record.counts["written"] > 0
    [folder] = sandbox.reports.iterdir()
    assert record.report_dir == str(folder.resolve())
    assert record.started <= record.finished <= datetime.now(record.finished.tzinfo)
