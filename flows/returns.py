"""Sales returns: Jushuitan → Kingdee 销售退货单, once received back into stock with r_qty > 0."""

from __future__ import annotations

import process_settings  # noqa: F401  first: its defaults must be set before Prefect or Polars load

from collections.abc import Iterator
from datetime import datetime

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from basics.shanghai import now_shanghai
from connectors.jushuitan import JushuitanClient, page_body
from deploy.blocks import open_clients
from flows.common import ByNumber, check_documents, follow_up, load_master_data
from flows.pipeline import MappedGroup, SavePipeline, page_groups, run_groups
from reporting.reports import SyncReport, check_reports_dir, publish
from state.ledger import HeldLedger
from state.run_lock import run_lock
from state.settings import SyncSettings
from state.watermarks import RunWindow, advance_watermark, resolve_window
from transforms.documents import MasterData
from transforms.frames import RECEIVED_PAGE, REFUND_PAGE, decode_pages, received_dates, refund_lines
from transforms.mappings import SchemeConfig
from transforms.outcomes import held_outcomes, needing_attention
from transforms.returns import FORM_ID, IN_SCOPE_STATUS, RECEIVED_GOOD_STATUS, map_returns

SYNC = "returns"


def refund_pages(jst: JushuitanClient, window: RunWindow | None, by_number: ByNumber) -> Iterator[list[dict]]:
    """Confirmed after-sales whose goods the warehouse received, lazily: by number first (held ones
    retried, or a replay), then the window's pages."""
    yield from by_number.noting(jst.refunds_by_ids(as_ids=by_number.numbers)) if by_number.numbers else ()
    if window:
        yield from jst.refund_pages(
            modified_begin=window.start,
            modified_end=window.end,
            status=IN_SCOPE_STATUS,
            good_status=RECEIVED_GOOD_STATUS,
        )


@task(name="map-returns", cache_policy=NO_CACHE)
def map_returns_group(
    pages: list[list[dict]], master: MasterData, scheme: SchemeConfig, jst: JushuitanClient
) -> MappedGroup:
    """One group of pages; lines without a receive date take it from their warehouse receipt
    (/open/aftersale/received/query io_date), fetched by as_id. Polars reads the pages' bytes (page_body)."""
    lines = refund_lines(decode_pages(map(page_body, pages), REFUND_PAGE))
    undated = lines.filter(pl.col("received_time").is_null() & pl.col("sku_id").is_not_null())
    undated_ids = undated["as_id"].drop_nulls().unique().to_list()
    receipts = map(page_body, jst.received_by_ids(as_ids=undated_ids)) if undated_ids else ()
    mapping = map_returns(lines, received_dates(decode_pages(receipts, RECEIVED_PAGE)), master, scheme)
    nothing_returned = (
        mapping.excluded.group_by("as_id")
        .len()
        .join(lines.group_by("as_id").len(), on="as_id", suffix="_all")
        .filter(pl.col("len") == pl.col("len_all"))
    )
    return MappedGroup(
        bills=mapping.bills,
        held_outcomes=held_outcomes(mapping.split.held, lines, "as_id"),
        held_rows=mapping.split.held,
        warnings=mapping.split.warnings,
        notes={
            "after-sales with nothing returned (r_qty ≤ 0)": nothing_returned.height,
            "lines left out (r_qty ≤ 0)": mapping.excluded.height,
            "after-sales not confirmed and received": mapping.out_of_scope.height,
        },
    )


@flow(name="sync-returns")
def sync_returns(
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    documents: list[str] | None = None,
) -> dict:
    """Book received Jushuitan returns as Kingdee SAL_RETURNSTOCK bills (lines with r_qty > 0 only).

    Returns not yet received are not fetched; receiving them changes their modified time, so a later
    incremental run picks them up. Parameters as for sync-outbound (`documents` are as_ids).
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
                map_returns_group(pages, master, settings.scheme(), jst)
                for pages in page_groups(
                    refund_pages(jst, window, by_number), settings.pages_per_group, settings.max_pages_per_group
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
