from __future__ import annotations

import json

import polars as pl

from tests.transforms.pages import receipts, refunds
from transforms.returns import map_returns, undated


def _refund(as_id: int, items: list[dict], **fields) -> dict:
    doc = {
        "as_id": as_id,
        "o_id": 1,
        "so_id": f"TB{as_id}",
        "shop_id": 10086,
        "shop_name": "天猫旗舰店",
        "wms_co_id": 10001,
        "warehouse": "上海主仓",
        "type": "普通退货",
        "status": "Confirmed",
        "good_status": "SELLER_RECEIVED",
        "modified": "2026-11-21 09:00:00",
        "ts": as_id,
        "items": items,
    }
    doc.update(fields)
    return doc


def _line(asi_id: int, sku: str, qty=2, r_qty=2, price=9.9, receive_date="2026-11-21 08:30:00", i_id=None) -> dict:
    return {
        "asi_id": asi_id,
        "sku_id": sku,
        "i_id": i_id or sku.rsplit("-", 1)[0],
        "name": "商品",
        "qty": qty,
        "r_qty": r_qty,
        "price": price,
        "amount": 0,
        "is_gift": False,
        "receive_date": receive_date,
    }


def _map(docs, master, config, received=()):
    return map_returns(refunds(docs), receipts(list(received)), master, config)


def test_received_return_maps_every_scheme_row(master, config):
    mapped = _map([_refund(501, [_line(1, "A1001-01", qty=3, r_qty=2), _line(2, "G2001-01")])], master, config)
    assert mapped.split.held.is_empty()
    model = json.loads(mapped.bills["model"][0])
    assert model["FBillNo"] == "501"
    assert model["FDate"] == "2026-11-21 08:30:00"
    assert model["FRetcustId"] == {"FNumber": "CUST001"}
    assert model["FSaleOrgId"] == model["FStockOrgId"] == model["FOwnerIdHead"] == {"FNumber": "100"}
    assert model["SubHeadEntity"] == {"FSettleCurrId": {"FNumber": "PRE001"}, "FSettleOrgId": {"FNumber": "100"}}
    a_line, g_line = model["FEntity"]
    assert a_line["FRealQty"] == 2 and a_line["FMustQty"] == 3 and a_line["FTaxPrice"] == 9.9
    assert a_line["FLot"] == {"FNumber": "0"} and a_line["FUnitID"] == {"FNumber": "bao"}
    assert a_line["FStockId"] == {"FNumber": "CK001"} and a_line["FMaterialId"] == {"FNumber": "A1001-01"}
    assert g_line["FLot"] is None


def test_lot_rule_a_wins_over_g_and_neither_warns(master, config):
    docs = [
        _refund(1, [_line(1, "AG3001-01")]),
        _refund(2, [_line(1, "T4001-01")]),
        _refund(3, [_line(1, "T4999-01")]),  # neither letter, but a batch-managed material
        _refund(4, [_line(1, "G2001-01", i_id="ga2001")]),  # lower-case: neither, case-sensitive
    ]
    mapped = _map(docs, master, config)
    models = {b["bill_no"]: json.loads(b["model"]) for b in mapped.bills.to_dicts()}
    assert models["1"]["FEntity"][0]["FLot"] == {"FNumber": "0"}
    assert models["2"]["FEntity"][0]["FLot"] is None
    assert models["4"]["FEntity"][0]["FLot"] is None
    assert "3" not in models
    assert mapped.split.held.select("document", "rule_id").to_dicts() == [
        {"document": "3", "rule_id": "lot.contradicts_batch"}
    ]
    assert sorted(mapped.split.warnings.get_column("document").to_list()) == ["2", "3", "4"]
    assert set(mapped.split.warnings.get_column("rule_id")) == {"lot.no_letter"}


def test_only_received_lines_with_returned_quantity_are_booked(master, config):
    docs = [
        _refund(1, [_line(1, "A1001-01", r_qty=0), _line(2, "G2001-01", r_qty=1)]),
        _refund(2, [_line(1, "A1001-01", r_qty=0)]),
        _refund(3, [_line(1, "A1001-01", r_qty=0)], good_status="BUYER_RETURNED_GOODS"),
        _refund(4, [], type="仅退款"),
    ]
    mapped = _map(docs, master, config)
    assert mapped.bills["bill_no"].to_list() == ["1"]
    assert [e["FMaterialId"]["FNumber"] for e in json.loads(mapped.bills["model"][0])["FEntity"]] == ["G2001-01"]
    assert mapped.split.held.is_empty()
    assert mapped.excluded.select("as_id", "asi_id").rows() == [("1", "1"), ("2", "1"), ("4", None)]
    assert mapped.out_of_scope.to_dicts() == [
        {"as_id": "3", "status": "Confirmed", "good_status": "BUYER_RETURNED_GOODS"}
    ]
    assert mapped.notes(refunds(docs)) == {
        "after-sales with nothing returned (r_qty ≤ 0)": 2,  # 2 and 4; 1 returned a line
        "lines left out (r_qty ≤ 0)": 3,
        "after-sales not confirmed and received": 1,
    }


def test_missing_receive_date_comes_from_the_warehouse_receipt(master, config):
    docs = [
        _refund(7, [_line(1, "G2001-01", receive_date=None)]),
        _refund(8, [_line(1, "G2001-01", receive_date=None)]),
    ]
    assert sorted(undated(refunds([*docs, _refund(9, [_line(1, "G2001-01")]), _refund(10, [])]))) == ["7", "8"]
    received = [{"io_id": 90001, "as_id": 7, "io_date": "2026-11-22 14:00:00", "wms_co_id": 10001}]
    mapped = _map(docs, master, config, received)
    assert json.loads(mapped.bills["model"][0])["FDate"] == "2026-11-22 14:00:00"
    held = mapped.split.held.row(0, named=True)
    assert (held["document"], held["rule_id"]) == ("8", "date.missing")
    assert mapped.split.held.height == 1 and pl.Series(mapped.bills["bill_no"]).to_list() == ["7"]


def test_a_requested_quantity_that_is_not_a_number_is_held(master, config):
    mapped = _map([_refund(3, [_line(1, "G2001-01", qty="NaN")]), _refund(4, [_line(1, "G2001-01")])], master, config)
    assert mapped.bills["bill_no"].to_list() == ["4"]
    assert mapped.split.held.select("document", "rule_id").rows() == [("3", "qty.requested_invalid")]
