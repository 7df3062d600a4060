"""Report files for analysts: one Excel workbook and one offline HTML page per run, with the same content.

Every flow that reports (the syncs, reconcile, check_mappings) hands its tables here as ReportSheets, so
the analysts always find the same layout. Each worksheet has the sheet's title and description in row 1,
the headers in row 2 (frozen, with an autofilter) and the data from row 3 on. The HTML page needs nothing
but itself: inline CSS, no scripts, no external assets, every value escaped (document numbers and names
come from outside).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import polars as pl
import xlsxwriter
from xlsxwriter.worksheet import Worksheet

WORKBOOK_NAME, PAGE_NAME = "report.xlsx", "report.html"
HEADER_ROW = 1  # zero-based: row 2 in Excel; row 1 holds the sheet title and description
EXCEL_MAX_ROWS = 1_048_576 - HEADER_ROW - 1
EXCEL_MAX_CELL = 32_767
EXCEL_SHEET_NAME = 31
MIN_WIDTH, MAX_WIDTH = 8, 60
OVERVIEW = "概要 overview"

_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_WIDE = r"[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]"
# The same five replacements as html.escape, done in one pass (no double escaping) over whole columns.
_HTML_ESCAPES = (["&", "<", ">", '"', "'"], ["&amp;", "&lt;", "&gt;", "&quot;", "&#x27;"])


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~&:])")
_LINE_BREAKS = re.compile(r"[\r\n\t\u2028\u2029]+")


def md_text(value: object) -> str:
    """A value from outside (shop name, document number, message) as plain text inside a markdown line or
    table cell of an artifact: one line, and no character that would start a link, image, tag, entity or new
    cell (`:` too, or a bare URL becomes a link)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ", "" if value is None else str(value)))


def md_bullets(rows: pl.DataFrame, limit: int, line: Callable[[dict], str]) -> str:
    """The first `limit` rows as markdown bullets (`line` renders one row), and how many more the report
    files hold, so an artifact never cuts a list without saying so."""
    text = "".join(f"- {line(row)}\n" for row in rows.head(limit).to_dicts())
    return text + (f"- … {rows.height - limit} more in the report files\n" if rows.height > limit else "")


class ReportsNotWritable(RuntimeError):
    """The reports location cannot take a report: found before the run writes anything anywhere else."""


