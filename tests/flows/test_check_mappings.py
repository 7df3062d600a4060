"""check-mappings against both emulators over real HTTP; expected counts come from the world data."""

from __future__ import annotations

import copy
import csv
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from prefect.artifacts import Artifact
from typer.testing import CliRunner

from cli import app as cli_app
from flows.check_mappings import check_mappings
from reporting.worklist import HEADERS
from sandbox.data import UNKNOWN_SKU, UNMAPPED_SHOP_ID, SandboxWorld
from sandbox.kingdee import create_app
from sandbox.server import serve_in_thread
from tests.flows.oracle import OUTBOUND_SHIPPED

ROOT = Path(__file__).resolve().parents[2]


def _period(world: SandboxWorld) -> list[str]:
    since = world.start - timedelta(days=1)
    return ["--since", f"{since:%Y-%m-%d %H:%M:%S}", "--until", f"{datetime.now(world.end.tzinfo):%Y-%m-%d %H:%M:%S}"]


def _in_scope(world: SandboxWorld) -> list[tuple[str, dict, list[dict]]]:
    """(kind, document, lines a sync would book) for every document the syncs would book or hold."""
    outbound = [("outbound", doc, doc["items"]) for doc in world.outbound if doc["status"] in OUTBOUND_SHIPPED]
    returns = [
        ("returns", refund, [line for line in refund["items"] if (line.get("r_qty") or 0) > 0])
        for refund in world.refunds
        if refund["status"] == "Confirmed" and refund["good_status"] == "SELLER_RECEIVED"
    ]
    return outbound + [entry for entry in returns if entry[2]]


def _held(world: SandboxWorld, holds: Callable[[dict, list[dict]], bool]) -> tuple[int, int]:
    """(outbound, returns) documents in scope for which `holds(document, lines)` is true."""
    kinds = [kind for kind, doc, lines in _in_scope(world) if holds(doc, lines)]
    return kinds.count("outbound"), kinds.count("returns")


def _sheet_rows(workbook: Path, sheet: str) -> tuple[list[str], list[dict]]:
    """Headers (row 2) and the rows below, keyed by column name."""
    rows = list(openpyxl.load_workbook(workbook, read_only=True)[sheet].iter_rows(values_only=True))
    headers = list(rows[1])
    columns = [{shown: name for name, shown in HEADERS.items()}[header] for header in headers]
    return headers, [dict(zip(columns, row, strict=True)) for row in rows[2:]]


def test_worklist_lists_the_unmapped_shop_and_the_unknown_sku_with_the_documents_they_hold(sandbox):
    world = sandbox.world
    result = CliRunner().invoke(cli_app, ["check-mappings", *_period(world)])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    shop_held = _held(world, lambda doc, lines: doc["shop_id"] == UNMAPPED_SHOP_ID)
    sku_held = _held(world, lambda doc, lines: any(line["sku_id"] == UNKNOWN_SKU for line in lines))
    any_held = _held(
        world,
        lambda doc, lines: doc["shop_id"] == UNMAPPED_SHOP_ID or any(line["sku_id"] == UNKNOWN_SKU for line in lines),
    )
    assert shop_held[0] >= 3 and sku_held[0] >= 1
    # The shipped tables and the world differ only by shop 10090 and SKU G2999-01: nothing else is listed.
    assert {k: summary[k] for k in ("unmapped_shops", "unmapped_warehouses", "table_problems", "unknown_skus")} == {
        "unmapped_shops": 1,
        "unmapped_warehouses": 0,
        "table_problems": 0,
        "unknown_skus": 1,
    }
    assert (summary["held_outbound"], summary["held_returns"]) == any_held

    folder = Path(summary["report_dir"])
    assert folder.parent == sandbox.reports and "-check-mappings-" in folder.name
    workbook = folder / "report.xlsx"
    sheets = openpyxl.load_workbook(workbook, read_only=True).sheetnames
    assert sheets == [
        "概要 overview",
        "未映射店铺 unmapped shops",
        "未映射仓库 unmapped warehouses",
        "映射表问题 table rows",
        "金蝶未知商品 unknown SKUs",
    ]
    headers, (shop,) = _sheet_rows(workbook, "未映射店铺 unmapped shops")
    assert headers[:2] == ["店铺编码 (shop_id)", "店铺名称 (shop_name)"]
    assert (shop["shop_id"], shop["shop_name"]) == (str(UNMAPPED_SHOP_ID), "小红书店")
    assert (shop["held_outbound"], shop["held_returns"]) == shop_held
    assert shop["held_documents"] == sum(shop_held)
    assert shop["documents"] == sum(1 for doc in world.outbound + world.refunds if doc["shop_id"] == UNMAPPED_SHOP_ID)
    assert shop["hint"].startswith("在店铺表中把该店铺映射到金蝶客户编码 (BD_Customer): 填写 check-mappings")
    # 小红书店(旧) is nearer by name but forbidden: the usable customer is suggested.
    assert (shop["suggested_number"], shop["suggested_name"]) == ("CUST006", "小红书旗舰店")

    _, (sku,) = _sheet_rows(workbook, "金蝶未知商品 unknown SKUs")
    assert (sku["sku_id"], sku["problem"], sku["label_en"]) == (
        UNKNOWN_SKU,
        "material_missing",
        "material missing in Kingdee",
    )
    assert (sku["held_outbound"], sku["held_returns"]) == sku_held
    assert "BD_MATERIAL" in sku["hint"] and " / " in sku["hint"]

    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "小红书店" in page and UNKNOWN_SKU in page and page.count("<script") == 1  # its own sort/filter script
    artifact = Artifact.get("check-mappings")
    assert artifact is not None and f"{UNMAPPED_SHOP_ID} 小红书店: 暂缓 {sum(shop_held)} 单" in artifact.data


