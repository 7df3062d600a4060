"""The check-mappings report: the worklist's four lists as report.xlsx and report.html (every row), the
worklist workbook to fill in (reporting/worklist_book.py), and a markdown artifact (the counts and the first
rows of each list) for the analysts who keep the tables; and how a change to the tables is shown (the diff,
the rejected rows, the held documents the next run retries), by `mappings import` and the set-mappings flow."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import polars as pl
from prefect.artifacts import create_markdown_artifact

from reporting.files import PAGE_NAME, WORKBOOK_NAME, ReportSheet, md_bullets, md_text, write_report
from reporting.location import share
from reporting.reports import report_dir
from reporting.worklist_book import BOOK_NAME, write_worklist_book
from state.settings import SyncSettings
from transforms.worklist import Worklist

NAME = "check-mappings"
ARTIFACT_ROWS = 20  # per list in the markdown artifact; the files list everything

HEADERS = {
    "shop_id": "店铺编码 (shop_id)",
    "shop_name": "店铺名称 (shop_name)",
    "wms_co_id": "仓库编码 (wms_co_id)",
    "warehouse_name": "仓库名称 (warehouse_name)",
    "seen_in": "出现在 (seen_in)",
    "documents": "本期单据数 (documents)",
    "held_outbound": "暂缓销售出库单数 (held_outbound)",
    "held_returns": "暂缓销售退货单数 (held_returns)",
    "held_documents": "暂缓单据合计 (held_documents)",
    "table": "映射表 (table)",
    "key": "聚水潭编码 (shop_id / wms_co_id)",
    "name": "表中名称 (shop_name / warehouse_name)",
    "kingdee_number": "金蝶编码 (customer_number / stock_number)",
    "problem": "问题代码 (problem)",
    "label_zh": "问题 (label_zh)",
    "label_en": "Problem (label_en)",
    "kingdee_name": "金蝶名称 (FName)",
    "sku_id": "商品编码 (sku_id)",
    "i_id": "款式编码 (i_id)",
    "item_name": "商品名称 (name)",
    "hint": "处理建议 (hint)",
    "suggested_number": "建议编码 (suggested_number)",
    "suggested_name": "建议名称 (suggested_name)",
    "score": "相似度 (score)",
}


def period_text(start: datetime, end: datetime) -> str:
    return f"{start:%Y-%m-%d %H:%M:%S} → {end:%Y-%m-%d %H:%M:%S} (Asia/Shanghai)"


def sheets(worklist: Worklist) -> list[ReportSheet]:
    return [
        ReportSheet(
            "未映射店铺 unmapped shops",
            worklist.shops,
            HEADERS,
            "聚水潭中出现但 config/shops.csv 没有的店铺 / shops Jushuitan shows with no row in config/shops.csv",
        ),
        ReportSheet(
            "未映射仓库 unmapped warehouses",
            worklist.warehouses,
            HEADERS,
            "聚水潭中出现但 config/warehouses.csv 没有的仓库 / warehouses Jushuitan shows with no row in "
            "config/warehouses.csv",
        ),
        ReportSheet(
            "映射表问题 table rows",
            worklist.table_rows,
            HEADERS,
            "映射表中指向金蝶不可用客户/仓库, 或聚水潭已无此店铺/仓库的行 / rows pointing at unusable Kingdee "
            "customers or stocks, or at shops and warehouses Jushuitan no longer shows",
        ),
        ReportSheet(
            "金蝶未知商品 unknown SKUs",
            worklist.skus,
            HEADERS,
            "本期单据中的商品编码在金蝶物料中不可用 / SKUs on the period's documents that are not a usable "
            "Kingdee material",
        ),
    ]


def overview(worklist: Worklist, start: datetime, end: datetime, settings: SyncSettings) -> dict[str, object]:
    counts = worklist.counts()
    return {
        "期间 period": period_text(start, end),
        "店铺表种子文件 shops table seed (read once)": str(settings.shops_table),
        "仓库表种子文件 warehouses table seed (read once)": str(settings.warehouses_table),
        "未映射店铺 unmapped_shops": counts["unmapped_shops"],
        "未映射仓库 unmapped_warehouses": counts["unmapped_warehouses"],
        "映射表问题行 table_problems": counts["table_problems"],
        "金蝶未知商品 unknown_skus": counts["unknown_skus"],
        "因此暂缓的销售出库单 held_outbound": counts["held_outbound"],
        "因此暂缓的销售退货单 held_returns": counts["held_returns"],
    }


def markdown(worklist: Worklist, start: datetime, end: datetime, folder: Path) -> str:
    """The artifact: the counts, then the first rows of each list (the files list them all)."""
    counts = worklist.counts()
    text = f"# 映射检查 check-mappings\n\n期间 Period: {period_text(start, end)}\n\n"
    text += "| 未映射店铺 | 未映射仓库 | 映射表问题行 | 金蝶未知商品 | 暂缓出库单 | 暂缓退货单 |\n"
    text += "|---:|---:|---:|---:|---:|---:|\n"
    text += (
        f"| {counts['unmapped_shops']} | {counts['unmapped_warehouses']} | {counts['table_problems']} | "
        f"{counts['unknown_skus']} | {counts['held_outbound']} | {counts['held_returns']} |\n"
    )
    lists = (
        ("未映射店铺 Unmapped shops", worklist.shops, "shop_id", "shop_name"),
        ("未映射仓库 Unmapped warehouses", worklist.warehouses, "wms_co_id", "warehouse_name"),
        ("映射表问题 Table rows", worklist.table_rows, "key", "label_zh"),
        ("金蝶未知商品 Unknown SKUs", worklist.skus, "sku_id", "item_name"),
    )
    for title, frame, key, label in lists:
        if frame.is_empty():
            continue
        text += f"\n## {title} ({frame.height})\n\n"
        text += md_bullets(
            frame,
            ARTIFACT_ROWS,
            lambda row, key=key, label=label: (
                f"{md_text(row[key])} {md_text(row[label])}: "
                f"暂缓 {row['held_documents']} 单 held — {md_text(row['hint'])}"
            ),
        )
    workbook, page, book = folder / WORKBOOK_NAME, folder / PAGE_NAME, folder / BOOK_NAME
    text += (
        f"\n## 报告文件 Report files\n\n- Excel: [{workbook}]({workbook.resolve().as_uri()})\n"
        f"- HTML: [{page}]({page.resolve().as_uri()})\n"
        f"- 待填映射 worklist to fill in (mappings import): [{book}]({book.resolve().as_uri()})\n"
    )
    return text


def publish(worklist: Worklist, start: datetime, end: datetime, settings: SyncSettings) -> Path:
    folder = report_dir(settings.reports_dir, NAME)
    title = f"映射检查 check-mappings {period_text(start, end)}"
    write_report(folder, title, sheets(worklist), summary=overview(worklist, start, end, settings))
    write_worklist_book(folder / BOOK_NAME, worklist)
    share(folder, settings)
    create_markdown_artifact(
        key=NAME, markdown=markdown(worklist, start, end, folder), description="mapping worklist counts"
    )
    return folder


# --- a change to the tables ----------------------------------------------------------------------------------

CHANGE_NAME = "set-mappings"
CHANGE_WORDS = {"added": "新增 added", "changed": "修改 changed", "removed": "删除 removed"}


def _md_table(frame: pl.DataFrame, headers: dict[str, str], escape: Callable[[object], str]) -> str:
    lines = ["| " + " | ".join(headers.values()) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(escape(row[c]) for c in headers) + " |" for row in frame.iter_rows(named=True)]
    return "\n".join(lines) + "\n"


def change_markdown(
    source: str,
    diff: pl.DataFrame,
    rejected: pl.DataFrame,
    retried: dict[str, int] | None,
    escape: Callable[[object], str] = md_text,
) -> str:
    """The change as people check it: the rejected rows with their reasons (then nothing was applied), the
    rows added, changed or removed, and — once applied — the held documents the next run retries. `escape`
    renders a value: md_text for an artifact, plain text on a terminal."""
    text = f"# 映射修改 set-mappings\n\n来源 Source: {escape(source)}\n\n"
    if not rejected.is_empty():
        text += f"## 未通过 {rejected.height} 行, 未做任何修改 / {rejected.height} rows rejected, nothing applied\n\n"
        text += _md_table(
            rejected,
            {
                "table": "表 table",
                "row": "行 row",
                "key": "编码 id",
                "number": "金蝶编码 number",
                "reason": "原因 reason",
            },
            escape,
        )
    text += f"\n## 差异 Diff ({diff.height})\n\n"
    if diff.is_empty():
        text += "无变化 / no change\n"
    else:
        text += _md_table(
            diff.with_columns(pl.col("change").replace(CHANGE_WORDS)),
            {
                "table": "表 table",
                "change": "变化 change",
                "key": "编码 id",
                "name": "名称 name",
                "number_before": "原编码 before",
                "number_after": "新编码 after",
            },
            escape,
        )
    if retried is not None:
        text += (
            f"\n下次运行重试暂缓单据 {retried['pending']} 张, 其中这些店铺的 {retried['for_these_shops']} 张 / "
            f"the next run retries {retried['pending']} held documents, {retried['for_these_shops']} of them of "
            "these shops\n"
        )
    return text


def publish_change(source: str, diff: pl.DataFrame, rejected: pl.DataFrame, retried: dict[str, int] | None) -> str:
    text = change_markdown(source, diff, rejected, retried)
    create_markdown_artifact(key=CHANGE_NAME, markdown=text, description="hand-kept tables: diff and rejected rows")
    return text
