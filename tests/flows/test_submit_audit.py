"""Submit and Audit after save (SYNC_SUBMIT_AFTER_SAVE / SYNC_AUDIT_AFTER_SUBMIT): what Kingdee answers
for each bill is recorded and reported, only submitted bills are audited, and bills left saved but not
submitted (a refused Submit, a lost answer, a crash between save and submit) are submitted by the next run."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import openpyxl
import polars as pl
import pytest

from flows.outbound import sync_outbound
from state.ledger import HeldLedger
from state.settings import SyncSettings
from tests.flows.oracle import Scheme

SUBMIT_PATH = "/k3cloud/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.Submit"


@pytest.fixture
def follow_up(monkeypatch) -> None:
    monkeypatch.setenv("SYNC_SUBMIT_AFTER_SAVE", "true")
    monkeypatch.setenv("SYNC_AUDIT_AFTER_SUBMIT", "true")


def _window(world):
    return {"since": world.start - timedelta(days=1), "until": datetime.now(world.end.tzinfo)}


def _save_faults(sandbox, **faults) -> None:
    httpx.post(f"{sandbox.kingdee.url}/__admin/save_faults", json=faults).raise_for_status()


def _statuses(sandbox) -> dict[str, str]:
    return {number: bill["FDocumentStatus"] for number, bill in sandbox.bills("SAL_OUTSTOCK").items()}


def _documents(sandbox) -> pl.DataFrame:
    return pl.read_csv(max(sandbox.reports.iterdir()) / "documents.csv", infer_schema=False)


def test_refused_submit_and_audit_are_reported_per_bill_counted_and_retried(sandbox, follow_up):
    expected = sorted(Scheme(sandbox.world).outbound_bookable())
    refused_submit, refused_audit = expected[3], expected[7]
    _save_faults(sandbox, fail_submit_numbers=[refused_submit], fail_audit_numbers=[refused_audit])
    summary = sync_outbound(**_window(sandbox.world))

    assert summary["written"] == len(expected)  # still written: follow-up states do not change the outcome
    assert (summary["submit_failed"], summary["audit_failed"]) == (1, 1)
    assert summary["audited"] == len(expected) - 2 and summary["submitted"] == 0
    statuses = _statuses(sandbox)
    assert (statuses.pop(refused_submit), statuses.pop(refused_audit)) == ("A", "B")  # not audited
    assert set(statuses.values()) == {"C"}

    documents = _documents(sandbox)
    rows = {r["document"]: r for r in documents.filter(pl.col("follow_up").str.ends_with("failed")).to_dicts()}
    assert rows[refused_submit]["follow_up"] == "submit_failed" and "模拟提交失败" in rows[refused_submit]["message"]
    assert rows[refused_audit]["follow_up"] == "audit_failed" and "模拟审核失败" in rows[refused_audit]["message"]
    assert set(rows) == {refused_submit, refused_audit}
    assert summary["needs_attention"] == 2
    book = openpyxl.load_workbook(max(sandbox.reports.iterdir()) / "report.xlsx", read_only=True)
    sheet = [list(row) for row in book["单据结果 documents"].iter_rows(min_row=2, values_only=True)]
    column = sheet[0].index("提交/审核 follow_up")
    shown = {row[0]: row[column] for row in sheet[1:]}
    assert (shown[refused_submit], shown[refused_audit]) == ("submit_failed", "audit_failed")
    pending = HeldLedger(SyncSettings()).pending("outbound")
    assert {refused_submit, refused_audit} <= set(pending)

    _save_faults(sandbox, fail_submit_numbers=[], fail_audit_numbers=[])
    again = sync_outbound(**_window(sandbox.world))
    assert again["skipped_existing"] == len(expected) and again["audited"] == 2
    assert set(_statuses(sandbox).values()) == {"C"}
    assert not {refused_submit, refused_audit} & set(HeldLedger(SyncSettings()).pending("outbound"))


def test_audit_pre_answers_the_stock_check(sandbox, follow_up):
    _save_faults(sandbox, audit_stock_short=True)
    summary = sync_outbound(**_window(sandbox.world))
    assert set(_statuses(sandbox).values()) == {"C"}
    assert summary["audited"] == summary["written"] and summary["audit_failed"] == 0
    assert httpx.get(f"{sandbox.kingdee.url}/__admin/stats").json()["stock_check_interactions"] == 0


def test_bills_saved_but_not_submitted_are_submitted_by_the_next_run(sandbox, monkeypatch):
    """A run that saves and stops before Submit (here: one without the follow-up, as a crash would leave
    it) leaves bills in 创建 (A); the next run with the follow-up finds them skipped and submits them,
    but leaves alone the bills a person has moved on (re-audit D, draft Z)."""
    sync_outbound(**_window(sandbox.world))
    expected = sorted(Scheme(sandbox.world).outbound_bookable())
    assert set(_statuses(sandbox).values()) == {"A"}
    for number, state in ((expected[0], "D"), (expected[1], "Z")):
        url = f"{sandbox.kingdee.url}/__admin/bills/SAL_OUTSTOCK/{number}"
        httpx.post(url, json={"FDocumentStatus": state}).raise_for_status()

    monkeypatch.setenv("SYNC_SUBMIT_AFTER_SAVE", "true")
    monkeypatch.setenv("SYNC_AUDIT_AFTER_SUBMIT", "true")
    summary = sync_outbound(**_window(sandbox.world))
    statuses = _statuses(sandbox)
    assert (statuses.pop(expected[0]), statuses.pop(expected[1])) == ("D", "Z")
    assert set(statuses.values()) == {"C"}
    assert summary["skipped_existing"] == len(expected) and summary["audited"] == len(expected) - 2


def test_a_submit_whose_answer_is_lost_is_reported_and_submitted_by_the_next_run(sandbox, follow_up):
    faults = f"{sandbox.kingdee.url}/__admin/faults"
    httpx.post(faults, json={"reset_rate": 1.0, "path_prefixes": [SUBMIT_PATH]}).raise_for_status()
    summary = sync_outbound(**_window(sandbox.world))
    expected = Scheme(sandbox.world).outbound_bookable()
    assert summary["written"] == len(expected) and summary["submit_failed"] == len(expected)
    assert summary["audited"] == 0 and set(_statuses(sandbox).values()) == {"A"}
    assert "no answer" in _documents(sandbox).filter(pl.col("follow_up") == "submit_failed")["message"][0]

    httpx.post(faults, json={"reset_rate": 0.0, "path_prefixes": []}).raise_for_status()
    again = sync_outbound(**_window(sandbox.world))
    assert again["audited"] == len(expected) and set(_statuses(sandbox).values()) == {"C"}
