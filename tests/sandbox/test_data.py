"""The sandbox world generator: deterministic, and holding every case of the world contract."""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sandbox.data import SandboxWorld, generate_world

SHANGHAI = ZoneInfo("Asia/Shanghai")
END = datetime(2025, 3, 10, 18, 30, tzinfo=SHANGHAI)
CONFIG = Path(__file__).resolve().parents[2] / "config"
FMT = "%Y-%m-%d %H:%M:%S"


@pytest.fixture(scope="module", params=[7, 8, 2024])
def world(request: pytest.FixtureRequest) -> SandboxWorld:
    """Several seeds: the contract must hold for any seed, not one lucky draw."""
    return generate_world(seed=request.param, days=10, orders_per_day=12, end=END)


def _confirmed_lines(world: SandboxWorld) -> list[dict]:
    return [line for doc in world.outbound if doc["status"] == "Confirmed" for line in doc["items"]]


def _materials(world: SandboxWorld) -> dict[str, dict]:
    return {row["FNumber"]: row for row in world.kingdee["BD_MATERIAL"]}


def _has_lot_letter(i_id: str) -> bool:
    return "A" in i_id or "G" in i_id


def test_same_seed_gives_the_same_world() -> None:
    first = generate_world(seed=11, days=5, orders_per_day=10, end=END)
    second = generate_world(seed=11, days=5, orders_per_day=10, end=END)
    assert asdict(first) == asdict(second)


def test_a_different_seed_gives_a_different_world() -> None:
    first = generate_world(seed=11, days=5, orders_per_day=10, end=END)
    other = generate_world(seed=12, days=5, orders_per_day=10, end=END)
    assert [doc["so_id"] for doc in first.outbound] != [doc["so_id"] for doc in other.outbound]
    assert asdict(first) != asdict(other)


def test_end_defaults_to_now_in_beijing_floored_to_the_minute() -> None:
    before = datetime.now(SHANGHAI).replace(second=0, microsecond=0)
    world = generate_world(seed=1, days=3, orders_per_day=12)
    assert world.end.utcoffset() == timedelta(hours=8)
    assert world.end.second == 0 and world.end.microsecond == 0
    assert before <= world.end <= datetime.now(SHANGHAI)
    assert world.start == world.end - timedelta(days=3)


def test_documents_are_dated_inside_the_world_and_in_order(world: SandboxWorld) -> None:
    start, end = world.start.strftime(FMT), world.end.strftime(FMT)
    assert len(world.outbound) == 120
    for doc in world.outbound:
        assert start <= doc["created"] <= doc["io_date"] <= doc["modified"] <= end
    for refund in world.refunds:
        assert start <= refund["as_date"] <= refund["created"] <= refund["modified"] <= end
    for record in world.received:
        assert start <= record["io_date"] <= end


def test_outbound_statuses_follow_the_contract_mix() -> None:
    statuses = Counter(doc["status"] for doc in generate_world(seed=3, days=14, orders_per_day=40, end=END).outbound)
    total = sum(statuses.values())
    assert set(statuses) == {"Confirmed", "Archive", "WaitConfirm", "Cancelled", "Delete"}
    assert 0.7 < (statuses["Confirmed"] + statuses["Archive"]) / total < 0.9  # shipped
    assert 0.02 < statuses["Archive"] / total < 0.2


def test_archived_documents_were_shipped_then_archived_later(world: SandboxWorld) -> None:
    """Archiving modifies a shipped document: its modified (and so its ts) moves past its io_date."""
    archived = [doc for doc in world.outbound if doc["status"] == "Archive"]
    assert archived
    for doc in archived:
        assert doc["io_date"] < doc["modified"]
        assert all(isinstance(line.get("qty"), int) and line["qty"] > 0 for line in doc["items"])


def test_ids_are_unique_and_ts_is_a_global_rowversion_in_modification_order(world: SandboxWorld) -> None:
    for kind, key in (("outbound", "io_id"), ("refunds", "as_id"), ("received", "io_id")):
        ids = [doc[key] for doc in getattr(world, kind)]
        assert len(ids) == len(set(ids)), kind
    every = world.outbound + world.refunds + world.received
    stamps = [doc["ts"] for doc in every]
    assert len(stamps) == len(set(stamps))
    by_ts = sorted(every, key=lambda doc: doc["ts"])
    modified = [doc["modified"] for doc in by_ts]
    assert modified == sorted(modified)


