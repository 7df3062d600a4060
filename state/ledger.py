"""The held-documents ledger: every held or failed document, durably, until it goes through.

A Prefect Variable is too small for thousands of documents, so the ledger is one SQLite file under
the state directory (`SYNC_STATE_DIR`, default `.state/held.sqlite`). Every sync run asks it which
documents are still pending and fetches those again by number before its window, so fixing a
mapping or a master record releases them on the next run without anyone touching a watermark.
A document leaves the pending list only when it was written (or found already in Kingdee), or when
Jushuitan no longer offers it in scope (recorded as `out_of_scope` with the time, never deleted).
A bill saved in Kingdee whose Submit or Audit failed stays pending as `submit_failed` / `audit_failed`,
so the next run fetches it again, finds it by FBillNo and takes it on from its Kingdee status.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path

import polars as pl

PENDING = ("held", "failed", "submit_failed", "audit_failed")
FOLLOW_UP_FAILED = PENDING[2:]
RELEASED = "released"
OUT_OF_SCOPE = "out_of_scope"

_SCHEMA = """
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


# SQLite's answers for a file that is not a database, or one whose pages are damaged.
_CORRUPT = ("SQLITE_NOTADB", "SQLITE_CORRUPT")


class LedgerCorrupt(RuntimeError):
    """The ledger file cannot be read as a database: a person must restore it or move it aside."""


class HeldLedger:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._open() as db, db:
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        # WAL lets a report reader look while a run writes; the timeout covers two runs finishing together.
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    @contextmanager
    def _open(self) -> Iterator[sqlite3.Connection]:
        """A connection; a damaged file fails naming itself and the way out, not as a bare DatabaseError
        (a locked or busy database is not damage and raises as it is)."""
        try:
            with closing(self._connect()) as db:
                yield db
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorname", None) not in _CORRUPT:
                raise
            raise LedgerCorrupt(
                f"the held-documents ledger {self.path} is damaged ({exc}). Restore it (with its -wal file) from "
                f"a backup, or move it aside (e.g. to {self.path.name}.corrupt) so the next run starts an empty "
                "ledger: the documents it held are then retried only when they come back in a window or are "
                "replayed."
            ) from exc

    def pending(self, sync: str) -> list[str]:
        with self._open() as db:
            rows = db.execute(
                f"SELECT document FROM held_documents WHERE sync = ? AND status IN ({', '.join('?' * len(PENDING))}) "
                "ORDER BY first_seen, document",
                (sync, *PENDING),
            ).fetchall()
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
        with self._open() as db, db:
            db.executemany(
                """
                INSERT INTO held_documents (sync, document, status, reasons, shop_id, shop_name, first_seen, last_seen)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (sync, document) DO UPDATE SET
                    status = excluded.status, reasons = excluded.reasons, shop_id = excluded.shop_id,
                    shop_name = excluded.shop_name, last_seen = excluded.last_seen, attempts = attempts + 1
                """,
                [
                    (sync, r["document"], r["outcome"], r["message"], r["shop_id"], r["shop_name"], stamp, stamp)
                    for r in pending.iter_rows(named=True)
                ],
            )
            db.executemany(
                "UPDATE held_documents SET status = ?, last_seen = ? WHERE sync = ? AND document = ?",
                [(RELEASED, stamp, sync, doc) for doc in through["document"].to_list()],
            )
            closed = db.executemany(
                "UPDATE held_documents SET status = ?, last_seen = ?, reasons = ?"
                f" WHERE sync = ? AND document = ? AND status IN ({', '.join('?' * len(PENDING))})",
                [
                    (
                        OUT_OF_SCOPE,
                        stamp,
                        "不再符合同步条件 (已取消/未找到) / no longer in scope in Jushuitan",
                        sync,
                        doc,
                        *PENDING,
                    )
                    for doc in gone
                ],
            ).rowcount
        return closed

    def documents(self, sync: str | None = None) -> pl.DataFrame:
        """Everything the ledger holds (for reports and for people)."""
        query = "SELECT * FROM held_documents" + (" WHERE sync = ?" if sync else "") + " ORDER BY sync, first_seen"
        with self._open() as db:
            cursor = db.execute(query, (sync,) if sync else ())
            columns = [c[0] for c in cursor.description]
            return pl.DataFrame(cursor.fetchall(), schema=columns, orient="row")
