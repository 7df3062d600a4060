"""Changing the hand-kept tables without git (issue 18): the set-mappings flow, whose typed parameters the
Prefect UI renders as a form, and the checks it shares with `jst-kingdee mappings import`.

A change is planned against Kingdee (each number exists and is usable: kingdee_status) and against the
tables (transforms/mapping_changes.py: not mapped to another row, not given twice), shown as a diff and
applied only when no row is rejected: all or nothing per file or run, each row kept in the table's history
with who and when (state/tables.py). Fixed mappings release their held documents on the next sync run,
which retries everything the ledger holds pending.
"""

from __future__ import annotations

import process_settings  # noqa: F401  first: its defaults must be set before Prefect or Polars load

from dataclasses import dataclass
from datetime import datetime

import polars as pl
from prefect import flow, get_run_logger
from prefect.context import FlowRunContext
from pydantic import BaseModel, Field

from basics.shanghai import now_shanghai
from connectors.kingdee import KingdeeClient
from deploy.blocks import connector_settings
from flows.check_mappings import read_kingdee_status
from reporting.worklist import publish_change
from state.database import connect
from state.ledger import PENDING, HeldLedger
from state.settings import SyncSettings
from state.tables import SHOPS, WAREHOUSES, HandKeptTable, apply_table, current, current_user
from transforms.mapping_changes import DIFF_SCHEMA, REJECTION_SCHEMA, rejections, table_after, table_diff, untouched
from transforms.worklist import MAPPED_TABLES


class ShopMapping(BaseModel):
    """One row of the shops table: a Jushuitan shop and the Kingdee customer its documents are booked to."""

    shop_id: int = Field(description="聚水潭店铺编码 Jushuitan shop_id")
    customer_number: str = Field(min_length=1, description="金蝶客户编码 Kingdee customer number (BD_Customer)")
    shop_name: str | None = Field(None, description="店铺名称; 不填则用金蝶客户名称 / default: the customer's name")


class WarehouseMapping(BaseModel):
    """One row of the warehouses table: a Jushuitan warehouse (分仓) and its Kingdee stock."""

    wms_co_id: int = Field(description="聚水潭仓库编码 Jushuitan wms_co_id")
    stock_number: str = Field(min_length=1, description="金蝶仓库编码 Kingdee stock number (BD_STOCK)")
    warehouse_name: str | None = Field(None, description="仓库名称; 不填则用金蝶仓库名称 / default: the stock's name")


class MappingsRejected(ValueError):
    """Rows of a change that cannot be applied, each with its reason; nothing of the change was applied."""

    def __init__(self, rejected: pl.DataFrame) -> None:
        self.rejected = rejected
        rows = "; ".join(
            f"{r['table']} {_where(r['row'])}{r['key']} → {r['number']}: {r['reason']}"
            for r in rejected.iter_rows(named=True)
        )
        super().__init__(f"{rejected.height} rows rejected, nothing applied: {rows}")


def _where(row: int | None) -> str:
    return "" if row is None else f"row {row}, "


@dataclass(frozen=True)
class TableChange:
    table: HandKeptTable
    after: pl.DataFrame  # the whole table as the change leaves it
    diff: pl.DataFrame  # transforms.mapping_changes.DIFF_SCHEMA
    rejected: pl.DataFrame  # transforms.mapping_changes.REJECTION_SCHEMA


def plan_change(
    kingdee: KingdeeClient, settings: SyncSettings, table: HandKeptTable, edits: pl.DataFrame, *, replace: bool
) -> TableChange:
    """What `edits` (`row` and the table's columns) would make of `table`: the rows replace the table
    (`replace`, a whole-table CSV file) or are added to it and replace rows of the same id (a worklist
    workbook, the flow's form), where names left empty are taken from Kingdee (SCHEME.md §1: 店铺名称 ==
    客户名称); a whole-table file is taken as written."""
    spec = MAPPED_TABLES[table.name]
    before = current(connect(settings), table, settings)
    edits = edits.with_columns(pl.col(spec.number_column).cast(pl.String).str.strip_chars())
    numbers = edits[spec.number_column].drop_nulls().to_list()
    status = read_kingdee_status.fn(kingdee, spec.target.form_id, numbers, None)
    if not replace:
        named = status.select(pl.col("number").alias(spec.number_column), "kingdee_name")
        edits = (
            edits.join(named, on=spec.number_column, how="left")
            .with_columns(
                pl.coalesce(spec.name_column, "kingdee_name").alias(spec.name_column),
                pl.coalesce(spec.target_name_column, "kingdee_name").alias(spec.target_name_column),
            )
            .drop("kingdee_name")
        )
    kept = before.clear() if replace else untouched(spec, before, edits)
    rejected = rejections(spec, edits, kept, status, settings.org)
    after = edits.select(before.columns).cast(before.schema) if replace else table_after(spec, before, edits)
    if rejected.is_empty():
        after = table.model.validate(after)
    return TableChange(table, after, table_diff(spec, before, after), rejected)


