"""The reconcile report: per kind, the day × shop totals (with a stacked chart of the classes) and every
document with its class, as report.xlsx and report.html for the analysts, the same tables as CSV (code column
names) for scripts, and a markdown artifact with the counts and the documents that need someone."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
from prefect.artifacts import create_markdown_artifact

from reporting.charts import StackedBars
from reporting.files import ReportSheet, md_bullets, md_text, write_report
from reporting.location import share
from reporting.reports import report_dir
from state.settings import SyncSettings
from transforms.reconcile import (
    AMOUNT,
    CLASS_LABELS,
    CLASSES,
    DATE,
    EXTRA,
    HELD,
    MATCHED,
    MISSING,
    QUANTITY,
    Reconciliation,
)

ATTENTION_ROWS = 50  # documents listed in the markdown artifact; the files list them all

KIND_HEADER = {"kind": "单据类型 (FormId)"}
# Kind, day and shop name first and side by side: the chart's categories (Excel's multi-level axis).
DAY_SHOP_HEADERS = {
    **KIND_HEADER,
    "day": "日期 (FDate / io_date / receive_date)",
    "shop_name": "店铺名称 (shop_name)",
    "shop_id": "店铺编码 (shop_id)",
    "jst_documents": "聚水潭单据数 (io_id / as_id)",
    "jst_quantity": "聚水潭数量 (qty / r_qty)",
    "jst_amount": "聚水潭金额 (Σ qty × price)",
    "kingdee_documents": "金蝶单据数 (FBillNo)",
    "kingdee_quantity": "金蝶数量 (FRealQty)",
    "kingdee_amount": "金蝶金额 (Σ FRealQty × FTaxPrice)",
    "quantity_diff": "数量差 金蝶−聚水潭 (quantity_diff)",
    "amount_diff": "金额差 金蝶−聚水潭 (amount_diff)",
    **{name: f"{CLASS_LABELS[name]} ({name})" for name in CLASSES},
}
DOCUMENT_HEADERS = {
    **KIND_HEADER,
    "document": "单据编号 (FBillNo = io_id / as_id)",
    "result_zh": "核对结果 (result_zh)",
    "result": "结果代码 (result)",
    "day": "日期 (day)",
    "shop_id": "店铺编码 (shop_id)",
    "shop_name": "店铺名称 (shop_name)",
    "jst_quantity": "聚水潭数量 (qty / r_qty)",
    "kingdee_quantity": "金蝶数量 (FRealQty)",
    "quantity_diff": "数量差 金蝶−聚水潭 (quantity_diff)",
    "jst_amount": "聚水潭金额 (Σ qty × price)",
    "kingdee_amount": "金蝶金额 (Σ FRealQty × FTaxPrice)",
    "amount_diff": "金额差 金蝶−聚水潭 (amount_diff)",
    "jst_time": "聚水潭日期 (io_date / receive_date)",
    "kingdee_time": "金蝶日期 (FDate)",
    "kingdee_customer": "金蝶客户 (FCustomerID / FRetcustId)",
    "kingdee_status": "金蝶单据状态 (FDocumentStatus)",
    "reason": "说明与处理 (reason)",
}


CLASS_COLORS = {
    MATCHED: "#54a24b",
    MISSING: "#e45756",
    EXTRA: "#b279a2",
    QUANTITY: "#f58518",
    AMOUNT: "#eeca3b",
    DATE: "#9d755d",
    HELD: "#bab0ac",
}
DAY_SHOP_CHART = StackedBars(
    "核对结果 按类型 × 日 × 店铺 / classes per kind, day and shop", ("kind", "day", "shop_name"), CLASSES, CLASS_COLORS
)


def _combined(results: list[Reconciliation], frame: str, headers: dict[str, str]) -> pl.DataFrame:
    parts = [
        getattr(result, frame).with_columns(pl.lit(f"{result.kind.label} {result.kind.form_id}").alias("kind"))
        for result in results
    ]
    return pl.concat(parts).select(headers.keys())


def period_text(since: datetime, until: datetime) -> str:
    return f"{since:%Y-%m-%d %H:%M:%S} → {until:%Y-%m-%d %H:%M:%S} (Asia/Shanghai, until exclusive)"


def _summary(results: list[Reconciliation], since: datetime, until: datetime) -> dict[str, object]:
    summary: dict[str, object] = {"期间 period": period_text(since, until)}
    for result in results:
        prefix = f"{result.kind.label} {result.kind.form_id}"
        summary[f"{prefix}: 聚水潭单据 Jushuitan documents"] = result.jushuitan.height
        summary[f"{prefix}: 金蝶单据 Kingdee bills"] = result.kingdee.height
        for name, count in result.counts().items():
            summary[f"{prefix}: {CLASS_LABELS[name]} {name}"] = count
    return summary


def markdown(results: list[Reconciliation], since: datetime, until: datetime, folder: Path) -> str:
    """The artifact: counts per kind and class, then the documents that need someone, capped."""
    text = f"# 对账 reconcile\n\n期间 Period: {period_text(since, until)}\n\n"
    text += "| 单据类型 | 聚水潭单据 | 金蝶单据 | " + " | ".join(CLASS_LABELS[n] for n in CLASSES) + " |\n"
    text += "|---|---:|---:|" + "---:|" * len(CLASSES) + "\n"
    for result in results:
        counts = result.counts()
        text += (
            f"| {result.kind.label} {result.kind.form_id} | {result.jushuitan.height} | {result.kingdee.height} | "
            + " | ".join(str(counts[n]) for n in CLASSES)
            + " |\n"
        )
    attention = pl.concat(
        [
            r.documents.filter(pl.col("result") != MATCHED).with_columns(pl.lit(r.kind.form_id).alias("form"))
            for r in results
        ]
    )
    if not attention.is_empty():
        text += f"\n## 需处理 Needs attention ({attention.height})\n\n"
        text += md_bullets(
            attention,
            ATTENTION_ROWS,
            lambda row: (
                f"{row['form']} {md_text(row['document'])} ({md_text(row['shop_name'])}): "
                f"**{row['result_zh']}** {md_text(row['reason'])}"
            ),
        )
    text += f"\nFull report: `{folder / 'report.xlsx'}`, `{folder / 'report.html'}`\n"
    return text


def publish(results: list[Reconciliation], since: datetime, until: datetime, settings: SyncSettings) -> Path:
    """report.xlsx and report.html for analysts, the same tables as CSV (code column names) for
    scripts, and the markdown artifact pointing at them."""
    folder = report_dir(settings.reports_dir, "reconcile")
    day_shop = _combined(results, "day_shop", DAY_SHOP_HEADERS)
    documents = _combined(results, "documents", DOCUMENT_HEADERS)
    sheets = [
        ReportSheet(
            name="按日按店 day × shop",
            frame=day_shop,
            headers=DAY_SHOP_HEADERS,
            description="每个系统按各自的日期与店铺汇总; 核对结果按单据所在的日期与店铺计数 / each side by its own "
            "date and shop; classes counted where each document sits",
            chart=DAY_SHOP_CHART,
        ),
        ReportSheet(
            name="单据明细 documents",
            frame=documents,
            headers=DOCUMENT_HEADERS,
            description="每张单据一行: 核对结果、两边的数量与金额、原因与处理办法 / one row per document",
        ),
    ]
    title = f"对账 reconcile {period_text(since, until)}"
    write_report(folder, title, sheets, summary=_summary(results, since, until))
    day_shop.write_csv(folder / "day_shop.csv")
    documents.write_csv(folder / "documents.csv")
    share(folder, settings)
    create_markdown_artifact(
        key="reconcile-summary", markdown=markdown(results, since, until, folder), description="reconcile summary"
    )
    return folder
