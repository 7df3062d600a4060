from __future__ import annotations

from datetime import datetime, timedelta

from flows.returns import sync_returns
from tests.flows.oracle import Scheme


def _window(world):
    return {"since": world.start - timedelta(days=1), "until": datetime.now(world.end.tzinfo)}


def test_return_bills_follow_scheme_section_5_field_by_field(sandbox):
    scheme = Scheme(sandbox.world)
    summary = sync_returns(**_window(sandbox.world))
    bills = sandbox.bills("SAL_RETURNSTOCK")
    expected = scheme.returns_bookable()

    assert set(bills) == set(expected)
    assert summary["written"] == len(expected)
    assert summary["fetched"] == summary["written"] + summary["skipped_existing"] + summary["held"] + summary["failed"]

    lots_seen = set()
    for as_id, refund in expected.items():
        bill = bills[as_id]
        lines = scheme.returned_lines(refund)
        assert bill["FBillTypeID"]["FNUMBER"] == "XSTHD01_SYS"
        assert bill["FDate"] == scheme.return_date(refund)
        assert bill["FRetcustId"] == {"FNumber": scheme.shops[str(refund["shop_id"])]["customer_number"]}
        assert bill["FSaleOrgId"] == bill["FStockOrgId"] == bill["FOwnerIdHead"] == {"FNumber": "100"}
        assert bill["SubHeadEntity"] == {"FSettleCurrId": {"FNumber": "PRE001"}, "FSettleOrgId": {"FNumber": "100"}}
        assert [e["FMaterialId"]["FNumber"] for e in bill["FEntity"]] == [line["sku_id"] for line in lines]
        for entry, line in zip(bill["FEntity"], lines, strict=True):
            assert entry["FRealQty"] == float(line["r_qty"]) > 0
            assert entry["FMustQty"] == float(line["qty"])
            assert entry["FTaxPrice"] == float(line["price"])
            assert entry["FUnitID"] == {"FNumber": scheme.materials[line["sku_id"]]["FBaseUnitId.FNumber"]}
            assert entry["FStockId"] == {"FNumber": scheme.warehouses[str(refund["wms_co_id"])]["stock_number"]}
            lot = scheme.return_lot(line["i_id"])
            assert entry.get("FLot") == ({"FNumber": "0"} if lot == "0" else None)
            kind = (
                "AG"
                if "A" in line["i_id"] and "G" in line["i_id"]
                else "A"
                if "A" in line["i_id"]
                else "G"
                if "G" in line["i_id"]
                else "-"
            )
            lots_seen.add(kind)
    assert lots_seen == {"A", "G", "AG", "-"}


def test_zero_returned_lines_are_left_out(sandbox):
    sync_returns(**_window(sandbox.world))
    bills = sandbox.bills("SAL_RETURNSTOCK")
    received = [
        r for r in sandbox.world.refunds if r["status"] == "Confirmed" and r["good_status"] == "SELLER_RECEIVED"
    ]
    mixed = [r for r in received if str(r["as_id"]) in bills and any(not line.get("r_qty") for line in r["items"])]
    assert mixed, "the sandbox should have a received return with a zero-quantity line"
    for refund in mixed:
        entries = bills[str(refund["as_id"])]["FEntity"]
        assert len(entries) == sum(1 for line in refund["items"] if (line.get("r_qty") or 0) > 0)
    assert all(e["FRealQty"] > 0 for bill in bills.values() for e in bill["FEntity"])
    nothing_back = [
        str(r["as_id"]) for r in received if r["items"] and not any(line.get("r_qty") for line in r["items"])
    ]
    assert nothing_back and not set(nothing_back) & set(bills)


def test_unreceived_return_is_picked_up_once_received(sandbox, monkeypatch):
    monkeypatch.setenv("SYNC_INITIAL_LOOKBACK_DAYS", "30")
    monkeypatch.setenv("SYNC_SAFETY_LAG_MINUTES", "0")
    scheme = Scheme(sandbox.world)
    waiting = next(
        r
        for r in sandbox.world.refunds
        if r["status"] == "Confirmed"
        and r["good_status"] == "BUYER_RETURNED_GOODS"
        and scheme._header_ok(r)
        and r["items"]
        and all(line["sku_id"] in scheme.materials and "T4999" not in line["i_id"] for line in r["items"])
    )
    sync_returns()
    assert str(waiting["as_id"]) not in sandbox.bills("SAL_RETURNSTOCK")
    sandbox.receive_return(waiting["as_id"])
    later = sync_returns()
    bills = sandbox.bills("SAL_RETURNSTOCK")
    assert str(waiting["as_id"]) in bills
    assert later["written"] == 1
    assert [e["FRealQty"] for e in bills[str(waiting["as_id"])]["FEntity"]] == [
        float(line["qty"]) for line in waiting["items"]
    ]
