"""Analysts fix held documents without git (issue 18), against both emulators over real HTTP: the worklist
workbook edited with openpyxl as a person would in Excel and brought back by `mappings import`, the same
through the set-mappings flow run from a deployment through the Prefect API, and rejected rows named with
their reasons while nothing of their file or run is applied."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from prefect.artifacts import Artifact
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.flow_engine import run_flow
from sqlalchemy import text
from typer.testing import CliRunner

from cli import app
from flows.outbound import sync_outbound
from flows.set_mappings import MappingsRejected, ShopMapping, set_mappings
from reporting.worklist_book import BOOK_NAME, CANDIDATES
from sandbox.data import UNMAPPED_SHOP_ID, SandboxWorld
from state.database import connect
from state.ledger import HeldLedger
from state.settings import SyncSettings
from state.tables import hand_kept_tables

SUGGESTED = "CUST006"  # 小红书旗舰店: the usable customer finance opened for shop 10090 小红书店
FORBIDDEN = "CUST007"  # 小红书店(旧): nearer by name, but forbidden


@pytest.fixture
def incremental(monkeypatch) -> None:
    monkeypatch.setenv("SYNC_INITIAL_LOOKBACK_DAYS", "30")
    monkeypatch.setenv("SYNC_SAFETY_LAG_MINUTES", "0")


def held_for_the_shop_only(sandbox) -> set[str]:
    """Documents the first run held for the unmapped shop and for nothing else: what mapping it releases."""
    held = pl.read_csv(next(sandbox.reports.iterdir()) / "held.csv", infer_schema=False)
    reasons = held.group_by("document").agg(pl.col("rule_id").unique())
    only = reasons.filter(pl.col("rule_id").list.len() == 1, pl.col("rule_id").list.first() == "shop.unmapped")
    return set(only["document"])


def worklist_book(world: SandboxWorld) -> Path:
    since, until = world.start - timedelta(days=1), datetime.now(world.end.tzinfo) + timedelta(minutes=1)
    period = ["--since", f"{since:%Y-%m-%d %H:%M:%S}", "--until", f"{until:%Y-%m-%d %H:%M:%S}"]
    result = CliRunner().invoke(app, ["check-mappings", *period])
    assert result.exit_code == 0, result.output
    return Path(json.loads(result.output)["report_dir"]) / BOOK_NAME


def mappings_import(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["mappings", "import", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.output


def shops_history() -> list[dict]:
    with connect(SyncSettings()).connect() as db:
        return [dict(row) for row in db.execute(text("SELECT * FROM shops_history ORDER BY shop_id")).mappings()]


def written_once_on_the_next_run(sandbox, released: set[str], first: dict) -> None:
    """The next incremental run writes exactly `released`, to the suggested customer, and the one after nothing."""
    before = set(sandbox.bills("SAL_OUTSTOCK"))
    second = sync_outbound()
    bills = sandbox.bills("SAL_OUTSTOCK")
    assert set(bills) - before == released
    assert second["written"] == len(released)
    assert all(bills[io_id]["FCustomerID"] == {"FNumber": SUGGESTED} for io_id in released)
    assert not released & set(HeldLedger(SyncSettings()).pending("outbound"))
    assert sync_outbound()["written"] == 0
    assert len(sandbox.bills("SAL_OUTSTOCK")) == first["written"] + second["written"]


def test_the_accepted_suggestion_in_the_workbook_releases_the_held_shop_once(sandbox, incremental, tmp_path):
    first = sync_outbound()
    released = held_for_the_shop_only(sandbox)
    assert released and not released & set(sandbox.bills("SAL_OUTSTOCK"))

    path = worklist_book(sandbox.world)
    book = openpyxl.load_workbook(path)
    shops = book["shops"]
    header = [cell.value for cell in shops[1]]
    (row,) = [dict(zip(header, values, strict=True)) for values in shops.iter_rows(min_row=2, values_only=True)]
    assert (row["shop_id"], row["shop_name"], row["customer_number"]) == (UNMAPPED_SHOP_ID, "小红书店", SUGGESTED)
    assert row["suggested_name"] == "小红书旗舰店" and row["held_documents"] >= len(released)
    number_cell = shops.cell(2, header.index("customer_number") + 1)
    (choice,) = [dv for dv in shops.data_validations.dataValidation if number_cell.coordinate in dv.sqref]
    offered = [cell.value for cell in book[CANDIDATES][choice.formula1.split("!")[1].replace("$", "")][0]]
    assert offered[0] == SUGGESTED and FORBIDDEN not in offered  # forbidden and already mapped are never offered
    assert not {"CUST001", "CUST002", "CUST003", "CUST004"} & set(offered)
    assert book["warehouses"].max_row == 1  # every warehouse is mapped: nothing to fill in

    # The analyst opens the drop-down, keeps its first entry and saves.
    number_cell.value = offered[0]
    edited = tmp_path / "worklist-edited.xlsx"
    book.save(edited)
    status, output = mappings_import(str(edited), "--by", "analyst")

    assert status == 0, output
    assert f"| shops | 新增 added | {UNMAPPED_SHOP_ID} | 小红书店 |  | {SUGGESTED} |" in output
    assert "shops: 1 added, 0 changed, 0 removed, 4 unchanged" in output
    assert f"retry {len(HeldLedger(SyncSettings()).pending('outbound'))} held documents" in output
    shops_table, _ = hand_kept_tables(SyncSettings())
    assert shops_table.filter(pl.col("shop_id") == UNMAPPED_SHOP_ID).row(0) == (
        UNMAPPED_SHOP_ID,
        "小红书店",
        SUGGESTED,
        "小红书旗舰店",  # the name Kingdee has for it
    )
    (added,) = [row for row in shops_history() if row["changed_by"] == "analyst"]
    assert (added["change"], added["shop_id"], added["source"]) == ("added", UNMAPPED_SHOP_ID, str(edited.resolve()))
    written_once_on_the_next_run(sandbox, released, first)


def test_set_mappings_run_from_a_deployment_with_form_parameters_releases_the_held_shop_once(sandbox, incremental):
    schema = set_mappings.parameters.model_dump()
    shop_form = schema["definitions"]["ShopMapping"]
    assert schema["properties"]["shops"]["anyOf"][0] == {
        "items": {"$ref": "#/definitions/ShopMapping"},
        "type": "array",
    }
    assert set(shop_form["required"]) == {"shop_id", "customer_number"}
    assert shop_form["properties"]["shop_id"]["type"] == "integer"
    first = sync_outbound()
    released = held_for_the_shop_only(sandbox)
    pending = len(HeldLedger(SyncSettings()).pending("outbound"))

    # As the UI does: a flow run of the deployment, its parameters JSON from the form, checked by the server
    # against the deployment's schema; then executed in this process as a worker executes it.
    set_mappings.to_deployment(name="round-trip").apply()
    requested = run_deployment(
        "set-mappings/round-trip",
        parameters={"shops": [{"shop_id": UNMAPPED_SHOP_ID, "customer_number": SUGGESTED}], "changed_by": "ana"},
        timeout=0,
    )
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(requested.id)
    result = run_flow(set_mappings, flow_run=flow_run)

    assert result["applied"] == {"shops": {"added": 1, "changed": 0, "removed": 0, "unchanged": 4}}
    assert result["retried"]["pending"] == pending >= result["retried"]["for_these_shops"] >= len(released)
    (added,) = [row for row in shops_history() if row["changed_by"] == "ana"]
    assert (added["shop_name"], added["customer_number"]) == ("小红书旗舰店", SUGGESTED)  # name from Kingdee
    assert added["source"] == f"set-mappings flow run {flow_run.name}"
    artifact = Artifact.get("set-mappings")
    assert f"| shops | 新增 added | {UNMAPPED_SHOP_ID} | 小红书旗舰店 |  | {SUGGESTED} |" in artifact.data
    assert f"下次运行重试暂缓单据 {pending} 张" in artifact.data
    written_once_on_the_next_run(sandbox, released, first)


def test_rejected_rows_are_named_with_their_reasons_and_nothing_of_the_file_or_run_is_applied(sandbox, tmp_path):
    book = openpyxl.load_workbook(worklist_book(sandbox.world))
    shops = book["shops"]
    shops.cell(2, 3).value = FORBIDDEN  # typed over the suggestion
    shops.append([10091, "新开快手店", "CUST999"])  # a customer Kingdee does not have
    shops.append([10092, "线下批发", "CUST005"])  # a good row: still not applied, the file is one change
    edited = tmp_path / "rejected.xlsx"
    book.save(edited)
    tables_before, history_before = hand_kept_tables(SyncSettings()), shops_history()

    status, output = mappings_import(str(edited))

    assert status == 1
    assert (
        f"| shops | 2 | {UNMAPPED_SHOP_ID} | {FORBIDDEN} | 客户在金蝶中已禁用 / customer forbidden in Kingdee |"
        in output
    )
    assert "| shops | 3 | 10091 | CUST999 | 客户在金蝶中不存在 / customer missing in Kingdee |" in output
    assert "| shops | 4 |" not in output and "2 rows rejected (listed above). Nothing was applied." in output
    assert hand_kept_tables(SyncSettings())[0].equals(tables_before[0]) and shops_history() == history_before

    with pytest.raises(MappingsRejected, match="CUST001 is already mapped to shop 10086"):
        set_mappings(shops=[ShopMapping(shop_id=UNMAPPED_SHOP_ID, customer_number="CUST001")])
    assert "客户CUST001 已映射到店铺 10086 天猫旗舰店" in Artifact.get("set-mappings").data
    assert hand_kept_tables(SyncSettings())[0].equals(tables_before[0]) and shops_history() == history_before
