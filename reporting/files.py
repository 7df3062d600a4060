"""Report files for analysts: one Excel workbook and one offline HTML page per run, with the same content.

Every flow that reports (the syncs, reconcile, check_mappings) hands its tables here as ReportSheets, so
the analysts always find the same layout. Each worksheet has the sheet's title and description in row 1,
the headers in row 2 (frozen, with an autofilter) and the data from row 3 on. The HTML page needs nothing
but itself: inline CSS, one small inline script (sort by a header, filter by any column), charts as inline SVG,
no external assets, every value escaped (document numbers and names come from outside).

A column of nested rows (a list of structs, e.g. the lines of one held document) is a collapsed table inside
its row on the page, and one text line per nested row in the workbook.
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
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from reporting.charts import StackedBars, stacked_bars_svg

WORKBOOK_NAME, PAGE_NAME = "report.xlsx", "report.html"
HEADER_ROW = 1  # zero-based: row 2 in Excel; row 1 holds the sheet title and description
EXCEL_MAX_ROWS = 1_048_576 - HEADER_ROW - 1
EXCEL_MAX_CELL = 32_767
EXCEL_SHEET_NAME = 31
MIN_WIDTH, MAX_WIDTH = 8, 60
OVERVIEW = "概要 overview"
CHART_ROWS = 23  # rows a 420-pixel chart takes at the default row height, and a gap

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
    chart: StackedBars | None = None  # drawn above the table on the page, beside it in the workbook


def write_report(
    folder: Path, title: str, sheets: Sequence[ReportSheet], *, summary: dict[str, object] | None = None
) -> tuple[Path, Path]:
    """Write report.xlsx (one worksheet per sheet, frozen header row, autofilter, sensible column widths, native
    charts) and report.html (same content, one self-contained page readable offline) into `folder`; return their
    paths.

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
            "lines": book.add_format({"text_wrap": True, "valign": "top"}),
        }
        used: set[str] = set()
        for sheet in sheets:
            ws = book.add_worksheet(_sheet_name(sheet.name, used))
            rows = _write_sheet(ws, sheet, formats)
            if sheet.chart and rows and sheet.chart.series:
                _insert_charts(book, ws, sheet, rows)


def _category_levels(labels: pl.DataFrame) -> list[list[str | None]]:
    """Category labels per level, outermost first, each outer label only where its run starts (the way
    Excel caches a multi-level axis: one label spanning the bars under it)."""
    names = labels.columns
    starts = [
        pl.any_horizontal(pl.col(c).ne_missing(pl.col(c).shift()) for c in names[: k + 1]).fill_null(True)
        for k in range(len(names))
    ]
    sparse = labels.select(
        *[pl.when(starts[k]).then(pl.col(c)).alias(c) for k, c in enumerate(names[:-1])], pl.col(names[-1])
    )
    return [sparse[c].to_list() for c in names]


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


def _write_sheet(ws: Worksheet, sheet: ReportSheet, formats: dict) -> int:
    """Write the sheet's title, headers and rows; return how many data rows it holds."""
    frame = sheet.frame
    description = sheet.description
    if frame.height > EXCEL_MAX_ROWS:
        description = f"{description} (仅显示前 {EXCEL_MAX_ROWS} 行 / first {EXCEL_MAX_ROWS} of {frame.height} rows)"
        frame = frame.head(EXCEL_MAX_ROWS)
    ws.write_string(0, 0, f"{sheet.name} — {description}" if description else sheet.name, formats["title"])
    if frame.width == 0:
        return 0
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
    return frame.height


