from __future__ import annotations

from datetime import date, datetime

import polars as pl
from polars.testing import assert_frame_equal

from tests.transforms.pages import outbound, receipts, refunds
from transforms.reconcile import (
    AMOUNT,
    CLASSES,
    DATE,
    EXTRA,
    HELD,
    HELD_REASONS_SCHEMA,
    KINDS,
    KINGDEE_ROWS_SCHEMA,
    KINGDEE_SCHEMA,
    MATCHED,
    MISSING,
    QUANTITY,
    SIDE_SCHEMA,
    by_day_shop,
    cents,
    compare,
    in_period,
    kingdee_documents,
    outbound_documents,
    reconciliation,
    returns_documents,
)

SHOPS = pl.DataFrame(
    {
        "shop_id": [10086, 10087, 10088],
        "shop_name": ["天猫旗舰店", "京东自营店", "抖音小店"],
        "customer_number": ["CUST001", "CUST002", "CUST002"],
    }
)


def _jst(*rows: tuple) -> pl.DataFrame:
    """(document, time, shop_id, shop_name, quantity, amount_cents)"""
    return pl.DataFrame(list(rows), schema=SIDE_SCHEMA, orient="row")


def _kd(*rows: tuple) -> pl.DataFrame:
    """(document, time, shop_id, shop_name, quantity, amount_cents, customer_number, status)"""
    return pl.DataFrame(list(rows), schema=KINGDEE_SCHEMA, orient="row")


def _held(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=HELD_REASONS_SCHEMA, orient="row")


D1 = datetime(2026, 11, 3, 10, 15)
D2 = datetime(2026, 11, 4, 9, 0)


def test_cents_are_exact_integers_whatever_the_float_noise():
    frame = pl.DataFrame({"qty": [3.0, 1.0, 7.0], "price": [0.1, 0.2, 19.9]})
    result = frame.select(
        cents((pl.col("qty") * pl.col("price")).sum()).alias("total"),
        cents(pl.col("qty") * pl.col("price")).alias("line"),
    )
    assert result["total"].to_list() == [30 + 20 + 13930] * 3
    assert result["line"].to_list() == [30, 20, 13930]
    assert result.schema["total"] == pl.Int64


def test_outbound_documents_sum_each_document_and_keep_only_those_the_mapping_took():
    docs = [
        {
            "io_id": "30000001",
            "shop_id": "10086",
            "shop_name": "天猫旗舰店",
            "status": "Confirmed",
            "io_date": "2026-11-03 10:15:00",
            "items": [
                {"ioi_id": "1", "qty": "3", "sale_price": "19.9"},
                {"ioi_id": "2", "qty": "1", "sale_price": "0.1"},
            ],
        },
        {
            "io_id": "30000002",
            "shop_id": "10087",
            "shop_name": "京东自营店",
            "status": "Cancelled",
            "io_date": "2026-11-03 11:00:00",
            "items": [{"ioi_id": "3", "qty": "2", "sale_price": "5"}],
        },
        {  # held by the rules: a line without a quantity makes the totals unknown, not smaller
            "io_id": "30000003",
            "shop_id": "10086",
            "shop_name": "天猫旗舰店",
            "status": "Confirmed",
            "io_date": "2026-11-04 09:00:00",
            "items": [{"ioi_id": "4", "qty": "2", "sale_price": "5"}, {"ioi_id": "5", "sale_price": "5"}],
        },
    ]
    result = outbound_documents(outbound(docs), pl.Series(["30000001", "30000003"]))
    expected = _jst(
        ("30000001", D1, "10086", "天猫旗舰店", 4.0, 5980),
        ("30000003", D2, "10086", "天猫旗舰店", None, None),
    )
    assert_frame_equal(result, expected)


