"""Every frame builder over an empty answer and over one row with every optional field null (issue 19, item 1).

Kingdee answers are built with the schemas declared next to their domain (as the client's `schema=` casts
them); Jushuitan pages are decoded the way the flows decode them. A builder must return its declared types
either way: a Null-typed column makes the next string or number operation fail the run.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from state.tables import SHOPS, WAREHOUSES
from tests.transforms.pages import page
from transforms import frames
from transforms.documents import MATERIAL_MASTER_SCHEMA, NUMBER_FIELDS, MasterData
from transforms.mappings import (
    HELD_BY_KEY_SCHEMA,
    KINGDEE_STATUS_SCHEMA,
    MISSING,
    SIGHTINGS_SCHEMA,
    held_by_key,
    kingdee_status,
    sightings,
)
from transforms.materials import ITEMS_SCHEMA, MASTER_FIELDS, map_materials, material_master, material_schema
from transforms.outbound import map_outbound
from transforms.reconcile import (
    DOCUMENT_SCHEMA,
    KINGDEE_ROWS_SCHEMA,
    KINGDEE_SCHEMA,
    SIDE_SCHEMA,
    by_day_shop,
    compare,
    kingdee_documents,
    outbound_documents,
    returns_documents,
)
from transforms.returns import map_returns
from transforms.validation import HELD_SCHEMA

ANSWERS = ["empty", "all_null"]


def _answer(schema: dict[str, pl.DataType], kind: str, **values: object) -> pl.DataFrame:
    """A query answer typed by `schema`: no rows, or one row with only `values` filled in."""
    if kind == "empty":
        return pl.DataFrame(schema=schema)
    return pl.DataFrame({key: [values.get(key)] for key in schema}, schema=schema)


def _untyped(frame: pl.DataFrame) -> list[str]:
    return [name for name, dtype in frame.schema.items() if dtype == pl.Null]


def _pages(kind: str, document: dict) -> list[bytes]:
    """No page at all (the API had nothing), or one page holding `document` with every other field missing."""
    return [] if kind == "empty" else [page([document])]


IN_SCOPE = {"status": "Confirmed", "good_status": "SELLER_RECEIVED"}  # a sync's query asks for these only


def _outbound(kind: str) -> pl.DataFrame:
    """io_id 1 with one line, everything else missing."""
    pages = _pages(kind, {"io_id": "1", "status": IN_SCOPE["status"], "items": [{}]})
    return frames.outbound_lines(frames.decode_pages(pages, frames.OUTBOUND_PAGE))


def _refunds(kind: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """as_id 7 with one line, everything else missing, and its warehouse receipt without a date."""
    pages = _pages(kind, {"as_id": "7", **IN_SCOPE, "items": [{}]})
    receipts = _pages(kind, {"as_id": "7"})
    return (
        frames.refund_lines(frames.decode_pages(pages, frames.REFUND_PAGE)),
        frames.received_dates(frames.decode_pages(receipts, frames.RECEIVED_PAGE)),
    )


# --- materials and master data -------------------------------------------------------------------


def test_the_declared_material_schema_names_every_field_the_sync_reads(config):
    assert set(MASTER_FIELDS) <= set(material_schema(config))
    assert config.sell_online_field in material_schema(config)


@pytest.mark.parametrize("kind", ANSWERS)
def test_map_materials_over_an_empty_or_all_null_answer(config, kind):
    mapped = map_materials(_answer(material_schema(config), kind, FNumber="X-01"), config)
    assert mapped.items.is_empty() and mapped.split.held.is_empty()
    assert dict(mapped.items.schema) == {name: column.dtype.type for name, column in ITEMS_SCHEMA.columns.items()}
    assert mapped.out_of_scope.rows() == ([] if kind == "empty" else [("X-01", "未审核 / not audited")])
    assert not _untyped(mapped.out_of_scope) and not _untyped(mapped.split.held)


def test_an_in_scope_material_with_every_optional_field_null_is_held_or_uploaded_with_nulls(config):
    in_scope = {"FDocumentStatus": "C", "FForbidStatus": "A", config.sell_online_field: "true"}
    nameless = map_materials(_answer(material_schema(config), "all_null", FNumber="X-01", **in_scope), config)
    assert nameless.split.held.select("document", "rule_id").rows() == [("X-01", "material.name_missing")]
    named = map_materials(_answer(material_schema(config), "all_null", FNumber="X-02", FName="笔", **in_scope), config)
    assert named.items.rows() == [("X-02", "X-02", "笔", None, None, None, 1)]


@pytest.mark.parametrize("kind", ANSWERS)
def test_material_master_over_an_empty_or_all_null_answer(kind):
    usable = {"FDocumentStatus": "C", "FForbidStatus": "A"}
    master = material_master(_answer(MASTER_FIELDS, kind, FNumber="X-01", **usable))
    assert dict(master.schema) == MATERIAL_MASTER_SCHEMA
    assert master.rows() == ([] if kind == "empty" else [("X-01", None, False)])


@pytest.fixture
def empty_master(config) -> MasterData:
    """Master data as load_master_data builds it when every Kingdee query and both tables are empty."""
    numbers = _answer(NUMBER_FIELDS, "empty").select(pl.col("FNumber").alias("number"))
    return MasterData(
        shops=pl.DataFrame(schema={"shop_id": pl.Int64, "shop_name": pl.String, "customer_number": pl.String}),
        warehouses=pl.DataFrame(schema={"wms_co_id": pl.Int64, "warehouse_name": pl.String, "stock_number": pl.String}),
        materials=material_master(_answer(MASTER_FIELDS, "empty")),
        customers=numbers,
        stocks=numbers,
    )


# --- Jushuitan pages -> lines -> bills --------------------------------------------------------------


@pytest.mark.parametrize("kind", ANSWERS)
def test_outbound_pages_to_bills_over_an_empty_or_all_null_answer(empty_master, config, kind):
    lines = _outbound(kind)
    assert lines.height == (0 if kind == "empty" else 1) and not _untyped(lines)
    mapping = map_outbound(lines, empty_master, config)
    assert mapping.bills.is_empty()
    assert mapping.split.held_documents.to_list() == ([] if kind == "empty" else ["1"])
    assert dict(mapping.split.held.schema) == HELD_SCHEMA


@pytest.mark.parametrize("kind", ANSWERS)
def test_refund_and_receipt_pages_to_bills_over_an_empty_or_all_null_answer(empty_master, config, kind):
    lines, stock_in = _refunds(kind)
    assert lines.height == (0 if kind == "empty" else 1) and not _untyped(lines)
    assert stock_in.is_empty() and not _untyped(stock_in)
    mapping = map_returns(lines, stock_in, empty_master, config)
    assert mapping.bills.is_empty() and mapping.split.held.is_empty()
    # A line with neither SKU nor r_qty: nothing came back (SCHEME.md §5), listed as excluded, not dropped.
    assert mapping.excluded["as_id"].to_list() == ([] if kind == "empty" else ["7"])
    assert dict(mapping.split.held.schema) == HELD_SCHEMA


# --- reconcile -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ANSWERS)
def test_reconcile_builders_over_an_empty_or_all_null_answer(kind):
    outbound, (refunds, stock_in) = _outbound(kind), _refunds(kind)
    jushuitan = outbound_documents(outbound, pl.Series(["1"]))
    assert dict(jushuitan.schema) == SIDE_SCHEMA and jushuitan.height == (0 if kind == "empty" else 1)
    assert dict(returns_documents(refunds, stock_in, pl.Series(["7"])).schema) == SIDE_SCHEMA
    shops = pl.DataFrame(schema={"shop_id": pl.Int64, "shop_name": pl.String, "customer_number": pl.String})
    kingdee = kingdee_documents(_answer(KINGDEE_ROWS_SCHEMA, kind, FBillNo="2"), shops)
    assert dict(kingdee.schema) == KINGDEE_SCHEMA and kingdee.height == (0 if kind == "empty" else 1)
    held = pl.DataFrame(schema={"document": pl.String, "reason": pl.String})
    documents = compare(jushuitan, kingdee, held, form_id="SAL_OUTSTOCK")
    assert dict(documents.schema) == DOCUMENT_SCHEMA
    assert sorted(documents["document"]) == ([] if kind == "empty" else ["1", "2"])
    assert not _untyped(by_day_shop(jushuitan, kingdee, documents))


# --- check-mappings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ANSWERS)
def test_check_mappings_builders_over_an_empty_or_all_null_answer(kind):
    keys = ["FNumber", "FName", "FDocumentStatus", "FForbidStatus", "FUseOrgId.FNumber"]
    rows = _answer(dict.fromkeys(keys, pl.String), kind, FNumber="CUST001")
    status = kingdee_status(["CUST001"], rows, org="100")
    assert dict(status.schema) == KINGDEE_STATUS_SCHEMA
    assert status["status"].to_list() == [MISSING if kind == "empty" else "not_audited"]
    held = _answer(HELD_SCHEMA, kind, document="1", rule_id="shop.unmapped")
    located = _answer({"document": pl.String, "wms_co_id": pl.String}, kind, document="1")
    by_key = held_by_key(held, located)
    assert dict(by_key.schema) == HELD_BY_KEY_SCHEMA
    assert by_key.rows() == ([] if kind == "empty" else [("shop.unmapped", None, 1)])
    listed = _answer({"id": pl.String, "name": pl.String}, kind, id="10086")
    documents = _answer({"kind": pl.String, "document": pl.String, "id": pl.String, "name": pl.String}, kind)
    assert dict(sightings(listed, documents).schema) == SIGHTINGS_SCHEMA


# --- the hand-kept tables -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loader", "header", "row", "expected"),
    [
        (SHOPS.read_csv, "shop_id,shop_name,customer_number,customer_name", "10086,天猫旗舰店,CUST001,", 10086),
        (WAREHOUSES.read_csv, "wms_co_id,warehouse_name,stock_number,stock_name", "10001,上海主仓,CK001,", 10001),
    ],
)
def test_hand_kept_tables_header_only_or_with_the_optional_name_empty(tmp_path: Path, loader, header, row, expected):
    (tmp_path / "header_only.csv").write_text(header + "\n", encoding="utf-8")
    (tmp_path / "no_name.csv").write_text(f"{header}\n{row}\n", encoding="utf-8")
    empty, one = loader(tmp_path / "header_only.csv"), loader(tmp_path / "no_name.csv")
    assert empty.is_empty() and dict(empty.schema) == dict(one.schema)
    assert one.row(0) == (expected, *row.split(",")[1:3], None)
    assert not _untyped(empty) and not _untyped(one)
