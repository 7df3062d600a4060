"""The mapping worklist: what the hand-kept tables (config/shops.csv, config/warehouses.csv) and Kingdee's
materials are missing, for the analysts who maintain them (SCHEME.md §1–2: check the tables against both
systems and report the gaps instead of guessing).

It lists shops and warehouses Jushuitan shows (its master lists and the period's documents) with no row in
the tables, table rows pointing at customers or stocks Kingdee does not have (or has unaudited or forbidden)
or at shops and warehouses Jushuitan no longer shows, and SKUs on the period's documents that are not a
usable Kingdee material. Each comes with the number of documents it holds back in the period, counted by
running the syncs' own mappings (map_outbound, map_returns) over the period's documents. Reads both
systems, writes neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from basics.shanghai import in_shanghai, now_shanghai
from connectors.jushuitan import JushuitanClient, page_body
from connectors.kingdee import KingdeeClient
from deploy.blocks import open_clients
from flows.sync import load_master_data
from reporting.files import PAGE_NAME, WORKBOOK_NAME, ReportSheet, md_text, write_report
from reporting.reports import report_dir
from state.settings import SyncSettings
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
from transforms.mappings import (
    FORBIDDEN,
    MAPPING_RULES,
    MATERIAL_RULES,
    MISSING,
    NOT_AUDITED,
    OTHER_ORG,
    USABLE,
    SchemeConfig,
    held_by_key,
    kingdee_status,
    sightings,
)
from transforms.outbound import NEVER_BOOKED, map_outbound, outbound_rules
from transforms.returns import RECEIVED_GOOD_STATUS, map_returns

NAME = "check-mappings"
LOOKBACK = timedelta(days=7)
ARTIFACT_ROWS = 20  # per list in the markdown artifact; the files list everything
HELD_COUNTS = ("held_outbound", "held_returns", "held_documents")
RULES = {rule.id: rule for rule in outbound_rules()}


# --- what each system shows ------------------------------------------------------------------------


def check_period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """[since, until) in Asia/Shanghai (naive times are Beijing time); by default the last 7 days."""
    end = in_shanghai(until) if until else now_shanghai()
    start = in_shanghai(since) if since else end - LOOKBACK
    if end <= start:
        raise ValueError(f"until ({end}) must be after since ({start})")
    return start, end


@dataclass(frozen=True)
class JushuitanView:
    shops: pl.DataFrame  # id, name: /open/shops/query
    warehouses: pl.DataFrame  # id, name: /open/wms/partner/query
    outbound: pl.DataFrame  # outbound lines of the period, every status (transforms.frames)
    refunds: pl.DataFrame  # after-sale lines of the period, every status


def _listed(pages: list[list[dict]], id_key: str, name_key: str) -> pl.DataFrame:
    rows = [(_text(row.get(id_key)), _text(row.get(name_key))) for page in pages for row in page]
    return pl.DataFrame(rows, schema={"id": pl.String, "name": pl.String}, orient="row")


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@task(name="read-jushuitan", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def read_jushuitan(jst: JushuitanClient, start: datetime, end: datetime) -> JushuitanView:
    """The master lists and every outbound and after-sale document modified in the period."""
    outbound = map(page_body, jst.outbound_pages(modified_begin=start, modified_end=end))
    refunds = map(page_body, jst.refund_pages(modified_begin=start, modified_end=end))
    return JushuitanView(
        shops=_listed(list(jst.shops()), "shop_id", "shop_name"),
        warehouses=_listed(list(jst.warehouses()), "wms_co_id", "name"),
        outbound=outbound_lines(decode_pages(outbound, OUTBOUND_PAGE)),
        refunds=refund_lines(decode_pages(refunds, REFUND_PAGE)),
    )


@task(name="kingdee-status", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def read_kingdee_status(kingdee: KingdeeClient, form_id: str, numbers: list[str], org: str | None) -> pl.DataFrame:
    """Where `numbers` stand in a Kingdee base form (transforms.mappings.kingdee_status), whatever their state:
    the master data only holds usable rows, and the analysts need to know why a number is not one."""
    keys = ["FNumber", "FName", "FDocumentStatus", "FForbidStatus", *(["FUseOrgId.FNumber"] if org else [])]
    schema = dict.fromkeys(keys, pl.String)
    wanted = list(dict.fromkeys(numbers))
    found = kingdee.execute_bill_query_by_number(form_id, keys, wanted, number_key="FNumber", schema=schema)
    return kingdee_status(wanted, found, org)


# --- what the syncs would hold back ------------------------------------------------------------------


def held_in_period(
    view: JushuitanView, master: MasterData, scheme: SchemeConfig
) -> tuple[pl.DataFrame, dict[str, int]]:
    """What the syncs' own mappings would hold back now: documents per (rule_id, key) with HELD_COUNTS,
    and per kind the documents held by any mapping rule.

    Returns are mapped without their warehouse receipts: those only fill in missing receive dates, and
    no mapping rule looks at a date.
    """
    outbound = map_outbound(view.outbound, master, scheme).split.held
    returns = map_returns(view.refunds, received_dates(decode_pages([], RECEIVED_PAGE)), master, scheme).split.held
    totals = {
        kind: held.filter(pl.col("rule_id").is_in(MAPPING_RULES))["document"].n_unique()
        for kind, held in (("held_outbound", outbound), ("held_returns", returns))
    }
    by_key = held_by_key(outbound, view.outbound.select(pl.col("io_id").alias("document"), "wms_co_id")).rename(
        {"documents": "held_outbound"}
    )
    returned = held_by_key(returns, view.refunds.select(pl.col("as_id").alias("document"), "wms_co_id")).rename(
        {"documents": "held_returns"}
    )
    counts = (
        by_key.join(returned, on=["rule_id", "key"], how="full", coalesce=True, nulls_equal=True)
        .with_columns(pl.col("held_outbound", "held_returns").fill_null(0))
        .with_columns((pl.col("held_outbound") + pl.col("held_returns")).alias("held_documents"))
    )
    return counts, totals


def _with_held(frame: pl.DataFrame, key: str, held: pl.DataFrame, rule_id: str) -> pl.DataFrame:
    """Attach the documents `rule_id` holds back for each row's `key` (0 when none)."""
    counts = held.filter(pl.col("rule_id") == rule_id).select(pl.col("key").alias(key), *HELD_COUNTS)
    return frame.join(counts, on=key, how="left", nulls_equal=True).with_columns(pl.col(HELD_COUNTS).fill_null(0))


