"""API pages → flat Polars frames, one row per document line.

Frames are built with an explicit schema (Polars would otherwise guess types from the first 100
records). Every scalar arrives as text first and is cast with `strict=False`, so a malformed value
becomes a null typed column next to its raw text: the rules then hold that line and show the
analyst exactly what the API sent, instead of a whole page failing to load.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import polars as pl

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"

OUTBOUND_DOC_FIELDS = (
    "io_id",
    "o_id",
    "so_id",
    "shop_id",
    "shop_name",
    "wms_co_id",
    "status",
    "io_date",
    "modified",
    "l_id",
    "logistics_company",
    "ts",
)
OUTBOUND_LINE_FIELDS = (
    "ioi_id",
    "sku_id",
    "i_id",
    "name",
    "properties_value",
    "qty",
    "sale_price",
    "sale_amount",
    "unit",
    "is_gift",
)
REFUND_DOC_FIELDS = (
    "as_id",
    "o_id",
    "so_id",
    "shop_id",
    "shop_name",
    "wms_co_id",
    "warehouse",
    "type",
    "status",
    "good_status",
    "modified",
    "ts",
)
REFUND_LINE_FIELDS = (
    "asi_id",
    "sku_id",
    "i_id",
    "name",
    "properties_value",
    "qty",
    "r_qty",
    "price",
    "amount",
    "is_gift",
    "receive_date",
)
RECEIVED_DOC_FIELDS = ("io_id", "as_id", "io_date", "wms_co_id", "status", "modified", "ts")


def _nested_schema(doc_fields: Sequence[str], line_fields: Sequence[str]) -> dict[str, pl.DataType]:
    return {
        **{name: pl.String() for name in doc_fields},
        "items": pl.List(pl.Struct({name: pl.String() for name in line_fields})),
    }


def _as_text(records: Iterable[dict], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    rows = list(records)
    if not rows:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(rows, schema=schema, strict=False)


def _flatten(docs: pl.DataFrame) -> pl.DataFrame:
    """One row per line; a document with no lines keeps one row with null line fields."""
    return docs.with_row_index("doc_position").explode("items", empty_as_null=True).unnest("items")


def _to_datetime(column: str) -> pl.Expr:
    # Jushuitan sometimes adds milliseconds (2021-09-18 11:02:19.807): keep whole seconds.
    return pl.col(column).str.slice(0, 19).str.strptime(pl.Datetime("us"), DATETIME_FORMAT, strict=False)


def _to_number(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().cast(pl.Float64, strict=False)


def _to_int(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().cast(pl.Int64, strict=False)


def _to_bool(column: str) -> pl.Expr:
    return pl.col(column).str.to_lowercase().is_in(["true", "1"])


def outbound_lines(documents: Iterable[dict]) -> pl.DataFrame:
    """Sales outbound documents (/open/orders/out/simple/query `datas`) → one row per line."""
    docs = _as_text(documents, _nested_schema(OUTBOUND_DOC_FIELDS, OUTBOUND_LINE_FIELDS))
    flat = _flatten(docs)
    return flat.with_columns(
        _to_int("shop_id").alias("shop_key"),
        _to_int("wms_co_id").alias("warehouse_key"),
        _to_int("ts").alias("ts_value"),
        _to_datetime("io_date").alias("ship_time"),
        _to_datetime("modified").alias("modified_time"),
        _to_number("qty").alias("quantity"),
        _to_number("sale_price").alias("unit_price"),
        _to_bool("is_gift").alias("gift"),
    )


def refund_lines(documents: Iterable[dict]) -> pl.DataFrame:
    """After-sales (/open/refund/single/query `datas`) → one row per line."""
    docs = _as_text(documents, _nested_schema(REFUND_DOC_FIELDS, REFUND_LINE_FIELDS))
    flat = _flatten(docs)
    return flat.with_columns(
        _to_int("shop_id").alias("shop_key"),
        _to_int("wms_co_id").alias("warehouse_key"),
        _to_int("ts").alias("ts_value"),
        _to_datetime("modified").alias("modified_time"),
        _to_datetime("receive_date").alias("received_time"),
        _to_number("qty").alias("requested_quantity"),
        _to_number("r_qty").alias("returned_quantity"),
        _to_number("price").alias("unit_price"),
        _to_bool("is_gift").alias("gift"),
    )


def received_dates(records: Iterable[dict]) -> pl.DataFrame:
    """Return-warehousing records (/open/aftersale/received/query) → the in-stock time per as_id."""
    schema = {name: pl.String() for name in RECEIVED_DOC_FIELDS}
    frame = _as_text(records, schema)
    return (
        frame.with_columns(_to_datetime("io_date").alias("stock_in_time"))
        .filter(pl.col("as_id").is_not_null() & pl.col("stock_in_time").is_not_null())
        .group_by("as_id")
        .agg(pl.col("stock_in_time").max())
    )


def latest_versions(lines: pl.DataFrame, key: str) -> pl.DataFrame:
    """Keep one version of each document: the highest `ts` (rowversion), first seen on ties.

    Overlapping windows and cursor pages return the same document more than once; a document that
    changed between two pages comes back in two versions.
    """
    if lines.is_empty():
        return lines
    # A document without its id cannot be matched to another version: keep it (the rules hold it).
    chosen = (
        lines.filter(pl.col(key).is_not_null())
        .select(key, "doc_position", "ts_value")
        .unique(maintain_order=True)
        .sort("ts_value", "doc_position", descending=[True, False], nulls_last=True)
        .unique(key, keep="first")
        .select("doc_position")
    )
    return lines.filter(pl.col(key).is_null() | pl.col("doc_position").is_in(chosen["doc_position"].implode()))
