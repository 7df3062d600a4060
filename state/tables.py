"""The hand-kept tables (SCHEME.md §1, §2), shop ↔ customer and warehouse ↔ stock, in the state database
(state/database.py), so every worker on every host maps with the same rows.

People edit them as CSV files, read strictly: every problem is named by file, row and column so a person can
fix it. The files SYNC_SHOPS_TABLE / SYNC_WAREHOUSES_TABLE (config/*.csv) are only the seed: a table the store
has never held is imported from its file on first use, and from then on the store is the source of truth,
exported with `jst-kingdee mappings export` and changed with `jst-kingdee mappings import`.

Each table is two in the store: the current rows, each with who changed it last and when, and an append-only
`<table>_history` with one row per row added, changed or removed (its values, who, when, from which file).
Two tables rather than one versioned one: a run reads the current rows as they are, its primary key keeps
one row per shop or warehouse, and the history is only ever appended to, never updated.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandera.polars as pa
import polars as pl
from sqlalchemy import Connection, Engine, TextClause, text

from basics.shanghai import now_shanghai
from state.database import connect, take_turns
from state.settings import SyncSettings
from transforms.mappings import ShopCustomerTable, WarehouseStockTable


class TableError(ValueError):
    """A hand-kept table is wrong: a person has to correct the file, so another attempt cannot help."""


# Rows are named as the file and Excel number them: the header is row 1, the first entry row 2.
FIRST_ROW = 2
ROWS_NOTE = "(rows as in the file and in Excel: the header is row 1)"
CHANGES = ("added", "changed", "removed")


@dataclass(frozen=True)
class HandKeptTable:
    """One table: `name` is its table in the store, its file's name and the CLI's `--table`; `key` its id
    column; `seed_setting` the setting naming the file it is first imported from."""

    name: str
    model: type[pa.DataFrameModel]
    key: str
    seed_setting: str

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return {name: column.dtype.type for name, column in self.model.to_schema().columns.items()}

    def seed(self, settings: SyncSettings) -> Path:
        return Path(getattr(settings, self.seed_setting))

    def read_csv(self, path: Path) -> pl.DataFrame:
        """Every cell read as text and stripped (a stray space after an id or a header name is no error),
        a blank cell as missing and a blank row skipped; then the id is parsed and the model checked. Every
        problem names the file, row and column."""
        path = Path(path)
        try:
            text = pl.read_csv(path, infer_schema=False)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise TableError(f"{path}: the hand-kept table cannot be read: {exc}") from None
        text = text.rename(str.strip).with_columns(pl.all().str.strip_chars().replace("", None))
        missing = [name for name in self.schema if name not in text.columns]
        if missing:
            found = ", ".join(text.columns)
            raise TableError(f"{path}: column {', '.join(missing)} is missing (the header, row 1, has: {found})")
        rows = text.with_row_index("row", offset=FIRST_ROW).filter(pl.any_horizontal(pl.exclude("row").is_not_null()))
        ids = pl.col(self.key).cast(pl.Int64, strict=False)
        unparsed = rows.filter(pl.col(self.key).is_not_null() & ids.is_null()).select("row", self.key).rows()
        _raise_problems(path, [(row, self.key, f"{value!r} is not a whole number") for row, value in unparsed])
        frame = rows.with_columns(ids)
        try:
            return self.model.validate(frame.drop("row"), lazy=True)
        except pa.errors.SchemaErrors as exc:
            cases = exc.failure_cases.select("index", "column", "check", "failure_case").rows()
            row_of = frame["row"]
            _raise_problems(
                path,
                [(None if i is None else row_of[i], column, _said(check, value)) for i, column, check, value in cases],
            )
            raise


SHOPS = HandKeptTable("shops", ShopCustomerTable, "shop_id", "shops_table")
WAREHOUSES = HandKeptTable("warehouses", WarehouseStockTable, "wms_co_id", "warehouses_table")
TABLES = {table.name: table for table in (SHOPS, WAREHOUSES)}

_CHECKS_SAID = {
    "not_nullable": "empty",
    "str_length(1, None)": "empty",
    "field_uniqueness": "is on another row too",
}


def _said(check: str, value: object) -> str:
    said = _CHECKS_SAID.get(check, f"fails {check}")
    return said if value is None or said == "empty" else f"{value!r} {said}"


def _raise_problems(path: Path, problems: list[tuple[int | None, str, str]]) -> None:
    """One TableError listing every problem, by row (a problem of the whole column has none)."""
    if problems:
        listed = "; ".join(
            f"{'' if row is None else f'row {row}, '}column {column}: {what}"
            for row, column, what in sorted(problems, key=lambda p: (p[0] or 0, p[1]))
        )
        raise TableError(f"{path}: {listed} {ROWS_NOTE}")


# --- in the store ------------------------------------------------------------------------------------------


def hand_kept_tables(settings: SyncSettings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The shops and the warehouses table as the store holds them now: what a run maps with."""
    engine = connect(settings)
    return current(engine, SHOPS, settings), current(engine, WAREHOUSES, settings)


