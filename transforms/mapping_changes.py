"""A change to a hand-kept table, checked before anything is applied (issue 18): the rows a person proposes
(a worklist workbook, a CSV file, the set-mappings flow's form), the table they would make, the reasons any
row is rejected, and the diff to show. One set of reasons for the CLI import and the flow: a rejected row
is named with why, and nothing of that file or run is applied.

SCHEME.md §1–2 makes each mapping one to one (店铺编码 == 客户编码, 仓库编码 == 仓库编码): a customer or
stock serves one shop or warehouse, so a number already on another row is rejected, as is one Kingdee
cannot use. Where the numbers stand in Kingdee is read by the caller (kingdee_status).
"""

from __future__ import annotations

import polars as pl

from transforms.mappings import USABLE
from transforms.worklist import Table, status_explanations

REJECTION_SCHEMA = {"table": pl.String, "row": pl.Int64, "key": pl.String, "number": pl.String, "reason": pl.String}
DIFF_SCHEMA = {
    "table": pl.String,
    "change": pl.String,
    "key": pl.String,
    "name": pl.String,
    "number_before": pl.String,
    "number_after": pl.String,
}


def proposed(table: Table, edits: pl.DataFrame) -> pl.DataFrame:
    """row, key, number of the proposed rows (`edits`: the table's columns and `row`, where a person finds it:
    the file's row or the form's item; null when unknown)."""
    return edits.select(
        pl.col("row").cast(pl.Int64),
        pl.col(table.id_column).cast(pl.String).alias("key"),
        pl.col(table.number_column).cast(pl.String).str.strip_chars().alias("number"),
    )


def rejections(table: Table, edits: pl.DataFrame, kept: pl.DataFrame, status: pl.DataFrame, org: str) -> pl.DataFrame:
    """Every reason a proposed row cannot be applied (REJECTION_SCHEMA), none when all can.

    `kept`: the table's rows the change leaves as they are (the current rows the edits do not touch; none
    when the file replaces the table); `status`: kingdee_status of the proposed numbers."""
    rows = proposed(table, edits)
    item, target = (table.item_zh, table.item_en), (table.target.zh, table.target.en)
    unusable = (
        rows.join(status.select("number", "status"), on="number", how="left")
        .with_columns(pl.col("status").fill_null("missing"))
        .filter(pl.col("status") != USABLE)
        .join(status_explanations(table.target, org), on="status", how="left")
        .with_columns(pl.format("{} / {}", "label_zh", "label_en").alias("reason"))
    )
    twice = rows.filter(pl.col("key").is_duplicated()).with_columns(
        pl.format(
            "{}{} 在本次修改中出现多次 / {} {} is on more than one row",
            pl.lit(item[0]),
            "key",
            pl.lit(item[1]),
            "key",
        ).alias("reason")
    )
    shared_numbers = rows.unique(["key", "number"]).filter(pl.col("number").is_duplicated())["number"]
    shared = rows.filter(pl.col("number").is_in(shared_numbers.implode())).with_columns(
        pl.format(
            "{}{} 在本次修改中给了多个{} / {} {} is given to more than one {}",
            pl.lit(target[0]),
            "number",
            pl.lit(item[0]),
            pl.lit(target[1]),
            "number",
            pl.lit(item[1]),
        ).alias("reason")
    )
    owners = kept.select(
        pl.col(table.number_column).cast(pl.String).alias("number"),
        pl.col(table.id_column).cast(pl.String).alias("owner"),
        pl.col(table.name_column).alias("owner_name"),
    )
    elsewhere = (
        rows.join(owners, on="number")
        .filter(pl.col("owner") != pl.col("key"))
        .with_columns(
            pl.format(
                "{}{} 已映射到{} {} {} / {} {} is already mapped to {} {} ({})",
                pl.lit(target[0]),
                "number",
                pl.lit(item[0]),
                "owner",
                pl.col("owner_name").fill_null(""),
                pl.lit(target[1]),
                "number",
                pl.lit(item[1]),
                "owner",
                pl.col("owner_name").fill_null(""),
            ).alias("reason")
        )
    )
    reasons = [frame.select("row", "key", "number", "reason") for frame in (unusable, twice, shared, elsewhere)]
    return (
        pl.concat(reasons)
        .select(pl.lit(table.path).alias("table"), pl.all())
        .unique(maintain_order=True)
        .sort("row", "key", nulls_last=True, maintain_order=True)
        .cast(REJECTION_SCHEMA)
    )


def untouched(table: Table, current: pl.DataFrame, edits: pl.DataFrame) -> pl.DataFrame:
    """The current rows whose id no edit names: what a change of some rows keeps."""
    ids = edits[table.id_column].cast(pl.Int64).implode()
    return current.filter(~pl.col(table.id_column).is_in(ids))


def table_after(table: Table, current: pl.DataFrame, edits: pl.DataFrame) -> pl.DataFrame:
    """The table with the edited rows added or replaced (`current`'s columns, by id)."""
    return pl.concat([untouched(table, current, edits), edits.select(current.columns).cast(current.schema)]).sort(
        table.id_column
    )


def table_diff(table: Table, before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """The rows added, changed or removed (DIFF_SCHEMA), with the number before and after."""
    columns = [pl.col(table.id_column).cast(pl.String).alias("key"), table.name_column, table.number_column]
    old, new = before.select(columns), after.select(columns)
    joined = old.join(new, on="key", how="full", coalesce=True, suffix="_after")
    number_before, number_after = pl.col(table.number_column), pl.col(f"{table.number_column}_after")
    name_before, name_after = pl.col(table.name_column), pl.col(f"{table.name_column}_after")
    change = (
        pl.when(number_before.is_null())
        .then(pl.lit("added"))
        .when(number_after.is_null())
        .then(pl.lit("removed"))
        .when(number_before.ne_missing(number_after) | name_before.ne_missing(name_after))
        .then(pl.lit("changed"))
    )
    return (
        joined.with_columns(change.alias("change"))
        .filter(pl.col("change").is_not_null())
        .select(
            pl.lit(table.path).alias("table"),
            "change",
            "key",
            pl.coalesce(name_after, name_before).alias("name"),
            number_before.alias("number_before"),
            number_after.alias("number_after"),
        )
        .sort("key")
        .cast(DIFF_SCHEMA)
    )
