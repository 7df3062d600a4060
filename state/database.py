"""The state database: what a run must remember beyond the watermarks, in one store every worker can see.

`SYNC_DATABASE_URL` chooses it: unset, a SQLite file under the state directory (`make demo` and the tests
need nothing else); in production PostgreSQL, `postgresql+psycopg://user:password@host:5432/jst_kingdee`.

The schema moves by numbered steps in `MIGRATIONS`, applied in order on first use and recorded in
`schema_migrations`, rather than by Alembic: a handful of tables do not need its script folder and env.py,
and the steps must run by themselves on every worker at start, with no operator command.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import URL, Connection, Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.pool import NullPool

from state.settings import SyncSettings

# Each step moves the schema one version up, in one transaction. A released step is never edited: a change
# is a new step. The SQL is what SQLite and PostgreSQL both accept.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: the held ledger, column for column as state/ledger.py kept it in held.sqlite
        """
        CREATE TABLE held_documents (
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
        """,
    ),
    (  # 2: the hand-kept tables (state/tables.py): the rows runs map with, and every change to them
        """
        CREATE TABLE shops (
            shop_id BIGINT PRIMARY KEY,
            shop_name TEXT NOT NULL,
            customer_number TEXT NOT NULL,
            customer_name TEXT,
            changed_by TEXT NOT NULL,
            changed_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE shops_history (
            change TEXT NOT NULL,
            shop_id BIGINT NOT NULL,
            shop_name TEXT NOT NULL,
            customer_number TEXT NOT NULL,
            customer_name TEXT,
            changed_by TEXT NOT NULL,
            changed_at TEXT NOT NULL,
            source TEXT NOT NULL
        )
        """,
        "CREATE INDEX shops_history_by_shop ON shops_history (shop_id, changed_at)",
        """
        CREATE TABLE warehouses (
            wms_co_id BIGINT PRIMARY KEY,
            warehouse_name TEXT NOT NULL,
            stock_number TEXT NOT NULL,
            stock_name TEXT,
            changed_by TEXT NOT NULL,
            changed_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE warehouses_history (
            change TEXT NOT NULL,
            wms_co_id BIGINT NOT NULL,
            warehouse_name TEXT NOT NULL,
            stock_number TEXT NOT NULL,
            stock_name TEXT,
            changed_by TEXT NOT NULL,
            changed_at TEXT NOT NULL,
            source TEXT NOT NULL
        )
        """,
        "CREATE INDEX warehouses_history_by_warehouse ON warehouses_history (wms_co_id, changed_at)",
    ),
    (  # 3: one row per sync run (state/runs.py)
        """
        CREATE TABLE sync_runs (
            run_id TEXT PRIMARY KEY,
            sync TEXT NOT NULL,
            window_start TEXT,
            window_end TEXT,
            dry_run BOOLEAN NOT NULL,
            counts TEXT NOT NULL,
            report_dir TEXT NOT NULL,
            started TEXT NOT NULL,
            finished TEXT NOT NULL
        )
        """,
        "CREATE INDEX sync_runs_by_sync ON sync_runs (sync, finished)",
    ),
    (  # 4: the Jushuitan call budget (state/budget.py): one row per call of the last minute, per token and API
        """
        CREATE TABLE jushuitan_calls (
            budget TEXT NOT NULL,
            called_at DOUBLE PRECISION NOT NULL
        )
        """,
        "CREATE INDEX jushuitan_calls_by_budget ON jushuitan_calls (budget, called_at)",
    ),
)

# psycopg 3 is the one PostgreSQL driver installed (pyproject.toml).
DRIVERS = ("sqlite", "postgresql+psycopg")
# SQLite's answers for a file that is not a database, or one whose pages are damaged.
_DAMAGED = ("SQLITE_NOTADB", "SQLITE_CORRUPT")


class DatabaseUnreachable(RuntimeError):
    """The state database cannot be opened at the start of a run: nothing was read or written."""


class StateLost(RuntimeError):
    """The state database stopped answering after it was reached: what was being written is not committed."""

    def __init__(self, url: URL, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"the state database {shown(url)} stopped answering ({reason}); what was being written there is not "
            "committed. A sync run stops here, before its watermark moves: the next run takes the same window "
            "again, and the bills already in Kingdee are found by FBillNo, not written twice."
        )


class SchemaTooNew(RuntimeError):
    """The state database was migrated by a newer version of this code: an older worker must not write to it."""


class StateDamaged(RuntimeError):
    """A SQLite file of the state cannot be read as a database: a person must restore it or move it aside."""


def database_url(settings: SyncSettings) -> URL:
    if settings.database_url is None:
        return URL.create("sqlite", database=str(settings.state_dir / "state.sqlite"))
    url = make_url(settings.database_url.get_secret_value())
    if url.drivername not in DRIVERS or (url.drivername == "sqlite" and url.database in (None, "", ":memory:")):
        raise ValueError(
            f"SYNC_DATABASE_URL {shown(url)} is neither a SQLite file (sqlite:///path/state.sqlite) nor "
            "PostgreSQL through psycopg (postgresql+psycopg://user:password@host:5432/database)"
        )
    return url


def shown(url: URL) -> str:
    """The URL as it may appear in a message or a log: never with its password."""
    return url.render_as_string(hide_password=True)


# One engine per URL in this process, made and migrated by the first `connect`. A forked child starts
# without them (SQLAlchemy, "Using Connection Pools with Multiprocessing"): it never shares a parent's.
_ENGINES: dict[URL, Engine] = {}


def _forget_engines() -> None:
    for engine in _ENGINES.values():
        engine.dispose(close=False)
    _ENGINES.clear()


os.register_at_fork(after_in_child=_forget_engines)


def connect(settings: SyncSettings) -> Engine:
    """This process's engine on the state database, reached and at this code's schema version; or
    `DatabaseUnreachable`, `StateDamaged` or `SchemaTooNew` saying why not.

    Every call reads the schema version (a file moved aside, another host's upgrade are seen at once);
    only a store behind this code's version gets the migration's write transaction."""
    url = database_url(settings)
    engine = _ENGINES.get(url) or _ENGINES.setdefault(url, _engine(url))
    with reached(engine) as connection:
        if schema_version(connection) != len(MIGRATIONS):
            connection.rollback()
            migrate(connection)
    return engine


def _engine(url: URL) -> Engine:
    """No pool: a run touches the store a few times, so no connection outlives its use (and a restarted
    server never leaves a stale one behind)."""
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_connected)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 10})
    event.listen(engine, "handle_error", _in_words)
    return engine


def _in_words(context: ExceptionContext) -> None:
    """A damaged file, or a store that stopped answering (a connection refused or dropped), in words an
    operator can act on, wherever the engine is used."""
    error, url = context.original_exception, context.engine.url
    if is_damaged(error):
        raise StateDamaged(damage(url.database, "the state database", error))
    if context.is_disconnect or context.connection is None:
        raise StateLost(url, _without_password(" ".join(str(error).split()), url))


@contextmanager
def reached(engine: Engine) -> Iterator[Connection]:
    """A connection, or the reason there is none in words an operator can act on (without the password)."""
    try:
        if engine.dialect.name == "sqlite":
            Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
        connection = engine.connect()
    except OSError as exc:
        reason = _without_password(str(exc), engine.url)
    except StateLost as lost:
        reason = lost.reason
    else:
        with connection:
            yield connection
        return
    raise DatabaseUnreachable(
        f"the state database {shown(engine.url)} cannot be reached ({reason}); nothing was read or written. "
        "Check SYNC_DATABASE_URL and that the server is up."
    ) from None


def _without_password(reason: str, url: URL) -> str:
    return reason.replace(str(url.password), "***") if url.password else reason


def schema_version(connection: Connection) -> int:
    """The last step applied; 0 for a store without the migrations table (new, or a file moved aside)."""
    if not inspect(connection).has_table("schema_migrations"):
        return 0
    version = connection.execute(text("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")).scalar_one()
    if version > len(MIGRATIONS):
        raise SchemaTooNew(
            f"the state database {shown(connection.engine.url)} has schema version {version}, this code knows "
            f"{len(MIGRATIONS)}: upgrade this worker's code (nothing was written)"
        )
    return version


def migrate(connection: Connection) -> None:
    """Bring the schema up to the last step. Workers starting together take turns (an advisory lock on
    PostgreSQL, the write lock on SQLite), so each step runs once."""
    with connection.begin():
        take_turns(connection, "schema")
        connection.execute(
            text("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        )
        current = schema_version(connection)
        for version, steps in enumerate(MIGRATIONS[current:], start=current + 1):
            for step in steps:
                connection.execute(text(step))
            connection.execute(
                text("INSERT INTO schema_migrations (version, applied_at) VALUES (:version, :at)"),
                {"version": version, "at": datetime.now(UTC).isoformat()},
            )


def take_turns(connection: Connection, name: str) -> None:
    """Wait for every other writer of `name` until this transaction ends: a PostgreSQL advisory lock (on
    SQLite every transaction already takes the write lock at its start)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a PostgreSQL advisory lock, the same on every host."""
    digest = hashlib.blake2b(f"jst-kingdee-sync:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def is_damaged(exc: BaseException) -> bool:
    return getattr(getattr(exc, "orig", exc), "sqlite_errorname", None) in _DAMAGED


def damage(path: object, what: str, exc: BaseException) -> str:
    """What a damaged SQLite file means and the two ways out."""
    return (
        f"{what} {path} is damaged ({getattr(exc, 'orig', exc)}). Restore it (with its -wal file) from a backup, "
        f"or move it aside (e.g. to {path}.corrupt) and the next run goes on without it: the documents it held "
        "are then retried only when they come back in a window or are replayed."
    )


def _sqlite_connected(dbapi: sqlite3.Connection, _record: object) -> None:
    # The driver's own transaction handling is switched off so that `_sqlite_begin` decides; WAL lets a
    # report reader look while a run writes.
    dbapi.isolation_level = None
    dbapi.execute("PRAGMA journal_mode=WAL")


def _sqlite_begin(connection: Connection) -> None:
    # Every transaction takes the write lock at its start: two processes then wait for each other (the
    # 30 s timeout) instead of failing when a read turns into a write.
    connection.exec_driver_sql("BEGIN IMMEDIATE")