def test_returns_documents_count_returned_lines_and_date_like_the_bill():
    docs = [
        {  # dated by its lines' receive_date (the latest); the r_qty 0 line is not on the bill
            "as_id": "600001",
            "shop_id": "10086",
            "shop_name": "天猫旗舰店",
            "status": "Confirmed",
            "good_status": "SELLER_RECEIVED",
            "items": [
                {"asi_id": "1", "qty": "2", "r_qty": "2", "price": "10.5", "receive_date": "2026-11-03 10:15:00"},
                {"asi_id": "2", "qty": "1", "r_qty": "0", "price": "99", "receive_date": "2026-11-04 09:00:00"},
                {"asi_id": "3", "qty": "1", "r_qty": "1", "price": "0.33", "receive_date": "2026-11-02 08:00:00"},
            ],
        },
        {  # no receive_date: the warehouse receipt dates it
            "as_id": "600002",
            "shop_id": "10087",
            "shop_name": "京东自营店",
            "status": "Confirmed",
            "good_status": "SELLER_RECEIVED",
            "items": [{"asi_id": "4", "qty": "1", "r_qty": "1", "price": "8"}],
        },
    ]
    stock_in = receipts([{"as_id": "600002", "io_date": "2026-11-04 09:00:00"}])
    result = returns_documents(refunds(docs), stock_in, pl.Series(["600001", "600002"]))
    expected = _jst(
        ("600001", D1, "10086", "天猫旗舰店", 3.0, 2133),
        ("600002", D2, "10087", "京东自营店", 1.0, 800),
    )
    assert_frame_equal(result, expected)


def test_kingdee_documents_sum_lines_and_find_the_shop_through_the_customer():
    rows = pl.DataFrame(
        [
            ("XS1", D1, "A", "CUST001", 2.0, 10.5),
            ("XS1", D1, "A", "CUST001", 1.0, 0.33),
            ("XS2", D2, "C", "CUST002", 1.0, 8.0),
            ("XS3", D2, "A", "CUST404", 5.0, 1.0),
        ],
        schema=KINGDEE_ROWS_SCHEMA,
        orient="row",
    )
    result = kingdee_documents(rows, SHOPS)
    expected = _kd(
        ("XS1", D1, "10086", "天猫旗舰店", 3.0, 2133, "CUST001", "A 创建"),
        ("XS2", D2, "10087/10088", "京东自营店/抖音小店", 1.0, 800, "CUST002", "C 已审核"),
        ("XS3", D2, None, "(客户 CUST404 不在店铺表中)", 5.0, 500, "CUST404", "A 创建"),
    )
    assert_frame_equal(result, expected)


def _classes(documents: pl.DataFrame) -> dict[str, str]:
    return dict(documents.select("document", "result").rows())


