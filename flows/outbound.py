"""Sales outbound: Jushuitan → Kingdee 销售出库单. fetch → validate → transform → save → report."""

from __future__ import annotations

import process_settings  # noqa: F401  first: its defaults must be set before Prefect or Polars load

from datetime import datetime

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from connectors.jushuitan import JushuitanClient, page_body
from connectors.kingdee import KingdeeClient
from flows.streaming import KingdeeBills, MappedGroup
from flows.sync import SyncSpec, run_sync
from transforms.documents import MasterData
from transforms.frames import OUTBOUND_PAGE, decode_pages, outbound_lines
from transforms.mappings import SchemeConfig
from transforms.outbound import FORM_ID, booked, cancelled_after_booking, map_outbound, revoked
from transforms.outcomes import held_outcomes


@task(name="map-outbound", cache_policy=NO_CACHE)
def map_outbound_group(
    pages: list[list[dict]], master: MasterData, scheme: SchemeConfig, jst: JushuitanClient, kingdee: KingdeeClient
) -> MappedGroup:
    """One group of pages: documents of a booked status become bills or are held, the others are out of
    scope; revoked documents Kingdee already has are reported for a human, never reversed. Polars reads
    the pages' bytes (page_body)."""
    lines = outbound_lines(decode_pages(map(page_body, pages), OUTBOUND_PAGE))
    mapping = map_outbound(lines, master, scheme)
    revoked_documents = revoked(lines)
    in_kingdee = kingdee.existing_bill_numbers(FORM_ID, revoked_documents["io_id"].drop_nulls().to_list())
    return MappedGroup(
        bills=mapping.bills,
        held_outcomes=held_outcomes(mapping.split.held, lines.filter(booked(scheme)), "io_id"),
        held_rows=mapping.split.held,
        warnings=mapping.split.warnings,
        notes=mapping.notes(),
        attention=cancelled_after_booking(revoked_documents, in_kingdee),
    )


OUTBOUND = SyncSpec(
    name="outbound",
    transfer=KingdeeBills(
        FORM_ID,
        by_number=lambda jst, numbers: jst.outbound_by_ids(io_ids=numbers),
        in_window=lambda jst, window: jst.outbound_pages(modified_begin=window.start, modified_end=window.end),
        map_group=map_outbound_group,
    ),
)


@flow(name="sync-outbound")
def sync_outbound(
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    documents: list[str] | None = None,
    limit: int | None = None,
    sweep: bool = False,
) -> dict:
    """Book shipped Jushuitan sales outbound documents (SYNC_OUTBOUND_BOOKED_STATUSES, by default
    Confirmed and Archive) as Kingdee SAL_OUTSTOCK bills.

    Without parameters: incremental from the stored watermark (with overlap). `since`/`until`: a
    backfill window that leaves the watermark alone. `documents`: replay these io_ids only.
    `limit`: at most this many new bills, saved as drafts (never submitted), the watermark left alone —
    the first run on a real tenant (README, Go-live). `sweep`: the omission sweep, the SYNC_SWEEP_DAYS
    before the watermark read again, only what Kingdee lacks written (flows/all.py sync-sweep).
    """
    return run_sync(OUTBOUND, since, until, dry_run, batch_size, documents, limit=limit, sweep=sweep)
