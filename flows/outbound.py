"""Sales outbound: Jushuitan → Kingdee 销售出库单. fetch → validate → transform → save → report."""

from __future__ import annotations

import process_settings  # noqa: F401  first: its defaults must be set before Prefect or Polars load

from collections.abc import Iterator
from datetime import datetime

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from basics.shanghai import now_shanghai
from connectors.jushuitan import JushuitanClient, page_body
from connectors.kingdee import KingdeeClient
from deploy.blocks import open_clients
from flows.common import ByNumber, check_documents, follow_up, load_master_data
from flows.pipeline import MappedGroup, SavePipeline, page_groups, run_groups
from reporting.reports import SyncReport, check_reports_dir, publish
from state.ledger import HeldLedger
from state.run_lock import run_lock
from state.settings import SyncSettings
from state.watermarks import RunWindow, advance_watermark, resolve_window
from transforms.documents import MasterData
from transforms.frames import OUTBOUND_PAGE, decode_pages, outbound_lines
from transforms.mappings import SchemeConfig
from transforms.outbound import FORM_ID, NEVER_BOOKED, booked, map_outbound
from transforms.outcomes import held_outcomes, needing_attention

SYNC = "outbound"


def outbound_pages(jst: JushuitanClient, window: RunWindow | None, by_number: ByNumber) -> Iterator[list[dict]]:
    """Documents of every status, lazily: by number first (held documents retried, or a replay), then
    the window's pages."""
    yield from by_number.noting(jst.outbound_by_ids(io_ids=by_number.numbers)) if by_number.numbers else ()
    yield from jst.outbound_pages(modified_begin=window.start, modified_end=window.end) if window else ()


@task(name="map-outbound", cache_policy=NO_CACHE)
def map_outbound_group(
    pages: list[list[dict]], master: MasterData, scheme: SchemeConfig, kingdee: KingdeeClient
) -> MappedGroup:
    """One group of pages: documents of a booked status become bills or are held, the others are out of
    scope; revoked documents are checked against Kingdee. Polars reads the pages' bytes (page_body)."""
    lines = outbound_lines(decode_pages(map(page_body, pages), OUTBOUND_PAGE))
    mapping = map_outbound(lines, master, scheme)
    in_scope = lines.filter(booked(scheme))
    return MappedGroup(
        bills=mapping.bills,
        held_outcomes=held_outcomes(mapping.split.held, in_scope, "io_id"),
        held_rows=mapping.split.held,
        warnings=mapping.split.warnings,
        notes={f"status {status}": n for status, n in mapping.out_of_scope.group_by("status").len().rows()},
        attention=cancelled_after_booking(kingdee, lines),
    )


def cancelled_after_booking(kingdee: KingdeeClient, lines: pl.DataFrame) -> pl.DataFrame:
    """Documents revoked in Jushuitan that Kingdee already has: reported for a human, never reversed."""
    revoked = (
        lines.filter(pl.col("status").is_in(NEVER_BOOKED)).select("io_id", "status", "shop_id", "shop_name").unique()
    )
    if revoked.is_empty():
        return pl.DataFrame(schema={"document": pl.String, "message": pl.String})
    booked = kingdee.existing_bill_numbers(FORM_ID, revoked["io_id"].drop_nulls().to_list())
    return revoked.filter(pl.col("io_id").is_in(list(booked))).select(
        pl.col("io_id").alias("document"),
        pl.format(
            "聚水潭出库单已{} ({}), 但金蝶销售出库单 {} 已存在: 请人工处理 / revoked in Jushuitan after booking",
            pl.col("status"),
            pl.col("shop_name"),
            pl.col("io_id"),
        ).alias("message"),
    )


@flow(name="sync-outbound")
def sync_outbound(
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    documents: list[str] | None = None,
) -> dict:
    """Book shipped Jushuitan sales outbound documents (SYNC_OUTBOUND_BOOKED_STATUSES, by default
    Confirmed and Archive) as Kingdee SAL_OUTSTOCK bills.

    Without parameters: incremental from the stored watermark (with overlap). `since`/`until`: a
    backfill window that leaves the watermark alone. `documents`: replay these io_ids only.
    """
    settings = SyncSettings()
    documents = check_documents(SYNC, documents)
    check_reports_dir(settings)
    with run_lock(SYNC, settings):
        ledger = HeldLedger(settings)
        with open_clients() as (jst, kingdee):
            master = load_master_data(kingdee, settings)
            window = None if documents else resolve_window(SYNC, since, until, settings)
            by_number = ByNumber.of(SYNC, documents, ledger)
            pipeline = SavePipeline(
                kingdee, FORM_ID, batch_size or settings.batch_size, settings.kingdee_concurrency, dry_run
            )
            groups = (
                map_outbound_group(pages, master, settings.scheme(), kingdee)
                for pages in page_groups(
                    outbound_pages(jst, window, by_number), settings.pages_per_group, settings.max_pages_per_group
                )
            )
            totals = run_groups(groups, pipeline)
            outcomes = totals.outcomes if dry_run else follow_up(kingdee, FORM_ID, totals.outcomes, settings)
        closed = 0 if dry_run else ledger.record(SYNC, outcomes, by_number.numbers, now_shanghai())
        report = SyncReport(
            sync=SYNC,
            dry_run=dry_run,
            window=window,
            outcomes=outcomes,
            held_rows=totals.held_rows,
            warnings=totals.warnings,
            notes={**totals.notes, **by_number.notes(closed)},
            not_found=by_number.not_found(),
            attention=needing_attention(totals.attention, outcomes),
        )
        publish(report, settings)
        if window and window.incremental and not dry_run:
            advance_watermark(SYNC, window)
        return report.summary()
