"""Reconciliation: Jushuitan documents against the Kingdee bills they should have become.

Frames in, frames out, no I/O. Each side is first reduced to one row per document (number, time,
shop, quantity, amount); the two are joined by number (FBillNo = io_id / as_id) and each document
gets exactly one class. Amounts are Σ qty × price rounded to whole cents and kept as integers, so no
comparison ever sees float noise; a tolerance of one cent absorbs the half-cent rounding edge, where
the same sum computed in a different order can round either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import polars as pl

from transforms import outbound, returns
from transforms.outcomes import held_outcomes

MATCHED = "matched"
MISSING = "missing_in_kingdee"
EXTRA = "extra_in_kingdee"
QUANTITY = "quantity_mismatch"
AMOUNT = "amount_mismatch"
DATE = "date_mismatch"
HELD = "held"
CLASSES = (MATCHED, MISSING, EXTRA, QUANTITY, AMOUNT, DATE, HELD)
CLASS_LABELS = {
    MATCHED: "一致",
    MISSING: "金蝶缺单",
    EXTRA: "金蝶多单",
    QUANTITY: "数量不符",
    AMOUNT: "金额不符",
    DATE: "日期不符",
    HELD: "暂缓 (未通过校验)",
}

STATUS_NAMES = {"Z": "暂存", "A": "创建", "B": "审核中", "C": "已审核", "D": "重新审核"}  # FDocumentStatus
# Quantities are sums of a few decimals: anything below this is float noise, not a difference.
QUANTITY_TOLERANCE = 1e-6

SIDE_SCHEMA = {
    "document": pl.String,
    "time": pl.Datetime("us"),
    "shop_id": pl.String,
    "shop_name": pl.String,
    "quantity": pl.Float64,
    "amount_cents": pl.Int64,
}
KINGDEE_SCHEMA = {**SIDE_SCHEMA, "customer_number": pl.String, "status": pl.String}
# What the Kingdee query returns, one row per entry line (the customer key renamed to customer_number).
KINGDEE_ROWS_SCHEMA = {
    "FBillNo": pl.String,
    "FDate": pl.Datetime("us"),
    "FDocumentStatus": pl.String,
    "customer_number": pl.String,
    "FRealQty": pl.Float64,
    "FTaxPrice": pl.Float64,
}
HELD_REASONS_SCHEMA = {"document": pl.String, "reason": pl.String}
DOCUMENT_SCHEMA = {
    "document": pl.String,
    "result": pl.String,
    "result_zh": pl.String,
    "day": pl.Date,
    "shop_id": pl.String,
    "shop_name": pl.String,
    "jst_quantity": pl.Float64,
    "kingdee_quantity": pl.Float64,
    "quantity_diff": pl.Float64,
    "jst_amount": pl.Float64,
    "kingdee_amount": pl.Float64,
    "amount_diff": pl.Float64,
    "jst_time": pl.Datetime("us"),
    "kingdee_time": pl.Datetime("us"),
    "kingdee_customer": pl.String,
    "kingdee_status": pl.String,
    "reason": pl.String,
}


def cents(amount: pl.Expr) -> pl.Expr:
    """A money amount rounded to the cent, as an exact integer number of cents."""
    return (amount * 100).round(0).cast(pl.Int64)


def _per_document(lines: pl.DataFrame, key: str, time: pl.Expr, quantity: str) -> pl.DataFrame:
    """A line whose quantity or price is not a number makes the document's totals unknown (null), not
    smaller: such a document is held, and its figures should not pretend otherwise."""
    line_amount = pl.col(quantity) * pl.col("unit_price")
    return (
        lines.group_by(key, maintain_order=True)
        .agg(
            time.max().alias("time"),
            pl.col("shop_id").first(),
            pl.col("shop_name").first(),
            pl.when(pl.col(quantity).is_not_null().all()).then(pl.col(quantity).sum()).alias("quantity"),
            pl.when(line_amount.is_not_null().all()).then(cents(line_amount.sum())).alias("amount_cents"),
        )
        .rename({key: "document"})
        .cast(SIDE_SCHEMA)
        .select(SIDE_SCHEMA.keys())
    )


def outbound_documents(lines: pl.DataFrame, documents: pl.Series) -> pl.DataFrame:
    """Outbound lines (frames.outbound_lines) of `documents`, the io_ids the mapping took in
    (written or held), one row each, dated by io_date as the bill's FDate is."""
    return _per_document(
        lines.filter(pl.col("io_id").is_in(documents.implode())), "io_id", pl.col("ship_time"), "quantity"
    )


