"""The customer's fixed values and hand-kept tables (SCHEME.md §1, §2) and the lot rule (§3, §5)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandera.polars as pa
import polars as pl


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


class ShopCustomerTable(pa.DataFrameModel):
    """config/shops.csv: one Kingdee customer per Jushuitan shop."""

    shop_id: int = pa.Field(unique=True)
    shop_name: str
    customer_number: str = pa.Field(str_length={"min_value": 1})
    customer_name: str = pa.Field(nullable=True)


class WarehouseStockTable(pa.DataFrameModel):
    """config/warehouses.csv: one Kingdee stock per Jushuitan warehouse (分仓)."""

    wms_co_id: int = pa.Field(unique=True)
    warehouse_name: str
    stock_number: str = pa.Field(str_length={"min_value": 1})
    stock_name: str = pa.Field(nullable=True)


def _read_table(path: Path, model: type[pa.DataFrameModel], id_column: str) -> pl.DataFrame:
    frame = pl.read_csv(path, schema_overrides={id_column: pl.Int64}, infer_schema=False).with_columns(
        pl.col(id_column).cast(pl.Int64)
    )
    frame = frame.with_columns(pl.exclude(id_column).str.strip_chars())
    try:
        return model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        problems = exc.failure_cases.select("column", "check", "failure_case", "index").to_dicts()
        raise ValueError(f"{path}: the hand-kept table has errors: {problems}") from None


def load_shop_customer_map(path: Path) -> pl.DataFrame:
    return _read_table(Path(path), ShopCustomerTable, "shop_id")


def load_warehouse_stock_map(path: Path) -> pl.DataFrame:
    return _read_table(Path(path), WarehouseStockTable, "wms_co_id")


def return_lot(style_code: pl.Expr) -> pl.Expr:
    """SCHEME.md §5, case-sensitive as written: i_id contains 'A' → "0", else contains 'G' → "",
    neither → "" (and a warning, raised by the returns rules)."""
    return pl.when(style_code.str.contains("A", literal=True)).then(pl.lit("0")).otherwise(pl.lit(""))
