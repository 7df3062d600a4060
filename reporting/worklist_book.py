"""The worklist workbook (worklist.xlsx, beside check-mappings' report): the open rows of the shops and
warehouses tables for an analyst to fill in Excel and hand to `jst-kingdee mappings import`, without git.

One sheet per table, named as the table (`shops`, `warehouses`) with the table's column names in row 1, so
the file reads back like the CSV files. The number column is the one to edit: pre-filled with the top
suggestion, with a drop-down of the candidates (a warning, not a block, for a number typed by hand); the
other columns say what the row is and how many held documents it releases. A row left without a number stays
open. The Kingdee name is not asked for: the import takes it from Kingdee.
"""

from __future__ import annotations

from pathlib import Path
from zipfile import BadZipFile

import openpyxl
import polars as pl
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from state.tables import TableError
from transforms.worklist import MAPPED_TABLES, SHOPS_TABLE, WAREHOUSES_TABLE, Table, Worklist

BOOK_NAME = "worklist.xlsx"
README, CANDIDATES = "说明 read me", "candidates"
INFO_COLUMNS = ("suggested_name", "score", "candidates", "held_documents", "held_outbound", "held_returns", "seen_in")
_EDITABLE = PatternFill("solid", fgColor="FFF2CC")
_HEADER = Font(bold=True)
_README_LINES = (
    "每张表一个工作表 (shops, warehouses): 在黄色列填写或从下拉列表选择金蝶编码, 留空的行不导入。",
    "One sheet per table (shops, warehouses): fill in or pick the Kingdee number in the yellow column; rows left "
    "blank are not imported.",
    "预填的是最相近的可用客户/仓库 (score: 1 = 名称相同); 请核对后再导入。",
    "The pre-filled number is the nearest usable customer or stock (score 1 = same name): check it before import.",
    "导入 / import: jst-kingdee mappings import worklist.xlsx --who <你的名字 your name>",
    "每行都在金蝶中核对 (存在, 可用, 未映射到其他店铺/仓库); 有一行不通过则整个文件都不导入。",
    "Every row is checked against Kingdee (exists, usable, not mapped to another shop or warehouse); one rejected "
    "row and nothing of the file is applied.",
)


def write_worklist_book(path: Path, worklist: Worklist) -> Path:
    book = openpyxl.Workbook()
    readme = book.active
    readme.title = README
    for line in _README_LINES:
        readme.append([line])
    candidates = book.create_sheet(CANDIDATES)
    candidates.sheet_state = "hidden"
    for table, frame in ((SHOPS_TABLE, worklist.shops), (WAREHOUSES_TABLE, worklist.warehouses)):
        _write_table_sheet(book.create_sheet(table.path), candidates, table, frame, worklist.suggestions[table.path])
    book.save(path)
    return path


def _write_table_sheet(
    ws: Worksheet, candidates: Worksheet, table: Table, frame: pl.DataFrame, suggestions: pl.DataFrame
) -> None:
    columns = [table.id_column, table.name_column, table.number_column, *INFO_COLUMNS]
    offered = suggestions.group_by("key", maintain_order=True).agg(
        pl.col("number").alias("offered"), pl.col("candidate_name").alias("offered_names"), "score"
    )
    rows = frame.join(
        offered.rename({"key": table.id_column, "score": "offered_scores"}), on=table.id_column, how="left"
    )
    for col, name in enumerate(columns, start=1):
        ws.cell(1, col, name).font = _HEADER
    for row, values in enumerate(rows.iter_rows(named=True), start=2):
        numbers = values["offered"] or []  # null: nothing to offer
        offered = zip(numbers, values["offered_names"] or [], values["offered_scores"] or [], strict=True)
        shown = {
            table.id_column: int(values[table.id_column]),
            table.number_column: values["suggested_number"],
            "candidates": "; ".join(f"{n} {name or ''} ({score:.2f})" for n, name, score in offered),
        }
        for col, name in enumerate(columns, start=1):
            _put(ws, row, col, shown.get(name, values.get(name)))
        ws.cell(row, columns.index(table.number_column) + 1).fill = _EDITABLE
        if numbers:
            _drop_down(ws, candidates, row, columns.index(table.number_column) + 1, numbers)
    ws.freeze_panes = "A2"
    for col, name in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(col)].width = 60 if name == "candidates" else 18


