"""Pages → line frames: Polars reads the page bytes; every value is kept as text beside its typed column,
and malformed values become nulls the rules hold instead of a page that fails to load."""

from __future__ import annotations

import json

import polars as pl

from tests.transforms.pages import outbound, page, receipts
from transforms.frames import OUTBOUND_PAGE, decode_pages, outbound_lines


def _doc(io_id: object, items: object, **fields: object) -> dict:
    return {
        "io_id": io_id,
        "shop_id": 10086,
        "wms_co_id": 10001,
        "status": "Confirmed",
        "ts": 1,
        "items": items,
        **fields,
    }


def _line(**fields: object) -> dict:
    return {"ioi_id": 1, "sku_id": "A1001-01", "qty": 2, "sale_price": 12.9, "is_gift": False, **fields}


def test_values_are_text_as_sent_beside_their_typed_columns():
    lines = outbound(
        [
            _doc(1, [_line(qty=2.0, sale_price=" 12.50 ", is_gift=True), _line(qty="两个", is_gift="1")]),
            _doc("2", [_line(qty=1e20, sale_price=0)], io_date="2026-11-20 10:11:12.345"),
        ]
    )
    assert lines.select("io_id", "qty", "quantity", "sale_price", "unit_price", "is_gift", "gift").rows() == [
        ("1", "2", 2.0, " 12.50 ", 12.5, "true", True),
        ("1", "两个", None, "12.9", 12.9, "1", True),
        ("2", "100000000000000000000", 1e20, "0", 0.0, "false", False),
    ]
    assert lines["shop_key"].to_list() == [10086, 10086, 10086]
    assert lines["ship_time"].to_list()[2].isoformat() == "2026-11-20T10:11:12"


def test_a_list_or_object_where_a_value_belongs_is_no_value():
    lines = outbound([_doc([30009001, 30009002], [_line(qty={"value": 2}, sku_id=["A1001-01"])])])
    assert lines.select("io_id", "qty", "quantity", "sku_id").rows() == [(None, None, None, None)]


def test_json_true_in_a_quantity_is_the_text_true_and_no_number():
    lines = outbound([_doc(1, [_line(qty=True)])])
    assert lines.select("qty", "quantity").rows() == [("true", None)]


def test_nan_and_infinity_sent_as_bare_words_are_read_as_text():
    body = page([_doc(1, [_line(qty=float("nan"), sale_price=float("inf"))])])
    assert b"NaN" in body and b"Infinity" in body  # not JSON, but what Python's json writes and reads
    lines = outbound_lines(decode_pages([body], OUTBOUND_PAGE))
    row = lines.select("qty", "quantity", "sale_price", "unit_price").row(0)
    assert row[0] == "NaN" and row[1] != row[1] and row[2:] == ("inf", float("inf"))


def test_a_document_keeps_one_row_per_line_and_one_row_without_lines():
    lines = outbound(
        [
            _doc(1, []),
            _doc(2, "A1001-01 x2"),
            _doc(3, ["A1001-01"]),
            _doc(4, [None, _line(ioi_id=7)]),
            {k: v for k, v in _doc(5, None).items() if k != "items"},
        ]
    )
    assert lines.select("io_id", "ioi_id", "sku_id").rows() == [
        ("1", None, None),
        ("2", None, None),
        ("3", None, None),
        ("4", None, None),
        ("4", "7", "A1001-01"),
        ("5", None, None),
    ]


def test_only_the_latest_version_of_each_document_is_kept():
    lines = outbound(
        [
            _doc(1, [_line(qty=1)], ts=5),
            _doc("1", [_line(qty=2)], ts=9),  # the same number as text, newer
            _doc(2, [_line(qty=3)], ts=4),
            _doc(2, [_line(qty=4)], ts=4),  # a tie: the first seen stays
            _doc(None, [_line(qty=5)], ts=1),  # no number: nothing to match, kept
            _doc(None, [_line(qty=6)], ts=1),
        ]
    )
    assert lines.select("io_id", "qty").rows() == [("1", "2"), ("2", "3"), (None, "5"), (None, "6")]


def test_pages_are_read_whatever_their_layout():
    pretty = json.dumps({"code": 0, "data": {"datas": [_doc(1, [_line()])]}}, indent=2).encode()
    frame = outbound_lines(decode_pages([pretty, page([_doc(2, [_line()])])], OUTBOUND_PAGE))
    assert frame["io_id"].to_list() == ["1", "2"]
    assert outbound_lines(decode_pages([], OUTBOUND_PAGE)).is_empty()


def test_received_dates_keep_the_latest_whole_second_per_after_sale():
    stock_in = receipts(
        [
            {"as_id": 7, "io_date": "2026-11-22 14:00:00.5"},
            {"as_id": "7", "io_date": "2026-11-23 09:00:00"},
            {"as_id": 8, "io_date": "not a date"},
            {"io_date": "2026-11-22 14:00:00"},
        ]
    )
    assert stock_in.with_columns(pl.col("stock_in_time").dt.strftime("%F %T")).rows() == [("7", "2026-11-23 09:00:00")]
