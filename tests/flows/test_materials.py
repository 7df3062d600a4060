from __future__ import annotations

from datetime import datetime, timedelta

from flows.materials import sync_materials


def test_audited_sold_online_materials_become_jushuitan_items(sandbox):
    world = sandbox.world
    summary = sync_materials(since=world.start - timedelta(days=3650), until=datetime.now(world.end.tzinfo))
    items = sandbox.items()
    items = items if isinstance(items, dict) else {i["sku_id"]: i for i in items}
    units = {u["FNumber"]: u["FName"] for u in world.kingdee["BD_UNIT"]}
    expected = {
        m["FNumber"]: m
        for m in world.kingdee["BD_MATERIAL"]
        if m["FDocumentStatus"] == "C" and m["FForbidStatus"] == "A" and m["F_PAEZ_SellOnline"]
    }
    assert set(items) == set(expected)
    assert summary["written"] == len(expected) and summary["failed"] == 0
    for number, material in expected.items():
        item = items[number]
        assert item["i_id"] == number
        assert item["name"] == material["FName"]
        assert item["properties_value"] == material["FSpecification"]
        assert item["sku_code"] == material["FBARCODE"]
        assert item["unit"] == units[material["FBaseUnitId.FNumber"]]
        assert item["enabled"] == 1


def test_materials_dry_run_uploads_nothing(sandbox):
    world = sandbox.world
    summary = sync_materials(
        since=world.start - timedelta(days=3650), until=datetime.now(world.end.tzinfo), dry_run=True
    )
    assert summary["would_create"] > 0
    assert not sandbox.items()