def returns_documents(lines: pl.DataFrame, stock_in: pl.DataFrame, documents: pl.Series) -> pl.DataFrame:
    """After-sale lines (frames.refund_lines) of `documents`, the as_ids the mapping took in, one row each.

    Dated as the bill's FDate is: the latest line receive_date, else the warehouse receipt's in-stock
    time (`stock_in`: as_id, stock_in_time). Lines with nothing returned (r_qty ≤ 0) are not on the bill.
    """
    returned = lines.filter(
        pl.col("as_id").is_in(documents.implode()) & ~(pl.col("returned_quantity") <= 0).fill_null(False)
    ).join(stock_in, on="as_id", how="left")
    return _per_document(returned, "as_id", pl.coalesce("received_time", "stock_in_time"), "returned_quantity")


def kingdee_documents(rows: pl.DataFrame, shops: pl.DataFrame) -> pl.DataFrame:
    """Bill query rows (KINGDEE_ROWS_SCHEMA, one per entry line) → one row per bill, its shop found from
    its customer through the hand-kept table (shop_id, shop_name, customer_number)."""
    bills = (
        rows.cast(KINGDEE_ROWS_SCHEMA)
        .group_by("FBillNo", maintain_order=True)
        .agg(
            pl.col("FDate").first().alias("time"),
            pl.col("customer_number").first(),
            pl.col("FDocumentStatus").first().alias("status"),
            pl.col("FRealQty").sum().alias("quantity"),
            cents((pl.col("FRealQty") * pl.col("FTaxPrice")).sum()).alias("amount_cents"),
        )
        .rename({"FBillNo": "document"})
    )
    # One customer may stand for several shops; the Kingdee side cannot tell them apart, so name them all.
    owners = (
        shops.select(pl.col("shop_id").cast(pl.String), "shop_name", "customer_number")
        .sort("shop_id")
        .group_by("customer_number")
        .agg(pl.col("shop_id").str.join("/"), pl.col("shop_name").str.join("/"))
    )
    return (
        bills.join(owners, on="customer_number", how="left")
        .with_columns(
            pl.coalesce(
                "shop_name",
                pl.format("(客户 {} 不在店铺表中)", pl.col("customer_number").fill_null("(空)")),
            ).alias("shop_name")
        )
        .with_columns(
            pl.format("{} {}", "status", pl.col("status").replace_strict(STATUS_NAMES, default="")).str.strip_chars()
        )
        .cast(KINGDEE_SCHEMA)
        .select(KINGDEE_SCHEMA.keys())
    )


def _amount(amount_cents: pl.Expr) -> pl.Expr:
    """Cents as a currency amount for display (the nearest float to the two-decimal value)."""
    return (amount_cents / 100).round(2)


def _money(amount_cents: pl.Expr) -> pl.Expr:
    """Cents as text with two decimals ("-0.05"), exact; "(空)" when unknown."""
    whole = amount_cents.abs()
    return pl.format(
        "{}{}.{}",
        pl.when(amount_cents < 0).then(pl.lit("-")).otherwise(pl.lit("")),
        whole // 100,
        (whole % 100).cast(pl.String).str.zfill(2),
    ).fill_null("(空)")


def _quantity(value: pl.Expr) -> pl.Expr:
    return value.round(6).cast(pl.String).str.replace(r"\.0$", "").fill_null("(空)")