def apply_changes(
    settings: SyncSettings, changes: list[TableChange], who: str, source: str, now: datetime
) -> dict[str, dict[str, int]]:
    """Apply every change, or none when any row of any of them is rejected (MappingsRejected)."""
    _diff, rejected = diff_of(changes)
    if not rejected.is_empty():
        raise MappingsRejected(rejected)
    return {
        change.table.name: apply_table(settings, change.table, change.after, who, source, now) for change in changes
    }


def retried_next(settings: SyncSettings, changes: list[TableChange]) -> dict[str, int]:
    """The held documents the next sync runs retry (every pending one), and how many of them belong to the
    shops the change maps (the ledger keeps the shop of a document, not its warehouse)."""
    ledger = HeldLedger(settings).documents()
    if ledger.is_empty():
        return {"pending": 0, "for_these_shops": 0}
    pending = ledger.filter(pl.col("status").is_in(PENDING))
    shops = [key for change in changes if change.table is SHOPS for key in change.diff["key"]]
    mine = pending.filter(pl.col("shop_id").cast(pl.String).str.strip_chars().is_in(shops))
    return {"pending": pending.height, "for_these_shops": mine.height}


def diff_of(changes: list[TableChange]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The diff and the rejected rows of all the changes, one frame each."""
    return (
        pl.concat([pl.DataFrame(schema=DIFF_SCHEMA), *(c.diff for c in changes)]),
        pl.concat([pl.DataFrame(schema=REJECTION_SCHEMA), *(c.rejected for c in changes)]),
    )


def _form_rows(table: HandKeptTable, rows: list[BaseModel]) -> pl.DataFrame:
    """The form's rows as edits: `row` is the item's place in the form's list, from 1."""
    spec = MAPPED_TABLES[table.name]
    schema = {"row": pl.Int64, **table.schema}
    records = [{"row": n, spec.target_name_column: None, **row.model_dump()} for n, row in enumerate(rows, start=1)]
    return pl.DataFrame(records, schema=schema)


def _run_user() -> str:
    """Who started the flow run, where the server knows it (Prefect Cloud); else the account running it."""
    context = FlowRunContext.get()
    created_by = context.flow_run.created_by if context and context.flow_run else None
    return (created_by.display_value if created_by else None) or current_user()


@flow(name="set-mappings")
def set_mappings(
    shops: list[ShopMapping] | None = None,
    warehouses: list[WarehouseMapping] | None = None,
    changed_by: str | None = None,
    dry_run: bool = False,
) -> dict:
    """Add or change rows of the shops and warehouses tables. Every row is checked against Kingdee (exists,
    usable, not already mapped to another shop or warehouse): one rejected row and the run fails with the
    reasons, nothing applied. The artifact `set-mappings` shows the diff and how many held documents the next
    sync run retries. `changed_by` is kept with each row (default: who started the run)."""
    settings = SyncSettings()
    edits = [(SHOPS, shops or []), (WAREHOUSES, warehouses or [])]
    context = FlowRunContext.get()
    source = f"set-mappings flow run {context.flow_run.name if context and context.flow_run else ''}".strip()
    with KingdeeClient(connector_settings()[1]) as kingdee:
        changes = [
            plan_change(kingdee, settings, table, _form_rows(table, rows), replace=False)
            for table, rows in edits
            if rows
        ]
    diff, rejected = diff_of(changes)
    if not rejected.is_empty():
        publish_change(source, diff, rejected, None)
        raise MappingsRejected(rejected)
    applied = {} if dry_run else apply_changes(settings, changes, changed_by or _run_user(), source, now_shanghai())
    retried = retried_next(settings, changes)
    publish_change(source, diff, rejected, None if dry_run else retried)
    get_run_logger().info("set-mappings: %s; next run retries %s", applied or "dry run, nothing applied", retried)
    return {"applied": applied, "diff": diff.to_dicts(), "retried": retried, "dry_run": dry_run}
