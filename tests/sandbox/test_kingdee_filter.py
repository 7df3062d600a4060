"""The emulator's FilterString parser: operators, SQL NULL logic, coercions, quoting and syntax errors."""

from __future__ import annotations

import pytest

from sandbox.kingdee.filters import FilterSyntaxError, parse_filter

ROWS = [
    {"fnumber": "A1001-01", "fname": "原味薯片", "fqty": 5, "fprice": 9.9, "fflag": True,
     "fmodifydate": "2025-11-01T08:00:00", "flot": "0"},
    {"fnumber": "G2001-01", "fname": "中性笔", "fqty": 0, "fprice": 2.5, "fflag": False,
     "fmodifydate": "2025-11-03T12:30:00", "flot": None},
    {"fnumber": "x' or '1'='1", "fname": "引号", "fqty": -2, "fprice": 0, "fflag": False,
     "fmodifydate": "2025-10-31T23:59:59", "flot": ""},
    {"fnumber": "AG3001_01", "fname": None, "fqty": 12, "fprice": 100, "fflag": True,
     "fmodifydate": "2025-11-02T00:00:00", "flot": "0"},
]  # fmt: skip


def matching(text: str) -> list[str]:
    row_filter = parse_filter(text)
    return [row["fnumber"] for row in ROWS if row_filter(row)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FNumber = 'G2001-01'", ["G2001-01"]),
        ("FNumber <> 'G2001-01'", ["A1001-01", "x' or '1'='1", "AG3001_01"]),
        ("FNumber != 'G2001-01'", ["A1001-01", "x' or '1'='1", "AG3001_01"]),
        ("FQty > 0", ["A1001-01", "AG3001_01"]),
        ("FQty >= 0", ["A1001-01", "G2001-01", "AG3001_01"]),
        ("FQty < 0", ["x' or '1'='1"]),
        ("FQty <= 5", ["A1001-01", "G2001-01", "x' or '1'='1"]),
        ("FQty > -3 and FQty < 1", ["G2001-01", "x' or '1'='1"]),
        ("FPrice = 9.9", ["A1001-01"]),
        ("FQty = '12'", ["AG3001_01"]),
    ],
)
def test_comparison_operators_on_text_and_numbers(text: str, expected: list[str]) -> None:
    assert matching(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FNumber like 'A%'", ["A1001-01", "AG3001_01"]),
        ("FNumber like '%01'", ["A1001-01", "G2001-01", "AG3001_01"]),
        ("FNumber like 'G2001-0_'", ["G2001-01"]),
        ("FNumber like 'a1001%'", ["A1001-01"]),
        ("FNumber not like '%-%'", ["x' or '1'='1", "AG3001_01"]),
        ("FName like '%薯片'", ["A1001-01"]),
        ("FNumber like 'A1001.01'", []),
    ],
)
def test_like_uses_percent_and_underscore_wildcards_only(text: str, expected: list[str]) -> None:
    assert matching(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FNumber in ('G2001-01', 'AG3001_01', 'nope')", ["G2001-01", "AG3001_01"]),
        ("FNumber not in ('G2001-01', 'AG3001_01')", ["A1001-01", "x' or '1'='1"]),
        ("FQty in (0, 12)", ["G2001-01", "AG3001_01"]),
        ("FLot is null", ["G2001-01"]),
        ("FLot is not null", ["A1001-01", "x' or '1'='1", "AG3001_01"]),
        ("FLot = ''", ["x' or '1'='1"]),
    ],
)
def test_in_lists_and_null_tests(text: str, expected: list[str]) -> None:
    assert matching(text) == expected


def test_sql_three_valued_logic_keeps_null_rows_out_of_negations() -> None:
    assert matching("not FLot = '0'") == ["x' or '1'='1"]
    assert matching("FLot <> '0'") == ["x' or '1'='1"]
    assert matching("FLot not in ('0')") == ["x' or '1'='1"]
    assert matching("FLot = '0' or FQty = 0") == ["A1001-01", "G2001-01", "AG3001_01"]


def test_and_binds_tighter_than_or_and_parentheses_override() -> None:
    assert matching("FQty = 0 or FQty = 5 and FFlag = '0'") == ["G2001-01"]
    assert matching("(FQty = 0 or FQty = 5) and FFlag = '1'") == ["A1001-01"]
    assert matching("not (FQty = 0 or FQty = 5)") == ["x' or '1'='1", "AG3001_01"]


