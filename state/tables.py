"""The hand-kept tables (SCHEME.md §1, §2) as the customer keeps them: CSV files, read strictly, every
problem named by file, row and column so a person can fix it."""

from __future__ import annotations

from pathlib import Path

import pandera.polars as pa
import polars as pl

from transforms.mappings import ShopCustomerTable, WarehouseStockTable


class TableError(ValueError):
    """A hand-kept table is wrong: a person has to correct the file, so another attempt cannot help."""


# Rows are named as the file and Excel number them: the header is row 1, the first entry row 2.
FIRST_ROW = 2
ROWS_NOTE = "(rows as in the file and in Excel: the header is row 1)"


def _read_table(path: Path, model: type[pa.DataFrameModel], id_column: str) -> pl.DataFrame:
    """Every cell read as text and stripped (a stray space after an id or a header name is no error),
    a blank cell as missing and a blank row skipped; then the id is parsed and the model checked. Every
    problem names the file, row and column."""
    try:
        text = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise TableError(f"{path}: the hand-kept table cannot be read: {exc}") from None
    text = text.rename(str.strip).with_columns(pl.all().str.strip_chars().replace("", None))
    missing = [name for name in model.to_schema().columns if name not in text.columns]
    if missing:
        found = ", ".join(text.columns)
        raise TableError(f"{path}: column {', '.join(missing)} is missing (the header, row 1, has: {found})")
    rows = text.with_row_index("row", offset=FIRST_ROW).filter(pl.any_horizontal(pl.exclude("row").is_not_null()))
    ids = pl.col(id_column).cast(pl.Int64, strict=False)
    unparsed = rows.filter(pl.col(id_column).is_not_null() & ids.is_null()).select("row", id_column).rows()
    _raise_problems(path, [(row, id_column, f"{value!r} is not a whole number") for row, value in unparsed])
    frame = rows.with_columns(ids)
    try:
        return model.validate(frame.drop("row"), lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases.select("index", "column", "check", "failure_case").rows()
        row_of = frame["row"]
        _raise_problems(
            path, [(None if i is None else row_of[i], column, _said(check, value)) for i, column, check, value in cases]
        )
        raise


_CHECKS_SAID = {
    "not_nullable": "empty",
    "str_length(1, None)": "empty",
    "field_uniqueness": "is on another row too",
}


def _said(check: str, value: object) -> str:
    said = _CHECKS_SAID.get(check, f"fails {check}")
    return said if value is None or said == "empty" else f"{value!r} {said}"


def _raise_problems(path: Path, problems: list[tuple[int | None, str, str]]) -> None:
    """One TableError listing every problem, by row (a problem of the whole column has none)."""
    if problems:
        listed = "; ".join(
            f"{'' if row is None else f'row {row}, '}column {column}: {what}"
            for row, column, what in sorted(problems, key=lambda p: (p[0] or 0, p[1]))
        )
        raise TableError(f"{path}: {listed} {ROWS_NOTE}")


def load_shop_customer_map(path: Path) -> pl.DataFrame:
    return _read_table(Path(path), ShopCustomerTable, "shop_id")


def load_warehouse_stock_map(path: Path) -> pl.DataFrame:
    return _read_table(Path(path), WarehouseStockTable, "wms_co_id")
