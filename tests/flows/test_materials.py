from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from connectors.settings import MissingCredentials
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


@pytest.mark.parametrize("datas", ["failures", "absent"])
def test_an_upload_answer_listing_only_failures_reports_no_false_failure(sandbox, datas):
    httpx.post(f"{sandbox.jst.url}/__admin/upload_answer", json={"datas": datas}).raise_for_status()
    world = sandbox.world
    summary = sync_materials(since=world.start - timedelta(days=3650), until=datetime.now(world.end.tzinfo))
    expected = {
        m["FNumber"]
        for m in world.kingdee["BD_MATERIAL"]
        if m["FDocumentStatus"] == "C" and m["FForbidStatus"] == "A" and m["F_PAEZ_SellOnline"]
    }
    assert set(sandbox.items()) == expected
    assert summary["written"] == len(expected) and summary["failed"] == 0


def test_materials_dry_run_uploads_nothing(sandbox):
    world = sandbox.world
    summary = sync_materials(
        since=world.start - timedelta(days=3650), until=datetime.now(world.end.tzinfo), dry_run=True
    )
    assert summary["would_create"] > 0
    assert not sandbox.items()


@pytest.mark.parametrize(
    ("url_variable", "url", "given", "missing"),
    [
        ("JST_BASE_URL", "https://openapi.jushuitan.invalid", {"JST_APP_KEY": "prod-app"}, "JST_APP_SECRET"),
        (
            "KINGDEE_SERVER_URL",
            "https://tenant.ik3cloud.invalid/k3cloud",
            {"KINGDEE_ACCT_ID": "A1", "KINGDEE_USERNAME": "sync", "KINGDEE_APP_ID": "app-1"},
            "KINGDEE_APP_SECRET",
        ),
    ],
)
def test_a_production_url_without_its_secret_stops_the_sync_before_any_request(
    sandbox, egress, monkeypatch, url_variable, url, given, missing
):
    monkeypatch.setenv(url_variable, url)
    for name, value in {**given, "JST_RETRY_ATTEMPTS": "1", "KINGDEE_RETRY_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(name, value)
    world = sandbox.world
    with pytest.raises(MissingCredentials, match=f"^{missing} is not set"):
        sync_materials(since=world.start - timedelta(days=3650), until=datetime.now(world.end.tzinfo))
    assert egress == []
    for emulator in (sandbox.jst, sandbox.kingdee):  # nor did the sandbox's own emulators hear anything
        assert httpx.get(f"{emulator.url}/__admin/stats").json()["calls"] == {}
