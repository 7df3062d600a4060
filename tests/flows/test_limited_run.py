"""A limited first run (`limit`, `sync --limit N`): at most N new bills, the first N in the window's order, saved
as drafts even with Submit / Audit on; the watermark stays put, reconcile shows the rest missing, and the next
plain run writes the rest, once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx
import polars as pl
import pytest
from prefect.variables import Variable
from typer.testing import CliRunner

from cli import app
from flows.outbound import sync_outbound
from flows.reconcile import reconcile
from state.watermarks import watermark_name
from tests.flows.oracle import Scheme
from transforms.reconcile import MATCHED, MISSING

LIMIT = 5


@pytest.fixture
def follow_up(monkeypatch) -> None:
    monkeypatch.setenv("SYNC_SUBMIT_AFTER_SAVE", "true")
    monkeypatch.setenv("SYNC_AUDIT_AFTER_SUBMIT", "true")


@pytest.fixture
def whole_world(monkeypatch) -> None:
    """The first incremental run (no watermark yet) covers the whole sandbox period, up to its last minute."""
    monkeypatch.setenv("SYNC_INITIAL_LOOKBACK_DAYS", "30")
    monkeypatch.setenv("SYNC_SAFETY_LAG_MINUTES", "0")


def _saved(sandbox, form: str = "SAL_OUTSTOCK") -> list[dict]:
    """Every bill Kingdee holds, duplicates included (a dict by number would hide a second save)."""
    return httpx.get(f"{sandbox.kingdee.url}/__admin/bills/{form}").json()


def _in_window_order(bookable: dict[str, dict]) -> list[str]:
    """Jushuitan pages a window by modified time, then io_id."""
    return [number for number, doc in sorted(bookable.items(), key=lambda kv: (kv[1]["modified"], int(kv[0])))]


def test_limited_run_saves_drafts_keeps_the_watermark_and_the_next_run_writes_the_rest_once(
    sandbox, follow_up, whole_world
):
    bookable = _in_window_order(Scheme(sandbox.world).outbound_bookable())
    rest = bookable[LIMIT:]

    limited = sync_outbound(limit=LIMIT)

    assert limited["written"] == LIMIT and limited["failed"] == 0
    assert (limited["limit"], limited["not_written_limited"]) == (LIMIT, len(rest))
    assert limited["submitted"] == limited["audited"] == 0  # drafts, although Submit and Audit are on
    bills = _saved(sandbox)
    assert sorted(bill["FBillNo"] for bill in bills) == sorted(bookable[:LIMIT])  # the first N, in window order
    assert {bill["FDocumentStatus"] for bill in bills} == {"A"}  # 创建
    assert Variable.get(watermark_name("outbound"), default=None) is None
    (folder,) = sandbox.reports.glob("*-outbound-*")
    assert f"limited to {LIMIT}: {len(rest)} documents not written this run" in (folder / "summary.md").read_text()
    assert pl.read_csv(folder / "limited.csv", infer_schema=False)["document"].to_list() == rest

    since, until = sandbox.world.start - timedelta(days=1), datetime.now(sandbox.world.end.tzinfo)
    counts = reconcile(since=since, until=until, kinds=["outbound"])["counts"]["outbound"]
    assert (counts[MATCHED], counts[MISSING]) == (LIMIT, len(rest))

    plain = sync_outbound()

    assert (plain["written"], plain["skipped_existing"]) == (len(rest), LIMIT)
    assert "limit" not in plain and "not_written_limited" not in plain
    numbers = [bill["FBillNo"] for bill in _saved(sandbox)]
    assert sorted(numbers) == sorted(bookable) and len(numbers) == len(set(numbers))  # each exactly once
    # With Submit / Audit on, the plain run takes the reviewed drafts on as it takes any bill left 创建.
    assert {bill["FDocumentStatus"] for bill in _saved(sandbox)} == {"C"}
    assert Variable.get(watermark_name("outbound"), default=None) is not None


def test_a_limit_counts_new_bills_only_so_a_second_limited_run_writes_the_next_n(sandbox, whole_world):
    bookable = _in_window_order(Scheme(sandbox.world).outbound_bookable())
    sync_outbound(limit=LIMIT)

    second = sync_outbound(limit=LIMIT)

    assert (second["written"], second["skipped_existing"]) == (LIMIT, LIMIT)
    assert second["not_written_limited"] == len(bookable) - 2 * LIMIT
    assert sorted(bill["FBillNo"] for bill in _saved(sandbox)) == sorted(bookable[: 2 * LIMIT])


def test_a_held_document_retried_and_left_out_by_the_limit_stays_pending(sandbox, whole_world):
    from state.ledger import HeldLedger
    from state.settings import SyncSettings

    held = sorted(Scheme(sandbox.world).outbound_held())
    first = sync_outbound(limit=LIMIT)
    pending = set(HeldLedger(SyncSettings()).pending("outbound"))
    assert first["held"] == len(held) and pending == set(held)

    # Every held document is fixed: the next limited run retries them first, by number, and writes LIMIT of them.
    fixable = {doc["io_id"]: doc for doc in sandbox.world.outbound if str(doc["io_id"]) in pending}
    template = next(iter(Scheme(sandbox.world).outbound_bookable().values()))
    for io_id in fixable:
        fix = {key: template[key] for key in ("shop_id", "shop_name", "wms_co_id", "io_date", "status", "items")}
        httpx.post(f"{sandbox.jst.url}/__admin/outbound/{io_id}", json=fix).raise_for_status()
    second = sync_outbound(limit=LIMIT)

    released = set(pending) - set(HeldLedger(SyncSettings()).pending("outbound"))
    assert second["written"] == LIMIT and len(released) == min(LIMIT, len(pending))
    assert second["notes"]["held earlier, no longer in scope"] == 0  # the ones left out are not closed


def test_sync_command_limit_flag_writes_n_bills(sandbox):
    since = (sandbox.world.start - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    until = (sandbox.world.end + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    result = CliRunner().invoke(app, ["sync", "outbound", "--since", since, "--until", until, "--limit", "3"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    summary = json.loads("\n".join(lines[lines.index("{") : lines.index("}") + 1]))
    assert (summary["written"], summary["limit"]) == (3, 3)
    assert summary["not_written_limited"] == len(Scheme(sandbox.world).outbound_bookable()) - 3
    assert len(_saved(sandbox)) == 3


@pytest.mark.parametrize(
    ("args", "message"), [(["outbound", "--limit", "0"], "--limit"), (["materials", "--limit", "3"], "materials")]
)
def test_sync_command_refuses_a_limit_it_cannot_apply(sandbox, args, message):
    result = CliRunner().invoke(app, ["sync", *args])
    assert result.exit_code == 2 and message in result.output
    assert _saved(sandbox) == []
