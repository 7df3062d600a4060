"""Reconciliation: for a period, Jushuitan sales outbound and received returns against the Kingdee
SAL_OUTSTOCK / SAL_RETURNSTOCK bills, per document and per day × shop. Reads both systems, writes
neither; the answer is a workbook and an HTML page in the run's report folder and a Prefect artifact.

The period is half-open, [since, until), on Beijing wall-clock time. Jushuitan documents are placed by
the date their bill carries (outbound: io_date; returns: the receive date), Kingdee bills by FDate.
A document whose bill carries a date outside the period is still found, by number, so a changed
date shows as a date mismatch instead of as one bill missing and another extra. With a real Kingdee,
whose FDate usually has no time of day, reconcile whole days (midnight to midnight).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from basics.shanghai import beijing_wall_clock, now_shanghai
from connectors.jushuitan import JushuitanClient, page_body
from connectors.kingdee import Filter, KingdeeClient
from deploy.blocks import open_clients
from flows.sync import load_master_data
from reporting.files import ReportSheet, md_text, write_report
from reporting.reports import report_dir
from state.settings import SyncSettings
from transforms import outbound, returns
from transforms.documents import MasterData
from transforms.frames import (
    OUTBOUND_PAGE,
    RECEIVED_PAGE,
    REFUND_PAGE,
    decode_pages,
    outbound_lines,
    received_dates,
    refund_lines,
)
from transforms.mappings import SchemeConfig
from transforms.outcomes import held_outcomes
from transforms.reconcile import (
    CLASS_LABELS,
    CLASSES,
    KINGDEE_ROWS_SCHEMA,
    MATCHED,
    by_day_shop,
    compare,
    kingdee_documents,
    outbound_documents,
    returns_documents,
)

KindName = Literal["outbound", "returns"]
ATTENTION_ROWS = 50  # documents listed in the markdown artifact; the files list them all
ORDER = "FBillNo ASC, FEntity_FEntryID ASC"  # a bill's entry lines together, in entry order


@dataclass(frozen=True)
class Kind:
    name: KindName
    label: str  # as the analysts call the Kingdee bill
    form_id: str
    customer_key: str  # the bill's customer field: this form's spelling


KINDS: dict[str, Kind] = {
    "outbound": Kind("outbound", "销售出库单", outbound.FORM_ID, "FCustomerID"),
    "returns": Kind("returns", "销售退货单", returns.FORM_ID, "FRetcustId"),
}


@dataclass(frozen=True)
class JushuitanSide:
    documents: pl.DataFrame  # transforms.reconcile.SIDE_SCHEMA
    held: pl.DataFrame  # document, reason


@dataclass(frozen=True)
class Reconciliation:
    kind: Kind
    jushuitan: pl.DataFrame
    kingdee: pl.DataFrame
    documents: pl.DataFrame  # transforms.reconcile.DOCUMENT_SCHEMA
    day_shop: pl.DataFrame  # transforms.reconcile.DAY_SHOP_SCHEMA

    def counts(self) -> dict[str, int]:
        found = dict(self.documents.group_by("result").len().rows())
        return {name: int(found.get(name, 0)) for name in CLASSES}


def _in_period(documents: pl.DataFrame, since: datetime, until: datetime) -> pl.DataFrame:
    """A document without a date stays: it is held for that reason, and there is no other period to show it in."""
    time = pl.col("time")
    return documents.filter(time.is_null() | ((time >= since) & (time < until)))


def _held_reasons(held_rows: pl.DataFrame) -> pl.DataFrame:
    return held_outcomes(held_rows).select("document", pl.col("message").alias("reason"))


def _decoded(pages: Iterable[list[dict]], schema: pl.Struct) -> pl.DataFrame:
    return decode_pages(map(page_body, pages), schema)


@task(name="jushuitan-outbound", cache_policy=NO_CACHE)
def jushuitan_outbound(
    jst: JushuitanClient, master: MasterData, scheme: SchemeConfig, since: datetime, until: datetime
) -> JushuitanSide:
    """Outbound documents shipped in the period (queried by io_date, every status), run through the
    sync's own mapping: which statuses are booked, what it would hold and why come from the same rules.
    One query for all statuses: the API filters one status at a time, and the booked ones are a setting."""
    pages = jst.outbound_pages(modified_begin=since, modified_end=until, date_type=2)
    lines = outbound_lines(_decoded(pages, OUTBOUND_PAGE))
    mapping = outbound.map_outbound(lines, master, scheme)
    taken = pl.concat([mapping.bills["bill_no"], mapping.split.held_documents])
    return JushuitanSide(
        documents=_in_period(outbound_documents(lines, taken), since, until),
        held=_held_reasons(mapping.split.held),
    )


@task(name="jushuitan-returns", cache_policy=NO_CACHE)
def jushuitan_returns(
    jst: JushuitanClient, master: MasterData, scheme: SchemeConfig, since: datetime, until: datetime
) -> JushuitanSide:
    """Confirmed, received after-sales whose goods came back in the period. The API filters after-sales by
    modification time only, and receiving one modifies it: everything modified since `since` is read
    and placed by its receive date."""
    pages = jst.refund_pages(
        modified_begin=since,
        modified_end=max(beijing_wall_clock(now_shanghai()), since),
        status=returns.IN_SCOPE_STATUS,
        good_status=returns.RECEIVED_GOOD_STATUS,
    )
    lines = refund_lines(_decoded(pages, REFUND_PAGE))
    undated = lines.filter(pl.col("received_time").is_null() & pl.col("sku_id").is_not_null())
    undated_ids = undated["as_id"].drop_nulls().unique().to_list()
    stock_in = received_dates(_decoded(jst.received_by_ids(as_ids=undated_ids) if undated_ids else (), RECEIVED_PAGE))
    mapping = returns.map_returns(lines, stock_in, master, scheme)
    taken = pl.concat([mapping.bills["bill_no"], mapping.split.held_documents])
    return JushuitanSide(
        documents=_in_period(returns_documents(lines, stock_in, taken), since, until),
        held=_held_reasons(mapping.split.held),
    )


@task(name="kingdee-bills", cache_policy=NO_CACHE)
def kingdee_bills(
    kingdee: KingdeeClient, kind: Kind, since: datetime, until: datetime, numbers: list[str]
) -> pl.DataFrame:
    """Entry lines (KINGDEE_ROWS_SCHEMA) of the bills dated in the period, plus those of `numbers` dated
    elsewhere."""
    customer = f"{kind.customer_key}.FNumber"
    keys = ["FBillNo", "FDate", "FDocumentStatus", customer, "FRealQty", "FTaxPrice"]
    schema = {key: KINGDEE_ROWS_SCHEMA["customer_number" if key == customer else key] for key in keys}

    dated = kingdee.execute_bill_query(
        kind.form_id, keys, Filter.ge("FDate", since) & Filter.lt("FDate", until), order_by=ORDER, schema=schema
    )
    seen = set(dated["FBillNo"].to_list())
    elsewhere = [number for number in numbers if number not in seen]
    if not elsewhere:
        return dated.rename({customer: "customer_number"})
    by_number = kingdee.execute_bill_query_by_number(kind.form_id, keys, elsewhere, order_by=ORDER, schema=schema)
    return pl.concat([dated, by_number]).rename({customer: "customer_number"})


def reconcile_kind(
    jst: JushuitanClient,
    kingdee: KingdeeClient,
    master: MasterData,
    settings: SyncSettings,
    kind: Kind,
    since: datetime,
    until: datetime,
) -> Reconciliation:
    fetch = jushuitan_outbound if kind.name == "outbound" else jushuitan_returns
    side = fetch(jst, master, settings.scheme(), since, until)
    rows = kingdee_bills(kingdee, kind, since, until, side.documents["document"].to_list())
    booked = kingdee_documents(rows, master.shops)
    documents = compare(side.documents, booked, side.held, form_id=kind.form_id)
    return Reconciliation(
        kind=kind,
        jushuitan=side.documents,
        kingdee=booked,
        documents=documents,
        day_shop=by_day_shop(side.documents, booked, documents),
    )


# --- the report ------------------------------------------------------------------------------------

KIND_HEADER = {"kind": "单据类型 (FormId)"}
DAY_SHOP_HEADERS = {
    **KIND_HEADER,
    "day": "日期 (FDate / io_date / receive_date)",
    "shop_id": "店铺编码 (shop_id)",
    "shop_name": "店铺名称 (shop_name)",
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


def _combined(results: list[Reconciliation], frame: str, headers: dict[str, str]) -> pl.DataFrame:
    parts = [
        getattr(result, frame).with_columns(pl.lit(f"{result.kind.label} {result.kind.form_id}").alias("kind"))
        for result in results
    ]
    return pl.concat(parts).select(headers.keys())


def _period_text(since: datetime, until: datetime) -> str:
    return f"{since:%Y-%m-%d %H:%M:%S} → {until:%Y-%m-%d %H:%M:%S} (Asia/Shanghai, until exclusive)"


def _summary(results: list[Reconciliation], since: datetime, until: datetime) -> dict[str, object]:
    summary: dict[str, object] = {"期间 period": _period_text(since, until)}
    for result in results:
        prefix = f"{result.kind.label} {result.kind.form_id}"
        summary[f"{prefix}: 聚水潭单据 Jushuitan documents"] = result.jushuitan.height
        summary[f"{prefix}: 金蝶单据 Kingdee bills"] = result.kingdee.height
        for name, count in result.counts().items():
            summary[f"{prefix}: {CLASS_LABELS[name]} {name}"] = count
    return summary


def markdown(results: list[Reconciliation], since: datetime, until: datetime, folder: Path) -> str:
    """The artifact: counts per kind and class, then the documents that need someone, capped."""
    text = f"# 对账 reconcile\n\n期间 Period: {_period_text(since, until)}\n\n"
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
        for row in attention.head(ATTENTION_ROWS).to_dicts():
            text += (
                f"- {row['form']} {md_text(row['document'])} ({md_text(row['shop_name'])}): **{row['result_zh']}** "
                f"{md_text(row['reason'])}\n"
            )
        if attention.height > ATTENTION_ROWS:
            text += f"- … {attention.height - ATTENTION_ROWS} more in the report files\n"
    text += f"\nFull report: `{folder / 'report.xlsx'}`, `{folder / 'report.html'}`\n"
    return text


def publish(results: list[Reconciliation], since: datetime, until: datetime, reports_root: Path) -> Path:
    """report.xlsx and report.html for analysts, the same tables as CSV (code column names) for
    scripts, and the markdown artifact pointing at them."""
    folder = report_dir(reports_root, "reconcile")
    day_shop = _combined(results, "day_shop", DAY_SHOP_HEADERS)
    documents = _combined(results, "documents", DOCUMENT_HEADERS)
    sheets = [
        ReportSheet(
            name="按日按店 day × shop",
            frame=day_shop,
            headers=DAY_SHOP_HEADERS,
            description="每个系统按各自的日期与店铺汇总; 核对结果按单据所在的日期与店铺计数 / each side by its own "
            "date and shop; classes counted where each document sits",
        ),
        ReportSheet(
            name="单据明细 documents",
            frame=documents,
            headers=DOCUMENT_HEADERS,
            description="每张单据一行: 核对结果、两边的数量与金额、原因与处理办法 / one row per document",
        ),
    ]
    title = f"对账 reconcile {_period_text(since, until)}"
    write_report(folder, title, sheets, summary=_summary(results, since, until))
    day_shop.write_csv(folder / "day_shop.csv")
    documents.write_csv(folder / "documents.csv")
    create_markdown_artifact(
        key="reconcile-summary", markdown=markdown(results, since, until, folder), description="reconcile summary"
    )
    return folder


@flow(name="reconcile")
def reconcile(since: datetime, until: datetime, kinds: list[KindName] | None = None) -> dict:
    """Compare Jushuitan with Kingdee over [since, until) (naive times are Asia/Shanghai).

    `kinds`: "outbound", "returns" or both (the default). Returns the counts per class and kind and
    where the report files are.
    """
    start, end = beijing_wall_clock(since), beijing_wall_clock(until)
    if end <= start:
        raise ValueError(f"until ({until}) must be after since ({since})")
    settings = SyncSettings()
    chosen = [KINDS[name] for name in dict.fromkeys(kinds or KINDS)]
    with open_clients() as (jst, kingdee):
        master = load_master_data(kingdee, settings)
        results = [reconcile_kind(jst, kingdee, master, settings, kind, start, end) for kind in chosen]
    folder = publish(results, start, end, settings.reports_dir)
    summary = {
        "since": start.isoformat(),
        "until": end.isoformat(),
        "report_dir": str(folder),
        "counts": {r.kind.name: r.counts() for r in results},
        "documents": {r.kind.name: {"jushuitan": r.jushuitan.height, "kingdee": r.kingdee.height} for r in results},
    }
    get_run_logger().info("reconcile %s: %s; report in %s", _period_text(start, end), summary["counts"], folder)
    return summary
