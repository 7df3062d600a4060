"""The customer's fixed values and hand-kept tables (SCHEME.md §1, §2) and the lot rule (§3, §5)."""

from __future__ import annotations

from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from transforms.documents import AUDITED_IN_KINGDEE, ENABLED_IN_KINGDEE


@dataclass(frozen=True)
class SchemeConfig:
    """What SCHEME.md fixes or leaves to configuration. Defaults are this customer's values."""

    org: str = "100"  # sale, stock, settle org and owner: the customer's single organisation
    currency: str = "PRE001"  # RMB
    note_prefix: str = "聚水潭"  # FNote = prefix + platform order number
    outbound_bill_type: str = "XSCKD01_SYS"
    return_bill_type: str = "XSTHD01_SYS"
    return_type: str = "THLX01_SYS"
    stock_status: str = "KCZT01_SYS"
    owner_type: str = "BD_OwnerOrg"
    # Tenant custom fields (F_<prefix>_<name>) differ per customer: configuration, not code.
    tracking_field: str = "FCarriageNO"  # 物流单号 on SAL_OUTSTOCK
    online_order_field: str = "F_PAEZ_OnlineOrderNo"  # 线上订单号 on SAL_OUTSTOCK
    sell_online_field: str = "F_PAEZ_SellOnline"  # 是否网销 on BD_MATERIAL
    outbound_lot: str = "0"  # 批号客户要求固定值为0
    # Outbound statuses that mean shipped: 已出库, and 归档 (a shipped document archived later, possibly
    # before a backfill or replay read it). A tenant fact to check: docs/wire_facts.md.
    outbound_booked_statuses: tuple[str, ...] = ("Confirmed", "Archive")


class ShopCustomerTable(pa.DataFrameModel):
    """The shops table (seeded from config/shops.csv): one Kingdee customer per Jushuitan shop."""

    shop_id: int = pa.Field(unique=True)
    shop_name: str
    customer_number: str = pa.Field(str_length={"min_value": 1})
    customer_name: str = pa.Field(nullable=True)


class WarehouseStockTable(pa.DataFrameModel):
    """The warehouses table (seeded from config/warehouses.csv): one Kingdee stock per Jushuitan warehouse (分仓)."""

    wms_co_id: int = pa.Field(unique=True)
    warehouse_name: str
    stock_number: str = pa.Field(str_length={"min_value": 1})
    stock_name: str = pa.Field(nullable=True)


def return_lot(style_code: pl.Expr) -> pl.Expr:
    """SCHEME.md §5, case-sensitive as written: i_id contains 'A' → "0", else contains 'G' → "",
    neither → "" (and a warning, raised by the returns rules)."""
    return pl.when(style_code.str.contains("A", literal=True)).then(pl.lit("0")).otherwise(pl.lit(""))


# --- checking the tables against both systems (what transforms/worklist.py builds its lists on) ---

USABLE, MISSING, NOT_AUDITED, FORBIDDEN, OTHER_ORG = "usable", "missing", "not_audited", "forbidden", "other_org"
KINGDEE_STATUS_SCHEMA = {"number": pl.String, "status": pl.String, "kingdee_name": pl.String}
_STATUS_RANK = {USABLE: 0, OTHER_ORG: 1, FORBIDDEN: 2, NOT_AUDITED: 3}


