"""The check-mappings worklist on tiny in-memory frames: what each list holds and what it holds back."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest

from tests.transforms.pages import outbound, refunds
from transforms.documents import MasterData
from transforms.mappings import SchemeConfig, kingdee_status
from transforms.worklist import JushuitanView, build_worklist, check_period, master_list, unlisted_skus

STATUS_KEYS = ["FNumber", "FName", "FDocumentStatus", "FForbidStatus", "FUseOrgId.FNumber"]


def _doc(io_id: str, shop_id: str, wms_co_id: str, sku: str) -> dict:
    return {
        "io_id": io_id,
        "shop_id": shop_id,
        "shop_name": f"店{shop_id}",
        "wms_co_id": wms_co_id,
        "status": "Confirmed",
        "io_date": "2026-11-02 10:00:00",
        "items": [{"ioi_id": f"{io_id}-1", "sku_id": sku, "name": f"品{sku}", "qty": "1", "sale_price": "9.9"}],
    }


def _status(numbers: list[str], rows: list[tuple[str, str, str, str, str]], org: str | None = None) -> pl.DataFrame:
    return kingdee_status(numbers, pl.DataFrame(rows, schema=STATUS_KEYS, orient="row"), org)


def test_default_period_is_the_last_seven_days_in_shanghai_and_naive_times_are_beijing_time():
    start, end = check_period(None, None)
    assert end - start == timedelta(days=7) and str(end.tzinfo) == "Asia/Shanghai"
    start, end = check_period(None, datetime(2026, 11, 8))
    assert (start.isoformat(), end.isoformat()) == ("2026-11-01T00:00:00+08:00", "2026-11-08T00:00:00+08:00")
    with pytest.raises(ValueError):
        check_period(datetime(2026, 11, 8), datetime(2026, 11, 1))


def test_master_list_reads_ids_and_names_as_text():
    pages = [[{"shop_id": 10086, "shop_name": "天猫旗舰店"}], [{"shop_id": 10087}]]
    assert master_list(pages, "shop_id", "shop_name").rows() == [("10086", "天猫旗舰店"), ("10087", None)]


def test_each_gap_is_listed_once_with_the_documents_it_holds_back(master: MasterData):
    master = MasterData(
        shops=pl.DataFrame(
            {
                "shop_id": [10086, 10087, 10999],
                "shop_name": ["天猫旗舰店", "京东自营店", "已关闭的店"],
                "customer_number": ["CUST001", "CUST404", "CUST001"],
            }
        ),
        warehouses=master.warehouses,
        materials=master.materials,
        customers=master.customers,
        stocks=master.stocks,
    )
    view = JushuitanView(
        shops=pl.DataFrame({"id": ["10086", "10087"], "name": ["天猫旗舰店", "京东自营店"]}),
        warehouses=pl.DataFrame({"id": ["10001"], "name": ["上海主仓"]}),
        outbound=outbound(
            [
                _doc("IO1", "10086", "10001", "A1001-01"),  # clean
                _doc("IO2", "10090", "10001", "A1001-01"),  # shop with no row in the table
                _doc("IO3", "10086", "10009", "G2999-01"),  # warehouse with no row, SKU Kingdee lacks
                _doc("IO4", "10087", "10001", "A1001-01"),  # mapped to CUST404, which Kingdee lacks
            ]
        ),
        refunds=refunds([]),
    )
    skus = unlisted_skus(view, master)
    assert skus["sku_id"].to_list() == ["G2999-01"]

    worklist = build_worklist(
        view,
        master,
        SchemeConfig(),
        customers=_status(["CUST001", "CUST404", "CUST001"], [("CUST001", "天猫", "C", "A", "100")]),
        stocks=_status(["CK001"], [("CK001", "上海", "C", "A", "100")]),
        skus=skus,
        materials=_status(["G2999-01"], [], org="100"),
    )

    assert worklist.shops.select("shop_id", "shop_name", "seen_in", "documents", "held_documents").rows() == [
        ("10090", "店10090", "仅单据 documents only", 1, 1)
    ]
    assert worklist.warehouses.select("wms_co_id", "seen_in", "held_outbound", "held_returns").rows() == [
        ("10009", "仅单据 documents only", 1, 0)
    ]
    assert worklist.table_rows.select("table", "key", "kingdee_number", "problem", "held_documents").rows() == [
        ("shops", "10087", "CUST404", "customer_missing", 1),
        ("shops", "10999", "CUST001", "shop_gone", 0),
    ]
    assert worklist.skus.select("sku_id", "item_name", "problem", "documents", "held_documents").rows() == [
        ("G2999-01", "品G2999-01", "material_missing", 1, 1)
    ]
    assert worklist.counts() == {
        "unmapped_shops": 1,
        "unmapped_warehouses": 1,
        "table_problems": 2,
        "unknown_skus": 1,
        "held_outbound": 3,  # IO2, IO3 and IO4; IO3 once although two gaps hold it
        "held_returns": 0,
    }
