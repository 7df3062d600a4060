"""The hand-kept tables in the state store: seeded from config/*.csv on first use, then changed and read back
through `jst-kingdee mappings import / export`."""

from __future__ import annotations

import re
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import text
from typer.testing import CliRunner

from basics.shanghai import now_shanghai
from cli import app
from state import database
from state.database import connect
from state.settings import SyncSettings
from state.tables import SHOPS, WAREHOUSES, apply_table, hand_kept_tables

CONFIG = Path(__file__).resolve().parents[2] / "config"
# config/shops.csv with 10086 mapped to another customer, 10089 gone and 10090 new.
EDITED_SHOPS = """shop_id,shop_name,customer_number,customer_name
10086,天猫旗舰店,CUST006,天猫旗舰店
10087,京东自营店,CUST002,京东自营店
10088,抖音小店,CUST003,抖音小店
10090,小红书店,CUST005,
"""


@pytest.fixture
def seeded(
    state_settings: SyncSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kingdee_server, prefect_api
) -> SyncSettings:
    """Settings whose seed files are copies of config/*.csv that a test may spoil; an import checks its rows
    against the Kingdee emulator."""
    monkeypatch.setenv("KINGDEE_SERVER_URL", f"{kingdee_server.url}/k3cloud")
    for table in (SHOPS, WAREHOUSES):
        shutil.copy(CONFIG / f"{table.name}.csv", tmp_path / f"{table.name}.csv")
        monkeypatch.setenv(f"SYNC_{table.seed_setting.upper()}", str(tmp_path / f"{table.name}.csv"))
    return SyncSettings()


def history(settings: SyncSettings) -> list[dict]:
    with connect(settings).connect() as db:
        rows = db.execute(text("SELECT * FROM shops_history ORDER BY changed_at, shop_id")).mappings()
        return [dict(row) for row in rows]


def mappings(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["mappings", *args])
    return result.exit_code, result.output


def test_first_use_imports_the_seed_files_as_they_are(seeded):
    shops, warehouses = hand_kept_tables(seeded)

    assert_frame_equal(shops, SHOPS.read_csv(CONFIG / "shops.csv"))
    assert_frame_equal(warehouses, WAREHOUSES.read_csv(CONFIG / "warehouses.csv"))
    assert [(row["change"], row["shop_id"], row["source"]) for row in history(seeded)] == [
        ("added", shop_id, f"{seeded.shops_table} (first use)") for shop_id in shops["shop_id"]
    ]


def test_after_the_first_use_the_seed_file_is_not_read_again(seeded):
    first, _ = hand_kept_tables(seeded)
    seeded.shops_table.write_text("not,a,table\n", encoding="utf-8")

    assert_frame_equal(hand_kept_tables(seeded)[0], first)
    assert len(history(seeded)) == first.height
    # A table emptied on purpose stays empty: it is not seeded a second time.
    apply_table(seeded, SHOPS, first.clear(), "ana", "empty.csv", now_shanghai())
    assert hand_kept_tables(seeded)[0].is_empty()


def test_an_import_applies_each_change_with_who_and_when_and_the_history_keeps_the_old_values(seeded, tmp_path):
    hand_kept_tables(seeded)
    edited = tmp_path / "edited.csv"
    edited.write_text(EDITED_SHOPS, encoding="utf-8")
    before = now_shanghai()

    status, output = mappings("import", str(edited), "--table", "shops", "--who", "ana")

    assert status == 0, output
    assert "shops: 1 added, 1 changed, 1 removed, 2 unchanged" in output
    assert_frame_equal(hand_kept_tables(seeded)[0], SHOPS.read_csv(edited))
    with connect(seeded).connect() as db:
        stamps = {row[0]: row[1:] for row in db.execute(text("SELECT shop_id, changed_by, changed_at FROM shops"))}
    assert stamps[10086][0] == stamps[10090][0] == "ana" and stamps[10087][0] != "ana"
    assert before <= datetime.fromisoformat(stamps[10086][1]) <= now_shanghai()
    by_shop: dict[int, list[tuple]] = {}
    for row in history(seeded):
        by_shop.setdefault(row["shop_id"], []).append((row["change"], row["customer_number"], row["changed_by"]))
    assert by_shop[10086][0][:2] == ("added", "CUST001") and by_shop[10086][1] == ("changed", "CUST006", "ana")
    assert by_shop[10089][1] == ("removed", "CUST004", "ana")
    assert by_shop[10090] == [("added", "CUST005", "ana")]
    assert {row["source"] for row in history(seeded) if row["changed_by"] == "ana"} == {str(edited.resolve())}


def test_an_export_has_the_seed_files_columns_and_imports_back_unchanged(seeded, tmp_path):
    status, output = mappings("export", "--out", str(tmp_path / "out"))

    assert status == 0, output
    for table in (SHOPS, WAREHOUSES):
        exported = tmp_path / "out" / f"{table.name}.csv"
        assert exported.read_bytes() == (CONFIG / f"{table.name}.csv").read_bytes()
        status, output = mappings("import", str(exported), "--table", table.name)
        assert status == 0 and "0 added, 0 changed, 0 removed" in output, output
    assert len(history(seeded)) == hand_kept_tables(seeded)[0].height


def test_an_import_with_one_bad_row_applies_nothing_and_names_the_row(seeded, tmp_path):
    shops, _ = hand_kept_tables(seeded)
    bad = tmp_path / "bad.csv"
    bad.write_text(EDITED_SHOPS.replace("10090,小红书店,CUST005,", "10090,小红书店,,"), encoding="utf-8")

    status, output = mappings("import", str(bad), "--table", "shops")

    assert status == 1
    assert re.search(re.escape(f"{bad}: row 5, column customer_number: empty") + ".*Nothing was applied", output)
    assert_frame_equal(hand_kept_tables(seeded)[0], shops)
    assert len(history(seeded)) == shops.height


def test_a_store_of_the_version_before_the_tables_gains_them_and_keeps_its_ledger(seeded, monkeypatch):
    with monkeypatch.context() as older:
        older.setattr(database, "MIGRATIONS", database.MIGRATIONS[:1])  # the schema of the ledger alone
        with connect(seeded).begin() as db:
            db.execute(
                text(
                    "INSERT INTO held_documents (sync, document, status, first_seen, last_seen)"
                    " VALUES ('outbound', '1001', 'held', 't0', 't0')"
                )
            )

    assert hand_kept_tables(seeded)[0].height == 4
    with connect(seeded).connect() as db:
        assert db.execute(text("SELECT document, status FROM held_documents")).all() == [("1001", "held")]
