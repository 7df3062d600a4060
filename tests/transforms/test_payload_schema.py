"""payload_schema: what a mapping hands on must hold, checked in one query; a breach names the schema,
the conditions and the rows."""

from __future__ import annotations

import polars as pl
import pytest

from transforms.documents import BILLS_SCHEMA
from transforms.outbound import SAL_OUTSTOCK_LINES
from transforms.validation import payload_schema, validate_target

SCHEMA = payload_schema(
    "lines", {"io_id": pl.String, "quantity": pl.Float64}, checks={"quantity > 0": pl.col("quantity") > 0}
)


def test_a_complete_payload_passes_unchanged():
    frame = pl.DataFrame({"io_id": ["A", "B"], "quantity": [1.0, 2.5], "extra": [1, 2]})
    assert validate_target(frame, SCHEMA).equals(frame)


@pytest.mark.parametrize(
    "frame, row",
    [
        (pl.DataFrame({"io_id": ["A", None], "quantity": [1.0, 2.0]}), '"io_id":null'),
        (pl.DataFrame({"io_id": ["A", "B"], "quantity": [1.0, float("nan")]}), '"quantity":null'),  # NaN, shown as null
        (pl.DataFrame({"io_id": ["A", "B"], "quantity": [1.0, None]}), '"quantity":null'),
        (pl.DataFrame({"io_id": ["A", "B"], "quantity": [1.0, 0.0]}), '"quantity":0.0'),
    ],
)
def test_a_missing_nan_or_failing_value_is_a_bug_named_with_its_row(frame, row):
    with pytest.raises(ValueError, match=r"payload failed its schema \(lines\)") as failed:
        validate_target(frame, SCHEMA)
    assert "'rows': 1" in str(failed.value) and row in str(failed.value)
    assert "quantity > 0" in str(failed.value)


def test_a_column_of_the_wrong_type_fails():
    with pytest.raises(ValueError, match="lines"):
        validate_target(pl.DataFrame({"io_id": ["A"], "quantity": [1]}), SCHEMA)


def test_bills_need_unique_numbers():
    bills = pl.DataFrame({"bill_no": ["A", "A"], "model": ["{}", "{}"]})
    with pytest.raises(ValueError, match=r"kingdee_bills.*'rows': 2"):
        validate_target(bills, BILLS_SCHEMA)


def test_outbound_lines_hold_every_scheme_column():
    line = {
        "io_id": "A",
        "customer_number": "C",
        "stock_number": "S",
        "sku_id": "K",
        "base_unit": "Pcs",
        "ship_time": None,
        "quantity": 1.0,
        "unit_price": 0.0,
        "batch_managed": False,
    }
    schema = {name: column.dtype.type for name, column in SAL_OUTSTOCK_LINES.columns.items()}
    frame = pl.DataFrame([line], schema=schema)
    with pytest.raises(ValueError, match=r'"ship_time":null'):
        validate_target(frame, SAL_OUTSTOCK_LINES)
    shipped = frame.with_columns(pl.lit(0, pl.Datetime("us")).alias("ship_time"))
    assert validate_target(shipped, SAL_OUTSTOCK_LINES).equals(shipped)
