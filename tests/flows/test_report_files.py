"""The analysts' report files: write_report on small frames, then a real outbound run's workbook and page."""

from __future__ import annotations

import re
import zipfile
from collections import Counter
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import polars as pl
from prefect.artifacts import Artifact

from flows.outbound import sync_outbound
from reporting.charts import StackedBars
from reporting.files import ReportSheet, md_text, write_report
from reporting.reports import SyncReport
from tests.flows.oracle import Scheme
from transforms.outcomes import HELD, OUTCOME_SCHEMA, WRITTEN

NASTY = "<script>alert(1)</script>"
QUOTES = "\"'"
VOID = {"meta", "br", "hr", "img", "link", "input", "col", "wbr", "area", "base", "source", "track", "embed"}


class PageReader(HTMLParser):
    """Collects what the browser would: tags in order (checking they nest), attributes, the rows of each
    section's table (a cell's text includes any table nested in it), and the script's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.errors: list[str] = []
        self.tags: Counter[str] = Counter()
        self.links: list[tuple[str, str]] = []
        self.sections: dict[str, list[list[str]]] = {}
        self.section_titles: list[str] = []
        self.scripts: list[str] = []
        self._cell: list[str] | None = None
        self._in_h2 = False
        self._tables = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.links += [(name, value or "") for name, value in attrs if name in ("src", "href", "srcset", "action")]
        if tag == "h2":
            self._in_h2 = True
            self.section_titles.append("")
        if tag == "table":
            self._tables += 1
        if tag == "script":
            self.scripts.append("")
        if tag == "tr" and "tbody" in self.open and self._tables == 1:
            self.sections.setdefault(self.section_titles[-1], []).append([])
        if tag == "td" and self._tables == 1:
            self._cell = []
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
            return
        self.open.pop()
        if tag == "h2":
            self._in_h2 = False
        if tag == "table":
            self._tables -= 1
        if tag == "td" and self._cell is not None and self._tables == 1:
            self.sections[self.section_titles[-1]][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_h2:
            self.section_titles[-1] += data
        if self.open and self.open[-1] == "script":
            self.scripts[-1] += data


def read_page(path: Path) -> PageReader:
    page = PageReader()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def read_sheet(book: openpyxl.Workbook, name: str) -> tuple[list[str], list[dict]]:
    """Headers (row 2) and data rows (row 3 on) as dicts keyed by the header shown."""
    ws = book[name]
    headers = [cell.value for cell in ws[2]]
    rows = [dict(zip(headers, values, strict=True)) for values in ws.iter_rows(min_row=3, values_only=True)]
    return headers, rows


def _small_report(folder: Path) -> tuple[Path, Path]:
    held = pl.DataFrame(
        {
            "document": ["IO-1", "IO-1", NASTY, QUOTES],
            "line": ["1", "2", "1", "1"],
            "value": ["-3", None, '=HYPERLINK("http://x")', "天猫旗舰店 & <b>"],
            "qty": [1.5, None, 3.0, 0.0],
            "unmapped_col": ["a", "b", "c", "长" * 100],
        }
    )
    documents = pl.DataFrame(
        {"document": ["IO-1", "IO-2"], "day": [date(2026, 11, 1), None], "count": [2, 7]},
    )
    return write_report(
        folder,
        f"测试报告 {NASTY}",
        [
            ReportSheet(
                "暂缓明细 held",
                held,
                {"document": "单据编号 document", "value": "问题值 value", "qty": "实退数量合计 qty"},
                description=f"说明 {NASTY} {QUOTES}",
            ),
            ReportSheet("单据结果 documents", documents, {"document": "单据编号 document"}),
            ReportSheet(
                "警告 warnings", pl.DataFrame(schema={"document": pl.String}), {"document": "单据编号 document"}
            ),
        ],
        summary={"暂缓 held": 2, "窗口 window": ["2026-11-01", "2026-11-08"]},
    )


# --- write_report on small frames ----------------------------------------------------------------


def test_workbook_has_a_sheet_per_section_with_chinese_headers_and_every_row(tmp_path):
    workbook, _ = _small_report(tmp_path / "run")
    assert workbook == tmp_path / "run" / "report.xlsx"
    book = openpyxl.load_workbook(workbook)
    assert book.sheetnames == ["概要 overview", "暂缓明细 held", "单据结果 documents", "警告 warnings"]

    headers, rows = read_sheet(book, "暂缓明细 held")
    assert headers == ["单据编号 document", "line", "问题值 value", "实退数量合计 qty", "unmapped_col"]
    assert [r["单据编号 document"] for r in rows] == ["IO-1", "IO-1", NASTY, QUOTES]
    assert [r["实退数量合计 qty"] for r in rows] == [1.5, None, 3.0, 0.0]  # numbers stay numbers
    assert book["暂缓明细 held"]["A1"].value == f"暂缓明细 held — 说明 {NASTY} {QUOTES}"

    _, documents = read_sheet(book, "单据结果 documents")
    assert [(r["day"], r["count"]) for r in documents] == [(datetime(2026, 11, 1), 2), (None, 7)]
    headers, rows = read_sheet(book, "警告 warnings")
    assert headers == ["单据编号 document"] and rows == []
    _, overview = read_sheet(book, "概要 overview")
    assert overview == [
        {"项目 item": "暂缓 held", "值 value": "2"},
        {"项目 item": "窗口 window", "值 value": '["2026-11-01", "2026-11-08"]'},
    ]


def test_workbook_freezes_and_filters_the_header_row_and_sizes_columns(tmp_path):
    workbook, _ = _small_report(tmp_path)
    ws = openpyxl.load_workbook(workbook)["暂缓明细 held"]
    assert ws.freeze_panes == "A3"
    assert ws.auto_filter.ref == "A2:E6"
    widths = {letter: dim.width for letter, dim in ws.column_dimensions.items()}
    assert widths["A"] > len(NASTY)  # the widest value, not the header, sets the width
    assert widths["D"] >= 2 * len("实退数量合计") + len(" qty")  # CJK characters count double: header not cut
    assert widths["E"] < 62  # a 100-character value does not make a 200-character column


def test_text_from_outside_is_never_a_formula_in_the_workbook(tmp_path):
    workbook, _ = _small_report(tmp_path)
    cell = openpyxl.load_workbook(workbook)["暂缓明细 held"]["C5"]
    assert cell.value == '=HYPERLINK("http://x")' and cell.data_type == "s"


def test_sheet_names_are_made_valid_and_unique_for_excel(tmp_path):
    frame = pl.DataFrame({"a": [1]})
    long_name = "对账差异 reconciliation differences by day and shop"
    workbook, _ = write_report(
        tmp_path,
        "t",
        [ReportSheet("a/b:c?", frame, {}), ReportSheet(long_name, frame, {}), ReportSheet(long_name, frame, {})],
    )
    names = openpyxl.load_workbook(workbook).sheetnames
    assert names[0] == "a_b_c_"
    assert all(len(n) <= 31 for n in names) and len({n.lower() for n in names}) == 3
    assert names[1] == long_name[:31] and names[2].endswith(" (2)")


def test_html_page_is_well_formed_and_self_contained(tmp_path):
    _, html_path = _small_report(tmp_path)
    text = html_path.read_text(encoding="utf-8")
    page = read_page(html_path)
    assert page.errors == [] and page.open == []
    assert text.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in text
    assert page.tags["script"] == 1 and "document.querySelectorAll" in page.scripts[0]  # inline, no src
    assert page.tags["style"] == 1 and page.tags["link"] == page.tags["img"] == 0
    assert page.links and all(name == "href" and value.startswith("#") for name, value in page.links)
    assert not re.search(r"https?:|//|url\(|@import", text.replace("=HYPERLINK(&quot;http://x&quot;)", ""))


def test_html_page_escapes_every_value_and_shows_the_same_rows(tmp_path):
    _, html_path = _small_report(tmp_path)
    text = html_path.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&quot;&#x27;" in text
    page = read_page(html_path)
    assert page.section_titles == ["概要 overview", "暂缓明细 held", "单据结果 documents", "警告 warnings"]
    held = page.sections["暂缓明细 held"]
    assert [row[0] for row in held] == ["IO-1", "IO-1", NASTY, QUOTES]  # the text a reader sees, not markup
    assert held[3][2] == "天猫旗舰店 & <b>"
    assert [row[2] for row in page.sections["单据结果 documents"]] == ["2", "7"]
    assert page.sections["警告 warnings"] == [["无数据 none"]]


def test_nested_rows_unfold_under_their_row_on_the_page_and_are_text_lines_in_the_workbook(tmp_path):
    lines = pl.DataFrame({"document": ["IO-1", "IO-1", "IO-2"], "line": ["1", "2", "1"], "value": ["-3", NASTY, None]})
    documents = lines.group_by("document", maintain_order=True).agg(pl.struct("line", "value").alias("lines"))
    headers = {"lines": "明细 lines", "line": "行号 line", "value": "问题值 value"}
    workbook, page_path = write_report(tmp_path, "t", [ReportSheet("暂缓明细 held", documents, headers)])

    text = page_path.read_text(encoding="utf-8")
    assert text.count("<details>") == 2 and "<th>行号 line</th><th>问题值 value</th>" in text
    assert "<td>2</td><td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in text
    page = read_page(page_path)
    assert page.errors == []
    rows = page.sections["暂缓明细 held"]
    assert [row[0] for row in rows] == ["IO-1", "IO-2"]
    assert rows[0][1].startswith("2 行 rows") and NASTY in rows[0][1] and rows[1][1].startswith("1 行 rows")

    _, cells = read_sheet(openpyxl.load_workbook(workbook), "暂缓明细 held")
    assert [row["明细 lines"] for row in cells] == [f"1 · -3\n2 · {NASTY}", "1 · "]


def test_a_chart_is_native_in_the_workbook_and_inline_svg_on_the_page(tmp_path):
    frame = pl.DataFrame(
        {
            "kind": ["出库", "出库", "退货"],
            "day": [date(2026, 11, 1), date(2026, 11, 1), date(2026, 11, 2)],
            "shop": ["天猫", "京东", "天猫"],
            "matched": [3, 0, 2],
            "missing": [1, 4, None],
        }
    )
    chart = StackedBars("核对 chart", ("kind", "day", "shop"), ("matched", "missing"))
    headers = {"matched": "一致 matched", "missing": "金蝶缺单 missing"}
    workbook, page_path = write_report(tmp_path, "t", [ReportSheet("按日按店 day × shop", frame, headers, chart=chart)])

    # One chart per kind (the page's panels), each over its own rows, day × shop its two-level axis.
    outbound, returns = openpyxl.load_workbook(workbook)["按日按店 day × shop"]._charts
    assert {(c.tagname, c.type, c.grouping) for c in (outbound, returns)} == {("barChart", "col", "stacked")}
    sheet = "'按日按店 day × shop'"
    assert [(s.tx.strRef.f, s.cat.multiLvlStrRef.f, s.val.numRef.f) for s in outbound.series] == [
        (f"{sheet}!$D$2", f"{sheet}!$B$3:$C$4", f"{sheet}!$D$3:$D$4"),
        (f"{sheet}!$E$2", f"{sheet}!$B$3:$C$4", f"{sheet}!$E$3:$E$4"),
    ]
    assert [s.val.numRef.f for s in returns.series] == [f"{sheet}!$D$5", f"{sheet}!$E$5"]
    first, second = (zipfile.ZipFile(workbook).read(f"xl/charts/chart{n}.xml").decode() for n in (1, 2))
    assert "核对 chart: 出库" in first and "核对 chart: 退货" in second
    # cached, for readers that do not recalculate
    assert "<c:v>一致 matched</c:v>" in first and "<c:v>2026-11-01</c:v>" in first and "<c:v>京东</c:v>" in first

    page = read_page(page_path)
    assert page.tags["svg"] == 1 and page.errors == []
    text = page_path.read_text(encoding="utf-8")
    drawn = Counter()
    for series, value in re.findall(r'class="segment" data-series="(\w+)" data-value="([\d.]+)"', text):
        drawn[series] += float(value)
    assert drawn == {"matched": 5, "missing": 5}
    assert "<title>出库 2026-11-01 京东: 金蝶缺单 missing 4</title>" in text


# --- a real run ------------------------------------------------------------------------------------


def test_summary_markdown_keeps_outside_text_as_plain_text_in_its_cell() -> None:
    shop = "A|B\n" + NASTY + "[x](http://127.0.0.1/) ![i](y) **b** `c` &lt; #"
    outcomes = pl.DataFrame(
        [
            {"document": "1", "shop_id": "7", "shop_name": shop, "outcome": WRITTEN},
            {"document": "2|<b>", "shop_id": "7", "shop_name": shop, "outcome": HELD},
        ],
        schema=OUTCOME_SCHEMA,
    )
    attention = pl.DataFrame({"document": ["9|9"], "message": ["cancelled\n| after | booking |"]})
    report = SyncReport("outbound", False, None, outcomes, pl.DataFrame(), pl.DataFrame(), attention=attention)
    markdown = report.markdown(None)

    (shop_row,) = [line for line in markdown.splitlines() if "(7)" in line]
    cells = re.split(r"(?<!\\)\|", shop_row)[1:-1]  # cell borders: pipes not escaped
    assert [cell.strip() for cell in cells[1:]] == ["1", "0", "0", "1", "0"]
    name = cells[0].strip().removesuffix(" (7)")
    unescaped = re.sub(r"\\.", "", name)  # what is left once every escaped character is taken out
    assert re.sub(r"[<>\[\]()!*`&#:]", "", unescaped) == unescaped, name
    assert "- 9\\|9: cancelled \\| after \\| booking \\|" in markdown
    assert md_text("http://x") == "http\\://x" and md_text(None) == ""


def test_outbound_run_workbook_and_page_agree_with_the_run(sandbox):
    world = sandbox.world
    summary = sync_outbound(since=world.start - timedelta(days=1), until=datetime.now(world.end.tzinfo))
    folder = next(sandbox.reports.iterdir())
    book = openpyxl.load_workbook(folder / "report.xlsx", read_only=True)
    assert book.sheetnames == [
        "概要 overview",
        "汇总 summary",
        "暂缓分布 held by shop × rule",
        "店铺汇总 by shop",
        "暂缓明细 held",
        "单据结果 documents",
        "警告 warnings",
        "需人工处理 attention",
    ]

    _, overview = read_sheet(book, "概要 overview")
    facts = {row["项目 item"]: row["值 value"] for row in overview}
    assert int(facts["抓取单据数 fetched"]) == summary["fetched"] > 0
    assert int(facts["已写入 written"]) == summary["written"] > 0
    assert int(facts["已存在跳过 skipped_existing"]) == summary["skipped_existing"]
    assert int(facts["暂缓 held"]) == summary["held"] > 0
    assert int(facts["失败 failed"]) == summary["failed"]
    assert int(facts["暂缓行数 held_lines"]) == summary["held_lines"]

    flat = pl.read_csv(folder / "held.csv", infer_schema=False)  # one row per held line and reason
    assert flat.height == summary["held_lines"]
    assert set(flat["document"]) == Scheme(world).outbound_held()
    assert flat.select(pl.col("message", "label_zh").is_not_null().all()).row(0) == (True, True)
    headers, held = read_sheet(book, "暂缓明细 held")
    assert headers == [
        "单据编号 document",
        "店铺编号 shop_id",
        "店铺名称 shop_name",
        "暂缓行数 held_lines",
        "暂缓原因 reasons",
        "处理建议 hint",
        "明细 lines (行号 · 商品编码 · 规则编号 · 字段 · 问题值 · 说明)",
    ]
    assert [row["单据编号 document"] for row in held] == list(flat["document"].unique(maintain_order=True))
    expected = flat.group_by("document").agg(pl.col("line").n_unique(), pl.len(), pl.col("rule_id").unique())
    for row in held:
        (want,) = expected.filter(pl.col("document") == row["单据编号 document"]).to_dicts()
        assert row["暂缓行数 held_lines"] == want["line"]
        assert len(row[headers[-1]].split("\n")) == want["len"]  # every line and reason, one text line each
        assert all(rule in row["暂缓原因 reasons"] for rule in want["rule_id"])

    headers, by_rule = read_sheet(book, "汇总 summary")
    assert headers == [
        "规则编号 rule_id",
        "规则 label_zh",
        "店铺编号 shop_id",
        "店铺名称 shop_name",
        "暂缓单据数 held_documents",
        "暂缓行数 held_lines",
    ]
    recount: dict[tuple, set] = {}
    lines: Counter[tuple] = Counter()
    for row in flat.iter_rows(named=True):
        key = (row["rule_id"], row["shop_id"])
        recount.setdefault(key, set()).add(row["document"])
        lines[key] += 1
    assert {(r["规则编号 rule_id"], r["店铺编号 shop_id"]): r["暂缓单据数 held_documents"] for r in by_rule} == {
        key: len(documents) for key, documents in recount.items()
    }
    assert {(r["规则编号 rule_id"], r["店铺编号 shop_id"]): r["暂缓行数 held_lines"] for r in by_rule} == lines
    assert any(r["规则编号 rule_id"] == "shop.unmapped" and r["店铺名称 shop_name"] == "小红书店" for r in by_rule)

    headers, documents = read_sheet(book, "单据结果 documents")
    assert "结果 outcome" in headers and "金蝶单号 kingdee_number" in headers
    assert len(documents) == summary["fetched"]
    outcomes = Counter(row["结果 outcome"] for row in documents)
    assert outcomes["held"] == summary["held"] and outcomes["written"] == summary["written"]
    _, shops = read_sheet(book, "店铺汇总 by shop")
    assert sum(row["暂缓 held"] for row in shops) == summary["held"]

    _, by_shop_and_rule = read_sheet(book, "暂缓分布 held by shop × rule")
    labels = dict(flat.select("rule_id", "label_zh").unique().iter_rows())
    charted = {row["店铺编号 shop_id"]: row for row in by_shop_and_rule}
    for (rule, shop), documents in recount.items():
        assert charted[shop][f"{labels[rule]} {rule}"] == len(documents)

    page = read_page(folder / "report.html")
    assert page.errors == [] and page.tags["script"] == 1 and page.tags["svg"] == 1
    assert len(page.sections["暂缓明细 held"]) == summary["held"]
    assert len(page.sections["单据结果 documents"]) == summary["fetched"]

    markdown = Artifact.get("outbound-summary").data
    assert (folder / "report.xlsx").resolve().as_uri() in markdown
    assert (folder / "report.html").resolve().as_uri() in markdown