def compare(
    jushuitan: pl.DataFrame,
    kingdee: pl.DataFrame,
    held: pl.DataFrame,
    *,
    form_id: str,
    amount_tolerance_cents: int = 1,
) -> pl.DataFrame:
    """One row per document on either side (DOCUMENT_SCHEMA), classed and explained.

    `jushuitan`: SIDE_SCHEMA, every document Jushuitan says should be booked; `kingdee`: KINGDEE_SCHEMA;
    `held`: HELD_REASONS_SCHEMA, the documents the sync's own rules hold back, with their reasons.
    A held document Kingdee does not have is `held`; one Kingdee has anyway (written before the data
    changed) is compared like any other, its current reasons added to the explanation.
    """
    left = jushuitan.select(
        "document", *[pl.col(c).alias(f"jst_{c}") for c in SIDE_SCHEMA if c != "document"], pl.lit(True).alias("in_jst")
    )
    right = kingdee.select(
        "document",
        *[pl.col(c).alias(f"kingdee_{c}") for c in KINGDEE_SCHEMA if c != "document"],
        pl.lit(True).alias("in_kingdee"),
    )
    joined = (
        left.join(right, on="document", how="full", coalesce=True, maintain_order="left_right")
        .join(held.unique("document", keep="first"), on="document", how="left")
        .with_columns(pl.col("in_jst", "in_kingdee").fill_null(False))
        .with_columns(
            (pl.col("kingdee_quantity") - pl.col("jst_quantity")).alias("quantity_diff"),
            (pl.col("kingdee_amount_cents") - pl.col("jst_amount_cents")).alias("diff_cents"),
        )
    )
    in_jst, in_kingdee = pl.col("in_jst"), pl.col("in_kingdee")
    jst_day, kingdee_day = pl.col("jst_time").dt.date(), pl.col("kingdee_time").dt.date()
    result = (
        pl.when(~in_kingdee & pl.col("reason").is_not_null())
        .then(pl.lit(HELD))
        .when(~in_kingdee)
        .then(pl.lit(MISSING))
        .when(~in_jst)
        .then(pl.lit(EXTRA))
        .when((pl.col("quantity_diff").abs() > QUANTITY_TOLERANCE).fill_null(True))  # null: a side unknown
        .then(pl.lit(QUANTITY))
        .when((pl.col("diff_cents").abs() > amount_tolerance_cents).fill_null(True))
        .then(pl.lit(AMOUNT))
        .when(jst_day.ne_missing(kingdee_day))
        .then(pl.lit(DATE))
        .otherwise(pl.lit(MATCHED))
    )
    jst_amount, kingdee_amount = _money(pl.col("jst_amount_cents")), _money(pl.col("kingdee_amount_cents"))
    explained = (
        pl.when(pl.col("result") == MISSING)
        .then(
            pl.format(
                "金蝶 {} 中没有单据编号 {} 的单据 (聚水潭: 数量 {}, 金额 {}): 重新同步 (replay) 该单据,"
                " 或查明它为何被删除 / no Kingdee bill for this document: replay it, or find out why it was deleted",
                pl.lit(form_id),
                "document",
                _quantity(pl.col("jst_quantity")),
                jst_amount,
            )
        )
        .when(pl.col("result") == EXTRA)
        .then(
            pl.format(
                "金蝶 {} 单据 {} (客户 {}, 数量 {}, 金额 {}) 在聚水潭本期没有对应的待记账单据: 核对是否手工录入、"
                "单号有误、聚水潭单据已取消或其日期不在本期 / no Jushuitan document to book in this period: check for"
                " a bill keyed by hand, a wrong number, a document cancelled in Jushuitan or dated outside the period",
                pl.lit(form_id),
                "document",
                pl.col("kingdee_customer_number").fill_null("(空)"),
                _quantity(pl.col("kingdee_quantity")),
                kingdee_amount,
            )
        )
        .when(pl.col("result") == QUANTITY)
        .then(
            pl.format(
                "数量不符: 聚水潭 {}, 金蝶 {} (差 {}): 核对金蝶单据是否被修改, 必要时删除后重新同步"
                " / quantities differ: check whether the bill was edited in Kingdee; if so delete it and replay",
                _quantity(pl.col("jst_quantity")),
                _quantity(pl.col("kingdee_quantity")),
                _quantity(pl.col("quantity_diff")),
            )
        )
        .when(pl.col("result") == AMOUNT)
        .then(
            pl.format(
                "金额不符: 聚水潭 {}, 金蝶 {} (差 {}): 核对金蝶单据的含税单价 FTaxPrice"
                " / amounts differ: check the tax-inclusive prices (FTaxPrice) on the Kingdee bill",
                jst_amount,
                kingdee_amount,
                _money(pl.col("diff_cents")),
            )
        )
        .when(pl.col("result") == DATE)
        .then(
            pl.format(
                "日期不符: 聚水潭 {}, 金蝶 FDate {}: 核对金蝶单据日期 / dates differ: check the bill's FDate",
                jst_day,
                kingdee_day,
            )
        )
    )
    return (
        joined.with_columns(result.alias("result"))
        .with_columns(
            pl.when(pl.col("result") == HELD)
            .then(pl.col("reason"))
            .when(pl.col("reason").is_null())
            .then(explained)
            .otherwise(
                pl.concat_str(
                    explained,
                    pl.format("聚水潭单据目前未通过校验 / held by the rules now: {}", pl.col("reason")),
                    separator="; ",
                    ignore_nulls=True,
                )
            )
            .alias("reason"),
            pl.col("result").replace_strict(CLASS_LABELS, return_dtype=pl.String).alias("result_zh"),
            pl.coalesce(jst_day, kingdee_day).alias("day"),
            pl.coalesce("jst_shop_id", "kingdee_shop_id").alias("shop_id"),
            pl.coalesce("jst_shop_name", "kingdee_shop_name").alias("shop_name"),
            _amount(pl.col("jst_amount_cents")).alias("jst_amount"),
            _amount(pl.col("kingdee_amount_cents")).alias("kingdee_amount"),
            _amount(pl.col("diff_cents")).alias("amount_diff"),
            pl.col("quantity_diff").round(6),
            pl.col("kingdee_customer_number").alias("kingdee_customer"),
        )
        .select(DOCUMENT_SCHEMA.keys())
        .cast(DOCUMENT_SCHEMA)
    )