def test_each_document_gets_exactly_one_class():
    jst = _jst(
        ("ok", D1, "10086", "天猫旗舰店", 3.0, 2133),
        ("gone", D1, "10086", "天猫旗舰店", 1.0, 100),
        ("qty", D1, "10086", "天猫旗舰店", 2.0, 200),
        ("amount", D1, "10086", "天猫旗舰店", 2.0, 250),
        ("late", D1, "10086", "天猫旗舰店", 2.0, 200),
        ("held", D1, "10090", "小红书店", 2.0, 200),
    )
    kd = _kd(
        ("ok", D1, "10086", "天猫旗舰店", 3.0, 2133, "CUST001", "A"),
        ("qty", D1, "10086", "天猫旗舰店", 99.0, 9900, "CUST001", "A"),
        ("amount", D1, "10086", "天猫旗舰店", 2.0, 200, "CUST001", "A"),
        ("late", D2, "10086", "天猫旗舰店", 2.0, 200, "CUST001", "A"),
        ("extra", D2, "10087", "京东自营店", 1.0, 100, "CUST002", "A"),
    )
    held = _held(("held", '店铺 "小红书店" (shop_id 10090) 未在店铺表 (shops) 中映射到金蝶客户'))
    documents = compare(jst, kd, held, form_id="SAL_OUTSTOCK")

    assert _classes(documents) == {
        "ok": MATCHED,
        "gone": MISSING,
        "qty": QUANTITY,
        "amount": AMOUNT,
        "late": DATE,
        "held": HELD,
        "extra": EXTRA,
    }
    assert documents["document"].to_list() == ["ok", "gone", "qty", "amount", "late", "held", "extra"]
    reasons = dict(documents.select("document", "reason").rows())
    assert reasons["ok"] is None
    assert "SAL_OUTSTOCK" in reasons["gone"] and "数量 1, 金额 1.00" in reasons["gone"]
    assert "聚水潭 2, 金蝶 99 (差 97)" in reasons["qty"]
    assert "聚水潭 2.50, 金蝶 2.00 (差 -0.50)" in reasons["amount"]
    assert "2026-11-03" in reasons["late"] and "2026-11-04" in reasons["late"]
    assert reasons["held"] == held["reason"][0]
    assert "CUST002" in reasons["extra"] and "1.00" in reasons["extra"]
    row = documents.row(documents["document"].to_list().index("qty"), named=True)
    assert (row["jst_quantity"], row["kingdee_quantity"], row["quantity_diff"]) == (2.0, 99.0, 97.0)
    assert (row["jst_amount"], row["kingdee_amount"], row["amount_diff"]) == (2.0, 99.0, 97.0)
    extra = documents.row(documents["document"].to_list().index("extra"), named=True)
    assert (extra["day"], extra["shop_id"], extra["kingdee_customer"]) == (date(2026, 11, 4), "10087", "CUST002")


def test_amounts_within_the_tolerance_match_and_beyond_it_do_not():
    jst = _jst(("a", D1, "1", "s", 1.0, 1000), ("b", D1, "1", "s", 1.0, 1000))
    kd = _kd(("a", D1, "1", "s", 1.0, 1001, "C", "A"), ("b", D1, "1", "s", 1.0, 1002, "C", "A"))
    assert _classes(compare(jst, kd, _held(), form_id="F")) == {"a": MATCHED, "b": AMOUNT}
    assert _classes(compare(jst, kd, _held(), form_id="F", amount_tolerance_cents=0)) == {"a": AMOUNT, "b": AMOUNT}


def test_a_document_whose_jushuitan_figures_are_unknown_does_not_match_a_bill():
    jst = _jst(("a", D1, "1", "s", None, None))
    kd = _kd(("a", D1, "1", "s", 2.0, 200, "C", "A"))
    documents = compare(jst, kd, _held(("a", "qty 的值 (空) 不是有效数字")), form_id="F")
    assert documents["result"].to_list() == [QUANTITY]
    assert "聚水潭 (空), 金蝶 2" in documents["reason"][0] and "qty 的值 (空) 不是有效数字" in documents["reason"][0]


def test_a_held_document_kingdee_already_has_is_compared_and_its_reasons_kept():
    jst = _jst(("a", D1, "1", "s", 2.0, 200))
    kd = _kd(("a", D1, "1", "s", 2.0, 200, "C", "C"))
    documents = compare(jst, kd, _held(("a", "商品编码 X 在金蝶物料中不存在")), form_id="F")
    assert documents["result"].to_list() == [MATCHED]
    assert "商品编码 X 在金蝶物料中不存在" in documents["reason"][0]


