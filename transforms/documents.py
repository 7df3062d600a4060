"""What sales outbound and sales returns share: master data lookups, the rules on them, and the
nesting of lines into Kingdee bill models (header + FEntity) serialized by Polars."""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl

from transforms.frames import DATETIME_FORMAT
from transforms.validation import Rule, payload_schema


@dataclass(frozen=True)
class MasterData:
    """Everything a line is checked and mapped against.

    shops: shop_id → customer_number (the shops table); warehouses: wms_co_id → stock_number
    (the warehouses table); materials: number, base_unit, batch_managed (Kingdee, usable);
    customers / stocks: the numbers Kingdee knows (column `number`).
    """

    shops: pl.DataFrame
    warehouses: pl.DataFrame
    materials: pl.DataFrame
    customers: pl.DataFrame
    stocks: pl.DataFrame


MATERIAL_MASTER_SCHEMA = {"number": pl.String, "base_unit": pl.String, "batch_managed": pl.Boolean}
# Kingdee base data a bill may point at is audited (FDocumentStatus C, 已审核) and enabled (FForbidStatus A,
# 启用): KINGDEE_API_NOTES.md §5.1. A missing state is neither. The same condition as a FilterString:
# connectors.kingdee.filters.USABLE.
AUDITED_IN_KINGDEE = pl.col("FDocumentStatus").eq_missing("C")
ENABLED_IN_KINGDEE = pl.col("FForbidStatus").eq_missing("A")
USABLE_IN_KINGDEE = AUDITED_IN_KINGDEE & ENABLED_IN_KINGDEE
# What is read of BD_Customer and BD_STOCK (their numbers), declared to the query like MATERIAL_FIELDS.
NUMBER_FIELDS: dict[str, pl.DataType] = {"FNumber": pl.String}


def enrich(lines: pl.LazyFrame, master: MasterData) -> pl.LazyFrame:
    """Attach customer, stock and material facts to each line (lookups: nothing is dropped or reordered)."""
    shops, warehouses, materials = master.shops, master.warehouses, master.materials.unique("number")

    def looked_up(key: str, keys: pl.Series, values: pl.Series) -> pl.Expr:
        return pl.col(key).replace_strict(keys, values, default=None, return_dtype=values.dtype)

    # The SKU is looked up once, as the material's position; its facts are then taken by position.
    material = looked_up("sku_id", materials["number"], pl.int_range(materials.height, dtype=pl.UInt32, eager=True))
    return (
        lines.with_columns(
            looked_up("shop_key", shops["shop_id"], shops["customer_number"]).alias("customer_number"),
            looked_up("warehouse_key", warehouses["wms_co_id"], warehouses["stock_number"]).alias("stock_number"),
            material.alias("__material"),
        )
        .with_columns(
            pl.col("__material").is_not_null().alias("material_known"),
            pl.lit(materials["base_unit"]).gather("__material").alias("base_unit"),
            pl.lit(materials["batch_managed"]).gather("__material").alias("batch_managed"),
            pl.col("customer_number")
            .is_in(master.customers["number"].implode())
            .fill_null(False)
            .alias("customer_known"),
            pl.col("stock_number").is_in(master.stocks["number"].implode()).fill_null(False).alias("stock_known"),
        )
        .drop("__material")
    )


def _quoted(column: str) -> pl.Expr:
    return pl.format('"{}"', pl.col(column).fill_null("(空)"))


# Kingdee keeps quantities, prices and amounts as decimal(23,10): 13 digits before the point.
KINGDEE_DECIMAL_LIMIT = 1e13

# The ways an analyst changes the shops and warehouses tables in production, as every fix hint names them.
TABLE_FIX_ZH = (
    "填写 check-mappings 的 worklist.xlsx 后 jst-kingdee mappings import, 或在 Prefect 界面运行 set-mappings/form"
)
TABLE_FIX_EN = "fill in check-mappings' worklist.xlsx and run `jst-kingdee mappings import`, or run set-mappings/form in the Prefect UI"


def _storable(value: pl.Expr) -> pl.Expr:
    """True unless a finite value is too large for Kingdee (missing or non-finite ones have their own rules)."""
    return (value.abs() < KINGDEE_DECIMAL_LIMIT) | ~value.is_finite().fill_null(False)