DAY_SHOP_SCHEMA = {
    "day": pl.Date,
    "shop_id": pl.String,
    "shop_name": pl.String,
    "jst_documents": pl.UInt32,
    "jst_quantity": pl.Float64,
    "jst_amount": pl.Float64,
    "kingdee_documents": pl.UInt32,
    "kingdee_quantity": pl.Float64,
    "kingdee_amount": pl.Float64,
    "quantity_diff": pl.Float64,
    "amount_diff": pl.Float64,
    **{name: pl.UInt32 for name in CLASSES},
}
_SHOP_KEY = pl.coalesce("shop_id", "shop_name").alias("shop_key")  # a Kingdee customer with no shop has a name only


def _totals(side: pl.DataFrame, prefix: str) -> pl.DataFrame:
    return (
        side.with_columns(pl.col("time").dt.date().alias("day"), _SHOP_KEY)
        .group_by("day", "shop_key")
        .agg(
            pl.col("shop_id").first().alias(f"{prefix}_shop_id"),
            pl.col("shop_name").first().alias(f"{prefix}_shop_name"),
            pl.len().alias(f"{prefix}_documents"),
            pl.col("quantity").sum().alias(f"{prefix}_quantity"),
            pl.col("amount_cents").sum().alias(f"{prefix}_cents"),
        )
    )


