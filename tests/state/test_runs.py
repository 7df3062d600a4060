"""The per-run record: one row per sync run, read back latest first."""

from __future__ import annotations

from datetime import datetime, timedelta

from basics.shanghai import SHANGHAI
from state.runs import RunRecord, latest_runs, record_run

START = datetime(2026, 12, 1, 8, 0, tzinfo=SHANGHAI)


def run(run_id: str, sync: str, minutes: int, **changed: object) -> RunRecord:
    finished = START + timedelta(minutes=minutes)
    values = {
        "run_id": run_id,
        "sync": sync,
        "window_start": START - timedelta(hours=1),
        "window_end": START,
        "dry_run": False,
        "counts": {"fetched": 3, "written": 2, "held": 1},
        "report_dir": f"/srv/reports/{run_id}",
        "started": finished - timedelta(seconds=30),
        "finished": finished,
    }
    return RunRecord(**{**values, **changed})


def test_runs_are_read_back_as_written_the_latest_first_and_by_sync(state_settings):
    runs = [
        run("r1", "outbound", 0),
        run("r2", "returns", 5, dry_run=True, counts={"fetched": 0}),
        run("r3", "outbound", 10, window_start=None, window_end=None),  # a replay
    ]
    for each in runs:
        record_run(state_settings, each)

    assert latest_runs(state_settings) == runs[::-1]
    assert latest_runs(state_settings, sync="outbound", limit=1) == [runs[2]]


def test_a_run_recorded_again_keeps_one_row_with_its_last_values(state_settings):
    record_run(state_settings, run("r1", "outbound", 0))
    record_run(state_settings, again := run("r1", "outbound", 3, counts={"fetched": 4, "written": 4}))

    assert latest_runs(state_settings) == [again]