def _insert_charts(book: Workbook, ws: Worksheet, sheet: ReportSheet, rows: int) -> None:
    """The sheet's chart as native stacked column charts over its own cells, right of the table, one under the
    other: one per panel (category columns before the last two, as on the page), each over its panel's rows,
    which lie together. The last two category columns, adjacent, are the chart's two-level axis.

    Each series carries its values as the chart's cache too: constant_memory leaves xlsxwriter unable to read
    them back, and without a cache a reader that does not recalculate (a viewer, an import) draws nothing."""
    chart, columns = sheet.chart, sheet.frame.columns
    axis = chart.categories[-2:]
    first, last = columns.index(axis[0]), columns.index(axis[-1])
    if last - first + 1 != len(axis):
        raise ValueError(f"{sheet.name}: chart axis columns {axis} are not adjacent")
    panels = list(chart.categories[:-2])
    frame = sheet.frame.head(rows)
    labels = _as_text(frame.select(panels)).select(pl.concat_str(panels, separator=" ")) if panels else None
    runs = (
        pl.DataFrame({"panel": labels.to_series() if panels else [""] * frame.height})
        .with_row_index("row")
        .group_by(pl.col("panel").rle_id().alias("run"), maintain_order=True)
        .agg(pl.col("panel").first(), pl.col("row").min().alias("start"), pl.col("row").max().alias("end"))
    )
    for index, (panel, start, end) in enumerate(runs.select("panel", "start", "end").iter_rows()):
        part = frame.slice(start, end - start + 1)
        top, bottom = HEADER_ROW + 1 + start, HEADER_ROW + 1 + end
        levels = _category_levels(_as_text(part.select(axis)))
        native = book.add_chart({"type": "column", "subtype": "stacked"})
        for i, series in enumerate(chart.series):
            col = columns.index(series)
            native.add_series(
                {
                    "name": [ws.name, HEADER_ROW, col],
                    "categories": [ws.name, top, first, bottom, last],
                    "values": [ws.name, top, col, bottom, col],
                    "name_data": [sheet.headers.get(series, series)],
                    "categories_data": levels if len(levels) > 1 else levels[0],
                    "values_data": part[series].cast(pl.Float64).to_list(),
                    "fill": {"color": chart.color(i, series)},
                    "gap": 40,
                }
            )
        native.set_title({"name": f"{chart.title}: {panel}" if panel else chart.title})
        native.set_legend({"position": "top"})
        native.set_size({"width": max(720, min(4000, 18 * part.height + 200)), "height": 420})
        ws.insert_chart(HEADER_ROW + index * CHART_ROWS, len(columns) + 1, native)


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
    if _nested(dtype):
        return lambda r, c, v: ws.write_string(r, c, v[:EXCEL_MAX_CELL], formats["lines"])
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
thead { position: sticky; top: 0; z-index: 1; } th { background: #ddebf7; }
th.sortable { cursor: pointer; } th[aria-sort="ascending"]::after { content: " ▲"; }
th[aria-sort="descending"]::after { content: " ▼"; } tr.filters th { background: #f6f8fa; padding: .15rem; }
tr.filters input { width: 100%; box-sizing: border-box; font: inherit; min-width: 4rem; }
.chart-wrap { overflow-x: auto; margin: .5rem 0; } details summary { cursor: pointer; color: #0969da; }
table.lines { margin-top: .3rem; font-size: .8rem; } table.lines th { background: #eef2f6; }
tbody tr:nth-child(even) { background: #f6f8fa; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.empty { color: #57606a; font-style: italic; }
"""
# Click a header to sort by it (again to reverse), type in the boxes under the headers to keep the rows that
# contain that text in those columns. Written without comments or URLs inside, so the page holds no "//".
_SCRIPT = """
document.querySelectorAll("table.sheet").forEach(function (table) {
  var body = table.tBodies[0], heads = table.tHead.rows[0].cells;
  var boxes = table.tHead.querySelectorAll("tr.filters input");
  var shown = table.closest("section").querySelector(".shown");
  var rows = Array.prototype.slice.call(body.rows);
  function text(row, i) { return row.cells[i].textContent.trim(); }
  Array.prototype.forEach.call(heads, function (th, i) {
    th.classList.add("sortable");
    th.addEventListener("click", function () {
      var up = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      var numeric = rows.every(function (r) { var t = text(r, i); return t === "" || !isNaN(Number(t)); });
      rows.sort(function (a, b) {
        var x = text(a, i), y = text(b, i);
        var order = numeric ? (Number(x) - Number(y)) : x.localeCompare(y, "zh-CN");
        return up ? order : -order;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  Array.prototype.forEach.call(boxes, function (box) {
    box.addEventListener("input", function () {
      var wanted = Array.prototype.map.call(boxes, function (b) { return b.value.trim().toLowerCase(); });
      var count = 0;
      rows.forEach(function (r) {
        var keep = wanted.every(function (w, i) { return !w || text(r, i).toLowerCase().indexOf(w) >= 0; });
        r.hidden = !keep;
        count += keep ? 1 : 0;
      });
      shown.textContent = count === rows.length ? "" : "显示 " + count + " 行 shown";
    });
  });
});
"""


def _render_page(title: str, sheets: Sequence[ReportSheet]) -> str:
    contents = "".join(
        f'<li><a href="#sheet-{i}">{escape(s.name)}</a> ({s.frame.height})</li>' for i, s in enumerate(sheets, 1)
    )
    sections = "\n".join(_render_section(i, sheet) for i, sheet in enumerate(sheets, 1))
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n<nav><ul>{contents}</ul></nav>\n{sections}\n<script>{_SCRIPT}</script>\n"
        "</body>\n</html>\n"
    )


def _render_section(index: int, sheet: ReportSheet) -> str:
    frame = sheet.frame
    names = [escape(sheet.headers.get(c, c)) for c in frame.columns]
    head = "<tr>" + "".join(f"<th>{name}</th>" for name in names) + "</tr>"
    if frame.height == 0 or frame.width == 0:
        body = f'<tr><td class="empty" colspan="{max(frame.width, 1)}">无数据 none</td></tr>'
    else:
        head += '<tr class="filters">' + "".join(
            f'<th><input type="search" placeholder="筛选 filter" aria-label="筛选 {name}"></th>' for name in names
        )
        head += "</tr>"
        nested = [c for c, t in frame.schema.items() if _nested(t)]
        shown = _as_text(frame.with_columns(_nested_html(c, frame.schema[c], sheet.headers) for c in nested))
        cells = [
            pl.concat_str(
                pl.lit('<td class="n">' if frame.schema[c].is_numeric() else "<td>"),
                (pl.col(c) if c in nested else pl.col(c).str.replace_many(*_HTML_ESCAPES)).fill_null(""),
                pl.lit("</td>"),
            )
            for c in frame.columns
        ]
        body = "\n".join(shown.select(pl.concat_str(pl.lit("<tr>"), *cells, pl.lit("</tr>")))[:, 0])
    description = f'<p class="desc">{escape(sheet.description)}</p>' if sheet.description else ""
    chart = stacked_bars_svg(frame, sheet.chart, sheet.headers) if sheet.chart else ""
    return (
        f'<section id="sheet-{index}">\n<h2>{escape(sheet.name)}</h2>\n{description}'
        + (f'<div class="chart-wrap">{chart}</div>\n' if chart else "")
        + f'<p class="rows">{frame.height} 行 rows <span class="shown"></span></p>\n'
        f'<div class="wrap"><table class="sheet">\n<thead>{head}</thead>\n<tbody>\n{body}\n</tbody>\n</table></div>\n'
        "</section>"
    )


def _nested(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct)


def _nested_html(name: str, dtype: pl.List, headers: dict[str, str]) -> pl.Expr:
    """A list-of-structs cell as a collapsed table (<details>): how many rows it holds, then the rows."""
    fields = dtype.inner.fields
    head = "".join(f"<th>{escape(headers.get(f.name, f.name))}</th>" for f in fields)
    rows = pl.col(name).list.eval(
        pl.concat_str(
            pl.lit("<tr>"),
            *[
                pl.concat_str(
                    pl.lit("<td>"),
                    _text_expr(pl.element().struct.field(f.name), f.dtype)
                    .str.replace_many(*_HTML_ESCAPES)
                    .fill_null(""),
                    pl.lit("</td>"),
                )
                for f in fields
            ],
            pl.lit("</tr>"),
        )
    )
    return pl.concat_str(
        pl.lit("<details><summary>"),
        pl.col(name).list.len().cast(pl.String),
        pl.lit(f' 行 rows</summary><table class="lines"><thead><tr>{head}</tr></thead><tbody>'),
        rows.list.join(""),
        pl.lit("</tbody></table></details>"),
    ).alias(name)


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as the text a reader sees (nulls stay null)."""
    flat = _flat(frame)
    return flat.select(_text_expr(pl.col(c), t) for c, t in flat.schema.items())


def _flat(frame: pl.DataFrame) -> pl.DataFrame:
    """Columns other than text, numbers, booleans, dates and times become text: nested rows one line each
    (values joined by " · "), other lists and structs as JSON."""
    return frame.with_columns(
        _nested_text(c, t)
        if _nested(t)
        else pl.Series(c, [_plain_text(v) for v in frame[c].to_list()], dtype=pl.String)
        for c, t in frame.schema.items()
        if not (t == pl.String or t.is_numeric() or t in (pl.Boolean, pl.Date) or isinstance(t, pl.Datetime))
    )


def _nested_text(name: str, dtype: pl.List) -> pl.Expr:
    values = [_text_expr(pl.element().struct.field(f.name), f.dtype).fill_null("") for f in dtype.inner.fields]
    return pl.col(name).list.eval(pl.concat_str(values, separator=" · ")).list.join("\n").alias(name)


def _text_expr(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Datetime):
        return column.dt.to_string("%Y-%m-%d %H:%M:%S")
    if dtype == pl.Date:
        return column.dt.to_string("%Y-%m-%d")
    return column.cast(pl.String)
