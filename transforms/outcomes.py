"""The outcome table: one row per document a run looked at, whatever happened to it. Every report,
the held ledger and the run's summary are read from it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import polars as pl

# One row per document a run looked at, whatever happened to it.
OUTCOME_SCHEMA = {
    "document": pl.String,
    "shop_id": pl.String,
    "shop_name": pl.String,
    "outcome": pl.String,  # written | would_create | skipped_existing | held | failed
    "kingdee_number": pl.String,
    "follow_up": pl.String,  # submitted | submit_failed | audited | audit_failed; null: neither was asked
    "message": pl.String,
}
WRITTEN, WOULD_CREATE, SKIPPED, HELD, FAILED = "written", "would_create", "skipped_existing", "held", "failed"
# What Submit / Audit answered for a written (or already saved) bill: a state after its outcome, not an outcome.
SUBMITTED, SUBMIT_FAILED, AUDITED, AUDIT_FAILED = "submitted", "submit_failed", "audited", "audit_failed"
FOLLOW_UPS = (SUBMITTED, SUBMIT_FAILED, AUDITED, AUDIT_FAILED)
FOLLOW_UP_FAILED = (SUBMIT_FAILED, AUDIT_FAILED)

# Per sync: what its document numbers are, and the system they are looked up in.
NUMBERS = {"outbound": ("io_id", "Jushuitan"), "returns": ("as_id", "Jushuitan"), "materials": ("FNumber", "Kingdee")}


class UploadResult(Protocol):
    """One row's verdict of a Jushuitan upload (connectors.jushuitan.ItemUploadResult)."""

    sku_id: str
    is_success: bool
    msg: str


# When one document is seen twice in a run (it changed while the run paged), what Kingdee now holds wins.
OUTCOME_RANK = {WRITTEN: 0, SKIPPED: 1, WOULD_CREATE: 2, FAILED: 3, HELD: 4}


def bill_outcomes(
    chunk: pl.DataFrame, outcome: str, numbers: dict[str, str] | None = None, messages: dict[str, str] | None = None
) -> pl.DataFrame:
    """One `outcome` per bill of `chunk`, with Kingdee's number and the message where known."""
    return pl.DataFrame(
        {
            "document": chunk["bill_no"],
            "shop_id": chunk["shop_id"].cast(pl.String),
            "shop_name": chunk["shop_name"],
            "outcome": [outcome] * chunk.height,
            "kingdee_number": [(numbers or {}).get(b) for b in chunk["bill_no"]],
            "follow_up": [None] * chunk.height,
            "message": [(messages or {}).get(b) for b in chunk["bill_no"]],
        },
        schema=OUTCOME_SCHEMA,
    )


def final_outcomes(outcomes: pl.DataFrame) -> pl.DataFrame:
    """One outcome per document (see OUTCOME_RANK); documents without a number are all kept."""
    ranked = outcomes.with_columns(pl.col("outcome").replace_strict(OUTCOME_RANK, default=9).alias("__rank"))
    numbered = ranked.filter(pl.col("document").is_not_null()).sort("__rank", maintain_order=True)
    return pl.concat(
        [numbered.unique("document", keep="first", maintain_order=True), ranked.filter(pl.col("document").is_null())]
    ).drop("__rank")


def needing_attention(attention: pl.DataFrame | None, outcomes: pl.DataFrame) -> pl.DataFrame | None:
    """`attention` plus the bills whose Submit or Audit failed: saved in Kingdee, not taken as far as asked."""
    failed = outcomes.filter(pl.col("follow_up").is_in(FOLLOW_UP_FAILED)).select(
        "document",
        pl.format("金蝶单据已保存, 但 {}: {} / saved in Kingdee, not taken further", "follow_up", "message").alias(
            "message"
        ),
    )
    if failed.is_empty():
        return attention
    return failed if attention is None else pl.concat([attention, failed])


def held_outcomes(held_rows: pl.DataFrame, documents: pl.DataFrame | None = None, key: str = "") -> pl.DataFrame:
    """One `held` outcome per held document, its reasons joined into the message; shop columns
    come from `documents` (keyed by `key`) where the document has a shop."""
    if held_rows.is_empty():
        return pl.DataFrame(schema=OUTCOME_SCHEMA)
    reasons = (
        held_rows.filter(pl.col("rule_id") != "doc.held_with_line")
        .group_by("document", maintain_order=True)
        .agg(pl.col("message").unique(maintain_order=True).str.join("; "))
    )
    if documents is None:
        shops = pl.DataFrame(schema={"document": pl.String, "shop_id": pl.String, "shop_name": pl.String})
    else:
        shops = documents.select(pl.col(key).alias("document"), pl.col("shop_id").cast(pl.String), "shop_name").unique(
            "document", keep="first"
        )
    return (
        reasons.join(shops, on="document", how="left")
        .select(
            "document",
            "shop_id",
            "shop_name",
            pl.lit(HELD).alias("outcome"),
            pl.lit(None, pl.String).alias("kingdee_number"),
            pl.lit(None, pl.String).alias("follow_up"),
            "message",
        )
        .cast(OUTCOME_SCHEMA)
    )


def upload_outcomes(results: Iterable[UploadResult]) -> pl.DataFrame:
    """Per-row upload results: a row the target refused is a `failed` outcome with its message."""
    results = list(results)
    return outcome_frame(
        [r.sku_id for r in results],
        [WRITTEN if r.is_success else FAILED for r in results],
        [None if r.is_success else r.msg for r in results],
    )


def outcome_frame(documents: list[str], outcomes: list[str], messages: list[str | None]) -> pl.DataFrame:
    """Outcomes of documents that belong to no shop (materials)."""
    return (
        pl.DataFrame({"document": documents, "outcome": outcomes, "message": messages}, schema_overrides=OUTCOME_SCHEMA)
        .select(
            "document",
            pl.lit(None, pl.String).alias("shop_id"),
            pl.lit(None, pl.String).alias("shop_name"),
            "outcome",
            pl.lit(None, pl.String).alias("kingdee_number"),
            pl.lit(None, pl.String).alias("follow_up"),
            "message",
        )
        .cast(OUTCOME_SCHEMA)
    )
