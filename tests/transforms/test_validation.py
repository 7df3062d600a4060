"""The split: pandera finds the failing rows in one check, the rules name the reasons, documents go whole."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
import pytest

from transforms.validation import ROW, Rule, failing_rows, rule_schema, split_valid_held


def _rule(rule_id: str, passes: pl.Expr, severity: str = "hold") -> Rule:
    return Rule(
        id=rule_id,
        field="qty",
        value=pl.col("qty").cast(pl.String),
        passes=passes,
        label_zh=rule_id,
        label_en=rule_id,
        message=pl.format("{} {}", pl.lit(rule_id), pl.col("qty")),
        hint="",
        severity=severity,  # type: ignore[arg-type]
    )


RULES = [
    _rule("qty.positive", pl.col("qty") > 0),
    _rule("qty.not_round", pl.col("qty") % 100 != 0),
    _rule("line.once", pl.len().over("doc", "line") == 1),
    _rule("qty.even", pl.col("qty") % 2 == 0, severity="warn"),
]
FRAME = pl.DataFrame(
    {
        "doc": ["A", "A", "B", "C", "C", None],
        "line": ["1", "2", "1", "1", "1", "1"],
        "qty": [2, -200, 3, 4, 4, 6],
    }
)


def test_pandera_reports_the_rows_that_fail_any_rule_in_one_check():
    with pytest.raises(pa.errors.SchemaErrors) as failed:
        rule_schema(RULES).validate(FRAME.with_row_index(ROW), lazy=True)
    assert failed.value.failure_cases["check"].unique().to_list() == ["rules"]
    assert failing_rows(FRAME.with_row_index(ROW), RULES).to_list() == [1, 2, 3, 4]


def test_reasons_are_named_per_rule_and_a_document_is_held_whole():
    split = split_valid_held(FRAME, RULES, document=pl.col("doc"), line=pl.col("line"))
    assert split.held.select("document", "line", "rule_id", "message").rows() == [
        ("A", "1", "doc.held_with_line", "单据 A 的其他行被拦截 / another line of document A was held"),
        ("A", "2", "qty.positive", "qty.positive -200"),
        ("A", "2", "qty.not_round", "qty.not_round -200"),
        ("C", "1", "line.once", "line.once 4"),
        ("C", "1", "line.once", "line.once 4"),
    ]
    assert split.warnings.select("document", "rule_id").rows() == [("B", "qty.even")]
    assert split.valid.rows() == [("B", "1", 3), (None, "1", 6)]


def test_a_clean_frame_goes_through_whole():
    split = split_valid_held(FRAME.filter(pl.col("doc") == "B"), RULES[:3], document=pl.col("doc"), line=pl.col("line"))
    assert split.held.is_empty() and split.warnings.is_empty() and split.valid.height == 1