def test_line_amounts_are_quantity_times_price_and_gifts_are_free(world: SandboxWorld) -> None:
    lines = [line for doc in world.outbound for line in doc["items"]]
    assert any(line["is_gift"] for line in lines)
    for line in lines:
        if line.get("qty") is not None:
            assert line["sale_amount"] == round(line["qty"] * line["sale_price"], 2)
        if line["is_gift"]:
            assert line["sale_price"] == 0
    assert all(1 <= len(doc["items"]) <= 4 for doc in world.outbound)


def test_every_dirty_outbound_case_is_on_a_confirmed_document(world: SandboxWorld) -> None:
    confirmed = [doc for doc in world.outbound if doc["status"] == "Confirmed"]
    assert sum(doc["shop_id"] == 10090 for doc in confirmed) >= 3
    lines = _confirmed_lines(world)
    assert any(line["sku_id"] == "G2999-01" for line in lines)
    assert any(isinstance(line.get("qty"), int) and line["qty"] < 0 for line in lines)
    assert any("qty" not in line for line in lines)
    assert any("qty" in line and line["qty"] is None for line in lines)


def test_the_unknown_sku_is_missing_from_kingdee_and_every_other_sold_sku_is_audited_and_online(
    world: SandboxWorld,
) -> None:
    materials = _materials(world)
    assert "G2999-01" not in materials
    sold = {line["sku_id"] for doc in world.outbound for line in doc["items"]} - {"G2999-01"}
    for sku in sold:
        assert materials[sku]["FDocumentStatus"] == "C" and materials[sku]["F_PAEZ_SellOnline"] is True
    not_audited = [row for row in materials.values() if row["FDocumentStatus"] in ("A", "B")]
    offline = [row for row in materials.values() if row["FDocumentStatus"] == "C" and not row["F_PAEZ_SellOnline"]]
    assert not_audited and offline
    assert not sold & {row["FNumber"] for row in not_audited + offline}
    assert [row["FForbidStatus"] for row in materials.values()].count("B") == 1


def test_batch_management_follows_the_style_letters_with_one_contradiction(world: SandboxWorld) -> None:
    materials = _materials(world)
    for number, row in materials.items():
        assert re.fullmatch(r"[A-Z]+\d+-\d{2}", number), number
        i_id = number.rsplit("-", 1)[0]
        if "A" in i_id:
            assert row["FIsBatchManage"] is True, number
        elif "G" in i_id:
            assert row["FIsBatchManage"] is False, number
    contradictions = {
        n.rsplit("-", 1)[0] for n, r in materials.items() if not _has_lot_letter(n) and r["FIsBatchManage"]
    }
    assert contradictions == {"T4999"}
    assert any(not _has_lot_letter(n) and not r["FIsBatchManage"] for n, r in materials.items())


def test_kingdee_material_rows_have_the_contract_keys(world: SandboxWorld) -> None:
    units = {row["FNumber"]: row["FName"] for row in world.kingdee["BD_UNIT"]}
    assert units == {"Pcs": "个", "jian": "件", "he": "盒", "bao": "包", "tao": "套"}
    for row in world.kingdee["BD_MATERIAL"]:
        assert isinstance(row["FMaterialId"], int)
        assert row["FBaseUnitId.FNumber"] in units
        assert len(row["FBARCODE"]) == 13 and row["FBARCODE"].isdigit()
        assert row["FUseOrgId.FNumber"] == "100"
        datetime.strptime(row["FModifyDate"], "%Y-%m-%dT%H:%M:%S")
    materials = _materials(world)
    for line in (line for doc in world.outbound for line in doc["items"] if line["sku_id"] in materials):
        assert line["unit"] == units[materials[line["sku_id"]]["FBaseUnitId.FNumber"]]
    assert world.kingdee["ORG_Organizations"][0]["FNumber"] == "100"
    assert world.kingdee["BD_Currency"] == [{"FCURRENCYID": 1, "FNumber": "PRE001", "FName": "人民币", "FCode": "CNY"}]


