"""Suggestions for the worklist's open rows: the Kingdee customers or stocks whose names are nearest an
unmapped shop's or warehouse's name, and the material numbers nearest an unknown SKU. Only numbers a row
could take are offered (usable in Kingdee, not already mapped to another shop or warehouse), so accepting
a suggestion never trips the import's own checks.

Names are compared as people read Chinese names: equal, one inside the other, or sharing characters; the
tiers never overlap (any "contains" outranks any overlap), so the score says how the match was made.
Material numbers are compared by their common prefix (style code, then colour or size).
"""

from __future__ import annotations

import polars as pl

EXACT, CONTAINS, OVERLAP, PREFIX = "exact", "contains", "overlap", "prefix"
SUGGESTIONS = 5  # per open row: what a drop-down shows at a glance
PREFILL_SCORE = 0.3  # below this the top candidate is shown but not pre-filled: a guess, not a match
SUGGESTION_SCHEMA = {
    "key": pl.String,
    "rank": pl.UInt32,
    "number": pl.String,
    "candidate_name": pl.String,
    "score": pl.Float64,
    "match": pl.String,
}
# Spaces and the punctuation that decorates names (brackets, dashes, dots), half- and full-width.
_DECORATION = r"[\s\-_.·・/\\()（）\[\]【】<>《》「」]+"
_LONGEST_CODE = 40  # Kingdee numbers are at most this long in practice; longer prefixes count as this


def _plain(name: pl.Expr) -> pl.Expr:
    return name.cast(pl.String).str.to_lowercase().str.replace_all(_DECORATION, "")


def name_similarity(left: pl.Expr, right: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(score, match) of two names: exact 1.0; one contains the other 0.5–1.0 by how much of the longer
    it covers; else 0.5 × the Dice coefficient of their character sets (0 when they share none)."""
    a, b = _plain(left), _plain(right)
    la, lb = a.str.len_chars(), b.str.len_chars()
    chars_a, chars_b = a.str.split("").list.unique(), b.str.split("").list.unique()
    shared = chars_a.list.set_intersection(chars_b).list.len()
    dice = (2 * shared) / (chars_a.list.len() + chars_b.list.len())
    contains = (la > 0) & (lb > 0) & (a.str.contains(b, literal=True) | b.str.contains(a, literal=True))
    coverage = pl.min_horizontal(la, lb) / pl.max_horizontal(la, lb)
    exact = (a == b) & (la > 0)
    score = pl.when(exact).then(1.0).when(contains).then(0.5 + 0.5 * coverage).otherwise(0.5 * dice.fill_nan(0.0))
    match = pl.when(exact).then(pl.lit(EXACT)).when(contains).then(pl.lit(CONTAINS)).otherwise(pl.lit(OVERLAP))
    return score.fill_null(0.0), match


def code_similarity(left: pl.Expr, right: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(score, match) of two codes: the length of their common prefix over the longer one's length."""
    a, b = left.cast(pl.String).str.strip_chars(), right.cast(pl.String).str.strip_chars()
    # Prefixes of a code are nested, so counting the equal ones gives the common prefix's length.
    prefix = pl.sum_horizontal(
        (a.str.slice(0, n) == b.str.slice(0, n)) & (a.str.len_chars() >= n) & (b.str.len_chars() >= n)
        for n in range(1, _LONGEST_CODE + 1)
    )
    longer = pl.max_horizontal(a.str.len_chars(), b.str.len_chars())
    return (prefix / longer).fill_nan(0.0).fill_null(0.0), pl.lit(PREFIX)


def suggest(
    open_rows: pl.DataFrame, candidates: pl.DataFrame, *, by_code: bool = False, limit: int = SUGGESTIONS
) -> pl.DataFrame:
    """The best `limit` candidates per open row (SUGGESTION_SCHEMA), best first, only those scoring above 0.

    `open_rows`: key, name (the shop's or warehouse's name; the SKU when `by_code`); `candidates`: number,
    candidate_name, already limited to what the row may take (`offerable`)."""
    similarity = code_similarity if by_code else name_similarity
    pairs = open_rows.select(pl.col("key").cast(pl.String), pl.col("name").cast(pl.String)).join(
        candidates.select(pl.col("number").cast(pl.String), pl.col("candidate_name").cast(pl.String)), how="cross"
    )
    score, match = similarity(pl.col("name"), pl.col("number") if by_code else pl.col("candidate_name"))
    return (
        pairs.with_columns(score.alias("score"), match.alias("match"))
        .filter(pl.col("score") > 0)
        .sort(["key", "score", "number"], descending=[False, True, False])
        .with_columns(pl.int_range(1, pl.len() + 1).over("key").alias("rank"))
        .filter(pl.col("rank") <= limit)
        .select(list(SUGGESTION_SCHEMA))
        .cast(SUGGESTION_SCHEMA)
    )


def offerable(usable: pl.DataFrame, mapped: pl.Series) -> pl.DataFrame:
    """number, candidate_name of the usable numbers (`usable`: number, kingdee_name) no table row points at yet
    (`mapped`): what an open row may take."""
    return usable.filter(~pl.col("number").is_in(mapped.cast(pl.String).drop_nulls().implode())).select(
        "number", pl.col("kingdee_name").alias("candidate_name")
    )


def with_suggestion(frame: pl.DataFrame, key_column: str, suggestions: pl.DataFrame) -> pl.DataFrame:
    """`frame` with suggested_number, suggested_name (the best candidate, only when it scores at least
    PREFILL_SCORE: below that it is a guess, not a match) and its score (null when none was found)."""
    best = suggestions.filter(pl.col("rank") == 1)
    good_enough = pl.col("score") >= PREFILL_SCORE
    return frame.join(
        best.select(
            pl.col("key").alias(key_column),
            pl.when(good_enough).then("number").alias("suggested_number"),
            pl.when(good_enough).then("candidate_name").alias("suggested_name"),
            pl.col("score").round(2),
        ),
        on=key_column,
        how="left",
    )
