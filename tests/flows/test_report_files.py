"""The analysts' report files: write_report on small frames, then a real outbound run's workbook and page."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import polars as pl
from prefect.artifacts import Artifact

from flows.outbound import sync_outbound
from reporting.files import ReportSheet, md_text, write_report
from reporting.reports import SyncReport
from tests.flows.oracle import Scheme
from transforms.outcomes import HELD, OUTCOME_SCHEMA, WRITTEN

NASTY = "<script>alert(1)</script>"
QUOTES = "\"'"
VOID = {"meta", "br", "hr", "img", "link", "input", "col", "wbr", "area", "base", "source", "track", "embed"}


class PageReader(HTMLParser):
    """Collects what the browser would: tags in order (checking they nest), attributes, table rows, text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.errors: list[str] = []
        self.tags: Counter[str] = Counter()
        self.links: list[tuple[str, str]] = []
        self.sections: dict[str, list[list[str]]] = {}
        self.section_titles: list[str] = []
        self._cell: list[str] | None = None
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.links += [(name, value or "") for name, value in attrs if name in ("src", "href", "srcset", "action")]
        if tag == "h2":
            self._in_h2 = True
            self.section_titles.append("")
        if tag == "tr" and "tbody" in self.open:
            self.sections.setdefault(self.section_titles[-1], []).append([])
        if tag == "td":
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
        if tag == "td" and self._cell is not None:
            self.sections[self.section_titles[-1]][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_h2:
            self.section_titles[-1] += data


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
    assert page.tags["script"] == 0 and "<script" not in text.lower()
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

    headers, held = read_sheet(book, "暂缓明细 held")
    for header in (
        "单据编号 document",
        "行号 line",
        "店铺名称 shop_name",
        "商品编码 sku_id",
        "规则编号 rule_id",
        "规则 label_zh",
        "字段 field",
        "问题值 value",
        "说明 message",
        "处理建议 hint",
    ):
        assert header in headers
    assert len(held) == summary["held_lines"]
    held_documents = {row["单据编号 document"] for row in held}
    assert len(held_documents) == summary["held"]
    assert held_documents == Scheme(world).outbound_held()
    assert all(row["说明 message"] and row["规则 label_zh"] for row in held)

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
    for row in held:
        key = (row["规则编号 rule_id"], row["店铺编号 shop_id"])
        recount.setdefault(key, set()).add(row["单据编号 document"])
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

    page = read_page(folder / "report.html")
    assert page.errors == [] and page.tags["script"] == 0
    assert len(page.sections["暂缓明细 held"]) == summary["held_lines"]
    assert len(page.sections["单据结果 documents"]) == summary["fetched"]

    markdown = Artifact.get("outbound-summary").data
    assert (folder / "report.xlsx").resolve().as_uri() in markdown
    assert (folder / "report.html").resolve().as_uri() in markdown