def by_day_shop(jushuitan: pl.DataFrame, kingdee: pl.DataFrame, documents: pl.DataFrame) -> pl.DataFrame:
    """Day × shop (DAY_SHOP_SCHEMA): each side's documents, quantity and amount by its own date and shop
    (so each column adds up to that system's own report), and the classes of the documents (from
    `compare`) counted where each document sits."""
    classes = (
        documents.with_columns(_SHOP_KEY)
        .group_by("day", "shop_key")
        .agg(*[(pl.col("result") == name).sum().alias(name) for name in CLASSES])
    )
    keys = ["day", "shop_key"]
    joined = (
        _totals(jushuitan, "jst")
        .join(_totals(kingdee, "kingdee"), on=keys, how="full", coalesce=True, nulls_equal=True)
        .join(classes, on=keys, how="left", nulls_equal=True)
    )
    counts = ["jst_documents", "kingdee_documents", "jst_quantity", "kingdee_quantity", "jst_cents", "kingdee_cents"]
    return (
        joined.with_columns(pl.col(*counts, *CLASSES).fill_null(0))
        .with_columns(
            pl.coalesce("jst_shop_id", "kingdee_shop_id").alias("shop_id"),
            pl.coalesce("jst_shop_name", "kingdee_shop_name").alias("shop_name"),
            _amount(pl.col("jst_cents")).alias("jst_amount"),
            _amount(pl.col("kingdee_cents")).alias("kingdee_amount"),
            (pl.col("kingdee_quantity") - pl.col("jst_quantity")).round(6).alias("quantity_diff"),
            _amount(pl.col("kingdee_cents") - pl.col("jst_cents")).alias("amount_diff"),
        )
        .sort("day", "shop_id", nulls_last=True)
        .select(DAY_SHOP_SCHEMA.keys())
        .cast(DAY_SHOP_SCHEMA)
    )


# --- one kind of document, both sides ----------------------------------------------------------------

KindName = Literal["outbound", "returns"]


@dataclass(frozen=True)
class Kind:
    name: KindName
    label: str  # as the analysts call the Kingdee bill
    form_id: str
    customer_key: str  # the bill's customer field: this form's spelling


KINDS: dict[str, Kind] = {
    "outbound": Kind("outbound", "销售出库单", outbound.FORM_ID, "FCustomerID"),
    "returns": Kind("returns", "销售退货单", returns.FORM_ID, "FRetcustId"),
}


@dataclass(frozen=True)
class Reconciliation:
    kind: Kind
    jushuitan: pl.DataFrame  # SIDE_SCHEMA
    kingdee: pl.DataFrame  # KINGDEE_SCHEMA
    documents: pl.DataFrame  # DOCUMENT_SCHEMA
    day_shop: pl.DataFrame  # DAY_SHOP_SCHEMA

    def counts(self) -> dict[str, int]:
        found = dict(self.documents.group_by("result").len().rows())
        return {name: int(found.get(name, 0)) for name in CLASSES}


def in_period(documents: pl.DataFrame, since: datetime, until: datetime) -> pl.DataFrame:
    """A document without a date stays: it is held for that reason, and there is no other period to show it in."""
    time = pl.col("time")
    return documents.filter(time.is_null() | ((time >= since) & (time < until)))


def held_reasons(held_rows: pl.DataFrame) -> pl.DataFrame:
    """HELD_REASONS_SCHEMA from the held rows of the sync's own mapping: one row per held document."""
    return held_outcomes(held_rows).select("document", pl.col("message").alias("reason"))


def reconciliation(
    kind: Kind, jushuitan: pl.DataFrame, held: pl.DataFrame, rows: pl.DataFrame, shops: pl.DataFrame
) -> Reconciliation:
    """`jushuitan` (SIDE_SCHEMA) and its `held` reasons against the bill query `rows` (KINGDEE_ROWS_SCHEMA),
    bills placed by shop through the hand-kept `shops` table."""
    booked = kingdee_documents(rows, shops)
    documents = compare(jushuitan, booked, held, form_id=kind.form_id)
    return Reconciliation(
        kind=kind,
        jushuitan=jushuitan,
        kingdee=booked,
        documents=documents,
        day_shop=by_day_shop(jushuitan, booked, documents),
    )