# --- the four lists ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A Kingdee base form the tables or documents point at, as the analysts call it."""

    form_id: str
    zh: str
    en: str
    fix_zh: str  # how else a missing number is fixed
    fix_en: str


CUSTOMER = Target(
    "BD_Customer", "客户", "customer", ", 或在 config/shops.csv 中改正客户编码", ", or correct it in config/shops.csv"
)
STOCK = Target(
    "BD_STOCK",
    "仓库",
    "stock",
    ", 或在 config/warehouses.csv 中改正仓库编码",
    ", or correct it in config/warehouses.csv",
)
MATERIAL = Target("BD_MATERIAL", "物料", "material", " (物料编码 = 商品编码)", " (FNumber = sku_id)")

GONE = {
    "shop_gone": (
        "聚水潭中已无此店铺 (店铺列表与本期单据中均未出现)",
        "shop no longer in Jushuitan (not listed, on no document of the period)",
        "在聚水潭核对该店铺; 已关闭则从 config/shops.csv 删除该行 / check the shop in Jushuitan; "
        "delete the row if it is closed",
    ),
    "warehouse_gone": (
        "聚水潭中已无此仓库 (仓库列表与本期单据中均未出现)",
        "warehouse no longer in Jushuitan (not listed, on no document of the period)",
        "在聚水潭核对该仓库; 已停用则从 config/warehouses.csv 删除该行 / check the warehouse in Jushuitan; "
        "delete the row if it is closed",
    ),
}


