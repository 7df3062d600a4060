from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from state.ledger import HeldLedger, LedgerCorrupt

NOW = datetime(2026, 11, 20, 10, 0)
LATER = datetime(2026, 11, 21, 10, 0)

# The ledger file as the code before the state database wrote it (state/ledger.py, held.sqlite, WAL).
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS held_documents (
    sync TEXT NOT NULL,
    document TEXT NOT NULL,
    status TEXT NOT NULL,
    reasons TEXT,
    shop_id TEXT,
    shop_name TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (sync, document)
)
"""
DAY1, DAY2, DAY3 = (f"2026-11-0{day}T09:00:00+08:00" for day in (1, 2, 3))
OLD_ROWS = [
    ("outbound", "1001", "held", "店铺未映射", "10090", "小红书店", DAY1, DAY3, 3),
    ("outbound", "1002", "released", None, "1", "s", DAY1, DAY2, 1),
    ("returns", "77", "audit_failed", "审核失败", None, None, DAY2, DAY2, 2),
]


def write_old_ledger(path: Path, rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as old, old:
        old.execute("PRAGMA journal_mode=WAL")
        old.execute(OLD_SCHEMA)
        old.executemany("INSERT INTO held_documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def outcomes(*rows: tuple[str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "document": [document for document, _ in rows],
            "shop_id": ["1"] * len(rows),
            "shop_name": ["s"] * len(rows),
            "outcome": [outcome for _, outcome in rows],
            "kingdee_number": [None] * len(rows),
            "follow_up": [None] * len(rows),
            "message": ["why"] * len(rows),
        },
        schema_overrides={"kingdee_number": pl.String, "follow_up": pl.String},
    )


def test_held_documents_stay_pending_count_attempts_and_leave_when_written(state_settings):
    ledger = HeldLedger(state_settings)
    ledger.record("outbound", outcomes(("1001", "held"), ("1002", "failed"), ("1003", "written")), [], NOW)
    assert ledger.pending("outbound") == ["1001", "1002"] and ledger.pending("returns") == []
    closed = ledger.record("outbound", outcomes(("1001", "held"), ("1002", "written")), ["1001", "1002"], LATER)
    assert closed == 0 and ledger.pending("outbound") == ["1001"]
    rows = {row["document"]: row for row in ledger.documents("outbound").iter_rows(named=True)}
    assert rows["1001"]["attempts"] == 2 and rows["1001"]["first_seen"] == NOW.isoformat()
    assert rows["1002"]["status"] == "released" and rows["1002"]["last_seen"] == LATER.isoformat()
    assert "1003" not in rows  # written at once: never held


def test_a_retried_document_that_no_longer_comes_back_is_closed_as_out_of_scope(state_settings):
    ledger = HeldLedger(state_settings)
    many = [str(n) for n in range(2000, 3200)]  # more than one statement's worth of numbers
    ledger.record("outbound", outcomes(*((n, "held") for n in many)), [], NOW)
    assert ledger.record("outbound", outcomes(), [*many, "9999"], LATER) == len(many)
    assert ledger.pending("outbound") == []
    assert set(ledger.documents()["status"]) == {"out_of_scope"}


def test_a_ledger_file_of_the_earlier_version_is_imported_once_and_nothing_is_lost(state_settings):
    path = state_settings.held_ledger_path
    write_old_ledger(path, OLD_ROWS)

    ledger = HeldLedger(state_settings)
    assert sorted(ledger.documents().rows()) == sorted(OLD_ROWS)
    assert ledger.pending("outbound") == ["1001"] and ledger.pending("returns") == ["77"]
    assert not path.exists() and path.with_name("held.sqlite.imported").exists()

    ledger.record("outbound", outcomes(("1001", "written")), ["1001"], LATER)
    again = HeldLedger(state_settings)  # the next run: nothing imported a second time
    assert again.pending("outbound") == [] and again.documents().height == len(OLD_ROWS)


def test_an_imported_row_replaces_one_in_the_store_only_when_it_was_seen_later(state_settings):
    ledger = HeldLedger(state_settings)
    ledger.record("outbound", outcomes(("1001", "held"), ("1002", "held")), [], datetime(2026, 11, 2, 12))
    write_old_ledger(state_settings.held_ledger_path, OLD_ROWS[:2])
    rows = HeldLedger(state_settings).documents("outbound").select("document", "status", "attempts").rows()
    # The file saw 1001 on the 3rd (after the store's row of the 2nd, noon) and 1002 on the 2nd, at nine.
    assert sorted(rows) == [("1001", "held", 3), ("1002", "held", 1)]


def test_a_corrupt_ledger_file_fails_naming_it_and_what_to_do(state_settings):
    path = state_settings.held_ledger_path
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00garbage, not a database\xff" * 200)
    with pytest.raises(LedgerCorrupt) as corrupt:
        HeldLedger(state_settings)
    message = str(corrupt.value)
    assert str(path) in message and "backup" in message and "move it aside" in message
    assert path.exists()  # left for a person to restore or move