def test_day_shop_totals_follow_each_side_and_count_classes_where_documents_sit():
    jst = _jst(
        ("ok", D1, "10086", "天猫旗舰店", 3.0, 2133),
        ("late", D1, "10086", "天猫旗舰店", 2.0, 200),
        ("held", D1, "10090", "小红书店", 2.0, 200),
        ("undated", None, "10090", "小红书店", 1.0, 100),
    )
    kd = _kd(
        ("ok", D1, "10086", "天猫旗舰店", 3.0, 2133, "CUST001", "A"),
        ("late", D2, "10086", "天猫旗舰店", 2.0, 200, "CUST001", "A"),
        ("stray", D2, None, "(客户 CUST404 不在店铺表中)", 1.0, 5, "CUST404", "A"),
    )
    documents = compare(jst, kd, _held(("held", "reason"), ("undated", "date missing")), form_id="F")
    table = by_day_shop(jst, kd, documents)

    rows = {(r["day"], r["shop_name"]): r for r in table.to_dicts()}
    assert list(rows) == [
        (date(2026, 11, 3), "天猫旗舰店"),
        (date(2026, 11, 3), "小红书店"),
        (date(2026, 11, 4), "天猫旗舰店"),
        (date(2026, 11, 4), "(客户 CUST404 不在店铺表中)"),
        (None, "小红书店"),  # held for its missing date: still counted, at the end
    ]
    first = rows[(date(2026, 11, 3), "天猫旗舰店")]
    assert (first["jst_documents"], first["jst_quantity"], first["jst_amount"]) == (2, 5.0, 23.33)
    assert (first["kingdee_documents"], first["kingdee_quantity"], first["kingdee_amount"]) == (1, 3.0, 21.33)
    assert (first["quantity_diff"], first["amount_diff"]) == (-2.0, -2.0)
    assert (first[MATCHED], first[DATE]) == (1, 1)
    later = rows[(date(2026, 11, 4), "天猫旗舰店")]
    assert (later["jst_documents"], later["kingdee_documents"]) == (0, 1)
    assert sum(later[name] for name in CLASSES) == 0
    stray = rows[(date(2026, 11, 4), "(客户 CUST404 不在店铺表中)")]
    assert (stray["shop_id"], stray[EXTRA], stray["kingdee_amount"]) == (None, 1, 0.05)
    assert rows[(date(2026, 11, 3), "小红书店")][HELD] == 1
    assert (rows[(None, "小红书店")][HELD], rows[(None, "小红书店")]["jst_documents"]) == (1, 1)
    assert table["jst_documents"].sum() == jst.height and table["kingdee_documents"].sum() == kd.height
    assert table.select(CLASSES).sum_horizontal().sum() == documents.height


def test_nothing_on_either_side_gives_empty_frames_with_their_columns():
    documents = compare(_jst(), _kd(), _held(), form_id="F")
    table = by_day_shop(_jst(), _kd(), documents)
    assert documents.is_empty() and table.is_empty()
    assert "reason" in documents.columns and MISSING in table.columns


def test_a_document_without_a_date_stays_in_any_period_and_the_period_is_half_open():
    documents = _jst(
        ("in", D1, "1", "s", 1.0, 100), ("until", D2, "1", "s", 1.0, 100), ("undated", None, "1", "s", 1.0, 1)
    )
    assert in_period(documents, D1, D2)["document"].to_list() == ["in", "undated"]


def test_a_kind_is_reconciled_bill_rows_against_documents_and_counted_per_class():
    jst = _jst(("IO1", D1, "10086", "天猫旗舰店", 2.0, 2100), ("IO2", D1, "10086", "天猫旗舰店", 1.0, 100))
    rows = pl.DataFrame(
        [("IO1", D1, "C", "CUST001", 1.0, 10.5), ("IO1", D1, "C", "CUST001", 1.0, 10.5)],
        schema=KINGDEE_ROWS_SCHEMA,
        orient="row",
    )

    result = reconciliation(KINDS["outbound"], jst, _held(), rows, SHOPS)

    assert result.kingdee.select("document", "shop_id", "quantity").rows() == [("IO1", "10086", 2.0)]
    assert _classes(result.documents) == {"IO1": MATCHED, "IO2": MISSING}
    assert result.counts() == {name: {MATCHED: 1, MISSING: 1}.get(name, 0) for name in CLASSES}
    assert result.day_shop.select("jst_documents", "kingdee_documents", MATCHED, MISSING).rows() == [(2, 1, 1, 1)]