def _drop_down(ws: Worksheet, candidates: Worksheet, row: int, col: int, numbers: list[str]) -> None:
    """The row's candidates as a list on the hidden sheet, and the number cell's drop-down pointing at it."""
    at = candidates.max_row + 1 if candidates.max_row > 1 or candidates["A1"].value else 1
    for offset, number in enumerate(numbers, start=1):
        _put(candidates, at, offset, number)
    last = get_column_letter(len(numbers))
    choice = DataValidation(
        type="list",
        formula1=f"={CANDIDATES}!$A${at}:${last}${at}",
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="warning",
        errorTitle="不在建议中 not suggested",
        error="此编码不在建议列表中, 导入时会在金蝶中核对 / not among the suggestions: the import checks it in Kingdee",
    )
    ws.add_data_validation(choice)
    choice.add(ws.cell(row, col))


def _put(ws: Worksheet, row: int, col: int, value: object) -> None:
    cell = ws.cell(row, col, value)
    if isinstance(value, str):
        cell.data_type = "s"  # a name like "=HYPERLINK(...)" from outside stays text, never a formula


# --- reading it back ---------------------------------------------------------------------------------------


def read_worklist_book(path: Path) -> dict[str, pl.DataFrame]:
    """Per table sheet, the rows given a number: `row` (as Excel numbers it) and the table's columns, the
    Kingdee name empty. Problems of the file itself (unreadable, no table sheet, a column missing, an id
    that is not a whole number) raise TableError naming the sheet, row and column."""
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, BadZipFile, InvalidFileException, KeyError) as exc:  # no workbook, or not one openpyxl reads
        raise TableError(f"{path}: the workbook cannot be read: {exc}") from None
    found = {name: book[name] for name in book.sheetnames if name in MAPPED_TABLES}
    if not found:
        raise TableError(f"{path}: no sheet named {' or '.join(MAPPED_TABLES)} (the worklist's table sheets)")
    return {name: _read_table_sheet(path, MAPPED_TABLES[name], ws) for name, ws in found.items()}


def _read_table_sheet(path: Path, table: Table, ws: Worksheet) -> pl.DataFrame:
    rows = ws.iter_rows(values_only=True)
    header = [str(value).strip() if value is not None else "" for value in next(rows, ())]
    wanted = (table.id_column, table.name_column, table.number_column)
    if missing := [name for name in wanted if name not in header]:
        raise TableError(f"{path}, sheet {ws.title}: column {', '.join(missing)} is missing from row 1")
    at = [header.index(name) for name in wanted]
    edits, problems = [], []
    for number, values in enumerate(rows, start=2):
        key, name, kingdee_number = (_cell_text(values[i] if i < len(values) else None) for i in at)
        if kingdee_number is None:
            continue  # left open
        if key is None or not key.lstrip("-").isdigit():
            problems.append(f"row {number}, column {table.id_column}: {key!r} is not a whole number")
            continue
        edits.append((number, int(key), name, kingdee_number, None))
    if problems:
        raise TableError(f"{path}, sheet {ws.title}: {'; '.join(problems)}")
    schema = {
        "row": pl.Int64,
        table.id_column: pl.Int64,
        table.name_column: pl.String,
        table.number_column: pl.String,
        table.target_name_column: pl.String,
    }
    return pl.DataFrame(edits, schema=schema, orient="row")


def _cell_text(value: object) -> str | None:
    """A cell as stripped text; a whole float (Excel's 10090.0) as its integer; blank as None."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = "" if value is None else str(value).strip()
    return text or None