def current(engine: Engine, table: HandKeptTable, settings: SyncSettings) -> pl.DataFrame:
    """The table's rows, by id, with the model's columns and types; a table the store has never held is
    imported from its seed file first (a wrong file fails here, naming its rows, with nothing imported)."""
    with engine.connect() as db:
        held = _ever_held(db, table)
    if not held:
        _seed(engine, table, settings)
    with engine.connect() as db:
        result = db.execute(text(f"SELECT {', '.join(table.schema)} FROM {table.name} ORDER BY {table.key}"))
        return pl.DataFrame(result.fetchall(), schema=table.schema, orient="row")


def export_tables(settings: SyncSettings, folder: Path) -> list[Path]:
    """Each table as the store holds it, as `folder/<table>.csv` with the seed files' columns and header: a
    file to edit and import back."""
    folder.mkdir(parents=True, exist_ok=True)
    engine = connect(settings)
    paths = []
    for table in TABLES.values():
        paths.append(folder / f"{table.name}.csv")
        current(engine, table, settings).write_csv(paths[-1])
    return paths


def apply_table(
    settings: SyncSettings, table: HandKeptTable, rows: pl.DataFrame, who: str, source: str, now: datetime
) -> dict[str, int]:
    """Make the table exactly `rows` (checked already, e.g. by `table.read_csv`) in one transaction: rows not
    there yet are added, rows with other values changed, rows missing from `rows` removed, each change kept
    in the history with `who`, `now` and `source`. Returns how many rows were added, changed, removed and
    left unchanged."""
    with connect(settings).begin() as db:
        take_turns(db, f"table:{table.name}")
        return _apply(db, table, rows, who, source, now)


def current_user() -> str:
    """Who a change is recorded for when nobody says: the account running the process."""
    return os.environ.get("USER") or getpass.getuser()


def _ever_held(db: Connection, table: HandKeptTable) -> bool:
    # The history, not the current rows: a table emptied on purpose is not seeded again.
    return db.execute(text(f"SELECT 1 FROM {table.name}_history LIMIT 1")).first() is not None


def _seed(engine: Engine, table: HandKeptTable, settings: SyncSettings) -> None:
    path = table.seed(settings)
    rows = table.read_csv(path)
    with engine.begin() as db:
        take_turns(db, f"table:{table.name}")
        if not _ever_held(db, table):  # another worker may have seeded it meanwhile
            _apply(db, table, rows, current_user(), f"{path} (first use)", now_shanghai())


def _apply(
    db: Connection, table: HandKeptTable, rows: pl.DataFrame, who: str, source: str, now: datetime
) -> dict[str, int]:
    columns = list(table.schema)
    before = {
        row[table.key]: dict(row)
        for row in db.execute(text(f"SELECT {', '.join(columns)} FROM {table.name}")).mappings()
    }
    after = {row[table.key]: row for row in rows.select(columns).iter_rows(named=True)}
    changes = {
        "added": [after[key] for key in sorted(after.keys() - before.keys())],
        "changed": [after[key] for key in sorted(after.keys() & before.keys()) if after[key] != before[key]],
        "removed": [before[key] for key in sorted(before.keys() - after.keys())],
    }
    stamp = {"changed_by": who, "changed_at": now.isoformat()}
    if gone := changes["changed"] + changes["removed"]:
        db.execute(text(f"DELETE FROM {table.name} WHERE {table.key} = :{table.key}"), gone)
    if new := changes["added"] + changes["changed"]:
        db.execute(_insert(table.name, [*columns, *stamp]), [{**row, **stamp} for row in new])
    history = [{"change": change, **row, **stamp, "source": source} for change in CHANGES for row in changes[change]]
    if history:
        db.execute(_insert(f"{table.name}_history", list(history[0])), history)
    counts = {change: len(changes[change]) for change in CHANGES}
    return {**counts, "unchanged": len(after) - counts["added"] - counts["changed"]}


def _insert(name: str, columns: list[str]) -> TextClause:
    return text(f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})")
