"""One run of a sync at a time, for every process that shares the state database."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from state.database import connect, database_url, lock_key, reached, shown
from state.settings import SyncSettings


class RunInProgress(RuntimeError):
    """Another run of the same sync holds the lock: this one writes nothing."""


@contextmanager
def run_lock(sync: str, settings: SyncSettings) -> Iterator[None]:
    """An exclusive lock per sync. Deployments already refuse overlapping runs (concurrency_limit 1,
    CANCEL_NEW); this also covers the CLI and ad-hoc runs. Whoever holds it, the lock goes when its
    process dies, so a killed run never leaves it stuck."""
    url = database_url(settings)
    if url.get_backend_name() == "sqlite":
        # A SQLite lock lasts only as long as a transaction, and one held open for a whole run would stop
        # every other writer of the file. A SQLite file serves one host, so the OS lock beside it does.
        with _file_lock(Path(url.database).parent / f"{sync}.lock", sync):
            yield
        return
    # A session-level advisory lock on a connection of its own, held for the run: the server drops it when
    # that connection ends, and the connection ends when the process does.
    with reached(connect(settings)) as db:
        db = db.execution_options(isolation_level="AUTOCOMMIT")
        key = lock_key(f"run:{sync}")
        if not db.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar_one():
            raise RunInProgress(
                f"another {sync} run is in progress (advisory lock {key} on {shown(url)}); nothing was written"
            )
        try:
            yield
        finally:
            db.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


@contextmanager
def _file_lock(path: Path, sync: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInProgress(
                f"another {sync} run is in progress (lock {handle.name}); nothing was written"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
