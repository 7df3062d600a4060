"""One row per sync run in the state database (table sync_runs): the window it covered, what came of its
documents and where its report is, so reports and reconcile on any host can ask which runs covered a day."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text

from state.database import connect
from state.settings import SyncSettings

COLUMNS = ("run_id", "sync", "window_start", "window_end", "dry_run", "counts", "report_dir", "started", "finished")
# Kept as ISO text with their offset, as the ledger keeps its times: the same in SQLite and PostgreSQL.
_TIMES = ("window_start", "window_end", "started", "finished")
_UPSERT = text(
    f"INSERT INTO sync_runs ({', '.join(COLUMNS)}) VALUES ({', '.join(':' + c for c in COLUMNS)})"
    # A flow run retried by Prefect keeps its id: its last attempt's record wins.
    " ON CONFLICT (run_id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
)


@dataclass(frozen=True)
class RunRecord:
    run_id: str  # the Prefect flow run id, when the run is one
    sync: str
    window_start: datetime | None  # None: a replay, by number only
    window_end: datetime | None
    dry_run: bool
    counts: dict[str, int]  # documents fetched and by outcome, as the report counts them
    report_dir: str
    started: datetime
    finished: datetime


def record_run(settings: SyncSettings, run: RunRecord) -> None:
    values = vars(run)
    times = {c: None if values[c] is None else values[c].isoformat() for c in _TIMES}
    with connect(settings).begin() as db:
        db.execute(_UPSERT, {**values, **times, "counts": json.dumps(run.counts)})


def latest_runs(settings: SyncSettings, sync: str | None = None, limit: int = 20) -> list[RunRecord]:
    """The last `limit` runs to finish (of `sync`, or of every sync), the latest first."""
    where = " WHERE sync = :sync" if sync else ""
    query = text(f"SELECT {', '.join(COLUMNS)} FROM sync_runs{where} ORDER BY finished DESC LIMIT :limit")
    with connect(settings).connect() as db:
        rows = db.execute(query, {"sync": sync, "limit": limit}).mappings().all()
    return [
        RunRecord(
            **{
                **row,
                **{c: None if row[c] is None else datetime.fromisoformat(row[c]) for c in _TIMES},
                "dry_run": bool(row["dry_run"]),
                "counts": json.loads(row["counts"]),
            }
        )
        for row in rows
    ]
