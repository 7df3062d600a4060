"""What a run does with Kingdee's answers: row failures, an answer lost after commit, revoked
documents, optional submit/audit, and the artifacts it leaves."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx
import polars as pl
from prefect.artifacts import Artifact

from flows.outbound import sync_outbound
from state.ledger import HeldLedger
from state.settings import SyncSettings
from tests.flows.oracle import Scheme


def _window(world):
    return {"since": world.start - timedelta(days=1), "until": datetime.now(world.end.tzinfo)}


def _save_faults(sandbox, **faults) -> None:
    httpx.post(f"{sandbox.kingdee.url}/__admin/save_faults", json=faults).raise_for_status()


def test_a_rejected_bill_is_recorded_and_the_rest_of_its_batch_is_kept(sandbox):
    expected = sorted(Scheme(sandbox.world).outbound_bookable())
    rejected = expected[5]
    _save_faults(sandbox, fail_bill_numbers=[rejected])
    summary = sync_outbound(**_window(sandbox.world))
    assert summary["failed"] == 1
    assert summary["written"] == len(expected) - 1
    assert set(sandbox.bills("SAL_OUTSTOCK")) == set(expected) - {rejected}
    folder = next(sandbox.reports.iterdir())
    documents = pl.read_csv(folder / "documents.csv", infer_schema=False)
    failed = documents.filter(pl.col("outcome") == "failed").row(0, named=True)
    assert failed["document"] == rejected and "模拟业务校验失败" in failed["message"]
    assert rejected in HeldLedger(SyncSettings()).pending("outbound")

    _save_faults(sandbox, fail_bill_numbers=[])
    again = sync_outbound(**_window(sandbox.world))
    assert again["written"] == 1 and again["skipped_existing"] == len(expected) - 1
    assert set(sandbox.bills("SAL_OUTSTOCK")) == set(expected)


def test_an_answer_lost_after_commit_does_not_write_twice(sandbox, monkeypatch):
    monkeypatch.setenv("KINGDEE_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("SYNC_BATCH_SIZE", "40")
    _save_faults(sandbox, timeout_after_commit_seconds=3)
    summary = sync_outbound(**_window(sandbox.world))
    expected = Scheme(sandbox.world).outbound_bookable()
    assert summary["written"] == len(expected) and summary["failed"] == 0
    assert set(sandbox.bills("SAL_OUTSTOCK")) == set(expected)
    stats = httpx.get(f"{sandbox.kingdee.url}/__admin/stats").json()
    assert sum(stats["batch_sizes"]) == len(expected)  # every bill was sent exactly once


def test_a_document_revoked_after_booking_is_reported_not_reversed(sandbox):
    sync_outbound(**_window(sandbox.world))
    booked = sorted(sandbox.bills("SAL_OUTSTOCK"))[0]
    httpx.post(f"{sandbox.jst.url}/__admin/outbound/{booked}", json={"status": "Cancelled"}).raise_for_status()
    summary = sync_outbound(**_window(sandbox.world))
    assert summary["needs_attention"] == 1
    folder = max(sandbox.reports.iterdir())
    attention = pl.read_csv(folder / "attention.csv", infer_schema=False)
    assert attention["document"].to_list() == [booked]
    assert booked in sandbox.bills("SAL_OUTSTOCK")


def test_submit_and_audit_when_configured(sandbox, monkeypatch):
    monkeypatch.setenv("SYNC_SUBMIT_AFTER_SAVE", "true")
    monkeypatch.setenv("SYNC_AUDIT_AFTER_SUBMIT", "true")
    sync_outbound(**_window(sandbox.world))
    statuses = {bill["FDocumentStatus"] for bill in sandbox.bills("SAL_OUTSTOCK").values()}
    assert statuses == {"C"}


def test_bills_stay_unsubmitted_by_default(sandbox):
    sync_outbound(**_window(sandbox.world))
    assert {bill["FDocumentStatus"] for bill in sandbox.bills("SAL_OUTSTOCK").values()} == {"A"}


def test_run_publishes_summary_and_held_artifacts(sandbox):
    summary = sync_outbound(**_window(sandbox.world))
    markdown = Artifact.get("outbound-summary")
    assert f"| {summary['fetched']} | {summary['written']} |" in markdown.data
    table = json.loads(Artifact.get("outbound-held").data)
    assert len(table) == min(summary["held_lines"], SyncSettings().held_rows_in_artifact)
    assert {"document", "rule_id", "label_zh", "message", "hint"} <= set(table[0])
