"""Sales returns: Jushuitan 退货单 → Kingdee 销售退货单 (SAL_RETURNSTOCK), SCHEME.md §5 row by row.

Only after-sales that are confirmed and received back into stock (退货入库) count, and only their
lines with an actually-returned quantity r_qty > 0; an after-sale with no such line is not written.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from transforms.documents import (
    BILLS_SCHEMA,
    MasterData,
    date_rule,
    enrich,
    kingdee_date,
    line_rules,
    nest_bills,
    ref,
)
from transforms.mappings import SchemeConfig, return_lot
from transforms.validation import Rule, Split, payload_schema, split_valid_held, validate_target

FORM_ID = "SAL_RETURNSTOCK"
IN_SCOPE_STATUS = "Confirmed"
RECEIVED_GOOD_STATUS = "SELLER_RECEIVED"
# Line columns no rule, report or bill reads once the scope, the return time and the lot are settled
# and the master data looked up: not copied into the frames the split and the models make.
UNREAD = ("warehouse", "status", "good_status", "ts", "received_time", "shop_key", "warehouse_key", "name", "is_gift")


def returns_rules() -> list[Rule]:
    has_letter = pl.col("i_id").str.contains("A", literal=True) | pl.col("i_id").str.contains("G", literal=True)
    return [
        *line_rules("as_id", "asi_id", "r_qty", "returned_quantity", "price"),
        Rule(
            id="qty.requested_invalid",
            field="qty",
            value=pl.col("qty"),
            passes=pl.col("requested_quantity").is_finite()
            & (pl.col("requested_quantity") >= 0),  # NaN >= 0 holds in Polars
            label_zh="申请数量 (应退数量) 缺失或无效",
            label_en="requested quantity missing or invalid",
            message=pl.format("申请数量 qty = {} 无效 / requested qty {} is invalid", pl.col("qty"), pl.col("qty")),
            hint="在聚水潭核对该售后单的申请数量 / check the after-sale's requested quantity in Jushuitan",
        ),
        date_rule("receive_date", "return_time"),
        Rule(
            id="lot.no_letter",
            field="i_id",
            value=pl.col("i_id"),
            passes=has_letter.fill_null(False),
            label_zh="款式编码既不含 A 也不含 G, 批号置空",
            label_en="style code has neither A nor G: lot left empty",
            message=pl.format(
                "款式编码 i_id {} 不含 A 或 G (区分大小写), 批号按空值处理 / i_id {} has neither A nor G, lot left empty",
                pl.col("i_id"),
                pl.col("i_id"),
            ),
            hint="确认该商品的批号规则; 如需批号请在款式编码中标注 / confirm the lot rule for this style",
            severity="warn",
        ),
        Rule(
            id="lot.contradicts_batch",
            field="i_id",
            value=pl.col("i_id"),
            passes=~pl.col("material_known") | ((pl.col("lot") == "0") == pl.col("batch_managed")),
            label_zh="批号规则与物料批号管理设置矛盾",
            label_en="lot rule contradicts the material's batch management",
            message=pl.format(
                '款式编码 {} 得出批号 "{}", 但物料 {} 的批号管理 = {} / lot "{}" from i_id {} contradicts batch management {} of material {}',
                pl.col("i_id"),
                pl.col("lot"),
                pl.col("sku_id"),
                pl.col("batch_managed"),
                pl.col("lot"),
                pl.col("i_id"),
                pl.col("batch_managed"),
                pl.col("sku_id"),
            ),
            hint="核对金蝶物料的批号管理 (FIsBatchManage) 或聚水潭款式编码 / check FIsBatchManage in Kingdee or the style code",
        ),
    ]


@dataclass(frozen=True)
class ReturnsMapping:
    bills: pl.DataFrame  # bill_no, shop_id, shop_name, lines, quantity, amount, model (JSON)
    split: Split
    out_of_scope: pl.DataFrame  # after-sales not (yet) confirmed and received: as_id, status, good_status
    excluded: pl.DataFrame  # lines left out because nothing was returned: as_id, asi_id, r_qty

    def notes(self, lines: pl.DataFrame) -> dict[str, int]:
        """What was left out, for the run report; `lines`: the lines mapped (an after-sale with nothing
        returned is one all of whose lines were excluded)."""
        nothing_returned = (
            self.excluded.group_by("as_id")
            .len()
            .join(lines.group_by("as_id").len(), on="as_id", suffix="_all")
            .filter(pl.col("len") == pl.col("len_all"))
        )
        return {
            "after-sales with nothing returned (r_qty ≤ 0)": nothing_returned.height,
            "lines left out (r_qty ≤ 0)": self.excluded.height,
            "after-sales not confirmed and received": self.out_of_scope.height,
        }


def undated(lines: pl.DataFrame) -> list[str]:
    """The after-sales with goods lines but no receive date: their warehouse receipt
    (/open/aftersale/received/query io_date) dates them."""
    missing = pl.col("received_time").is_null() & pl.col("sku_id").is_not_null()
    return lines.filter(missing)["as_id"].drop_nulls().unique().to_list()


def map_returns(
    lines: pl.DataFrame, stock_in: pl.DataFrame, master: MasterData, config: SchemeConfig
) -> ReturnsMapping:
    """Received after-sale lines (+ warehouse receipts for missing dates) → SAL_RETURNSTOCK models."""
    in_scope = ((pl.col("status") == IN_SCOPE_STATUS) & (pl.col("good_status") == RECEIVED_GOOD_STATUS)).fill_null(
        False
    )
    out_of_scope = (
        lines.lazy().filter(~in_scope).select("as_id", "status", "good_status").unique(maintain_order=True).collect()
    )
    received = lines.lazy().filter(in_scope)
    # r_qty ≤ 0 (or an after-sale with no goods lines at all): nothing came back, nothing to book.
    nothing_returned = (pl.col("returned_quantity") <= 0) | (pl.col("sku_id").is_null() & pl.col("r_qty").is_null())
    excluded = received.filter(nothing_returned.fill_null(False)).select("as_id", "asi_id", "r_qty").collect()
    stock_in_time = pl.col("as_id").replace_strict(
        stock_in["as_id"], stock_in["stock_in_time"], default=None, return_dtype=pl.Datetime("us")
    )
    returned = received.filter(~nothing_returned.fill_null(False)).with_columns(
        pl.coalesce("received_time", stock_in_time).max().over("as_id").alias("return_time"),
        return_lot(pl.col("i_id").fill_null("")).alias("lot"),
    )
    split = split_valid_held(
        enrich(returned, master).drop(UNREAD).collect(),
        returns_rules(),
        document=pl.col("as_id"),
        line=pl.col("asi_id"),
        shop_id=pl.col("shop_id"),
        shop_name=pl.col("shop_name"),
        sku_id=pl.col("sku_id"),
    )
    bills = sal_returnstock_models(split.valid, config)
    return ReturnsMapping(
        bills=validate_target(bills, BILLS_SCHEMA), split=split, out_of_scope=out_of_scope, excluded=excluded
    )


SAL_RETURNSTOCK_LINES = payload_schema(
    "sal_returnstock_lines",
    {
        "as_id": pl.String,
        "customer_number": pl.String,
        "stock_number": pl.String,
        "sku_id": pl.String,
        "base_unit": pl.String,
        "return_time": pl.Datetime("us"),
        "returned_quantity": pl.Float64,
        "requested_quantity": pl.Float64,
        "unit_price": pl.Float64,
        "lot": pl.String,
    },
    checks={
        "returned_quantity > 0": pl.col("returned_quantity") > 0,
        "requested_quantity >= 0": pl.col("requested_quantity") >= 0,
        "unit_price >= 0": pl.col("unit_price") >= 0,
        'lot is "0" or ""': pl.col("lot").is_in(["0", ""]),
    },
)


def sal_returnstock_models(valid: pl.DataFrame, config: SchemeConfig) -> pl.DataFrame:
    """The §5 table. Note this form spells several keys `...Id` where SAL_OUTSTOCK has `...ID`."""
    lines = validate_target(valid, SAL_RETURNSTOCK_LINES)
    org = ref(pl.lit(config.org))
    return nest_bills(
        lines,
        bill_no=pl.col("as_id"),  # FBillNo = as_id (售后单号)
        header={
            "FBillTypeID": pl.struct(pl.lit(config.return_bill_type).alias("FNUMBER")),
            "FBillNo": pl.col("as_id"),
            "FDate": kingdee_date("return_time"),  # 入库日期
            "FSaleOrgId": org,  # 销售组织 = 100
            "FStockOrgId": org,  # 库存组织 = 100
            "FRetcustId": ref(pl.col("customer_number")),  # 退货客户, via the shops table
            "FOwnerTypeIdHead": pl.lit(config.owner_type),
            "FOwnerIdHead": org,  # 货主 = 100
            "FHeadNote": pl.format("{}{}", pl.lit(config.note_prefix), pl.col("so_id").fill_null("")),
            "SubHeadEntity": pl.struct(
                ref(pl.lit(config.currency)).alias("FSettleCurrId"),  # 结算币别 RMB
                org.alias("FSettleOrgId"),  # 结算组织 = 100
            ),
        },
        entry={
            "FMaterialId": ref(pl.col("sku_id")),  # 物料编码 = 商品编码
            "FUnitID": ref(pl.col("base_unit")),  # 基本单位
            "FRealQty": pl.col("returned_quantity"),  # 实退数量 = r_qty
            # 应退数量 = qty (SCHEME.md §5). Not in Kingdee's save template, which lists only what a bill needs,
            # but a field of the form's lines (T_SAL_RETURNSTOCKENTRY.FMUSTQTY): docs/wire_facts.md.
            "FMustQty": pl.col("requested_quantity"),
            "FTaxPrice": pl.col("unit_price"),  # 含税单价
            "FIsFree": pl.col("gift"),
            "FStockId": ref(pl.col("stock_number")),  # 仓库, via the warehouses table
            "FLot": pl.when(pl.col("lot") != "").then(ref(pl.col("lot"))),  # 批号: the i_id A/G rule
            "FOwnerTypeId": pl.lit(config.owner_type),
            "FOwnerId": org,
            "FReturnType": ref(pl.lit(config.return_type)),
            "FStockstatusId": ref(pl.lit(config.stock_status)),
        },
        carry={
            "shop_id": pl.col("shop_id").first(),
            "shop_name": pl.col("shop_name").first(),
            "lines": pl.len(),
            "quantity": pl.col("returned_quantity").sum(),
            "amount": (pl.col("returned_quantity") * pl.col("unit_price")).sum().round(2),
        },
    )
