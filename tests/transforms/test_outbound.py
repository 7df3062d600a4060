from __future__ import annotations

import json

import polars as pl

from tests.transforms.pages import outbound
from transforms.mappings import SchemeConfig
from transforms.outbound import cancelled_after_booking, map_outbound, revoked


def _doc(io_id: int, items: list[dict], **fields) -> dict:
    doc = {
        "io_id": io_id,
        "o_id": io_id + 1,
        "so_id": f"TB{io_id}",
        "shop_id": 10086,
        "shop_name": "天猫旗舰店",
        "wms_co_id": 10001,
        "status": "Confirmed",
        "io_date": "2026-11-20 10:11:12.345",
        "modified": "2026-11-20 11:00:00",
        "l_id": f"SF{io_id}",
        "ts": io_id,
        "items": items,
    }
    doc.update(fields)
    return doc


def _line(ioi_id: int, sku: str, qty=2, price=12.9, gift=False) -> dict:
    return {
        "ioi_id": ioi_id,
        "sku_id": sku,
        "i_id": sku.split("-")[0],
        "name": "商品",
        "qty": qty,
        "sale_price": price,
        "sale_amount": 0,
        "unit": "件",
        "is_gift": gift,
    }


def test_confirmed_document_maps_every_scheme_row(master, config):
    docs = [_doc(1001, [_line(1, "A1001-01"), _line(2, "G2001-01", qty=1, price=0, gift=True)])]
    mapped = map_outbound(outbound(docs), master, config)
    assert mapped.split.held.is_empty()
    model = json.loads(mapped.bills["model"][0])
    assert model["FBillNo"] == "1001"
    assert model["FDate"] == "2026-11-20 10:11:12"
    assert model["FSaleOrgId"] == model["FStockOrgId"] == model["FOwnerIdHead"] == {"FNumber": "100"}
    assert model["FCustomerID"] == {"FNumber": "CUST001"}
    assert model["SubHeadEntity"] == {"FSettleCurrID": {"FNumber": "PRE001"}, "FSettleOrgID": {"FNumber": "100"}}
    assert model["FNote"] == "聚水潭TB1001"
    assert model[config.tracking_field] == "SF1001"
    assert model[config.online_order_field] == "TB1001"
    first, gift = model["FEntity"]
    assert first["FMaterialID"] == {"FNumber": "A1001-01"}
    assert first["FUnitID"] == {"FNumber": "bao"}
    assert first["FRealQty"] == 2 and first["FTaxPrice"] == 12.9
    assert first["FStockID"] == {"FNumber": "CK001"}
    assert first["FLot"] == {"FNumber": "0"}
    assert gift["FLot"] is None and gift["FIsFree"] is True and gift["FTaxPrice"] == 0
    assert mapped.bills["amount"][0] == 25.8


def test_document_with_one_bad_line_is_held_whole(master, config):
    docs = [
        _doc(1, [_line(1, "A1001-01"), _line(2, "G2999-01")]),
        _doc(2, [_line(1, "G2001-01", qty=-1)]),
        _doc(3, [_line(1, "G2001-01", qty="abc")]),
        _doc(4, [_line(1, "G2001-01")], shop_id=10090, shop_name="小红书店"),
        _doc(5, [_line(1, "G2001-01")], shop_id=10087),
        _doc(6, [_line(1, "G2001-01")], io_date="not a date"),
        _doc(7, [_line(1, "G2001-01")]),
        _doc(8, [_line(1, "G2001-01")], status="Cancelled"),
    ]
    mapped = map_outbound(outbound(docs), master, config)
    assert mapped.bills["bill_no"].to_list() == ["7"]
    reasons = {(r["document"], r["line"], r["rule_id"]) for r in mapped.split.held.to_dicts()}
    assert reasons == {
        ("1", "2", "material.unknown"),
        ("1", "1", "doc.held_with_line"),
        ("2", "1", "qty.not_positive"),
        ("3", "1", "qty.invalid"),
        ("4", "1", "shop.unmapped"),
        ("5", "1", "customer.unknown"),
        ("6", "1", "date.missing"),
    }
    unmapped = mapped.split.held.filter(pl.col("rule_id") == "shop.unmapped").row(0, named=True)
    assert unmapped["value"] == "10090"
    assert '店铺 "小红书店" (shop_id 10090) 未在店铺表 (shops) 中映射到金蝶客户' in unmapped["message"]
    table_hints = mapped.split.held.filter(pl.col("rule_id").is_in(["shop.unmapped", "customer.unknown"]))["hint"]
    for way in ("worklist.xlsx", "jst-kingdee mappings import", "set-mappings/form"):  # how an analyst acts
        assert table_hints.str.contains(way, literal=True).all(), way
    bad_qty = mapped.split.held.filter(pl.col("rule_id") == "qty.invalid").row(0, named=True)
    assert bad_qty["value"] == "abc"
    assert mapped.out_of_scope.to_dicts() == [{"io_id": "8", "status": "Cancelled"}]


