"""Documents Jushuitan archived (status Archive, 归档) after shipping are shipped documents: booked like
Confirmed ones, unless the tenant's SYNC_OUTBOUND_BOOKED_STATUSES says otherwise (issue 19, item 4)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import httpx
import polars as pl

from flows.outbound import sync_outbound
from flows.reconcile import reconcile
from tests.flows.oracle import Scheme
from transforms.reconcile import MATCHED, MISSING


def _window(world) -> dict:
    return {"since": world.start - timedelta(days=1), "until": datetime.now(world.end.tzinfo)}


def _archive_a_shipped_document(sandbox) -> str:
    """A clean Confirmed document is archived in Jushuitan before any sync ran: the emulator moves its
    `modified` to now and gives it a new ts, as an archive does."""
    io_id = next(
        io_id for io_id, doc in Scheme(sandbox.world).outbound_bookable().items() if doc["status"] == "Confirmed"
    )
    response = httpx.post(f"{sandbox.jst.url}/__admin/outbound/{io_id}", json={"status": "Archive"})
    response.raise_for_status()
    assert response.json()["status"] == "Archive"
    return io_id


def _reconciled(folder: str, document: str) -> list[str]:
    """The document's result rows in the reconcile report (one when Jushuitan counts it)."""
    documents = pl.read_csv(Path(folder) / "documents.csv", schema_overrides={"document": pl.String})
    return documents.filter(pl.col("document") == document)["result"].to_list()


def test_a_document_archived_before_the_sync_is_booked_under_its_io_id(sandbox):
    io_id = _archive_a_shipped_document(sandbox)
    summary = sync_outbound(**_window(sandbox.world))
    bills = sandbox.bills("SAL_OUTSTOCK")
    assert io_id in bills
    assert bills[io_id]["FBillNo"] == io_id
    assert "status Archive" not in summary["notes"]


def test_a_replay_of_an_archived_document_books_it(sandbox):
    io_id = _archive_a_shipped_document(sandbox)
    summary = sync_outbound(documents=[io_id])
    assert summary["written"] == 1
    assert set(sandbox.bills("SAL_OUTSTOCK")) == {io_id}


def test_booking_confirmed_only_leaves_archived_documents_out_of_scope(sandbox, monkeypatch):
    io_id = _archive_a_shipped_document(sandbox)
    monkeypatch.setenv("SYNC_OUTBOUND_BOOKED_STATUSES", "Confirmed")
    summary = sync_outbound(**_window(sandbox.world))
    assert io_id not in sandbox.bills("SAL_OUTSTOCK")
    assert summary["written"] > 0
    archived = sum(1 for doc in sandbox.world.outbound if doc["status"] == "Archive")
    assert summary["notes"]["status Archive"] == archived >= 1


def test_reconcile_counts_an_archived_document_missing_then_matched(sandbox):
    io_id = _archive_a_shipped_document(sandbox)
    period = _window(sandbox.world)
    before = reconcile(**period, kinds=["outbound"])
    assert _reconciled(before["report_dir"], io_id) == [MISSING]
    sync_outbound(**period)
    after = reconcile(**period, kinds=["outbound"])
    assert _reconciled(after["report_dir"], io_id) == [MATCHED]


def test_a_document_booked_while_confirmed_is_not_written_again_once_archived(sandbox):
    window = _window(sandbox.world)
    first = sync_outbound(**window)
    booked = sandbox.bills("SAL_OUTSTOCK")
    io_id = _archive_a_shipped_document(sandbox)
    assert io_id in booked
    second = sync_outbound(since=window["since"], until=datetime.now(sandbox.world.end.tzinfo))
    assert second["written"] == 0
    assert second["skipped_existing"] == first["written"]
    assert sandbox.bills("SAL_OUTSTOCK") == booked
