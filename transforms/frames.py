"""API pages → flat Polars frames, one row per document line.

Every field becomes a text column first (never a type guessed from the first records) and is cast
with `strict=False`, so a malformed value becomes a null typed column next to its raw text: the
rules then hold that line and show the analyst exactly what the API sent, instead of a whole page
failing to load.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from decimal import Decimal

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


_SCALARS = frozenset({str, int, float, bool})
_NO_FIELDS: dict = {}  # stands in for a line that is missing or not an object: all its fields are null
_EXACT_INTEGERS = 2.0**53


def _value_kinds(values: list) -> set[type]:
    kinds = set(map(type, values))
    kinds.discard(type(None))
    return kinds


def _document_text(value: object) -> str | None:
    """One document-level value as text, the way Polars renders a scalar it reads from a record:
    an integral float without its `.0`, never an exponent. Lists and objects are no value at all."""
    if value is None or type(value) is str:
        return value
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is float:
        if not math.isfinite(value):
            return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        shown = format(Decimal(repr(value)), "f")
        return shown.rstrip("0").rstrip(".") if "." in shown else shown
    return None


def _document_column(name: str, values: list) -> pl.Series:
    """`_document_text` for a whole column, vectorized for the columns real pages send."""
    kinds = _value_kinds(values)
    if kinds <= {str, int} or kinds == {bool}:
        return pl.Series(name, values, dtype=pl.String, strict=False)
    numbers = pl.Series(name, values, dtype=pl.Float64, strict=False) if kinds <= {int, float} else None
    if numbers is None or (numbers.abs() >= _EXACT_INTEGERS).any():
        return pl.Series(name, [_document_text(value) for value in values], dtype=pl.String)
    shown = numbers.cast(pl.String)
    exponent = shown.str.contains("e", literal=True)
    shown = shown.str.strip_suffix(".0")
    if exponent.any():
        rows = exponent.arg_true()
        shown = shown.scatter(rows, [_document_text(value) for value in numbers.gather(rows)])
    return shown


def _line_column(name: str, values: list) -> pl.Series:
    """Line-level values as text, each by its own type (floats keep their `.0`: 2.0 → "2.0");
    lists and objects are no value at all."""
    kinds = _value_kinds(values)
    if kinds <= {str}:
        return pl.Series(name, values, dtype=pl.String)
    if len(kinds) == 1 and kinds <= _SCALARS:
        return pl.Series(name, values).cast(pl.String)
    if not kinds <= _SCALARS:
        values = [value if type(value) in _SCALARS else None for value in values]
    return pl.Series(name, values, dtype=pl.String, strict=False)


def _text_frame(records: Sequence[dict], fields: Sequence[str]) -> pl.DataFrame:
    """One text column per field: records → columns in Python (one `get` per value), text in Polars."""
    return pl.DataFrame([_document_column(name, [record.get(name) for record in records]) for name in fields])


def _line_frame(documents: Iterable[dict], doc_fields: Sequence[str], line_fields: Sequence[str]) -> pl.DataFrame:
    """One row per line: doc_position, the document's fields, the line's fields, all text.

    A document whose `items` is missing, empty or not a list keeps one row with null line fields,
    and a line that is not an object is a line with no fields: the rules then hold the document.
    Building columns directly is several times faster than Polars reading nested records.
    """
    docs = documents if isinstance(documents, list) else list(documents)
    lines: list = []
    counts: list[int] = []
    for doc in docs:
        items = doc.get("items")
        if type(items) is list and items:
            lines += items
            counts.append(len(items))
        else:
            lines.append(_NO_FIELDS)
            counts.append(1)
    if any(type(line) is not dict for line in lines):
        lines = [line if type(line) is dict else _NO_FIELDS for line in lines]
    positions = pl.select(
        pl.int_range(len(docs), dtype=pl.UInt32).repeat_by(pl.Series(counts, dtype=pl.UInt32)).explode()
    ).to_series()
    return pl.concat(
        [
            positions.alias("doc_position").to_frame(),
            _text_frame(docs, doc_fields).gather(positions),
            pl.DataFrame([_line_column(name, [line.get(name) for line in lines]) for name in line_fields]),
        ],
        how="horizontal",
    )


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
    return _line_frame(documents, OUTBOUND_DOC_FIELDS, OUTBOUND_LINE_FIELDS).with_columns(
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
    return _line_frame(documents, REFUND_DOC_FIELDS, REFUND_LINE_FIELDS).with_columns(
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
    frame = _text_frame(list(records), RECEIVED_DOC_FIELDS)
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
