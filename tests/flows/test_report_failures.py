"""A reports location that cannot be written (issue 19, 6b): refused before anything is written to Kingdee; a
report that fails later keeps its outcome table under the state directory, and the next run reports it."""

from __future__ import annotations

import errno
import json
from datetime import datetime, timedelta

import polars as pl
import pytest

import reporting.reports
from flows.outbound import sync_outbound
from reporting.files import ReportsNotWritable
from reporting.reports import ReportNotWritten
from tests.flows.oracle import Scheme


def _window(world) -> dict:
    return {"since": world.start - timedelta(days=1), "until": datetime.now(world.end.tzinfo)}


def test_a_reports_dir_under_a_plain_file_fails_at_start_and_writes_nothing(sandbox, monkeypatch, tmp_path):
    plain = tmp_path / "not-a-folder"
    plain.write_text("x")
    monkeypatch.setenv("SYNC_REPORTS_DIR", str(plain / "reports"))
    with pytest.raises(ReportsNotWritable, match=r"SYNC_REPORTS_DIR") as refused:
        sync_outbound(**_window(sandbox.world))
    assert str(plain / "reports") in str(refused.value)
    assert sandbox.bills("SAL_OUTSTOCK") == {}


def test_a_report_that_fails_later_is_kept_and_published_by_the_next_run(sandbox, monkeypatch):
    def disk_full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as broken:
        broken.setattr(reporting.reports, "write_report", disk_full)
        with pytest.raises(ReportNotWritten, match="No space left on device") as failed:
            sync_outbound(**_window(sandbox.world))
    kept = list((sandbox.reports.parent / "state" / "unreported" / "outbound").glob("*.csv"))
    assert len(kept) == 1 and str(kept[0]) in str(failed.value)
    written = set(sandbox.bills("SAL_OUTSTOCK"))
    assert written == set(Scheme(sandbox.world).outbound_bookable())

    second = sync_outbound(**_window(sandbox.world))
    assert second["written"] == 0 and second["skipped_existing"] == len(written)
    assert second["earlier_unreported"] == len(written) + second["held"]
    folder = max(sandbox.reports.iterdir())
    earlier = pl.read_csv(folder / "earlier_unreported.csv", infer_schema=False)
    assert set(earlier.filter(pl.col("outcome") == "written")["document"]) == written
    assert earlier["earlier_run"].n_unique() == 1
    assert "earlier run" in (folder / "summary.md").read_text(encoding="utf-8")
    assert "未出报告的结果" in (folder / "report.html").read_text(encoding="utf-8")
    assert json.loads((folder / "summary.json").read_text(encoding="utf-8"))["earlier_unreported"] == earlier.height

    # Published once: the run after does not list them again.
    third = sync_outbound(**_window(sandbox.world))
    assert third["earlier_unreported"] == 0
    assert not any(kept[0].parent.iterdir())