def test_keywords_and_field_keys_are_case_insensitive() -> None:
    assert matching("fNUMBER LIKE 'A%' AnD FqTy > 6 OR fnumber IS NULL") == ["AG3001_01"]
    assert parse_filter("FNumber = 'x' AND FUseOrgId.FNumber = '100'").fields == {"fnumber", "fuseorgid.fnumber"}


@pytest.mark.parametrize("literal", ["'1'", "1", "'true'", "'TRUE'"])
def test_a_checkbox_equals_one_or_true(literal: str) -> None:
    assert matching(f"FFlag = {literal}") == ["A1001-01", "AG3001_01"]


@pytest.mark.parametrize("literal", ["'0'", "0", "'false'"])
def test_an_unchecked_box_equals_zero_or_false(literal: str) -> None:
    assert matching(f"FFlag = {literal}") == ["G2001-01", "x' or '1'='1"]


def test_dates_compare_as_datetimes_whatever_their_format() -> None:
    assert matching("FModifyDate >= '2025-11-02'") == ["G2001-01", "AG3001_01"]
    assert matching("FModifyDate > '2025-11-01 08:00:00' and FModifyDate < '2025-11-03T12:30'") == ["AG3001_01"]
    assert matching("FModifyDate = '2025-11-02T00:00:00'") == ["AG3001_01"]


def test_text_equality_ignores_case_like_a_ci_collation() -> None:
    assert matching("FNumber = 'a1001-01'") == ["A1001-01"]


def test_doubled_quotes_stay_inside_the_literal() -> None:
    # An injection attempt, properly quoted, is one literal: it matches only a value spelled exactly so.
    assert matching("FNumber = 'x'' or ''1''=''1'") == ["x' or '1'='1"]
    assert matching("FNumber = 'nothing'' or ''1''=''1'") == []
    assert matching("FNumber in ('a'',''G2001-01')") == []


def test_an_empty_filter_matches_everything() -> None:
    assert matching("") == [row["fnumber"] for row in ROWS]
    assert matching("   ") == [row["fnumber"] for row in ROWS]


def test_comparison_with_a_missing_field_is_unknown() -> None:
    assert matching("FNoSuchKey = 'x' or FQty = 12") == ["AG3001_01"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FBillNo = 'A1'", {"a1"}),
        ("'A1' = FBillNo", {"a1"}),
        ("FBillNo in ('A1', 'b2''x')", {"a1", "b2'x"}),
        ("FBillNo in ('A1', 'B2') and FQty > 0", {"a1", "b2"}),
        ("FBillNo in ('A1', 'B2') and FBillNo in ('b2', 'C3')", {"b2"}),
        ("FBillNo = 'A1' or (FBillNo = 'B2' and FQty = 1)", {"a1", "b2"}),
        ("FBillNo = 'A1' and FBillNo = 'B2'", set()),
        ("FBillNo = 'A1' or FQty = 1", None),
        ("FBillNo in ('A1', 7)", None),
        ("FBillNo = 7", None),
        ("FBillNo = '2025-11-01'", None),
        ("FBillNo <> 'A1'", None),
        ("FBillNo not in ('A1')", None),
        ("not FBillNo = 'A1'", None),
        ("FBillNo like 'A1'", None),
        ("FNumber = 'A1'", None),
        ("", None),
    ],
)
def test_texts_name_what_a_matching_row_can_hold_only_where_the_filter_pins_it(
    text: str, expected: set[str] | None
) -> None:
    texts = parse_filter(text).texts("FBillNo")
    assert texts == (None if expected is None else frozenset(expected))


def test_every_row_a_pinned_filter_matches_holds_one_of_its_texts() -> None:
    for text in ["FNumber in ('g2001-01', 'AG3001_01')", "FNumber = 'A1001-01' or FNumber = 'x'' or ''1''=''1'"]:
        row_filter = parse_filter(text)
        pinned = row_filter.texts("fnumber")
        assert pinned is not None
        assert {row["fnumber"].casefold() for row in ROWS if row_filter(row)} <= pinned


@pytest.mark.parametrize(
    "text",
    [
        "FNumber = ",
        "FNumber = 'abc",
        "FNumber = 'x' or '1'='1",  # the unescaped injection leaves a dangling quote
        "(FQty = 1",
        "FQty = 1)",
        "FQty 1",
        "FQty in ()",
        "FQty in (1, )",
        "FQty = 1 and",
        "FQty ~ 1",
        "FQty is 1",
        "FQty not = 1",
        "and FQty = 1",
        "FQty = 1 FQty = 2",
    ],
)
def test_malformed_filters_are_rejected(text: str) -> None:
    with pytest.raises(FilterSyntaxError):
        parse_filter(text)
