"""A real sync run over the emulators leaves its record in the state store (state/runs.py)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import fsspec

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


def test_a_run_with_a_reports_url_records_where_every_host_reads_its_report(sandbox, monkeypatch):
    shared = f"memory://reports-{uuid.uuid4().hex}"
    monkeypatch.setenv("SYNC_REPORTS_URL", shared)
    summary = sync_outbound()

    [record] = latest_runs(SyncSettings())
    [folder] = sandbox.reports.iterdir()  # the local folder stays
    assert record.report_dir == f"{shared}/{folder.name}"
    with fsspec.open(f"{record.report_dir}/summary.json", "rt", encoding="utf-8") as copy:
        assert json.load(copy) == summary
    with fsspec.open(f"{record.report_dir}/summary.md", "rt", encoding="utf-8") as copy:
        assert f"Shared copy: `{record.report_dir}`" in copy.read()
