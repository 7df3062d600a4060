from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import openpyxl
import polars as pl
import typer
from prefect.artifacts import Artifact
from typer.testing import CliRunner

from cli import reconcile_command
from connectors.kingdee import KingdeeClient
from connectors.settings import KingdeeSettings
from flows.outbound import sync_outbound
from flows.reconcile import DOCUMENT_HEADERS, reconcile
from flows.returns import sync_returns
from tests.flows.oracle import Scheme
from transforms.reconcile import CLASSES

OUTBOUND, RETURNS = "销售出库单 SAL_OUTSTOCK", "销售退货单 SAL_RETURNSTOCK"
EXTRA_BILL = "XSCKD-HAND-0001"


def _window(world) -> dict:
    return {"since": world.start - timedelta(days=1), "until": datetime.now(world.end.tzinfo)}


def _held_documents(reports: Path, sync: str) -> set[str]:
    (folder,) = reports.glob(f"*-{sync}-*")
    outcomes = pl.read_csv(folder / "documents.csv", schema_overrides={"document": pl.String})
    return set(outcomes.filter(pl.col("outcome") == "held")["document"])


def _plant_extra_bill(template: dict) -> None:
    """A bill keyed by hand in Kingdee: a saved bill's content under a number Jushuitan never issued."""
    model = copy.deepcopy(template)
    for key in ("FID", "FDocumentStatus", "FCreateDate", "FModifyDate"):
        model.pop(key, None)
    for line in model["FEntity"]:
        line.pop("FEntryID", None)
    model["FBillNo"] = EXTRA_BILL
    with KingdeeClient(KingdeeSettings()) as kingdee:
        (result,) = kingdee.batch_save("SAL_OUTSTOCK", [model])
    assert result.ok, result.errors


