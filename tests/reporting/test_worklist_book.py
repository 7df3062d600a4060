"""worklist.xlsx written and read back as a person leaves it (openpyxl, no servers)."""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from reporting.worklist_book import CANDIDATES, read_worklist_book, write_worklist_book
from state.tables import TableError
from transforms.suggestions import SUGGESTION_SCHEMA, with_suggestion
from transforms.worklist import Worklist

HELD = {"held_outbound": [3, 0], "held_returns": [1, 0], "held_documents": [4, 0]}


def _worklist() -> Worklist:
    suggestions = pl.DataFrame(
        [("10090", 1, "CUST006", "小红书旗舰店", 0.4, "overlap"), ("10090", 2, "CUST003", "抖音小店", 0.25, "overlap")],
        schema=SUGGESTION_SCHEMA,
        orient="row",
    )
    shops = pl.DataFrame(
        {"shop_id": ["10090", "10095"], "shop_name": ["小红书店", '=HYPERLINK("x")'], "seen_in": ["仅列表", "仅列表"]}
        | HELD
    )
    warehouses = pl.DataFrame(
        schema={
            "wms_co_id": pl.String,
            "warehouse_name": pl.String,
            "seen_in": pl.String,
            **dict.fromkeys(HELD, pl.Int64),
        }
    )
    empty = pl.DataFrame(schema=SUGGESTION_SCHEMA)
    return Worklist(
        shops=with_suggestion(shops, "shop_id", suggestions),
        warehouses=with_suggestion(warehouses, "wms_co_id", empty),
        table_rows=pl.DataFrame(),
        skus=pl.DataFrame(),
        held={},
        suggestions={"shops": suggestions, "warehouses": empty, "skus": empty},
    )


def test_the_book_pre_fills_the_suggestion_offers_the_candidates_and_reads_back_the_filled_rows(tmp_path: Path):
    path = write_worklist_book(tmp_path / "worklist.xlsx", _worklist())
    book = openpyxl.load_workbook(path)
    shops = book["shops"]
    assert [c.value for c in shops[1]][:3] == ["shop_id", "shop_name", "customer_number"]
    assert [c.value for c in shops[2]][:5] == [10090, "小红书店", "CUST006", "小红书旗舰店", 0.4]
    assert shops["B3"].data_type == "s" and shops["C3"].value is None  # text from outside stays text; no guess
    (choice,) = shops.data_validations.dataValidation
    assert str(choice.sqref) == "C2" and choice.errorStyle == "warning"
    cells = re.sub(r"[$]", "", choice.formula1.split("!")[1])
    assert [c.value for c in book[CANDIDATES][cells][0]] == ["CUST006", "CUST003"]

    shops["C3"] = "CUST005"
    shops.append([10096, "新店", None])  # left open: not imported
    book.save(path)
    rows = read_worklist_book(path)

    assert rows["shops"].select("row", "shop_id", "customer_number").rows() == [
        (2, 10090, "CUST006"),
        (3, 10095, "CUST005"),
    ]
    assert rows["warehouses"].is_empty() and rows["shops"]["customer_name"].null_count() == 2


def test_a_book_with_an_id_that_is_no_number_or_no_table_sheet_is_refused_naming_sheet_row_and_column(tmp_path):
    path = write_worklist_book(tmp_path / "worklist.xlsx", _worklist())
    book = openpyxl.load_workbook(path)
    book["shops"]["A2"] = "10O90"
    book.save(path)
    with pytest.raises(TableError, match=r"sheet shops: row 2, column shop_id: '10O90' is not a whole number"):
        read_worklist_book(path)

    del book["shops"], book["warehouses"]
    book.save(path)
    with pytest.raises(TableError, match="no sheet named shops or warehouses"):
        read_worklist_book(path)
    (tmp_path / "not.xlsx").write_text("shop_id,customer_number\n", encoding="utf-8")
    with pytest.raises(TableError, match="the workbook cannot be read"):
        read_worklist_book(tmp_path / "not.xlsx")
