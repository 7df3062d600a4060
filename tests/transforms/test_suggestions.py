"""Suggestions for open rows and the checks of a proposed table change, on tiny frames (pure Polars)."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from transforms.mapping_changes import rejections, table_after, table_diff, untouched
from transforms.mappings import kingdee_status
from transforms.suggestions import CONTAINS, EXACT, OVERLAP, PREFIX, offerable, suggest, with_suggestion
from transforms.worklist import SHOPS_TABLE

CUSTOMERS = pl.DataFrame(
    {
        "number": ["C1", "C2", "C3", "C4", "C5"],
        "kingdee_name": ["天猫旗舰店", "小红书旗舰店", "抖音小店", "线下批发客户", "小红书店"],
    }
)
SHOPS = pl.DataFrame(
    {"shop_id": [1, 2], "shop_name": ["天猫旗舰店", "抖音小店"], "customer_number": ["C1", "C3"]},
    schema={"shop_id": pl.Int64, "shop_name": pl.String, "customer_number": pl.String},
).with_columns(customer_name=pl.col("shop_name"))


def _open(*names: str) -> pl.DataFrame:
    return pl.DataFrame({"key": [str(n) for n in range(10, 10 + len(names))], "name": list(names)})


def test_an_equal_name_scores_1_a_contained_one_above_any_overlap_and_unrelated_names_are_not_offered() -> None:
    candidates = offerable(CUSTOMERS, pl.Series([], dtype=pl.String))
    got = suggest(_open("小红书店"), candidates)

    assert got.select("number", "match").rows() == [("C5", EXACT), ("C2", OVERLAP), ("C3", OVERLAP), ("C1", OVERLAP)]
    assert got["score"].to_list()[0] == 1.0 and got["rank"].to_list() == [1, 2, 3, 4]
    assert "C4" not in got["number"]  # 线下批发客户 shares no character with 小红书店
    contained = suggest(_open("小红书 旗舰店（新）"), candidates)  # decoration ignored: 小红书旗舰店新 ⊃ 小红书旗舰店
    assert contained.row(0, named=True)["number"] == "C2" and contained.row(0, named=True)["match"] == CONTAINS
    assert 0.5 < contained["score"][0] < 1.0 and all(s <= 0.5 for s in contained["score"][1:])


def test_numbers_already_mapped_or_not_usable_are_never_offered() -> None:
    status = kingdee_status(
        ["C1", "C2", "C5"],
        pl.DataFrame(
            [("C1", "天猫旗舰店", "C", "A"), ("C2", "小红书旗舰店", "C", "A"), ("C5", "小红书店", "C", "B")],
            schema=["FNumber", "FName", "FDocumentStatus", "FForbidStatus"],
            orient="row",
        ),
    )
    usable = status.filter(pl.col("status") == "usable")

    got = suggest(_open("小红书店", "天猫旗舰店"), offerable(usable, SHOPS["customer_number"]))

    assert set(got["number"]) == {"C2"}  # C5 forbidden, C1 mapped to shop 1


def test_the_top_candidate_is_prefilled_only_when_it_scores_enough() -> None:
    frame = pl.DataFrame({"shop_id": ["10", "11"], "shop_name": ["小红书店", "快手店"]})
    candidates = offerable(CUSTOMERS.filter(pl.col("number").is_in(["C2", "C4"])), pl.Series([], dtype=pl.String))

    got = with_suggestion(frame, "shop_id", suggest(frame.select(key="shop_id", name="shop_name"), candidates))

    assert got.rows() == [("10", "小红书店", "C2", "小红书旗舰店", 0.4), ("11", "快手店", None, None, 0.11)]


def test_an_unknown_sku_gets_the_material_numbers_sharing_the_longest_prefix() -> None:
    materials = pl.DataFrame({"number": ["A1001-01", "G2001-01", "G2999-02"], "candidate_name": [None, None, None]})

    got = suggest(_open("G2999-01"), materials, by_code=True)

    assert got.select("number", "match").rows() == [("G2999-02", PREFIX), ("G2001-01", PREFIX)]
    assert got["score"].to_list() == [7 / 8, 2 / 8]


def _edits(*rows: tuple[int | None, int, str]) -> pl.DataFrame:
    return pl.DataFrame(
        [(row, shop, f"shop {shop}", number, None) for row, shop, number in rows],
        schema={"row": pl.Int64, **SHOPS.schema},
        orient="row",
    )


def _status(**by_number: tuple[str, str]) -> pl.DataFrame:
    rows = [(number, name, state, "A") for number, (name, state) in by_number.items()]
    found = pl.DataFrame(rows, schema=["FNumber", "FName", "FDocumentStatus", "FForbidStatus"], orient="row")
    return kingdee_status(list(by_number) + ["C404"], found)


def test_each_rejected_row_is_named_with_its_reason() -> None:
    edits = _edits((2, 10, "C404"), (3, 11, "C1"), (4, 12, "C2"), (5, 13, "C2"), (6, 14, "C6"), (7, 14, "C7"))
    status = _status(C1=("天猫旗舰店", "C"), C2=("小红书旗舰店", "C"), C6=("未审核客户", "B"), C7=("客户七", "C"))

    got = rejections(SHOPS_TABLE, edits, untouched(SHOPS_TABLE, SHOPS, edits), status, "100")

    assert got.select("row", "key", "number", "reason").rows() == [
        (2, "10", "C404", "客户在金蝶中不存在 / customer missing in Kingdee"),
        (3, "11", "C1", "客户C1 已映射到店铺 1 天猫旗舰店 / customer C1 is already mapped to shop 1 (天猫旗舰店)"),
        (4, "12", "C2", "客户C2 在本次修改中给了多个店铺 / customer C2 is given to more than one shop"),
        (5, "13", "C2", "客户C2 在本次修改中给了多个店铺 / customer C2 is given to more than one shop"),
        (6, "14", "C6", "客户在金蝶中未审核 / customer not audited in Kingdee"),
        (6, "14", "C6", "店铺14 在本次修改中出现多次 / shop 14 is on more than one row"),
        (7, "14", "C7", "店铺14 在本次修改中出现多次 / shop 14 is on more than one row"),
    ]
    assert set(got["table"]) == {"shops"}


def test_a_number_moved_from_one_shop_to_another_in_the_same_change_is_accepted() -> None:
    edits = _edits((2, 1, "C2"), (3, 2, "C1"))  # shops 1 and 2 swap customers: C1 and C2 stay one to one
    status = _status(C1=("天猫旗舰店", "C"), C2=("小红书旗舰店", "C"))

    assert rejections(SHOPS_TABLE, edits, untouched(SHOPS_TABLE, SHOPS, edits), status, "100").is_empty()


def test_the_diff_names_rows_added_and_changed_and_the_table_keeps_the_rest() -> None:
    edits = _edits((2, 2, "C5"), (3, 9, "C2"))

    after = table_after(SHOPS_TABLE, SHOPS, edits)
    diff = table_diff(SHOPS_TABLE, SHOPS, after)

    assert after.select("shop_id", "customer_number").rows() == [(1, "C1"), (2, "C5"), (9, "C2")]
    assert diff.select("change", "key", "number_before", "number_after").rows() == [
        ("changed", "2", "C3", "C5"),
        ("added", "9", None, "C2"),
    ]
    assert_frame_equal(table_diff(SHOPS_TABLE, SHOPS, SHOPS), diff.clear())
    removed = table_diff(SHOPS_TABLE, SHOPS, SHOPS.head(1))
    assert removed.select("change", "key", "number_before", "number_after").rows() == [("removed", "2", "C3", None)]
