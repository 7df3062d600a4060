"""nest_bills: one JSON model per bill, written by Polars byte for byte as json.dumps writes it."""

from __future__ import annotations

import json

import polars as pl

from transforms import documents
from transforms.documents import nest_bills, ref


def test_models_are_the_bytes_json_dumps_writes():
    lines = pl.DataFrame(
        {
            "bill": ["B1", "B1", 'B"2'],
            "note": ['引号"\\ 换行\n\t\x01 🎉', None, "</script>"],
            "sku": ["A1", "G2", None],
            "qty": [2.0, 12.9, 0.1],
            "gift": [True, False, None],
            "lot": [True, False, True],
        }
    )
    bills = nest_bills(
        lines,
        bill_no=pl.col("bill"),
        header={"FBillNo": pl.col("bill"), "FNote": pl.col("note"), "FOrg": ref(pl.lit("100"))},
        entry={
            "FMaterialID": ref(pl.col("sku")),
            "FRealQty": pl.col("qty"),
            "FIsFree": pl.col("gift"),
            "FLot": pl.when(pl.col("lot")).then(ref(pl.lit("0"))),
        },
        carry={"lines": pl.len()},
    )

    def dumps(value: dict) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    first = {"FBillNo": "B1", "FNote": '引号"\\ 换行\n\t\x01 🎉', "FOrg": {"FNumber": "100"}}
    entries = [
        {"FMaterialID": {"FNumber": "A1"}, "FRealQty": 2.0, "FIsFree": True, "FLot": {"FNumber": "0"}},
        {"FMaterialID": {"FNumber": "G2"}, "FRealQty": 12.9, "FIsFree": False, "FLot": None},
    ]
    second = {"FBillNo": 'B"2', "FNote": "</script>", "FOrg": {"FNumber": "100"}}
    other = [{"FMaterialID": {"FNumber": None}, "FRealQty": 0.1, "FIsFree": None, "FLot": {"FNumber": "0"}}]
    assert bills.rows() == [
        ("B1", 2, dumps({**first, "FEntity": entries})),
        ('B"2', 1, dumps({**second, "FEntity": other})),
    ]


def test_bills_written_in_slices_are_the_bills_written_at_once(monkeypatch):
    lines = pl.DataFrame({"bill": ["A", "A", "B", "C", "C", "C", "D"], "qty": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]})
    spread = pl.DataFrame({"bill": ["A", "B", "A", "C"], "qty": [1.0, 2.0, 3.0, 4.0]})  # A's lines apart

    def nest(frame: pl.DataFrame) -> pl.DataFrame:
        return nest_bills(
            frame,
            bill_no=pl.col("bill"),
            header={"FBillNo": pl.col("bill")},
            entry={"FRealQty": pl.col("qty")},
            carry={"lines": pl.len()},
        )

    whole = nest(lines), nest(spread)
    monkeypatch.setattr(documents, "LINES_PER_SLICE", 2)
    assert documents._slices(lines["bill"], 2) == [(0, 2), (2, 4), (6, 1)]  # cut where a bill begins
    assert documents._slices(spread["bill"], 2) == [(0, 4)]  # a bill is never cut in two
    assert nest(lines).equals(whole[0]) and nest(spread).equals(whole[1])
    assert whole[1].select("bill_no", "lines").rows() == [("A", 2), ("B", 1), ("C", 1)]
