"""Materials: Kingdee 物料 (BD_MATERIAL) → Jushuitan 商品 (itemsku upload), SCHEME.md §3.

Also turns the same query into the material master that outbound and returns are checked against.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from transforms.documents import AUDITED_IN_KINGDEE, ENABLED_IN_KINGDEE, MATERIAL_MASTER_SCHEMA, USABLE_IN_KINGDEE
from transforms.mappings import SchemeConfig
from transforms.validation import Rule, Split, split_valid_held, validate_target

PROPERTIES_MAX_CHARS = 100  # Jushuitan: 颜色及规格 ≤ 100 characters


# BD_MATERIAL fields the sync reads and their types, declared to the query (KingdeeClient.execute_bill_query
# `schema=`): an empty answer, or a field Kingdee leaves null on every row, would otherwise come back as a
# Null column that the first string rule fails on. The flags stay text: _flag reads true/1 however sent.
MATERIAL_FIELDS: dict[str, pl.DataType] = {
    "FNumber": pl.String,
    "FName": pl.String,
    "FSpecification": pl.String,
    "FBARCODE": pl.String,
    "FBaseUnitId.FNumber": pl.String,
    "FBaseUnitId.FName": pl.String,
    "FIsBatchManage": pl.String,
    "FDocumentStatus": pl.String,
    "FForbidStatus": pl.String,
    "FModifyDate": pl.Datetime("us"),
}
# What the outbound/returns master data (material_master) reads of BD_MATERIAL.
MASTER_FIELDS = {
    key: MATERIAL_FIELDS[key]
    for key in ("FNumber", "FBaseUnitId.FNumber", "FIsBatchManage", "FDocumentStatus", "FForbidStatus")
}


def material_schema(config: SchemeConfig) -> dict[str, pl.DataType]:
    """MATERIAL_FIELDS plus the sold-online flag, a tenant custom field."""
    return {**MATERIAL_FIELDS, config.sell_online_field: pl.String}


def _flag(column: str) -> pl.Expr:
    """A Kingdee check box: true or 1 in any case; a flag Kingdee leaves empty is not set."""
    return pl.col(column).cast(pl.String).str.to_lowercase().is_in(["true", "1"]).fill_null(False)


def material_master(kingdee_materials: pl.DataFrame) -> pl.DataFrame:
    """Usable materials (audited, enabled) as the outbound/returns lookup: number, base_unit, batch_managed."""
    return (
        kingdee_materials.filter(USABLE_IN_KINGDEE)
        .select(
            pl.col("FNumber").alias("number"),
            pl.col("FBaseUnitId.FNumber").alias("base_unit"),
            _flag("FIsBatchManage").alias("batch_managed"),
        )
        .cast(MATERIAL_MASTER_SCHEMA)
    )


def material_rules() -> list[Rule]:
    return [
        Rule(
            id="material.name_missing",
            field="FName",
            value=pl.col("FName"),
            passes=pl.col("FName").str.strip_chars().str.len_chars() > 0,
            label_zh="物料名称为空",
            label_en="material name empty",
            message=pl.format("物料 {} 没有名称 / material {} has no name", "FNumber", "FNumber"),
            hint="在金蝶中补充物料名称 / fill in the material name in Kingdee",
        ),
        Rule(
            id="material.spec_too_long",
            field="FSpecification",
            value=pl.col("FSpecification"),
            passes=pl.col("FSpecification").fill_null("").str.len_chars() <= PROPERTIES_MAX_CHARS,
            label_zh="规格型号超过 100 字, 聚水潭不接受",
            label_en="specification longer than Jushuitan's 100 characters",
            message=pl.format(
                "物料 {} 的规格型号有 {} 个字符 (上限 100) / specification of {} has {} characters (max 100)",
                "FNumber",
                pl.col("FSpecification").str.len_chars(),
                "FNumber",
                pl.col("FSpecification").str.len_chars(),
            ),
            hint="在金蝶中缩短规格型号 / shorten the specification in Kingdee",
        ),
    ]


ITEMS_SCHEMA = pa.DataFrameSchema(
    {
        "sku_id": pa.Column(pl.String, unique=True, nullable=False),
        "i_id": pa.Column(pl.String, nullable=False),
        "name": pa.Column(pl.String, nullable=False),
        "properties_value": pa.Column(pl.String, nullable=True),
        "sku_code": pa.Column(pl.String, nullable=True),
        "unit": pa.Column(pl.String, nullable=True),
        "enabled": pa.Column(pl.Int64, pa.Check.isin([1]), nullable=False),
    },
    name="jushuitan_items",
)


@dataclass(frozen=True)
class MaterialsMapping:
    items: pl.DataFrame  # one row per Jushuitan item, upload-ready columns
    split: Split
    out_of_scope: pl.DataFrame  # materials not audited, disabled, or not sold online: FNumber, reason

    def notes(self) -> dict[str, int]:
        """Out-of-scope materials by reason, for the run report."""
        return dict(self.out_of_scope.group_by("reason").len().rows())


def map_materials(kingdee_materials: pl.DataFrame, config: SchemeConfig) -> MaterialsMapping:
    """Audited (FDocumentStatus C), enabled and sold-online materials → Jushuitan items.
    i_id = sku_id = FNumber; the unit is the base (smallest) unit; items are created enabled."""
    in_scope = USABLE_IN_KINGDEE & _flag(config.sell_online_field)
    frame = kingdee_materials.unique("FNumber", keep="last", maintain_order=True)
    out_of_scope = frame.filter(~in_scope).select(
        "FNumber",
        pl.when(~AUDITED_IN_KINGDEE)
        .then(pl.lit("未审核 / not audited"))
        .when(~ENABLED_IN_KINGDEE)
        .then(pl.lit("已禁用 / disabled"))
        .otherwise(pl.lit("未勾选网销 / not sold online"))
        .alias("reason"),
    )
    split = split_valid_held(
        frame.filter(in_scope),
        material_rules(),
        document=pl.col("FNumber"),
        line=pl.col("FNumber"),
        sku_id=pl.col("FNumber"),
    )
    items = split.valid.select(
        pl.col("FNumber").alias("sku_id"),  # 商品编码 = 物料编码
        pl.col("FNumber").alias("i_id"),  # 款式编码 = 物料编码
        pl.col("FName").alias("name"),  # 商品名称 = 物料名称
        pl.col("FSpecification").alias("properties_value"),  # 规格 = 规格型号
        pl.col("FBARCODE").cast(pl.String).alias("sku_code"),  # 条码
        pl.col("FBaseUnitId.FName").alias("unit"),  # 单位 = 基本单位 (the smallest unit)
        pl.lit(1, pl.Int64).alias("enabled"),
    )
    return MaterialsMapping(items=validate_target(items, ITEMS_SCHEMA), split=split, out_of_scope=out_of_scope)