def kingdee_status(numbers: list[str], rows: pl.DataFrame, org: str | None = None) -> pl.DataFrame:
    """Where each of `numbers` stands in a Kingdee base form: usable, missing, not_audited, forbidden or,
    when `org` is given, other_org (usable but not in that organisation). Kingdee keeps one row per use
    organisation, so a number takes its best row.

    `rows`: FNumber, FName, FDocumentStatus, FForbidStatus (and FUseOrgId.FNumber when `org` is given).
    """
    wanted = pl.DataFrame({"number": numbers}, schema={"number": pl.String}).unique(maintain_order=True)
    in_org = pl.col("FUseOrgId.FNumber").cast(pl.String).eq_missing(org) if org else pl.lit(True)
    status = (
        pl.when(~AUDITED_IN_KINGDEE)
        .then(pl.lit(NOT_AUDITED))
        .when(~ENABLED_IN_KINGDEE)
        .then(pl.lit(FORBIDDEN))
        .when(~in_org)
        .then(pl.lit(OTHER_ORG))
        .otherwise(pl.lit(USABLE))
    )
    best = (
        rows.select(
            pl.col("FNumber").cast(pl.String).alias("number"),
            status.alias("status"),
            pl.col("FName").cast(pl.String).alias("kingdee_name"),
        )
        .with_columns(pl.col("status").replace_strict(_STATUS_RANK).alias("rank"))
        .sort("rank", maintain_order=True)
        .unique("number", keep="first", maintain_order=True)
        .drop("rank")
    )
    return (
        wanted.join(best, on="number", how="left")
        .with_columns(pl.col("status").fill_null(MISSING))
        .cast(KINGDEE_STATUS_SCHEMA)
    )


# Rules a row in a table, or a Kingdee material, releases, and which key of the held line names it.
SHOP_RULES = ("shop.unmapped", "customer.unknown")
WAREHOUSE_RULES = ("warehouse.unmapped", "stock.unknown")
MATERIAL_RULES = ("material.unknown",)
MAPPING_RULES = (*SHOP_RULES, *WAREHOUSE_RULES, *MATERIAL_RULES)
HELD_BY_KEY_SCHEMA = {"rule_id": pl.String, "key": pl.String, "documents": pl.UInt32}


def held_by_key(held: pl.DataFrame, warehouses: pl.DataFrame) -> pl.DataFrame:
    """How many documents each mapping rule holds back per shop_id, wms_co_id or sku_id: what fixing
    that row or material would release. A document held for two reasons counts under both.

    `held`: held rows (transforms.validation.HELD_SCHEMA); `warehouses`: document → wms_co_id (held
    rows carry the shop and SKU but not the warehouse).
    """
    rule = pl.col("rule_id")
    key = (
        pl.when(rule.is_in(SHOP_RULES))
        .then(pl.col("shop_id"))
        .when(rule.is_in(WAREHOUSE_RULES))
        .then(pl.col("wms_co_id"))
        .otherwise(pl.col("sku_id"))
    )
    located = warehouses.select("document", pl.col("wms_co_id").cast(pl.String)).unique("document")
    return (
        held.filter(rule.is_in(MAPPING_RULES))
        .join(located, on="document", how="left")
        .group_by("rule_id", key.str.strip_chars().alias("key"), maintain_order=True)
        .agg(pl.col("document").n_unique().alias("documents"))
        .cast(HELD_BY_KEY_SCHEMA)
    )


SIGHTINGS_SCHEMA = {"id": pl.String, "name": pl.String, "listed": pl.Boolean, "documents": pl.UInt32}


def sightings(listed: pl.DataFrame, documents: pl.DataFrame) -> pl.DataFrame:
    """Every shop (or warehouse) id Jushuitan shows: in its master list (`listed`: id, name) or on the
    period's documents (`documents`: kind, document, id, name), with how many documents name it.
    The list's name wins; otherwise the name on the first document."""
    texts = [pl.col("id").cast(pl.String).str.strip_chars(), pl.col("name").cast(pl.String)]
    on_documents = (
        documents.select("kind", "document", *texts)
        .unique(["kind", "document"], keep="first", maintain_order=True)
        .group_by("id", maintain_order=True)
        .agg(pl.col("name").drop_nulls().first().alias("document_name"), pl.len().alias("documents"))
    )
    in_list = listed.select(*texts).unique("id", keep="first", maintain_order=True).with_columns(listed=pl.lit(True))
    return (
        in_list.join(on_documents, on="id", how="full", coalesce=True, nulls_equal=True)
        .select(
            "id",
            pl.coalesce("name", "document_name").alias("name"),
            pl.col("listed").fill_null(False),
            pl.col("documents").fill_null(0),
        )
        .cast(SIGHTINGS_SCHEMA)
    )
