"""The mapping worklist (SCHEME.md §1–2: check the hand-kept tables against both systems and report the
gaps instead of guessing): shops and warehouses Jushuitan shows with no row in the shops or
warehouses table, table rows pointing at customers or stocks Kingdee cannot use or at shops and
warehouses Jushuitan no longer shows, and SKUs on the period's documents that are not a usable Kingdee
material. Each comes with the documents it holds back in the period, counted by running the syncs' own
mappings (map_outbound, map_returns) over the period's documents.

Frames in, frames out, no I/O: flows/check_mappings.py reads both systems, reporting/worklist.py writes
the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

from basics.shanghai import in_shanghai, now_shanghai
from transforms.documents import TABLE_FIX_EN, TABLE_FIX_ZH, MasterData
from transforms.frames import RECEIVED_PAGE, decode_pages, received_dates
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
    sightings,
)
from transforms.outbound import NEVER_BOOKED, map_outbound, outbound_rules
from transforms.returns import RECEIVED_GOOD_STATUS, map_returns
from transforms.suggestions import offerable, suggest, with_suggestion

LOOKBACK = timedelta(days=7)
HELD_COUNTS = ("held_outbound", "held_returns", "held_documents")
RULES = {rule.id: rule for rule in outbound_rules()}


def check_period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """[since, until) in Asia/Shanghai (naive times are Beijing time); by default the last 7 days."""
    end = in_shanghai(until) if until else now_shanghai()
    start = in_shanghai(since) if since else end - LOOKBACK
    if end <= start:
        raise ValueError(f"until ({end}) must be after since ({start})")
    return start, end


@dataclass(frozen=True)
class JushuitanView:
    shops: pl.DataFrame  # id, name: /open/shops/query (`master_list`)
    warehouses: pl.DataFrame  # id, name: /open/wms/partner/query (`master_list`)
    outbound: pl.DataFrame  # outbound lines of the period, every status (transforms.frames)
    refunds: pl.DataFrame  # after-sale lines of the period, every status


def master_list(pages: list[list[dict]], id_key: str, name_key: str) -> pl.DataFrame:
    """id, name of a Jushuitan master list (shops, warehouses), both as text."""
    rows = [(_text(row.get(id_key)), _text(row.get(name_key))) for page in pages for row in page]
    return pl.DataFrame(rows, schema={"id": pl.String, "name": pl.String}, orient="row")


def _text(value: object) -> str | None:
    return None if value is None else str(value)


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
    "BD_Customer",
    "客户",
    "customer",
    f", 或在店铺表中改正客户编码: {TABLE_FIX_ZH}",
    f", or correct it in the shops table: {TABLE_FIX_EN}",
)
STOCK = Target(
    "BD_STOCK",
    "仓库",
    "stock",
    f", 或在仓库表中改正仓库编码: {TABLE_FIX_ZH}",
    f", or correct it in the warehouses table: {TABLE_FIX_EN}",
)
MATERIAL = Target("BD_MATERIAL", "物料", "material", " (物料编码 = 商品编码)", " (FNumber = sku_id)")

GONE = {
    "shop_gone": (
        "聚水潭中已无此店铺 (店铺列表与本期单据中均未出现)",
        "shop no longer in Jushuitan (not listed, on no document of the period)",
        "在聚水潭核对该店铺; 已关闭则从店铺表 (shops) 删除该行 / check the shop in Jushuitan; "
        "delete the row if it is closed",
    ),
    "warehouse_gone": (
        "聚水潭中已无此仓库 (仓库列表与本期单据中均未出现)",
        "warehouse no longer in Jushuitan (not listed, on no document of the period)",
        "在聚水潭核对该仓库; 已停用则从仓库表 (warehouses) 删除该行 / check the warehouse in Jushuitan; "
        "delete the row if it is closed",
    ),
}


def status_explanations(target: Target, org: str) -> pl.DataFrame:
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
    target_name_column: str  # the Kingdee name kept beside the number
    item_zh: str  # what a row's id names
    item_en: str


SHOPS_TABLE = Table(
    "shops",
    "shop_id",
    "shop_name",
    "customer_number",
    CUSTOMER,
    "customer.unknown",
    "shop_gone",
    "customer_name",
    "店铺",
    "shop",
)
WAREHOUSES_TABLE = Table(
    "warehouses",
    "wms_co_id",
    "warehouse_name",
    "stock_number",
    STOCK,
    "stock.unknown",
    "warehouse_gone",
    "stock_name",
    "仓库",
    "warehouse",
)
MAPPED_TABLES = {table.path: table for table in (SHOPS_TABLE, WAREHOUSES_TABLE)}


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
        checked.filter(pl.col("status") != USABLE).join(status_explanations(table.target, org), on="status"),
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
        .join(status_explanations(MATERIAL, org), on="status")
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
    # shops, warehouses, skus: every candidate offered per open row (transforms.suggestions.SUGGESTION_SCHEMA)
    suggestions: dict[str, pl.DataFrame] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "unmapped_shops": self.shops.height,
            "unmapped_warehouses": self.warehouses.height,
            "table_problems": self.table_rows.height,
            "unknown_skus": self.skus.height,
            **self.held,
        }


def unlisted_skus(view: JushuitanView, master: MasterData) -> pl.DataFrame:
    """SKUs on the period's documents (`sku_sightings`) that are not among master data's usable materials:
    the ones whose Kingdee status is worth asking for."""
    return sku_sightings(view).filter(~pl.col("sku_id").is_in(master.materials["number"].implode()))


def build_worklist(
    view: JushuitanView,
    master: MasterData,
    scheme: SchemeConfig,
    *,
    customers: pl.DataFrame,
    stocks: pl.DataFrame,
    skus: pl.DataFrame,
    materials: pl.DataFrame,
    usable_customers: pl.DataFrame | None = None,
    usable_stocks: pl.DataFrame | None = None,
) -> Worklist:
    """The four lists, each gap with the documents it holds back in the period, and the open rows with
    the numbers suggested for them.

    `customers`, `stocks`: kingdee_status of the tables' numbers; `skus`: unlisted_skus; `materials`: their
    kingdee_status in the organisation; `usable_customers`, `usable_stocks`: number, kingdee_name of every
    usable one (without them no customer or stock is suggested).
    """
    held, held_totals = held_in_period(view, master, scheme)
    shops_seen = sightings(view.shops, _documents(view, "shop_id", "shop_name", "shop_name"))
    warehouses_seen = sightings(view.warehouses, _documents(view, "wms_co_id", None, "warehouse"))
    shops = unmapped(shops_seen, master.shops["shop_id"], held, "shop.unmapped", "shop_id", "shop_name")
    warehouses = unmapped(
        warehouses_seen, master.warehouses["wms_co_id"], held, "warehouse.unmapped", "wms_co_id", "warehouse_name"
    )
    unknown = unknown_skus(skus, materials, held, scheme.org)
    named = {"number": pl.String, "kingdee_name": pl.String}
    suggestions = {
        "shops": suggest(
            shops.select(key="shop_id", name="shop_name"),
            offerable(pl.DataFrame(usable_customers, schema=named), master.shops["customer_number"]),
        ),
        "warehouses": suggest(
            warehouses.select(key="wms_co_id", name="warehouse_name"),
            offerable(pl.DataFrame(usable_stocks, schema=named), master.warehouses["stock_number"]),
        ),
        "skus": suggest(
            unknown.select(key="sku_id", name="sku_id"),
            master.materials.select("number", pl.lit(None, pl.String).alias("candidate_name")),
            by_code=True,
        ),
    }
    return Worklist(
        shops=with_suggestion(shops, "shop_id", suggestions["shops"]),
        warehouses=with_suggestion(warehouses, "wms_co_id", suggestions["warehouses"]),
        table_rows=pl.concat(
            [
                table_problems(SHOPS_TABLE, master.shops, customers, shops_seen, held, scheme.org),
                table_problems(WAREHOUSES_TABLE, master.warehouses, stocks, warehouses_seen, held, scheme.org),
            ]
        ),
        skus=with_suggestion(unknown, "sku_id", suggestions["skus"]).drop("suggested_name"),
        held=held_totals,
        suggestions=suggestions,
    )