def line_rules(
    document_field: str, line_field: str, quantity_field: str, quantity: str, price_field: str
) -> list[Rule]:
    """Rules every line of a bill must pass, whatever the bill (outbound or return)."""
    return [
        Rule(
            id="doc.id_missing",
            field=document_field,
            value=pl.col(document_field),
            passes=pl.col(document_field).str.strip_chars().str.len_chars() > 0,
            label_zh="单据号缺失",
            label_en="document number missing",
            message=pl.format("单据缺少{} / the document has no {}", pl.lit(document_field), pl.lit(document_field)),
            hint="在聚水潭核对该单据 / check the document in Jushuitan",
        ),
        Rule(
            id="doc.no_lines",
            field="items",
            value=pl.lit(None, pl.String),
            passes=pl.col("sku_id").is_not_null() | pl.col("qty").is_not_null(),
            label_zh="单据没有明细行",
            label_en="document has no lines",
            message=pl.format("单据 {} 没有商品明细 / document {} has no lines", document_field, document_field),
            hint="在聚水潭核对该单据的明细 / check the document's lines in Jushuitan",
        ),
        Rule(
            id="shop.unmapped",
            field="shop_id",
            value=pl.col("shop_id"),
            passes=pl.col("customer_number").is_not_null(),
            label_zh="店铺未映射金蝶客户",
            label_en="shop not mapped to a Kingdee customer",
            message=pl.format(
                "店铺 {} (shop_id {}) 未在店铺表 (shops) 中映射到金蝶客户 / shop {} (shop_id {}) has no row in the shops table",
                _quoted("shop_name"),
                pl.col("shop_id").fill_null("(空)"),
                _quoted("shop_name"),
                pl.col("shop_id").fill_null("(空)"),
            ),
            hint=f"在店铺表中把该店铺映射到金蝶客户编码 (BD_Customer): {TABLE_FIX_ZH} / map the shop to a BD_Customer number: {TABLE_FIX_EN}",
        ),
        Rule(
            id="customer.unknown",
            field="customer_number",
            value=pl.col("customer_number"),
            passes=pl.col("customer_number").is_null() | pl.col("customer_known"),
            label_zh="映射的客户在金蝶中不存在或未审核",
            label_en="mapped customer missing (or not audited) in Kingdee",
            message=pl.format(
                "店铺表 (shops) 把 shop_id {} 映射到客户 {}, 金蝶中不存在该客户或未审核/已禁用 / customer {} is not a usable Kingdee customer",
                pl.col("shop_id"),
                _quoted("customer_number"),
                _quoted("customer_number"),
            ),
            hint=f"在金蝶中新建并审核该客户, 或改正店铺表: {TABLE_FIX_ZH} / create and audit the customer in Kingdee, or correct the shops table: {TABLE_FIX_EN}",
        ),
        Rule(
            id="warehouse.unmapped",
            field="wms_co_id",
            value=pl.col("wms_co_id"),
            passes=pl.col("stock_number").is_not_null(),
            label_zh="仓库未映射金蝶仓库",
            label_en="warehouse not mapped to a Kingdee stock",
            message=pl.format(
                "聚水潭仓库 wms_co_id {} 未在仓库表 (warehouses) 中映射到金蝶仓库 / warehouse {} has no row in the warehouses table",
                pl.col("wms_co_id").fill_null("(空)"),
                pl.col("wms_co_id").fill_null("(空)"),
            ),
            hint=f"在仓库表中把该仓库映射到金蝶仓库编码 (BD_STOCK): {TABLE_FIX_ZH} / map the warehouse to a BD_STOCK number: {TABLE_FIX_EN}",
        ),
        Rule(
            id="stock.unknown",
            field="stock_number",
            value=pl.col("stock_number"),
            passes=pl.col("stock_number").is_null() | pl.col("stock_known"),
            label_zh="映射的仓库在金蝶中不存在或未审核",
            label_en="mapped stock missing (or not audited) in Kingdee",
            message=pl.format(
                "仓库表 (warehouses) 把 wms_co_id {} 映射到仓库 {}, 金蝶中不存在该仓库或未审核/已禁用 / stock {} is not usable in Kingdee",
                pl.col("wms_co_id"),
                _quoted("stock_number"),
                _quoted("stock_number"),
            ),
            hint=f"在金蝶中新建并审核该仓库, 或改正仓库表: {TABLE_FIX_ZH} / create and audit the stock in Kingdee, or correct the warehouses table: {TABLE_FIX_EN}",
        ),
        Rule(
            id="material.unknown",
            field="sku_id",
            value=pl.col("sku_id"),
            passes=pl.col("material_known") | pl.col("sku_id").is_null(),
            label_zh="商品编码在金蝶物料中不存在",
            label_en="SKU unknown to Kingdee",
            message=pl.format(
                "商品编码 {} 在金蝶物料 (BD_MATERIAL, 已审核且启用) 中不存在 / SKU {} is not a usable Kingdee material",
                _quoted("sku_id"),
                _quoted("sku_id"),
            ),
            hint="在金蝶中建立并审核该物料 (物料编码 = 商品编码) / create and audit the material in Kingdee",
        ),
        Rule(
            id="sku.missing",
            field="sku_id",
            value=pl.col("sku_id"),
            passes=pl.col("sku_id").str.strip_chars().str.len_chars() > 0,
            label_zh="明细缺少商品编码",
            label_en="line has no SKU",
            message=pl.lit("明细行没有商品编码 sku_id / the line has no sku_id"),
            hint="在聚水潭核对该单据的明细 / check the line in Jushuitan",
        ),
        Rule(
            id="qty.invalid",
            field=quantity_field,
            value=pl.col(quantity_field),
            passes=pl.col(quantity).is_finite(),  # "NaN" and "Infinity" parse as numbers, yet are none
            label_zh="数量缺失或不是数字",
            label_en="quantity missing or not a number",
            message=pl.format(
                "{} 的值 {} 不是有效数字 / {} value {} is not a number",
                pl.lit(quantity_field),
                _quoted(quantity_field),
                pl.lit(quantity_field),
                _quoted(quantity_field),
            ),
            hint="在聚水潭修正数量后重新同步 / fix the quantity in Jushuitan, then replay",
        ),
        Rule(
            id="qty.not_positive",
            field=quantity_field,
            value=pl.col(quantity_field),
            passes=pl.col(quantity).is_null() | (pl.col(quantity) > 0),
            label_zh="数量必须大于 0",
            label_en="quantity must be greater than 0",
            message=pl.format(
                "{} = {}, 必须大于 0 / {} = {} must be > 0",
                pl.lit(quantity_field),
                pl.col(quantity_field),
                pl.lit(quantity_field),
                pl.col(quantity_field),
            ),
            hint="在聚水潭修正数量后重新同步 / fix the quantity in Jushuitan, then replay",
        ),
        Rule(
            id="price.invalid",
            field=price_field,
            value=pl.col(price_field),
            passes=pl.col("unit_price").is_finite(),
            label_zh="单价缺失或不是数字",
            label_en="unit price missing or not a number",
            message=pl.format(
                "单价 {} 不是有效数字 / unit price {} is not a number", _quoted(price_field), _quoted(price_field)
            ),
            hint="在聚水潭修正单价后重新同步 / fix the price in Jushuitan, then replay",
        ),
        Rule(
            id="price.negative",
            field=price_field,
            value=pl.col(price_field),
            passes=pl.col("unit_price").is_null() | (pl.col("unit_price") >= 0),
            label_zh="单价不能为负",
            label_en="unit price must not be negative",
            message=pl.format("单价 {} 为负数 / unit price {} is negative", pl.col(price_field), pl.col(price_field)),
            hint="在聚水潭修正单价后重新同步 / fix the price in Jushuitan, then replay",
        ),
        Rule(
            id="value.out_of_range",
            field=quantity_field,
            value=pl.format("{} × {}", pl.col(quantity_field), pl.col(price_field)),
            passes=_storable(pl.col(quantity))
            & _storable(pl.col("unit_price"))
            & _storable(pl.col(quantity) * pl.col("unit_price")),
            label_zh="数量、单价或金额超出金蝶可存储范围",
            label_en="quantity, price or amount too large for Kingdee",
            message=pl.format(
                "{} × 单价 = {} × {}, 超出金蝶数值上限 (13 位整数) / {} × price = {} × {} exceeds Kingdee's 13-digit limit",
                pl.lit(quantity_field),
                pl.col(quantity_field),
                pl.col(price_field),
                pl.lit(quantity_field),
                pl.col(quantity_field),
                pl.col(price_field),
            ),
            hint="在聚水潭核对数量和单价 (多半是录入错误) / check quantity and price in Jushuitan (most likely a typo)",
        ),
        Rule(
            id="line.duplicate",
            field=line_field,
            value=pl.col(line_field),
            passes=pl.len().over(document_field, line_field) == 1,
            label_zh="同一单据中明细行号重复",
            label_en="line id repeated within the document",
            message=pl.format(
                "明细行号 {} 在单据中出现多次 / line id {} appears more than once", line_field, line_field
            ),
            hint="在聚水潭核对该单据 / check the document in Jushuitan",
        ),
    ]