def _explanations(target: Target, org: str) -> pl.DataFrame:
    """problem, label_zh, label_en, hint for each Kingdee status a number can be in besides usable."""
    zh, en = target.zh, target.en
    texts = {
        MISSING: (
            f"{zh}在金蝶中不存在",
            f"{en} missing in Kingdee",
            f"在金蝶中新建并审核该{zh} ({target.form_id}){target.fix_zh} / "
            f"create and audit the {en} in Kingdee ({target.form_id}){target.fix_en}",
        ),
        NOT_AUDITED: (
            f"{zh}在金蝶中未审核",
            f"{en} not audited in Kingdee",
            f"在金蝶中审核该{zh} / audit the {en} in Kingdee",
        ),
        FORBIDDEN: (
            f"{zh}在金蝶中已禁用",
            f"{en} forbidden in Kingdee",
            f"在金蝶中反禁用该{zh} / enable the {en} in Kingdee",
        ),
        OTHER_ORG: (
            f"{zh}未分配到组织 {org}",
            f"{en} not assigned to organisation {org}",
            f"在金蝶中将该{zh}分配到组织 {org} / assign the {en} to organisation {org} in Kingdee",
        ),
    }
    return pl.DataFrame(
        [(status, f"{en}_{status}", *text) for status, text in texts.items()],
        schema=["status", "problem", "label_zh", "label_en", "hint"],
        orient="row",
    )


def _documents(view: JushuitanView, id_column: str, outbound_name: str | None, refund_name: str) -> pl.DataFrame:
    """kind, document, id, name of every line of the period's documents (input of `sightings`)."""
    return pl.concat(
        [
            view.outbound.select(
                pl.lit("outbound").alias("kind"),
                pl.col("io_id").alias("document"),
                pl.col(id_column).alias("id"),
                (pl.col(outbound_name) if outbound_name else pl.lit(None, pl.String)).alias("name"),
            ),
            view.refunds.select(
                pl.lit("returns").alias("kind"),
                pl.col("as_id").alias("document"),
                pl.col(id_column).alias("id"),
                pl.col(refund_name).alias("name"),
            ),
        ]
    )


def unmapped(
    seen: pl.DataFrame, table_ids: pl.Series, held: pl.DataFrame, rule_id: str, id_column: str, name_column: str
) -> pl.DataFrame:
    """Ids Jushuitan shows (`seen`, from `sightings`) that have no row in the table, most held first."""
    listed, on_documents = pl.col("listed"), pl.col("documents") > 0
    seen_in = (
        pl.when(listed & on_documents)
        .then(pl.lit("列表和单据 list and documents"))
        .when(listed)
        .then(pl.lit("仅列表 list only"))
        .otherwise(pl.lit("仅单据 documents only"))
    )
    missing = seen.filter(~pl.col("id").is_in(table_ids.cast(pl.String).implode()).fill_null(False)).select(
        pl.col("id").alias(id_column), pl.col("name").alias(name_column), seen_in.alias("seen_in"), "documents"
    )
    return (
        _with_held(missing, id_column, held, rule_id)
        .with_columns(pl.lit(RULES[rule_id].hint).alias("hint"))
        .sort("held_documents", id_column, descending=[True, False], nulls_last=True)
    )


TABLE_ROW_COLUMNS = (
    "table",
    "key",
    "name",
    "kingdee_number",
    "problem",
    "label_zh",
    "label_en",
    "kingdee_name",
    *HELD_COUNTS,
    "hint",
)


@dataclass(frozen=True)
class Table:
    """One hand-kept table and what its rows point at."""

    path: str  # as the analysts know it
    id_column: str
    name_column: str
    number_column: str
    target: Target
    rule_id: str  # the rule that holds documents when the Kingdee side of a row is unusable
    gone: str  # GONE key


SHOPS_TABLE = Table(
    "config/shops.csv", "shop_id", "shop_name", "customer_number", CUSTOMER, "customer.unknown", "shop_gone"
)
WAREHOUSES_TABLE = Table(
    "config/warehouses.csv", "wms_co_id", "warehouse_name", "stock_number", STOCK, "stock.unknown", "warehouse_gone"
)