def check_writable(folder: Path, setting: str) -> None:
    """Create `folder` if need be and write a file in it, so that a run whose report could not be written
    fails before it saves anything (a report written last must not be the first thing to fail)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise ReportsNotWritable(
            f"{setting}={folder} cannot hold reports ({exc.strerror or exc}): point {setting} at a writable "
            "folder; nothing was fetched or written"
        ) from exc


@dataclass(frozen=True)
class ReportSheet:
    name: str  # sheet / section title, Chinese first, e.g. "暂缓明细 held"
    frame: pl.DataFrame
    headers: dict[str, str]  # column → header shown, e.g. {"document": "单据编号 document"}
    description: str = ""  # one line shown above the table


def write_report(
    folder: Path, title: str, sheets: Sequence[ReportSheet], *, summary: dict[str, object] | None = None
) -> tuple[Path, Path]:
    """Write report.xlsx (one worksheet per sheet, frozen header row, autofilter, sensible column widths) and
    report.html (same content, one self-contained page: inline CSS only, no scripts or external assets, readable
    offline) into `folder`; return their paths.

    `summary`, when given, comes first as a two-column sheet 概要 overview (item, value).
    """
    folder.mkdir(parents=True, exist_ok=True)
    shown = ([_overview_sheet(summary)] if summary else []) + list(sheets)
    workbook, page = folder / WORKBOOK_NAME, folder / PAGE_NAME
    _write_workbook(workbook, title, shown)
    page.write_text(_render_page(title, shown), encoding="utf-8")
    return workbook, page


def _overview_sheet(summary: dict[str, object]) -> ReportSheet:
    """Key facts of a run as rows, so they read the same in Excel and HTML whatever their types."""
    return ReportSheet(
        name=OVERVIEW,
        frame=pl.DataFrame(
            {"item": list(summary), "value": [_plain_text(v) for v in summary.values()]},
            schema={"item": pl.String, "value": pl.String},
        ),
        headers={"item": "项目 item", "value": "值 value"},
    )


def _plain_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


# --- workbook ----------------------------------------------------------------------------------


def _write_workbook(path: Path, title: str, sheets: Sequence[ReportSheet]) -> None:
    # constant_memory keeps memory flat for big runs; rows are written strictly in order anyway.
    with xlsxwriter.Workbook(path, {"constant_memory": True, "nan_inf_to_errors": True}) as book:
        book.set_properties({"title": title})
        formats = {
            "title": book.add_format({"bold": True, "font_size": 12}),
            "header": book.add_format(
                {"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "top"}
            ),
            "date": book.add_format({"num_format": "yyyy-mm-dd"}),
            "datetime": book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        }
        used: set[str] = set()
        for sheet in sheets:
            _write_sheet(book.add_worksheet(_sheet_name(sheet.name, used)), sheet, formats)


def _sheet_name(name: str, used: set[str]) -> str:
    """Excel allows 31 characters, some forbidden, unique regardless of case."""
    base = _SHEET_NAME_FORBIDDEN.sub("_", name).strip("'").strip() or "sheet"
    candidate, n = base[:EXCEL_SHEET_NAME], 1
    while candidate.lower() in used:
        n += 1
        suffix = f" ({n})"
        candidate = base[: EXCEL_SHEET_NAME - len(suffix)] + suffix
    used.add(candidate.lower())
    return candidate


def _write_sheet(ws: Worksheet, sheet: ReportSheet, formats: dict) -> None:
    frame = sheet.frame
    description = sheet.description
    if frame.height > EXCEL_MAX_ROWS:
        description = f"{description} (仅显示前 {EXCEL_MAX_ROWS} 行 / first {EXCEL_MAX_ROWS} of {frame.height} rows)"
        frame = frame.head(EXCEL_MAX_ROWS)
    ws.write_string(0, 0, f"{sheet.name} — {description}" if description else sheet.name, formats["title"])
    if frame.width == 0:
        return
    headers = [sheet.headers.get(c, c) for c in frame.columns]
    for col, header in enumerate(headers):
        ws.write_string(HEADER_ROW, col, header, formats["header"])
    for col, width in enumerate(_widths(frame, headers)):
        ws.set_column(col, col, width)
    writers = [_cell_writer(ws, frame.schema[c], formats) for c in frame.columns]
    for row, values in enumerate(_excel_values(frame).iter_rows(), start=HEADER_ROW + 1):
        for col, value in enumerate(values):
            if value is not None:
                writers[col](row, col, value)
    last = HEADER_ROW + max(frame.height, 1)
    ws.autofilter(HEADER_ROW, 0, last, frame.width - 1)
    ws.freeze_panes(HEADER_ROW + 1, 0)
    # Document numbers are text on purpose; Excel's green "number stored as text" marks would only confuse.
    ws.ignore_errors({"number_stored_as_text": f"A1:XFD{last + 1}"})


def _excel_values(frame: pl.DataFrame) -> pl.DataFrame:
    """Excel has no time zones or decimals: wall-clock times in the column's own zone, floats for decimals."""
    return _flat(frame).with_columns(
        *[pl.col(c).dt.replace_time_zone(None) for c, t in frame.schema.items() if isinstance(t, pl.Datetime)],
        *[pl.col(c).cast(pl.Float64) for c, t in frame.schema.items() if isinstance(t, pl.Decimal)],
    )


def _cell_writer(ws: Worksheet, dtype: pl.DataType, formats: dict) -> Callable[[int, int, object], object]:
    if dtype.is_numeric():
        return ws.write_number
    if dtype == pl.Boolean:
        return ws.write_boolean
    if dtype == pl.Date:
        return lambda r, c, v: ws.write_datetime(r, c, v, formats["date"])
    if isinstance(dtype, pl.Datetime):
        return lambda r, c, v: ws.write_datetime(r, c, v, formats["datetime"])
    # write_string, never write(): a value like "=HYPERLINK(...)" from outside must stay text.
    return lambda r, c, v: ws.write_string(r, c, v[:EXCEL_MAX_CELL])


