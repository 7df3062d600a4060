"""Tiny in-memory master data for transform tests (no I/O, milliseconds)."""

from __future__ import annotations

import polars as pl
import pytest

from transforms.documents import MasterData
from transforms.mappings import SchemeConfig


@pytest.fixture
def master() -> MasterData:
    return MasterData(
        shops=pl.DataFrame(
            {
                "shop_id": [10086, 10087],
                "shop_name": ["天猫旗舰店", "京东自营店"],
                "customer_number": ["CUST001", "CUST404"],
            }
        ),
        warehouses=pl.DataFrame({"wms_co_id": [10001], "warehouse_name": ["上海主仓"], "stock_number": ["CK001"]}),
        materials=pl.DataFrame(
            {
                "number": ["A1001-01", "G2001-01", "AG3001-01", "T4001-01", "T4999-01"],
                "base_unit": ["bao", "Pcs", "he", "jian", "tao"],
                "batch_managed": [True, False, True, False, True],
            }
        ),
        customers=pl.DataFrame({"number": ["CUST001"]}),
        stocks=pl.DataFrame({"number": ["CK001"]}),
    )


@pytest.fixture
def config() -> SchemeConfig:
    return SchemeConfig()