def test_refunds_cover_every_state_the_returns_sync_must_handle(world: SandboxWorld) -> None:
    confirmed = [refund for refund in world.refunds if refund["status"] == "Confirmed"]
    assert {refund["good_status"] for refund in confirmed} == {
        "BUYER_NOT_RECEIVED",
        "BUYER_RECEIVED",
        "BUYER_RETURNED_GOODS",
        "SELLER_RECEIVED",
    }
    assert sum(refund["good_status"] == "BUYER_RETURNED_GOODS" for refund in confirmed) >= 2
    assert {"WaitConfirm", "Cancelled", "Merged"} <= {refund["status"] for refund in world.refunds}
    assert any(refund["type"] == "仅退款" for refund in world.refunds)
    received_lines = [line for r in confirmed if r["good_status"] == "SELLER_RECEIVED" for line in r["items"]]
    assert any(line["r_qty"] == 0 for line in received_lines)
    assert any(0 < line["r_qty"] < line["qty"] for line in received_lines)
    assert any("receive_date" not in line for line in received_lines)
    assert any("receive_date" in line and line["receive_date"] is None for line in received_lines)
    others = [line for r in world.refunds if r["good_status"] != "SELLER_RECEIVED" for line in r["items"]]
    assert all(line["r_qty"] == 0 for line in others)


def test_received_returns_cover_every_lot_case(world: SandboxWorld) -> None:
    styles = {
        line["i_id"]
        for refund in world.refunds
        if refund["status"] == "Confirmed" and refund["good_status"] == "SELLER_RECEIVED"
        for line in refund["items"]
        if line["r_qty"] > 0
    }
    assert any(s.startswith("A1") for s in styles)
    assert any(s.startswith("G2") for s in styles)
    assert any(s.startswith("AG3") for s in styles)
    assert any(s.startswith("T4") and s != "T4999" for s in styles)
    assert "T4999" in styles


def test_one_receipt_per_confirmed_seller_received_refund_with_its_received_quantities(
    world: SandboxWorld,
) -> None:
    expected = {
        r["as_id"]: r for r in world.refunds if (r["status"], r["good_status"]) == ("Confirmed", "SELLER_RECEIVED")
    }
    assert sorted(record["as_id"] for record in world.received) == sorted(expected)
    for record in world.received:
        refund = expected[record["as_id"]]
        assert [(i["sku_id"], i["qty"]) for i in record["items"]] == [
            (i["sku_id"], i["r_qty"]) for i in refund["items"]
        ]
        assert (record["status"], record["wh_id"], record["wms_co_id"]) == (
            "Confirmed",
            2,
            refund["wms_co_id"],
        )
        dates = [line["receive_date"] for line in refund["items"] if line.get("receive_date")]
        if dates:
            assert record["io_date"] == max(dates)


def test_shops_warehouses_and_the_hand_kept_tables_agree_with_kingdee(world: SandboxWorld) -> None:
    with open(CONFIG / "shops.csv", encoding="utf-8", newline="") as handle:
        shop_rows = list(csv.DictReader(handle))
    with open(CONFIG / "warehouses.csv", encoding="utf-8", newline="") as handle:
        warehouse_rows = list(csv.DictReader(handle))
    customers = {row["FNumber"]: row["FName"] for row in world.kingdee["BD_Customer"]}
    stocks = {row["FNumber"]: row["FName"] for row in world.kingdee["BD_STOCK"]}
    shops = {row["shop_id"]: row["shop_name"] for row in world.shops}

    assert shops == {
        10086: "天猫旗舰店",
        10087: "京东自营店",
        10088: "抖音小店",
        10089: "拼多多专营店",
        10090: "小红书店",
    }
    assert [int(row["shop_id"]) for row in shop_rows] == [10086, 10087, 10088, 10089]
    for row in shop_rows:
        assert (
            shops[int(row["shop_id"])] == row["shop_name"] == customers[row["customer_number"]] == row["customer_name"]
        )
    assert "小红书店" not in customers.values()
    assert customers["CUST005"] == "线下批发客户"
    forbidden = {row["FNumber"] for row in world.kingdee["BD_Customer"] if row["FForbidStatus"] == "B"}
    assert (customers["CUST006"], forbidden) == ("小红书旗舰店", {"CUST007"})

    warehouses = {row["wms_co_id"]: row for row in world.warehouses}
    assert [w["wms_co_id"] for w in world.warehouses if w["is_main"]] == [10001]
    assert [int(row["wms_co_id"]) for row in warehouse_rows] == [10001, 10002, 10003]
    for row in warehouse_rows:
        assert warehouses[int(row["wms_co_id"])]["name"] == row["warehouse_name"] == stocks[row["stock_number"]]
    assert stocks["CK099"] == "样品仓"
    assert {doc["wms_co_id"] for doc in world.outbound} <= set(warehouses)


def test_the_item_store_starts_empty(world: SandboxWorld) -> None:
    assert world.items == {}


def test_a_world_too_small_for_every_case_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        generate_world(seed=7, days=1, orders_per_day=5, end=END)
