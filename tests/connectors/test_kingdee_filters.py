"""FilterString rendering: every value quoted, quotes doubled, keys checked, combinations parenthesised."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from connectors.kingdee.filters import USABLE, Filter, quote


def test_comparisons_render_kingdee_operators() -> None:
    assert str(Filter.eq("FBillNo", "XS001")) == "FBillNo='XS001'"
    assert str(Filter.ne("FForbidStatus", "B")) == "FForbidStatus<>'B'"
    assert str(Filter.ge("FModifyDate", "2025-01-01T00:00:00")) == "FModifyDate>='2025-01-01T00:00:00'"
    assert str(Filter.gt("FQty", 3)) == "FQty>3"
    assert str(Filter.le("FPrice", 1.5)) == "FPrice<=1.5"
    assert str(Filter.lt("FPrice", Decimal("2.50"))) == "FPrice<2.50"
    assert str(Filter.like("FNumber", "A1%")) == "FNumber like 'A1%'"
    assert str(Filter.in_("FNumber", ["a", "b"])) == "FNumber in ('a','b')"
    assert str(Filter.gt("FQty", 1e20)) == "FQty>100000000000000000000"
    assert str(Filter.lt("FQty", Decimal("1E-3"))) == "FQty<0.001"
    assert str(Filter.is_null("FNote")) == "FNote is null"


def test_a_quote_inside_a_value_is_doubled_and_stays_one_literal() -> None:
    rendered = str(Filter.eq("FBillNo", "O'Brien' or '1'='1"))
    assert rendered == "FBillNo='O''Brien'' or ''1''=''1'"
    # Outside the outer quotes there is nothing: strip them and every remaining quote is doubled.
    inner = rendered.removeprefix("FBillNo='").removesuffix("'")
    assert inner.replace("''", "") == "O" + "Brien" + " or " + "1" + "=" + "1"


def test_in_list_escapes_each_value() -> None:
    assert str(Filter.in_("FBillNo", ["a'b", "c"])) == "FBillNo in ('a''b','c')"
    with pytest.raises(ValueError):
        Filter.in_("FBillNo", [])


def test_bools_render_as_checkbox_chars_and_dates_as_iso() -> None:
    assert str(Filter.eq("F_PAEZ_SellOnline", True)) == "F_PAEZ_SellOnline='1'"
    assert str(Filter.eq("F_PAEZ_SellOnline", False)) == "F_PAEZ_SellOnline='0'"
    assert quote(date(2025, 3, 1)) == "'2025-03-01'"
    assert quote(datetime(2025, 3, 1, 8, 5, 9)) == "'2025-03-01T08:05:09'"
    with pytest.raises(ValueError):
        quote(datetime(2025, 3, 1, tzinfo=UTC))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), Decimal("NaN"), None, b"x", object()])
def test_unsafe_values_are_refused(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        quote(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["FBillNo'='", "F Number", "1F", "", "FNumber;drop", "F(x)"])
def test_keys_that_are_not_key_shaped_are_refused(key: str) -> None:
    with pytest.raises(ValueError):
        Filter.eq(key, "x")


def test_dotted_and_custom_keys_are_accepted() -> None:
    assert str(Filter.eq("FUseOrgId.FNumber", "100")) == "FUseOrgId.FNumber='100'"
    assert str(Filter.eq("_x.y_1", 1)) == "_x.y_1=1"


def test_and_or_parenthesise_each_side() -> None:
    audited = Filter.eq("FDocumentStatus", "C")
    enabled = Filter.eq("FForbidStatus", "A")
    online = Filter.eq("F_PAEZ_SellOnline", True)
    assert str(audited & enabled) == "(FDocumentStatus='C') and (FForbidStatus='A')"
    assert str((audited | enabled) & online) == (
        "((FDocumentStatus='C') or (FForbidStatus='A')) and (F_PAEZ_SellOnline='1')"
    )
    with pytest.raises(TypeError):
        audited & "FNumber='x'"  # type: ignore[operator]


def test_filters_compare_by_text() -> None:
    assert Filter.eq("FNumber", "a") == Filter.eq("FNumber", "a")
    assert Filter.eq("FNumber", "a") != Filter.eq("FNumber", "b")
    assert "FNumber='a'" in repr(Filter.eq("FNumber", "a"))


def test_usable_base_data_is_audited_and_enabled() -> None:
    assert str(USABLE) == "(FDocumentStatus='C') and (FForbidStatus='A')"


def test_between_compares_in_beijing_wall_clock_whatever_the_zone_of_its_bounds() -> None:
    # 16:00 UTC is midnight in Beijing; a naive bound already is Beijing time.
    window = Filter.between("FModifyDate", datetime(2026, 3, 1, 16, 0, tzinfo=UTC), datetime(2026, 3, 3, 8, 30))
    assert str(window) == "(FModifyDate>='2026-03-02T00:00:00') and (FModifyDate<='2026-03-03T08:30:00')"
