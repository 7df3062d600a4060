"""Replays of chosen numbers (issue 19, 6a): a replay is counted as replayed, numbers the source system does not
know are named as not found (and the CLI exits 3), and a number that cannot be an id is refused before any request."""

from __future__ import annotations

import json
from datetime import datetime

import httpx
import polars as pl
from typer.testing import CliRunner

from cli import app
from flows.materials import sync_materials
from flows.returns import sync_returns
from state.ledger import HeldLedger
from state.settings import SyncSettings
from tests.flows.oracle import Scheme

UNKNOWN_IO_IDS = ["99999991", "99999992"]


def _summary(output: str) -> dict:
    lines = output.splitlines()
    return json.loads("\n".join(lines[lines.index("{") : lines.index("}") + 1]))


def _jushuitan_calls(sandbox) -> dict[str, int]:
    calls = httpx.get(f"{sandbox.jst.url}/__admin/stats").json()["calls"]
    return {path: n for path, n in calls.items() if not path.startswith("/openWeb/auth")}


def test_replay_of_unknown_numbers_names_them_as_not_found_and_exits_3(sandbox):
    known = sorted(Scheme(sandbox.world).outbound_bookable())[0]
    result = CliRunner().invoke(app, ["replay", "outbound", known, *UNKNOWN_IO_IDS])
    assert result.exit_code == 3, result.output
    summary = _summary(result.output)
    assert summary["notes"]["replayed"] == 3
    assert summary["notes"]["not found in Jushuitan"] == 2
    assert not any(note.startswith("held earlier") and n for note, n in summary["notes"].items())
    assert summary["not_found"] == UNKNOWN_IO_IDS
    assert summary["written"] == 1 and set(sandbox.bills("SAL_OUTSTOCK")) == {known}
    assert "not found in Jushuitan: 99999991, 99999992" in result.output
    folder = next(sandbox.reports.iterdir())
    assert json.loads((folder / "summary.json").read_text(encoding="utf-8"))["not_found"] == UNKNOWN_IO_IDS
    assert "99999991" in (folder / "summary.md").read_text(encoding="utf-8")
    # Nothing was ever held: the ledger has no row for the unknown numbers.
    assert HeldLedger(SyncSettings()).documents("outbound").is_empty()


def test_sync_with_document_option_exits_3_when_a_number_is_not_found(sandbox):
    result = CliRunner().invoke(app, ["sync", "outbound", "--document", UNKNOWN_IO_IDS[0]])
    assert result.exit_code == 3, result.output
    assert _summary(result.output)["not_found"] == UNKNOWN_IO_IDS[:1]


def test_a_number_that_cannot_be_an_io_id_is_refused_before_any_request(sandbox):
    before = _jushuitan_calls(sandbox)
    result = CliRunner().invoke(app, ["replay", "outbound", "3000%", "30000097'", "1000123"])
    assert result.exit_code == 2, result.output
    assert "not a valid io_id" in result.output and "'3000%'" in result.output and '"30000097\'"' in result.output
    assert _jushuitan_calls(sandbox) == before
    assert sandbox.bills("SAL_OUTSTOCK") == {}


def test_returns_replay_names_unknown_as_ids(sandbox):
    known = sorted(Scheme(sandbox.world).returns_bookable())[0]
    summary = sync_returns(documents=[known, "88888881"])
    assert summary["not_found"] == ["88888881"]
    assert summary["notes"]["replayed"] == 2 and summary["notes"]["not found in Jushuitan"] == 1
    assert set(sandbox.bills("SAL_RETURNSTOCK")) == {known}


def test_materials_replay_names_unknown_numbers_and_not_unusable_ones(sandbox):
    materials = sandbox.world.kingdee["BD_MATERIAL"]
    usable = next(m["FNumber"] for m in materials if m["FDocumentStatus"] == "C" and m["F_PAEZ_SellOnline"])
    unaudited = next(m["FNumber"] for m in materials if m["FDocumentStatus"] != "C")
    summary = sync_materials(documents=[usable, unaudited, "NO-SUCH-MATERIAL"])
    assert summary["not_found"] == ["NO-SUCH-MATERIAL"]
    assert summary["notes"]["not found in Kingdee"] == 1
    assert summary["notes"]["未审核 / not audited"] == 1  # known, but out of scope: not "not found"
    assert summary["written"] == 1


def test_a_replay_does_not_close_or_count_ledger_rows_it_never_held(tmp_path):
    ledger = HeldLedger(SyncSettings(state_dir=tmp_path))
    now = datetime(2026, 11, 20, 10, 0)
    rows = pl.DataFrame(
        {
            "document": ["1001", "1002"],
            "shop_id": ["1", "1"],
            "shop_name": ["s", "s"],
            "outcome": ["held", "held"],
            "kingdee_number": [None, None],
            "follow_up": [None, None],
            "message": ["unmapped shop", "unmapped shop"],
        }
    )
    ledger.record("outbound", rows, [], now)
    ledger.record(
        "outbound", rows.filter(pl.col("document") == "1002").with_columns(outcome=pl.lit("written")), [], now
    )
    # 1001 is pending and gone; 1002 was released earlier; 9999 was never in the ledger.
    assert ledger.record("outbound", rows.clear(), ["1001", "1002", "9999"], now) == 1
    statuses = dict(ledger.documents("outbound").select("document", "status").rows())
    assert statuses == {"1001": "out_of_scope", "1002": "released"}


def test_a_held_document_with_a_malformed_number_stays_pending_and_does_not_break_the_next_run(sandbox):
    from flows.outbound import sync_outbound

    ledger = HeldLedger(SyncSettings())
    row = {
        "shop_id": "1",
        "shop_name": "s",
        "outcome": "held",
        "kingdee_number": None,
        "follow_up": None,
        "message": "held",
    }
    ledger.record("outbound", pl.DataFrame([{"document": "3000x", **row}]), [], datetime(2026, 11, 20))
    summary = sync_outbound(since=sandbox.world.start, until=datetime.now(sandbox.world.end.tzinfo))
    assert summary["notes"]["held earlier, no number to fetch it by"] == 1
    assert summary["notes"]["held earlier, retried"] == 0 and summary["not_found"] == []
    assert "3000x" in ledger.pending("outbound")