def _widths(frame: pl.DataFrame, headers: list[str]) -> list[float]:
    """Widest value or header per column (CJK characters count double), kept between 8 and 60."""
    shown = _as_text(frame)
    widest = shown.select(
        (pl.col(c).str.len_chars() + pl.col(c).str.count_matches(_WIDE)).max().fill_null(0) for c in shown.columns
    ).row(0)
    return [
        float(min(MAX_WIDTH, max(MIN_WIDTH, value, _display_width(header)) + 2))
        for value, header in zip(widest, headers, strict=True)
    ]


def _display_width(text: str) -> int:
    return len(text) + len(re.findall(_WIDE, text))


# --- HTML --------------------------------------------------------------------------------------

_CSS = """
body { font-family: "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; margin: 1.5rem; color: #1f2328; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; }
nav ul { padding-left: 1.2rem; } .desc { color: #57606a; margin: .3rem 0; } .rows { color: #57606a; font-size: .85rem; }
.wrap { overflow-x: auto; max-height: 80vh; border: 1px solid #d0d7de; }
table { border-collapse: collapse; font-size: .85rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; vertical-align: top; text-align: left;
         white-space: pre-wrap; }
th { position: sticky; top: 0; background: #ddebf7; }
tbody tr:nth-child(even) { background: #f6f8fa; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.empty { color: #57606a; font-style: italic; }
"""


def _render_page(title: str, sheets: Sequence[ReportSheet]) -> str:
    contents = "".join(
        f'<li><a href="#sheet-{i}">{escape(s.name)}</a> ({s.frame.height})</li>' for i, s in enumerate(sheets, 1)
    )
    sections = "\n".join(_render_section(i, sheet) for i, sheet in enumerate(sheets, 1))
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n<nav><ul>{contents}</ul></nav>\n{sections}\n</body>\n</html>\n"
    )


def _render_section(index: int, sheet: ReportSheet) -> str:
    frame = sheet.frame
    head = "".join(f"<th>{escape(sheet.headers.get(c, c))}</th>" for c in frame.columns)
    if frame.height == 0 or frame.width == 0:
        body = f'<tr><td class="empty" colspan="{max(frame.width, 1)}">无数据 none</td></tr>'
    else:
        cells = [
            pl.concat_str(
                pl.lit('<td class="n">' if frame.schema[c].is_numeric() else "<td>"),
                pl.col(c).str.replace_many(*_HTML_ESCAPES).fill_null(""),
                pl.lit("</td>"),
            )
            for c in frame.columns
        ]
        body = "\n".join(_as_text(frame).select(pl.concat_str(pl.lit("<tr>"), *cells, pl.lit("</tr>")))[:, 0])
    description = f'<p class="desc">{escape(sheet.description)}</p>' if sheet.description else ""
    return (
        f'<section id="sheet-{index}">\n<h2>{escape(sheet.name)}</h2>\n{description}'
        f'<p class="rows">{frame.height} 行 rows</p>\n'
        f'<div class="wrap"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table></div>\n'
        "</section>"
    )


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as the text a reader sees (nulls stay null)."""
    flat = _flat(frame)
    return flat.select(_text_expr(c, t) for c, t in flat.schema.items())


def _flat(frame: pl.DataFrame) -> pl.DataFrame:
    """Columns other than text, numbers, booleans, dates and times become text (lists and structs as JSON)."""
    return frame.with_columns(
        pl.Series(c, [_plain_text(v) for v in frame[c].to_list()], dtype=pl.String)
        for c, t in frame.schema.items()
        if not (t == pl.String or t.is_numeric() or t in (pl.Boolean, pl.Date) or isinstance(t, pl.Datetime))
    )


def _text_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        return column.dt.to_string("%Y-%m-%d %H:%M:%S")
    if dtype == pl.Date:
        return column.dt.to_string("%Y-%m-%d")
    return column.cast(pl.String)