def table_problems(
    table: Table, rows: pl.DataFrame, status: pl.DataFrame, seen: pl.DataFrame, held: pl.DataFrame, org: str
) -> pl.DataFrame:
    """Rows whose Kingdee number is not usable (with the documents that holds back), and rows whose
    Jushuitan id appears neither in Jushuitan's list nor on the period's documents."""
    checked = rows.select(
        pl.lit(table.path).alias("table"),
        pl.col(table.id_column).cast(pl.String).alias("key"),
        pl.col(table.name_column).alias("name"),
        pl.col(table.number_column).alias("kingdee_number"),
    ).join(status.rename({"number": "kingdee_number"}), on="kingdee_number", how="left")
    unusable = _with_held(
        checked.filter(pl.col("status") != USABLE).join(_explanations(table.target, org), on="status"),
        "key",
        held,
        table.rule_id,
    )
    label_zh, label_en, hint = GONE[table.gone]
    gone = checked.filter(~pl.col("key").is_in(seen["id"].implode())).with_columns(
        pl.lit(table.gone).alias("problem"),
        pl.lit(label_zh).alias("label_zh"),
        pl.lit(label_en).alias("label_en"),
        pl.lit(hint).alias("hint"),
        *[pl.lit(0, pl.UInt32).alias(name) for name in HELD_COUNTS],
    )
    return pl.concat([unusable.select(TABLE_ROW_COLUMNS), gone.select(TABLE_ROW_COLUMNS)], how="vertical_relaxed")


def sku_sightings(view: JushuitanView) -> pl.DataFrame:
    """sku_id, i_id, item_name, documents: SKUs on the period's documents that the syncs book now or
    later (outbound not cancelled or deleted; returns received back into stock)."""
    columns = [pl.col("sku_id").str.strip_chars(), "i_id", pl.col("name").alias("item_name")]
    lines = pl.concat(
        [
            view.outbound.filter(~pl.col("status").is_in(NEVER_BOOKED).fill_null(False)).select(
                pl.lit("outbound").alias("kind"), pl.col("io_id").alias("document"), *columns
            ),
            view.refunds.filter((pl.col("good_status") == RECEIVED_GOOD_STATUS).fill_null(False)).select(
                pl.lit("returns").alias("kind"), pl.col("as_id").alias("document"), *columns
            ),
        ]
    )
    return (
        lines.filter(pl.col("sku_id").is_not_null() & (pl.col("sku_id") != ""))
        .group_by("sku_id", maintain_order=True)
        .agg(
            pl.col("i_id").drop_nulls().first(),
            pl.col("item_name").drop_nulls().first(),
            pl.struct("kind", "document").n_unique().alias("documents"),
        )
    )


def unknown_skus(skus: pl.DataFrame, status: pl.DataFrame, held: pl.DataFrame, org: str) -> pl.DataFrame:
    """SKUs (from `sku_sightings`) whose material is not usable in the organisation, most held first."""
    explained = (
        skus.join(status.rename({"number": "sku_id"}), on="sku_id")
        .filter(pl.col("status") != USABLE)
        .join(_explanations(MATERIAL, org), on="status")
    )
    return (
        _with_held(explained, "sku_id", held, MATERIAL_RULES[0])
        .select(
            "sku_id",
            "i_id",
            "item_name",
            "problem",
            "label_zh",
            "label_en",
            "kingdee_name",
            "documents",
            *HELD_COUNTS,
            "hint",
        )
        .sort("held_documents", "sku_id", descending=[True, False])
    )


@dataclass(frozen=True)
class Worklist:
    shops: pl.DataFrame
    warehouses: pl.DataFrame
    table_rows: pl.DataFrame
    skus: pl.DataFrame
    held: dict[str, int]  # documents of each kind held back by any of the gaps

    def counts(self) -> dict[str, int]:
        return {
            "unmapped_shops": self.shops.height,
            "unmapped_warehouses": self.warehouses.height,
            "table_problems": self.table_rows.height,
            "unknown_skus": self.skus.height,
            **self.held,
        }


