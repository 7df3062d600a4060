"""`jst-kingdee doctor` over real HTTP against both emulators on 127.0.0.1: all PASS on the sandbox, and
each broken tenant its FAIL with the fix, a non-zero exit, and nothing written to either system."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cli import app
from sandbox.data import UNMAPPED_SHOP_ID, SandboxWorld, generate_world
from sandbox.server import BackgroundServer, serve_in_thread
from tests.flows.conftest import ROOT


@pytest.fixture
def small_world() -> SandboxWorld:
    return generate_world(seed=11, days=3, orders_per_day=12)


@pytest.fixture
def servers(
    small_world: SandboxWorld, tmp_path: Path, monkeypatch
) -> Iterator[tuple[BackgroundServer, BackgroundServer]]:
    from sandbox.jushuitan import create_app as jst_app
    from sandbox.kingdee import create_app as kingdee_app

    with serve_in_thread(jst_app(small_world)) as jst, serve_in_thread(kingdee_app(small_world.kingdee)) as kingdee:
        monkeypatch.setenv("JST_BASE_URL", jst.url)
        monkeypatch.setenv("JST_TOKEN_STORE_PATH", str(tmp_path / "token.json"))
        monkeypatch.setenv("KINGDEE_SERVER_URL", f"{kingdee.url}/k3cloud")
        monkeypatch.setenv("SYNC_REPORTS_DIR", str(tmp_path / "reports"))
        monkeypatch.setenv("SYNC_STATE_DIR", str(tmp_path / "state"))
        monkeypatch.setenv("SYNC_SHOPS_TABLE", str(complete_shops_table(tmp_path)))
        monkeypatch.setenv("SYNC_WAREHOUSES_TABLE", str(ROOT / "config/warehouses.csv"))
        yield jst, kingdee
        assert httpx.get(f"{jst.url}/__admin/stats").json()["writes"] == 0
        assert httpx.get(f"{kingdee.url}/__admin/stats").json()["writes"] == 0


def complete_shops_table(folder: Path) -> Path:
    """config/shops.csv plus the shop the sandbox leaves unmapped on purpose (for the held-document tests)."""
    table = folder / "shops.csv"
    text = (ROOT / "config/shops.csv").read_text(encoding="utf-8")
    table.write_text(f"{text.rstrip()}\n{UNMAPPED_SHOP_ID},小红书店,CUST001,小红书店\n", encoding="utf-8")
    return table


def run_doctor() -> tuple[int, dict[str, dict]]:
    """The flow's exit code (the CLI's: see the tests through `jst-kingdee doctor`) and its rows by check."""
    from flows.doctor import doctor

    result = doctor(days=2)
    return result["exit_code"], {row["check"]: row for row in result["checks"]}


def run_cli() -> tuple[int, str]:
    result = CliRunner().invoke(app, ["doctor", "--days", "2"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


@pytest.fixture
def forbidden_customer(small_world: SandboxWorld) -> str:
    """The first shop's customer, forbidden in Kingdee (before the emulator is started on the world)."""
    with open(ROOT / "config/shops.csv", encoding="utf-8") as source:
        customer = next(csv.DictReader(source))["customer_number"]
    for row in small_world.kingdee["BD_Customer"]:
        if row["FNumber"] == customer:
            row["FForbidStatus"] = "B"
    return customer


def failed(rows: dict[str, dict]) -> dict[str, dict]:
    return {name: row for name, row in rows.items() if row["status"] == "FAIL"}


def test_every_check_passes_on_the_sandbox(servers) -> None:
    code, output = run_cli()
    assert code == 0, output
    assert "| Kingdee login (signature) | PASS |" in output
    _, rows = run_doctor()
    assert {row["status"] for row in rows.values()} == {"PASS"}, [r for r in rows.values() if r["status"] != "PASS"]
    assert {"SAL_OUTSTOCK field keys", "SAL_RETURNSTOCK field keys", "BD_MATERIAL field keys"} <= set(rows)


def test_a_dropped_custom_field_fails_naming_its_setting(servers) -> None:
    _jst, kingdee = servers
    httpx.post(f"{kingdee.url}/__admin/metadata/drop", json={"SAL_OUTSTOCK": ["F_PAEZ_OnlineOrderNo"]})
    code, rows = run_doctor()
    assert code == 1
    assert set(failed(rows)) == {"SAL_OUTSTOCK field keys"}
    assert "F_PAEZ_OnlineOrderNo" in rows["SAL_OUTSTOCK field keys"]["detail"]
    assert "SYNC_ONLINE_ORDER_FIELD" in rows["SAL_OUTSTOCK field keys"]["fix"]


def test_an_unmapped_shop_fails_with_the_table_to_fill(servers, monkeypatch) -> None:
    monkeypatch.setenv("SYNC_SHOPS_TABLE", str(ROOT / "config/shops.csv"))  # without the sandbox's shop 10090
    code, rows = run_doctor()
    assert code == 1
    assert set(failed(rows)) == {"shops mapped (shops table)"}
    assert str(UNMAPPED_SHOP_ID) in rows["shops mapped (shops table)"]["detail"]
    assert all(way in rows["shops mapped (shops table)"]["fix"] for way in ("worklist.xlsx", "set-mappings/form"))


