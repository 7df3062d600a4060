from __future__ import annotations

import shutil

import polars as pl
import pytest
from typer.testing import CliRunner

from cli import app
from flows.outbound import sync_outbound
from state.ledger import HeldLedger, LedgerCorrupt
from state.settings import SyncSettings
from tests.flows.oracle import ROOT, Scheme
from tests.state.postgres import postgres, state_database  # noqa: F401  fixtures for pytest

UNMAPPED_SHOP = 10090


def _incremental(monkeypatch) -> None:
    monkeypatch.setenv("SYNC_INITIAL_LOOKBACK_DAYS", "30")
    monkeypatch.setenv("SYNC_SAFETY_LAG_MINUTES", "0")


@pytest.mark.usefixtures("state_database")  # on SQLite and on PostgreSQL
def test_unmapped_shop_is_held_then_written_exactly_once_after_the_table_is_fixed(sandbox, monkeypatch, tmp_path):
    _incremental(monkeypatch)
    shops = tmp_path / "shops.csv"
    shutil.copy(ROOT / "config/shops.csv", shops)
    monkeypatch.setenv("SYNC_SHOPS_TABLE", str(shops))
    unmapped = {
        str(d["io_id"])
        for d in sandbox.world.outbound
        if d["shop_id"] == UNMAPPED_SHOP
        and d["status"] == "Confirmed"
        and all(isinstance(line.get("qty"), int) and line["qty"] > 0 for line in d["items"])
        and all(line["sku_id"] != "G2999-01" for line in d["items"])
    }
    assert unmapped

    first = sync_outbound()
    assert not unmapped & set(sandbox.bills("SAL_OUTSTOCK"))
    held = pl.read_csv(next(sandbox.reports.iterdir()) / "held.csv", infer_schema=False)
    assert set(held.filter(pl.col("rule_id") == "shop.unmapped")["document"]) >= unmapped
    ledger = HeldLedger(SyncSettings())
    assert unmapped <= set(ledger.pending("outbound"))

    # The analyst maps the shop to an existing Kingdee customer in the shared table; nobody touches a watermark.
    with shops.open("a", encoding="utf-8") as f:
        f.write(f"{UNMAPPED_SHOP},小红书店,CUST005,线下批发客户\n")
    imported = CliRunner().invoke(app, ["mappings", "import", str(shops), "--table", "shops", "--who", "analyst"])
    assert imported.exit_code == 0, imported.output
    second = sync_outbound()
    bills = sandbox.bills("SAL_OUTSTOCK")
    assert unmapped <= set(bills)
    assert all(bills[io_id]["FCustomerID"] == {"FNumber": "CUST005"} for io_id in unmapped)
    assert second["written"] == len(unmapped)
    assert not unmapped & set(ledger.pending("outbound"))

    third = sync_outbound()
    assert third["written"] == 0
    assert len(sandbox.bills("SAL_OUTSTOCK")) == first["written"] + second["written"]
    released = ledger.documents("outbound").filter(pl.col("document").is_in(list(unmapped)))
    assert set(released["status"]) == {"released"}


def test_replay_command_sends_chosen_documents_once(sandbox):
    chosen = sorted(Scheme(sandbox.world).outbound_bookable())[:3]
    runner = CliRunner()
    result = runner.invoke(app, ["replay", "outbound", *chosen])
    assert result.exit_code == 0, result.output
    assert set(sandbox.bills("SAL_OUTSTOCK")) == set(chosen)
    again = runner.invoke(app, ["replay", "outbound", *chosen])
    assert again.exit_code == 0 and '"skipped_existing": 3' in again.output
    assert len(sandbox.bills("SAL_OUTSTOCK")) == 3


def test_a_corrupt_ledger_fails_naming_the_file_and_what_to_do_and_writes_nothing(sandbox):
    path = SyncSettings().held_ledger_path
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00garbage, not a database\xff" * 200)
    with pytest.raises(LedgerCorrupt) as corrupt:
        sync_outbound()
    message = str(corrupt.value)
    assert str(path) in message and "backup" in message and "move it aside" in message
    assert sandbox.bills("SAL_OUTSTOCK") == {}