def date_rule(field: str, parsed: str) -> Rule:
    return Rule(
        id="date.missing",
        field=field,
        value=pl.col(field),
        passes=pl.col(parsed).is_not_null(),
        label_zh="日期缺失或格式错误",
        label_en="date missing or malformed",
        message=pl.format(
            "{} 的值 {} 不是 yyyy-MM-dd HH:mm:ss 日期 / {} value {} is not a date",
            pl.lit(field),
            _quoted(field),
            pl.lit(field),
            _quoted(field),
        ),
        hint="在聚水潭核对该单据的日期 / check the document's date in Jushuitan",
    )


def ref(value: pl.Expr) -> pl.Expr:
    """A base-data reference by number, as Kingdee takes it with NumberSearch: {"FNumber": value}."""
    return pl.struct(value.alias("FNumber"))


def kingdee_date(column: str) -> pl.Expr:
    return pl.col(column).dt.strftime(DATETIME_FORMAT)


def _json(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """`value` as JSON text, written by Polars as json.dumps writes the values a bill holds: strings
    escaped by its JSON encoder, numbers and booleans as it prints them."""
    if dtype == pl.String:
        return pl.struct(value.alias("")).struct.json_encode().str.slice(4).str.head(-1)  # {"":"x"} → "x"
    if isinstance(dtype, pl.Struct):
        return value.struct.json_encode()  # cheap for the flat {"FNumber": ...} references a bill is made of
    if dtype.is_numeric() or dtype == pl.Boolean:
        return value.cast(pl.String).fill_null("null")
    raise TypeError(f"no JSON text for {dtype}: render the value as text first")


def _json_object(fields: dict[str, pl.Expr], schema: pl.Schema, *, tail: str = "}") -> pl.Expr:
    """A JSON object of `fields` (in order) as text, then `tail`. Encoding the whole object at once would
    be simpler and several times slower: Polars' JSON encoder is slow on nested structs. A value that
    reads no column is the same on every row: it is written once, into the text between the others."""
    parts: list[pl.Expr] = []
    text = ""
    for n, (name, value) in enumerate(fields.items()):
        text += ("{" if n == 0 else ",") + json.dumps(name) + ":"
        written = _json(value, schema[name])
        if value.meta.root_names():
            parts += [pl.lit(text), written]
            text = ""
        else:
            text += pl.select(written).item()
    return pl.concat_str(*parts, pl.lit(text + tail))


LINES_PER_SLICE = 250_000  # nest_bills writes the bills of about this many lines at a time


def _slices(numbers: pl.Series, size: int) -> list[tuple[int, int]]:
    """(offset, length) of consecutive slices of about `size` lines, each cut where a bill's lines begin.
    One slice when the lines of some bill are not all consecutive: a bill is never cut in two."""
    runs = numbers.rle().struct.field("len")
    if numbers.len() <= size or runs.len() != numbers.n_unique():
        return [(0, numbers.len())]
    starts = (runs.cum_sum() - runs).cast(pl.Int64)  # where each bill's lines begin
    first_after = starts.search_sorted(pl.Series(range(size, numbers.len(), size), dtype=pl.Int64))
    cuts = sorted({0, *starts.gather(first_after.filter(first_after < starts.len())).to_list()})
    return [(offset, end - offset) for offset, end in zip(cuts, [*cuts[1:], numbers.len()], strict=True)]


def nest_bills(
    lines: pl.DataFrame,
    *,
    bill_no: pl.Expr,
    header: dict[str, pl.Expr],
    entry: dict[str, pl.Expr],
    carry: dict[str, pl.Expr],
) -> pl.DataFrame:
    """One row per bill: `bill_no`, the `carry` columns (for reports), and `model`, the bill's JSON.

    Header values are taken from the bill's first line (they are document fields, equal on every
    line); FEntity keeps the source line order. Each line's entry is written as JSON text and a bill's
    entries joined into its FEntity array.

    Written LINES_PER_SLICE lines (whole bills) at a time: the text in between (entries, arrays) of one
    slice is freed before the next is written, so its memory is reused instead of fresh pages (a million
    lines: 0.59-0.66 s at once, 0.50-0.54 s in four slices).
    """
    frame = lines.lazy().with_columns(bill_no.alias("bill_no"))
    entry_types = frame.select(**entry).collect_schema()
    # The header is written once per bill, from the columns it reads as they are on the bill's first line.
    read = sorted({name for expr in header.values() for name in expr.meta.root_names()})

    def written(part: pl.LazyFrame) -> pl.DataFrame:
        bills = (
            part.with_columns(_json_object(entry, entry_types).alias("__entries"))
            .group_by("bill_no", maintain_order=True)
            .agg(
                pl.struct(read).first().alias("__first"),
                pl.col("__entries"),
                *[expr.alias(name) for name, expr in carry.items()],
            )
            .unnest("__first")
        )
        header_json = _json_object(header, bills.select(**header).collect_schema(), tail=',"FEntity":[')
        return bills.select(
            "bill_no",
            *carry.keys(),
            pl.concat_str(header_json, pl.col("__entries").list.join(","), pl.lit("]}")).alias("model"),
        ).collect()

    slices = _slices(frame.select("bill_no").collect().to_series(), LINES_PER_SLICE)
    return pl.concat([written(frame.slice(offset, length)) for offset, length in slices], rechunk=False)


BILLS_SCHEMA = payload_schema("kingdee_bills", {"bill_no": pl.String, "model": pl.String}, unique=["bill_no"])