# --- the report -------------------------------------------------------------------------------------

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


def _period_text(start: datetime, end: datetime) -> str:
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
        "期间 period": _period_text(start, end),
        "店铺映射表 shops table": str(settings.shops_table),
        "仓库映射表 warehouses table": str(settings.warehouses_table),
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
    text = f"# 映射检查 check-mappings\n\n期间 Period: {_period_text(start, end)}\n\n"
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
        for row in frame.head(ARTIFACT_ROWS).to_dicts():
            text += (
                f"- {md_text(row[key])} {md_text(row[label])}: 暂缓 {row['held_documents']} 单 held — "
                f"{md_text(row['hint'])}\n"
            )
        if frame.height > ARTIFACT_ROWS:
            text += f"- … {frame.height - ARTIFACT_ROWS} more in the report files\n"
    workbook, page = folder / WORKBOOK_NAME, folder / PAGE_NAME
    text += (
        f"\n## 报告文件 Report files\n\n- Excel: [{workbook}]({workbook.resolve().as_uri()})\n"
        f"- HTML: [{page}]({page.resolve().as_uri()})\n"
    )
    return text


def publish(worklist: Worklist, start: datetime, end: datetime, settings: SyncSettings) -> Path:
    folder = report_dir(settings.reports_dir, NAME)
    title = f"映射检查 check-mappings {_period_text(start, end)}"
    write_report(folder, title, sheets(worklist), summary=overview(worklist, start, end, settings))
    create_markdown_artifact(
        key=NAME, markdown=markdown(worklist, start, end, folder), description="mapping worklist counts"
    )
    return folder


# --- the flow ---------------------------------------------------------------------------------------


@flow(name="check-mappings")
def check_mappings(since: datetime | None = None, until: datetime | None = None) -> dict:
    """List what the hand-kept tables and Kingdee's materials are missing, with the documents each gap
    holds back in [since, until) (default: the last 7 days, Asia/Shanghai). Writes nothing to either
    system; the report folder holds report.xlsx and report.html."""
    start, end = check_period(since, until)
    settings = SyncSettings()
    with open_clients() as (jst, kingdee):
        master = load_master_data(kingdee, settings)
        view = read_jushuitan(jst, start, end)
        held, held_totals = held_in_period(view, master, settings.scheme())
        skus = sku_sightings(view)
        unknown = skus.filter(~pl.col("sku_id").is_in(master.materials["number"].implode()))
        customers = read_kingdee_status(kingdee, CUSTOMER.form_id, master.shops["customer_number"].to_list(), None)
        stocks = read_kingdee_status(kingdee, STOCK.form_id, master.warehouses["stock_number"].to_list(), None)
        materials = read_kingdee_status(kingdee, MATERIAL.form_id, unknown["sku_id"].to_list(), settings.org)
    shops_seen = sightings(view.shops, _documents(view, "shop_id", "shop_name", "shop_name"))
    warehouses_seen = sightings(view.warehouses, _documents(view, "wms_co_id", None, "warehouse"))
    worklist = Worklist(
        shops=unmapped(shops_seen, master.shops["shop_id"], held, "shop.unmapped", "shop_id", "shop_name"),
        warehouses=unmapped(
            warehouses_seen, master.warehouses["wms_co_id"], held, "warehouse.unmapped", "wms_co_id", "warehouse_name"
        ),
        table_rows=pl.concat(
            [
                table_problems(SHOPS_TABLE, master.shops, customers, shops_seen, held, settings.org),
                table_problems(WAREHOUSES_TABLE, master.warehouses, stocks, warehouses_seen, held, settings.org),
            ]
        ),
        skus=unknown_skus(unknown, materials, held, settings.org),
        held=held_totals,
    )
    folder = publish(worklist, start, end, settings)
    summary = {"since": start.isoformat(), "until": end.isoformat(), "report_dir": str(folder), **worklist.counts()}
    get_run_logger().info("check-mappings %s: %s; report in %s", _period_text(start, end), worklist.counts(), folder)
    return summary
