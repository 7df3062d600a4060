"""The held-documents ledger: every held or failed document, durably, until it goes through.

A Prefect Variable is too small for thousands of documents, so the ledger is the table held_documents in
the state database (state/database.py: SQLite under SYNC_STATE_DIR by default, PostgreSQL in production,
where every worker sees the same ledger). A ledger file of an earlier version (`SYNC_STATE_DIR/held.sqlite`)
is imported on first use. Every sync run asks it which
documents are still pending and fetches those again by number before its window, so fixing a
mapping or a master record releases them on the next run without anyone touching a watermark.
A document leaves the pending list only when it was written (or found already in Kingdee), or when
Jushuitan no longer offers it in scope (recorded as `out_of_scope` with the time, never deleted).
A bill saved in Kingdee whose Submit or Audit failed stays pending as `submit_failed` / `audit_failed`,
so the next run fetches it again, finds it by FBillNo and takes it on from its Kingdee status.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import closing, suppress
from datetime import datetime
from pathlib import Path

import polars as pl
from sqlalchemy import Connection, Engine, TextClause, bindparam, text

from basics.chunks import chunks
from state.database import StateDamaged, connect, damage, is_damaged
from state.settings import SyncSettings

PENDING = ("held", "failed", "submit_failed", "audit_failed")
FOLLOW_UP_FAILED = PENDING[2:]
RELEASED = "released"
OUT_OF_SCOPE = "out_of_scope"

COLUMNS = ("sync", "document", "status", "reasons", "shop_id", "shop_name", "first_seen", "last_seen", "attempts")
_INSERT = f"INSERT INTO held_documents ({', '.join(COLUMNS)}) VALUES ({', '.join(':' + c for c in COLUMNS)})"
_PENDING = bindparam("pending", PENDING, expanding=True)
_DOCUMENTS = bindparam("documents", expanding=True)
_RELEASE = text(
    "UPDATE held_documents SET status = :status, last_seen = :stamp WHERE sync = :sync AND document IN :documents"
).bindparams(_DOCUMENTS)
_CLOSE = text(
    "UPDATE held_documents SET status = :status, last_seen = :stamp, reasons = :reasons"
    " WHERE sync = :sync AND document IN :documents AND status IN :pending"
).bindparams(_DOCUMENTS, _PENDING)
_GONE = "不再符合同步条件 (已取消/未找到) / no longer in scope in Jushuitan"
# Numbers per statement: well under SQLite's and PostgreSQL's limits on bound parameters.
_IN_CHUNK = 500


class LedgerCorrupt(StateDamaged):
    """The ledger file kept before the state database cannot be read: a person must restore it or move it aside."""


class HeldLedger:
    def __init__(self, settings: SyncSettings) -> None:
        self.engine = connect(settings)
        import_ledger_file(self.engine, settings.held_ledger_path)

    def pending(self, sync: str) -> list[str]:
        with self.engine.connect() as db:
            rows = db.execute(
                text(
                    "SELECT document FROM held_documents WHERE sync = :sync AND status IN :pending "
                    "ORDER BY first_seen, document"
                ).bindparams(_PENDING),
                {"sync": sync},
            )
            return [document for (document,) in rows]

    def record(self, sync: str, outcomes: pl.DataFrame, retried: Iterable[str], now: datetime) -> int:
        """Store this run's held/failed documents (and bills whose Submit or Audit failed), release the
        ones that went through, and close retried ones that no longer came back in scope. Returns how
        many were closed that way: only rows the ledger had pending (a replay's numbers it never held, or
        released ones, are not touched)."""
        stamp = now.isoformat()
        seen = set(outcomes["document"].drop_nulls().to_list())
        follow_up_failed = pl.col("follow_up").is_in(FOLLOW_UP_FAILED)
        outcomes = outcomes.with_columns(
            pl.when(follow_up_failed).then(pl.col("follow_up")).otherwise(pl.col("outcome")).alias("outcome")
        )
        pending = outcomes.filter(pl.col("outcome").is_in(PENDING) & pl.col("document").is_not_null())
        through = outcomes.filter(pl.col("outcome").is_in(["written", "skipped_existing"]))
        gone = [doc for doc in retried if doc not in seen]
        with self.engine.begin() as db:
            rows = [
                {
                    "sync": sync,
                    "document": r["document"],
                    "status": r["outcome"],
                    "reasons": r["message"],
                    "shop_id": r["shop_id"],
                    "shop_name": r["shop_name"],
                    "first_seen": stamp,
                    "last_seen": stamp,
                    "attempts": 1,
                }
                for r in pending.iter_rows(named=True)
            ]
            if rows:
                db.execute(
                    text(
                        f"{_INSERT} ON CONFLICT (sync, document) DO UPDATE SET status = excluded.status, "
                        "reasons = excluded.reasons, shop_id = excluded.shop_id, shop_name = excluded.shop_name, "
                        "last_seen = excluded.last_seen, attempts = held_documents.attempts + 1"
                    ),
                    rows,
                )
            _each(db, _RELEASE, through["document"].to_list(), status=RELEASED, stamp=stamp, sync=sync)
            return _each(db, _CLOSE, gone, status=OUT_OF_SCOPE, stamp=stamp, sync=sync, reasons=_GONE)

    def documents(self, sync: str | None = None) -> pl.DataFrame:
        """Everything the ledger holds (for reports and for people)."""
        query = "SELECT * FROM held_documents" + (" WHERE sync = :sync" if sync else "") + " ORDER BY sync, first_seen"
        with self.engine.connect() as db:
            result = db.execute(text(query), {"sync": sync} if sync else {})
            return pl.DataFrame(result.fetchall(), schema=list(result.keys()), orient="row")


def _each(db: Connection, statement: TextClause, documents: list[str], **values: str) -> int:
    """Run an UPDATE on these documents, a slice at a time; returns how many rows changed."""
    return sum(db.execute(statement, {**values, "documents": part}).rowcount for part in chunks(documents, _IN_CHUNK))


def import_ledger_file(engine: Engine, path: Path) -> None:
    """Take in, once, the ledger file kept before the state database: nothing lost, and where a row is already
    in the store (another host's file, say) the one seen last wins. The file is then renamed `*.imported`,
    so it is never read again and stays as a backup until someone removes it."""
    if not path.exists():
        return
    try:
        with closing(sqlite3.connect(path, timeout=30)) as old:
            rows = old.execute(f"SELECT {', '.join(COLUMNS)} FROM held_documents").fetchall()
    except sqlite3.DatabaseError as exc:
        if not is_damaged(exc):
            raise
        raise LedgerCorrupt(damage(path, "the held-documents ledger", exc)) from exc
    if rows:
        with engine.begin() as db:
            db.execute(
                text(
                    f"{_INSERT} ON CONFLICT (sync, document) DO UPDATE SET "
                    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[2:])
                    + " WHERE excluded.last_seen > held_documents.last_seen"
                ),
                [dict(zip(COLUMNS, row, strict=True)) for row in rows],
            )
    for suffix in ("", "-wal"):
        # Two runs of different syncs may both take it in at the first start after an upgrade.
        with suppress(FileNotFoundError):
            path.with_name(path.name + suffix).replace(path.with_name(f"{path.name}.imported{suffix}"))
