from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx

from flows.outbound import sync_outbound
from tests.flows.oracle import Scheme


def _window(world):
    return {"since": world.start - timedelta(days=1), "until": datetime.now(world.end.tzinfo)}


def test_outbound_bills_follow_scheme_section_4_field_by_field(sandbox):
    scheme = Scheme(sandbox.world)
    summary = sync_outbound(**_window(sandbox.world))
    bills = sandbox.bills("SAL_OUTSTOCK")
    expected = scheme.outbound_bookable()

    assert set(bills) == set(expected)  # every clean Confirmed document, nothing else
    assert summary["written"] == len(expected)
    assert summary["held"] == len(scheme.outbound_held()) > 0
    assert summary["fetched"] == summary["written"] + summary["skipped_existing"] + summary["held"] + summary["failed"]

    styles_seen = set()
    for io_id, doc in list(expected.items())[:25]:
        bill = bills[io_id]
        shop = scheme.shops[str(doc["shop_id"])]
        stock = scheme.warehouses[str(doc["wms_co_id"])]["stock_number"]
        assert bill["FBillTypeID"]["FNUMBER"] == "XSCKD01_SYS"
        assert bill["FDate"] == doc["io_date"][:19]
        assert bill["FSaleOrgId"] == bill["FStockOrgId"] == bill["FOwnerIdHead"] == {"FNumber": "100"}
        assert bill["FCustomerID"] == {"FNumber": shop["customer_number"]}
        assert bill["SubHeadEntity"]["FSettleCurrID"] == {"FNumber": "PRE001"}
        assert bill["FCarriageNO"] == doc["l_id"]
        assert bill["F_PAEZ_OnlineOrderNo"] == doc["so_id"]
        assert bill["FNote"] == "聚水潭" + doc["so_id"]
        assert len(bill["FEntity"]) == len(doc["items"])
        for entry, line in zip(bill["FEntity"], doc["items"], strict=True):
            material = scheme.materials[line["sku_id"]]
            assert entry["FMaterialID"] == {"FNumber": line["sku_id"]}
            assert entry["FUnitID"] == {"FNumber": material["FBaseUnitId.FNumber"]}
            assert entry["FRealQty"] == float(line["qty"])
            assert entry["FTaxPrice"] == float(line["sale_price"])
            assert entry["FStockID"] == {"FNumber": stock}
            assert entry["FOwnerID"] == {"FNumber": "100"}
            expected_lot = {"FNumber": "0"} if material["FIsBatchManage"] else None
            assert entry.get("FLot") == expected_lot
            styles_seen.add(line["i_id"][:2])
    assert {"A1", "G2"} <= styles_seen


def test_held_documents_are_reported_with_reasons(sandbox):
    summary = sync_outbound(**_window(sandbox.world))
    folder = next(sandbox.reports.iterdir())
    held = (folder / "held.csv").read_text(encoding="utf-8")
    assert "shop.unmapped" in held and "小红书店" in held
    assert "material.unknown" in held and "G2999-01" in held
    assert "qty.not_positive" in held and "qty.invalid" in held
    saved = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert saved["held"] == summary["held"]


def test_same_window_twice_writes_nothing_the_second_time(sandbox):
    first = sync_outbound(**_window(sandbox.world))
    saves_before = httpx.get(f"{sandbox.kingdee.url}/__admin/stats").json()
    second = sync_outbound(**_window(sandbox.world))
    saves_after = httpx.get(f"{sandbox.kingdee.url}/__admin/stats").json()
    assert second["written"] == 0
    assert second["skipped_existing"] == first["written"] > 0
    assert len(sandbox.bills("SAL_OUTSTOCK")) == first["written"]
    assert _save_calls(saves_after) == _save_calls(saves_before)


def _save_calls(stats: dict) -> int:
    calls = stats.get("calls", stats)
    return sum(n for service, n in calls.items() if "Save" in service)


def test_incremental_runs_with_overlap_write_no_duplicates(sandbox, monkeypatch):
    monkeypatch.setenv("SYNC_INITIAL_LOOKBACK_DAYS", "30")
    monkeypatch.setenv("SYNC_SAFETY_LAG_MINUTES", "0")
    first = sync_outbound()
    httpx.post(
        f"{sandbox.jst.url}/__admin/outbound/{_any_written(sandbox)}", json={"remark": "touched"}
    ).raise_for_status()
    second = sync_outbound()  # re-reads the overlap and the touched document
    assert first["written"] == len(Scheme(sandbox.world).outbound_bookable())
    assert second["written"] == 0 and second["skipped_existing"] >= 1
    assert len(sandbox.bills("SAL_OUTSTOCK")) == first["written"]


def _any_written(sandbox) -> str:
    return next(iter(sandbox.bills("SAL_OUTSTOCK")))


def test_dry_run_writes_nothing_and_reports_what_it_would_do(sandbox):
    summary = sync_outbound(**_window(sandbox.world), dry_run=True)
    assert sandbox.bills("SAL_OUTSTOCK") == {}
    scheme = Scheme(sandbox.world)
    assert summary["would_create"] == len(scheme.outbound_bookable())
    assert summary["held"] == len(scheme.outbound_held())
    assert summary["written"] == 0