def test_a_forbidden_customer_fails_with_enable_it(forbidden_customer, servers) -> None:
    code, rows = run_doctor()
    assert code == 1
    assert set(failed(rows)) == {"table numbers usable in Kingdee"}
    assert forbidden_customer in rows["table numbers usable in Kingdee"]["detail"]
    assert "enable the customer" in rows["table numbers usable in Kingdee"]["fix"]


def test_a_skewed_clock_fails_with_ntp(servers) -> None:
    jst, _kingdee = servers
    httpx.post(f"{jst.url}/__admin/clock", json={"offset_seconds": 3600}).raise_for_status()
    code, rows = run_doctor()
    assert code == 1
    assert rows["clock vs Jushuitan"]["status"] == "FAIL"
    assert "NTP" in rows["clock vs Jushuitan"]["fix"]


def test_a_bad_app_secret_fails_with_the_console_to_copy_from(servers, monkeypatch) -> None:
    monkeypatch.setenv("JST_APP_SECRET", "not-the-secret")
    code, output = run_cli()
    assert code == 1
    assert "not-the-secret" not in output
    _, rows = run_doctor()
    assert rows["Jushuitan auth and token"]["status"] == "FAIL"
    assert "JST_APP_SECRET" in rows["Jushuitan auth and token"]["fix"]


TMALL_SHOP = 10086


def test_a_shop_only_the_qimen_route_serves_warns_naming_it_then_passes_once_set(servers, monkeypatch) -> None:
    jst, _kingdee = servers
    check = f"after-sales route, shop {TMALL_SHOP} 天猫旗舰店"
    _, rows = run_doctor()
    assert rows[check]["status"] == "PASS" and "standard /open/refund/single/query" in rows[check]["detail"]
    httpx.post(f"{jst.url}/__admin/after_sales_routes", json={"qimen_only": [TMALL_SHOP]}).raise_for_status()

    code, rows = run_doctor()
    assert code == 0 and rows[check]["status"] == "WARN"
    assert "0 after-sales" in rows[check]["detail"] and "the Qimen route returns" in rows[check]["detail"]
    assert "JST_QIMEN_SHOP_IDS" in rows[check]["fix"] and "jushuitan.refund.list.query" in rows[check]["fix"]

    monkeypatch.setenv("JST_QIMEN_SHOP_IDS", str(TMALL_SHOP))
    _, rows = run_doctor()
    assert rows[check]["status"] == "PASS"
    assert rows[check]["detail"].startswith("Qimen jushuitan.refund.list.query: ")
    assert " 0 after-sales" not in rows[check]["detail"]
    others = [row for name, row in rows.items() if name.startswith("after-sales route") and name != check]
    assert others and all("standard" in row["detail"] for row in others)


@pytest.fixture
def no_return_bill_type(small_world: SandboxWorld) -> str:
    """The tenant without SCHEME.md's return bill type (before the emulator is started on the world)."""
    bill_types = small_world.kingdee["BOS_BillType"]
    bill_types[:] = [row for row in bill_types if row["FNumber"] != "XSTHD01_SYS"]
    return "XSTHD01_SYS"


def test_a_bill_type_missing_on_the_tenant_fails(no_return_bill_type, servers) -> None:
    code, rows = run_doctor()
    assert code == 1
    assert set(failed(rows)) == {f"bill type {no_return_bill_type} (SAL_RETURNSTOCK)"}
    assert rows["bill type XSCKD01_SYS (SAL_OUTSTOCK)"]["status"] == "PASS"


def test_a_tenant_capping_query_pages_fails_with_the_page_size_to_set(servers) -> None:
    _jst, kingdee = servers
    httpx.post(f"{kingdee.url}/__admin/query_row_cap", json={"rows": 5}).raise_for_status()
    code, rows = run_doctor()
    assert code == 1
    assert rows["ExecuteBillQuery row cap"]["status"] == "FAIL"
    assert "KINGDEE_QUERY_PAGE_SIZE to 5 or less" in rows["ExecuteBillQuery row cap"]["fix"]


def test_main_warehouse_documents_with_wms_co_id_0_fail_until_the_table_has_it(small_world, servers) -> None:
    jst, _kingdee = servers
    latest = dict(max(small_world.outbound, key=lambda doc: doc["modified"]))
    latest.update(io_id=latest["io_id"] + 1_000_000, wms_co_id=0)
    httpx.post(f"{jst.url}/__admin/records/outbound", json=[latest]).raise_for_status()
    code, rows = run_doctor()
    assert code == 1
    assert rows["main warehouse wms_co_id"]["status"] == "FAIL"
    assert "wms_co_id 0" in rows["main warehouse wms_co_id"]["detail"]