def test_reconcile_finds_each_planted_difference_and_nothing_else(sandbox):
    window = _window(sandbox.world)
    outbound_run, returns_run = sync_outbound(**window), sync_returns(**window)
    assert outbound_run["held"] > 0 and outbound_run["written"] > 10 and returns_run["written"] > 5
    outbound_bills, return_bills = sandbox.bills("SAL_OUTSTOCK"), sandbox.bills("SAL_RETURNSTOCK")
    admin = f"{sandbox.kingdee.url}/__admin/bills"

    deleted, edited, redated, template = sorted(outbound_bills)[:4]
    httpx.post(f"{admin}/SAL_OUTSTOCK/{deleted}/delete").raise_for_status()
    httpx.post(f"{admin}/SAL_OUTSTOCK/{edited}", json={"FEntity": [{"FRealQty": 99}]}).raise_for_status()
    before_period = (window["since"] - timedelta(days=3)).strftime("%Y-%m-%d 00:00:00")
    httpx.post(f"{admin}/SAL_OUTSTOCK/{redated}", json={"FDate": before_period}).raise_for_status()
    _plant_extra_bill(outbound_bills[template])
    return_deleted, repriced = sorted(return_bills)[:2]
    httpx.post(f"{admin}/SAL_RETURNSTOCK/{return_deleted}/delete").raise_for_status()
    first_line = return_bills[repriced]["FEntity"][0]
    new_price = first_line["FTaxPrice"] + 1.25
    httpx.post(f"{admin}/SAL_RETURNSTOCK/{repriced}", json={"FEntity": [{"FTaxPrice": new_price}]}).raise_for_status()

    summary = reconcile(**window)

    folder = Path(summary["report_dir"])
    documents = pl.read_csv(folder / "documents.csv", schema_overrides={"document": pl.String})
    differences = {
        (row["kind"], row["document"]): row["result"]
        for row in documents.filter(~pl.col("result").is_in(["matched", "held"])).to_dicts()
    }
    assert differences == {
        (OUTBOUND, deleted): "missing_in_kingdee",
        (OUTBOUND, edited): "quantity_mismatch",
        (OUTBOUND, redated): "date_mismatch",
        (OUTBOUND, EXTRA_BILL): "extra_in_kingdee",
        (RETURNS, return_deleted): "missing_in_kingdee",
        (RETURNS, repriced): "amount_mismatch",
    }
    held = documents.filter(pl.col("result") == "held")
    for kind, sync in ((OUTBOUND, "outbound"), (RETURNS, "returns")):
        assert set(held.filter(pl.col("kind") == kind)["document"]) == _held_documents(sandbox.reports, sync)
    assert held["reason"].str.len_chars().min() > 10
    assert "shop_id 10090" in " ".join(held["reason"])  # the sync's own message for the unmapped shop

    counts = summary["counts"]
    assert counts["outbound"]["matched"] == outbound_run["written"] - 3
    assert counts["outbound"]["held"] == outbound_run["held"]
    assert counts["returns"]["matched"] == returns_run["written"] - 2
    assert counts["returns"]["held"] == returns_run["held"]
    assert summary["documents"]["outbound"] == {
        "jushuitan": outbound_run["written"] + outbound_run["held"],
        "kingdee": outbound_run["written"],  # one deleted, one planted
    }

    by_document = {(row["kind"], row["document"]): row for row in documents.to_dicts()}
    qty_row = by_document[(OUTBOUND, edited)]
    assert qty_row["quantity_diff"] == 99 - outbound_bills[edited]["FEntity"][0]["FRealQty"]
    price_row = by_document[(RETURNS, repriced)]
    assert price_row["amount_diff"] == round(1.25 * first_line["FRealQty"], 2)
    assert price_row["quantity_diff"] == 0

    day_shop = pl.read_csv(folder / "day_shop.csv")
    for kind, name, run in ((OUTBOUND, "outbound", outbound_run), (RETURNS, "returns", returns_run)):
        rows = day_shop.filter(pl.col("kind") == kind)
        assert rows["jst_documents"].sum() == run["written"] + run["held"]
        assert rows["kingdee_documents"].sum() == summary["documents"][name]["kingdee"]
        assert rows.select(*CLASSES).sum_horizontal().sum() == documents.filter(pl.col("kind") == kind).height
    workbook = openpyxl.load_workbook(folder / "report.xlsx", read_only=True)
    assert workbook.sheetnames == ["概要 overview", "按日按店 day × shop", "单据明细 documents"]
    title, headers, *rows = workbook["单据明细 documents"].iter_rows(values_only=True)
    assert list(headers) == list(DOCUMENT_HEADERS.values()) and len(rows) == documents.height
    result_column = list(DOCUMENT_HEADERS).index("result")
    assert sum(row[result_column] == "missing_in_kingdee" for row in rows) == 2
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert EXTRA_BILL in page and DOCUMENT_HEADERS["kingdee_quantity"] in page
    artifact = Artifact.get("reconcile-summary")
    assert artifact is not None and EXTRA_BILL in artifact.data and "金蝶缺单" in artifact.data


def test_reconcile_command_before_any_sync_finds_every_bookable_return_missing(sandbox):
    app = typer.Typer()
    app.command("reconcile")(reconcile_command)
    since = (sandbox.world.start - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    until = (sandbox.world.end + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")

    result = CliRunner().invoke(app, ["--since", since, "--until", until, "--kind", "returns"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    summary = json.loads("\n".join(lines[lines.index("{") : lines.index("}") + 1]))
    bookable = Scheme(sandbox.world).returns_bookable()
    assert list(summary["counts"]) == ["returns"]
    assert summary["counts"]["returns"]["missing_in_kingdee"] == len(bookable) > 0
    assert summary["counts"]["returns"]["matched"] == 0
    assert summary["documents"]["returns"]["kingdee"] == 0
    assert CliRunner().invoke(app, ["--since", since, "--until", until, "--kind", "refunds"]).exit_code != 0
