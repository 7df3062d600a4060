from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from state.tables import SHOPS, WAREHOUSES, TableError
from tests.transforms.pages import outbound
from transforms.documents import MasterData
from transforms.mappings import (
    FORBIDDEN,
    MISSING,
    NOT_AUDITED,
    OTHER_ORG,
    USABLE,
    SchemeConfig,
    held_by_key,
    kingdee_status,
    sightings,
)
from transforms.outbound import map_outbound


def _base_rows(rows: list[tuple[str, str, str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema=["FNumber", "FName", "FDocumentStatus", "FForbidStatus", "FUseOrgId.FNumber"],
        orient="row",
    )


def test_kingdee_status_tells_missing_unaudited_forbidden_and_other_org_apart():
    rows = _base_rows(
        [
            ("C1", "好客户", "C", "A", "100"),
            ("C2", "草稿客户", "A", "A", "100"),
            ("C3", "审核中", "B", "A", "100"),
            ("C4", "禁用客户", "C", "B", "100"),
            ("C5", "别的组织", "C", "A", "200"),
        ]
    )
    numbers = ["C1", "C2", "C3", "C4", "C5", "C9"]

    status = kingdee_status(numbers, rows, org="100")

    assert status.rows() == [
        ("C1", USABLE, "好客户"),
        ("C2", NOT_AUDITED, "草稿客户"),
        ("C3", NOT_AUDITED, "审核中"),
        ("C4", FORBIDDEN, "禁用客户"),
        ("C5", OTHER_ORG, "别的组织"),
        ("C9", MISSING, None),
    ]
    # Without an organisation, any usable row counts (customers and stocks are checked that way).
    assert kingdee_status(["C5"], rows.drop("FUseOrgId.FNumber"))["status"].to_list() == [USABLE]


def test_kingdee_status_takes_the_best_row_of_a_number_used_by_several_orgs():
    rows = _base_rows([("M1", "坚果", "C", "A", "200"), ("M1", "坚果", "C", "A", "100"), ("M2", "笔", "C", "B", "200")])

    status = kingdee_status(["M1", "M2", "M1"], rows, org="100")

    assert status.select("number", "status").rows() == [("M1", USABLE), ("M2", FORBIDDEN)]


def test_kingdee_status_of_an_empty_query_answer_is_all_missing():
    empty = pl.DataFrame(schema=dict.fromkeys(["FNumber", "FName", "FDocumentStatus", "FForbidStatus"], pl.Null))

    assert kingdee_status(["CK9"], empty).rows() == [("CK9", MISSING, None)]


def _doc(io_id: str, shop_id: str, wms_co_id: str, skus: list[str]) -> dict:
    return {
        "io_id": io_id,
        "shop_id": shop_id,
        "shop_name": f"店{shop_id}",
        "wms_co_id": wms_co_id,
        "status": "Confirmed",
        "io_date": "2026-11-02 10:00:00",
        "items": [
            {"ioi_id": f"{io_id}-{n}", "sku_id": sku, "qty": "1", "sale_price": "9.9"} for n, sku in enumerate(skus)
        ],
    }


def test_held_by_key_counts_documents_per_rule_and_the_key_that_releases_them(master: MasterData):
    docs = [
        _doc("IO1", "10086", "10001", ["A1001-01", "G2999-01"]),  # unknown SKU
        _doc("IO2", "10086", "10001", ["G2999-01", "G2999-01"]),  # twice on one document: counted once
        _doc("IO3", "10090", "10009", ["A1001-01"]),  # shop and warehouse unmapped
        _doc("IO4", "10087", "10001", ["G2001-01"]),  # mapped to CUST404, unknown in Kingdee
        _doc("IO5", "10086", "10001", ["A1001-01"]),  # clean
    ]
    held = map_outbound(outbound(docs), master, SchemeConfig()).split.held
    warehouses = pl.DataFrame({"document": [d["io_id"] for d in docs], "wms_co_id": [d["wms_co_id"] for d in docs]})

    counts = held_by_key(held, warehouses).sort("rule_id", "key")

    expected = pl.DataFrame(
        {
            "rule_id": ["customer.unknown", "material.unknown", "shop.unmapped", "warehouse.unmapped"],
            "key": ["10087", "G2999-01", "10090", "10009"],
            "documents": [1, 2, 1, 1],
        },
        schema_overrides={"documents": pl.UInt32},
    )
    assert_frame_equal(counts, expected)


def test_held_by_key_finds_the_warehouse_of_a_stock_rule_through_the_document(master: MasterData):
    master = MasterData(
        shops=master.shops,
        warehouses=pl.DataFrame(
            {"wms_co_id": [10001, 10002], "warehouse_name": ["上海", "广州"], "stock_number": ["CK001", "CK404"]}
        ),
        materials=master.materials,
        customers=master.customers,
        stocks=master.stocks,
    )
    docs = [_doc("IO1", "10086", "10002", ["A1001-01"]), _doc("IO2", "10086", "10002", ["A1001-01"])]
    held = map_outbound(outbound(docs), master, SchemeConfig()).split.held
    warehouses = pl.DataFrame({"document": ["IO1", "IO2"], "wms_co_id": ["10002", "10002"]})

    assert held_by_key(held, warehouses).rows() == [("stock.unknown", "10002", 2)]


def test_sightings_merge_the_master_list_with_the_documents():
    listed = pl.DataFrame({"id": [10086, 10087], "name": ["天猫旗舰店", "京东自营店"]})
    documents = pl.DataFrame(
        {
            "kind": ["outbound", "outbound", "outbound", "returns", "outbound"],
            "document": ["IO1", "IO1", "IO2", "IO1", "IO3"],  # IO1 twice (two lines); returns' IO1 is another
            "id": ["10086", "10086", "10090", "10090", " 10086 "],
            "name": ["天猫", "天猫", None, "小红书店", "天猫"],
        }
    )

    seen = sightings(listed, documents).sort("id")

    assert seen.rows() == [
        ("10086", "天猫旗舰店", True, 2),
        ("10087", "京东自营店", True, 0),
        ("10090", "小红书店", False, 2),
    ]


# --- the hand-kept tables (issue 19, item 6c) -------------------------------------------------------

SHOPS_HEADER = "shop_id,shop_name,customer_number,customer_name"


def _table(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "shops.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _problem(path: Path, row: int, column: str) -> str:
    """The TableError text: the file, then each problem by row and column."""
    return re.escape(f"{path}: ") + ".*" + re.escape(f"row {row}, column {column}")


def test_a_stray_space_after_a_value_or_a_header_name_is_ignored(tmp_path):
    path = _table(tmp_path, "shop_id ,shop_name, customer_number ,customer_name", "10086 ,天猫旗舰店 ,CUST001, 天猫")
    assert SHOPS.read_csv(path).to_dicts() == [
        {"shop_id": 10086, "shop_name": "天猫旗舰店", "customer_number": "CUST001", "customer_name": "天猫"}
    ]
    warehouses = tmp_path / "warehouses.csv"
    warehouses.write_text(
        "wms_co_id, warehouse_name,stock_number,stock_name\n 10001,上海主仓,CK001 ,\n", encoding="utf-8"
    )
    assert WAREHOUSES.read_csv(warehouses).row(0) == (10001, "上海主仓", "CK001", None)


def test_a_shop_id_that_is_not_a_whole_number_names_file_row_and_column(tmp_path):
    path = _table(tmp_path, SHOPS_HEADER, "10086,天猫旗舰店,CUST001,", "1O087,京东自营店,CUST002,")
    with pytest.raises(TableError, match=_problem(path, 3, "shop_id") + ".*1O087") as raised:
        SHOPS.read_csv(path)
    assert "the header is row 1" in str(raised.value)


def test_what_the_tables_already_checked_is_still_checked_with_the_row(tmp_path):
    duplicated = _table(tmp_path, SHOPS_HEADER, "10086,天猫旗舰店,CUST001,", "10086,京东自营店,CUST002,")
    with pytest.raises(TableError, match=_problem(duplicated, 3, "shop_id") + ": .10086. is on another row too"):
        SHOPS.read_csv(duplicated)
    blank = _table(tmp_path, SHOPS_HEADER, "10086,天猫旗舰店,CUST001,", "10087,京东自营店,  ,")
    with pytest.raises(TableError, match=_problem(blank, 3, "customer_number") + ": empty"):
        SHOPS.read_csv(blank)
    missing = _table(tmp_path, "shop_id,shop_name,customer_name", "10086,天猫旗舰店,")
    with pytest.raises(TableError, match=re.escape(f"{missing}: column customer_number is missing")):
        SHOPS.read_csv(missing)
