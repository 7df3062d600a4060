from __future__ import annotations

import polars as pl

from transforms.materials import map_materials, material_master


def _materials() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "FNumber": ["A1001-01", "G2001-01", "G2002-01", "G2003-01", "G2004-01", "G2005-01"],
            "FName": ["麻辣牛肉干", "中性笔", "草稿本", "", "彩泥", "积木"],
            "FSpecification": ["500g/袋", "0.5mm;黑色", "A5", "x", "y" * 101, "大号"],
            "FBARCODE": ["6901234567892", "6901234567893", None, None, None, None],
            "FBaseUnitId.FNumber": ["bao", "Pcs", "Pcs", "Pcs", "he", "tao"],
            "FBaseUnitId.FName": ["包", "个", "个", "个", "盒", "套"],
            "FIsBatchManage": [True, False, False, False, False, False],
            "FDocumentStatus": ["C", "C", "B", "C", "C", "C"],
            "FForbidStatus": ["A", "A", "A", "A", "A", "B"],
            "FModifyDate": ["2026-11-20T10:00:00"] * 6,
            "F_PAEZ_SellOnline": [True, True, True, True, True, True],
        }
    )


def test_audited_sold_online_materials_become_items(config):
    mapped = map_materials(_materials(), config)
    assert mapped.items.to_dicts() == [
        {
            "sku_id": "A1001-01",
            "i_id": "A1001-01",
            "name": "麻辣牛肉干",
            "properties_value": "500g/袋",
            "sku_code": "6901234567892",
            "unit": "包",
            "enabled": 1,
        },
        {
            "sku_id": "G2001-01",
            "i_id": "G2001-01",
            "name": "中性笔",
            "properties_value": "0.5mm;黑色",
            "sku_code": "6901234567893",
            "unit": "个",
            "enabled": 1,
        },
    ]
    assert dict(mapped.out_of_scope.rows()) == {"G2002-01": "未审核 / not audited", "G2005-01": "已禁用 / disabled"}
    assert mapped.notes() == {"未审核 / not audited": 1, "已禁用 / disabled": 1}
    assert dict(mapped.split.held.select("document", "rule_id").rows()) == {
        "G2003-01": "material.name_missing",
        "G2004-01": "material.spec_too_long",
    }


def test_not_sold_online_is_out_of_scope(config):
    frame = _materials().with_columns(pl.lit(False).alias("F_PAEZ_SellOnline"))
    mapped = map_materials(frame, config)
    assert mapped.items.is_empty()
    assert set(mapped.out_of_scope.get_column("reason")) >= {"未勾选网销 / not sold online"}


def test_material_master_keeps_usable_materials_with_batch_flag():
    master = material_master(_materials())
    assert master.rows() == [
        ("A1001-01", "bao", True),
        ("G2001-01", "Pcs", False),
        ("G2003-01", "Pcs", False),
        ("G2004-01", "he", False),
    ]


def test_a_material_without_a_state_is_neither_audited_nor_enabled(config):
    frame = _materials().with_columns(
        pl.when(pl.col("FNumber") == "A1001-01").then(None).otherwise(pl.col(c)).alias(c)
        for c in ("FDocumentStatus", "FForbidStatus")
    )
    assert dict(map_materials(frame, config).out_of_scope.rows())["A1001-01"] == "未审核 / not audited"
    assert "A1001-01" not in material_master(frame)["number"].to_list()