def test_a_document_without_its_number_is_held_not_sent(master, config):
    nameless = _doc(0, [_line(1, "G2001-01")])
    del nameless["io_id"]
    mapped = map_outbound(outbound([nameless, _doc(9, [_line(1, "G2001-01")])]), master, config)
    assert mapped.bills["bill_no"].to_list() == ["9"]
    assert mapped.split.held.select("document", "rule_id").rows() == [(None, "doc.id_missing")]


def test_archived_documents_are_booked_like_confirmed_ones_by_default(master, config):
    docs = [
        _doc(1, [_line(1, "G2001-01")]),
        _doc(2, [_line(1, "G2001-01")], status="Archive"),
        _doc(3, [_line(1, "G2001-01")], status="WaitConfirm"),
    ]
    mapped = map_outbound(outbound(docs), master, config)
    assert mapped.bills["bill_no"].to_list() == ["1", "2"]
    assert mapped.out_of_scope.to_dicts() == [{"io_id": "3", "status": "WaitConfirm"}]


def test_the_booked_statuses_come_from_the_scheme_config(master):
    docs = [_doc(1, [_line(1, "G2001-01")]), _doc(2, [_line(1, "G2001-01")], status="Archive")]
    mapped = map_outbound(outbound(docs), master, SchemeConfig(outbound_booked_statuses=("Confirmed",)))
    assert mapped.bills["bill_no"].to_list() == ["1"]
    assert mapped.out_of_scope.to_dicts() == [{"io_id": "2", "status": "Archive"}]


def test_out_of_scope_documents_are_counted_by_status_for_the_report(master, config):
    docs = [_doc(1, [_line(1, "G2001-01")], status="WaitConfirm"), _doc(2, [_line(1, "G2001-01")], status="Cancelled")]
    docs.append(_doc(3, [_line(1, "G2001-01")], status="WaitConfirm"))
    assert map_outbound(outbound(docs), master, config).notes() == {"status WaitConfirm": 2, "status Cancelled": 1}


def test_only_revoked_documents_kingdee_already_has_need_a_human():
    docs = [_doc(1, [_line(1, "G2001-01")], status="Cancelled"), _doc(2, [_line(1, "G2001-01")], status="Delete")]
    docs.append(_doc(3, [_line(1, "G2001-01")]))
    found = revoked(outbound(docs))
    assert sorted(found["io_id"]) == ["1", "2"]
    attention = cancelled_after_booking(found, {"2", "3"})
    assert attention["document"].to_list() == ["2"]
    assert attention["message"][0].startswith("聚水潭出库单已Delete (天猫旗舰店), 但金蝶销售出库单 2 已存在")
    nothing = cancelled_after_booking(found.clear(), set())
    assert nothing.schema == pl.Schema({"document": pl.String, "message": pl.String})
