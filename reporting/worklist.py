"""The check-mappings report: the worklist's four lists as report.xlsx and report.html (every row) and a
markdown artifact (the counts and the first rows of each list) for the analysts who keep the tables."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prefect.artifacts import create_markdown_artifact

from reporting.files import PAGE_NAME, WORKBOOK_NAME, ReportSheet, md_bullets, md_text, write_report
from reporting.location import share
from reporting.reports import report_dir
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
    workbook, page = folder / WORKBOOK_NAME, folder / PAGE_NAME
    text += (
        f"\n## 报告文件 Report files\n\n- Excel: [{workbook}]({workbook.resolve().as_uri()})\n"
        f"- HTML: [{page}]({page.resolve().as_uri()})\n"
    )
    return text


def publish(worklist: Worklist, start: datetime, end: datetime, settings: SyncSettings) -> Path:
    folder = report_dir(settings.reports_dir, NAME)
    title = f"映射检查 check-mappings {period_text(start, end)}"
    write_report(folder, title, sheets(worklist), summary=overview(worklist, start, end, settings))
    share(folder, settings)
    create_markdown_artifact(
        key=NAME, markdown=markdown(worklist, start, end, folder), description="mapping worklist counts"
    )
    return folder