@pytest.fixture
def edited_tables(tmp_path, monkeypatch) -> Path:
    """Copies of the shipped tables: shop 10088 mapped to a customer Kingdee lacks, a row for a shop that
    does not exist, warehouse 10003 removed."""
    with open(ROOT / "config/shops.csv", encoding="utf-8") as f:
        shops = list(csv.DictReader(f))
    for row in shops:
        if row["shop_id"] == "10088":
            row["customer_number"] = "CUST999"
    shops.append({"shop_id": "10999", "shop_name": "已关闭的店", "customer_number": "CUST001", "customer_name": ""})
    with open(ROOT / "config/warehouses.csv", encoding="utf-8") as f:
        warehouses = [row for row in csv.DictReader(f) if row["wms_co_id"] != "10003"]
    for name, rows, variable in (
        ("shops.csv", shops, "SYNC_SHOPS_TABLE"),
        ("warehouses.csv", warehouses, "SYNC_WAREHOUSES_TABLE"),
    ):
        with open(tmp_path / name, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        monkeypatch.setenv(variable, str(tmp_path / name))
    return tmp_path


def test_worklist_lists_table_rows_kingdee_cannot_use_and_a_removed_warehouse(sandbox, edited_tables, monkeypatch):
    world = sandbox.world
    # A Kingdee where stock CK002 is not audited and material G2001-01 is forbidden.
    base = copy.deepcopy(world.kingdee)
    next(row for row in base["BD_STOCK"] if row["FNumber"] == "CK002")["FDocumentStatus"] = "B"
    next(row for row in base["BD_MATERIAL"] if row["FNumber"] == "G2001-01")["FForbidStatus"] = "B"

    with serve_in_thread(create_app(base)) as kingdee:
        monkeypatch.setenv("KINGDEE_SERVER_URL", f"{kingdee.url}/k3cloud")
        summary = check_mappings(since=world.start - timedelta(days=1), until=datetime.now(world.end.tzinfo))

    workbook = Path(summary["report_dir"]) / "report.xlsx"
    _, rows = _sheet_rows(workbook, "映射表问题 table rows")
    found = {(row["table"], row["key"], row["problem"]): row for row in rows}
    assert set(found) == {
        ("shops", "10088", "customer_missing"),
        ("shops", "10999", "shop_gone"),
        ("warehouses", "10002", "stock_not_audited"),
    }
    customer = found["shops", "10088", "customer_missing"]
    assert (customer["kingdee_number"], customer["label_en"]) == ("CUST999", "customer missing in Kingdee")
    assert (customer["held_outbound"], customer["held_returns"]) == _held(world, lambda doc, _: doc["shop_id"] == 10088)
    assert all(way in customer["hint"] for way in ("worklist.xlsx", "mappings import", "set-mappings/form"))
    stock = found["warehouses", "10002", "stock_not_audited"]
    assert (stock["held_outbound"], stock["held_returns"]) == _held(world, lambda doc, _: doc["wms_co_id"] == 10002)
    assert found["shops", "10999", "shop_gone"]["held_documents"] == 0

    _, (warehouse,) = _sheet_rows(workbook, "未映射仓库 unmapped warehouses")
    assert (warehouse["wms_co_id"], warehouse["warehouse_name"]) == ("10003", "成都分仓")
    assert (warehouse["held_outbound"], warehouse["held_returns"]) == _held(
        world, lambda doc, _: doc["wms_co_id"] == 10003
    )
    assert warehouse["held_documents"] > 0
    assert warehouse["hint"].startswith("在仓库表中把该仓库映射到金蝶仓库编码 (BD_STOCK)")

    _, skus = _sheet_rows(workbook, "金蝶未知商品 unknown SKUs")
    by_sku = {row["sku_id"]: row for row in skus}
    assert {sku: row["problem"] for sku, row in by_sku.items()} == {
        UNKNOWN_SKU: "material_missing",
        "G2001-01": "material_forbidden",
    }
    assert (by_sku["G2001-01"]["held_outbound"], by_sku["G2001-01"]["held_returns"]) == _held(
        world, lambda _, lines: any(line["sku_id"] == "G2001-01" for line in lines)
    )
