"""Sales returns: Jushuitan → Kingdee 销售退货单, once received back into stock with r_qty > 0."""

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
from transforms.frames import RECEIVED_PAGE, REFUND_PAGE, decode_pages, received_dates, refund_lines
from transforms.mappings import SchemeConfig
from transforms.outcomes import held_outcomes
from transforms.returns import FORM_ID, IN_SCOPE_STATUS, RECEIVED_GOOD_STATUS, map_returns, undated


@task(name="map-returns", cache_policy=NO_CACHE)
def map_returns_group(
    pages: list[list[dict]], master: MasterData, scheme: SchemeConfig, jst: JushuitanClient, kingdee: KingdeeClient
) -> MappedGroup:
    """One group of pages; lines without a receive date take it from their warehouse receipt
    (/open/aftersale/received/query io_date), fetched by as_id. Polars reads the pages' bytes (page_body)."""
    lines = refund_lines(decode_pages(map(page_body, pages), REFUND_PAGE))
    undated_ids = undated(lines)
    receipts = map(page_body, jst.received_by_ids(as_ids=undated_ids)) if undated_ids else ()
    mapping = map_returns(lines, received_dates(decode_pages(receipts, RECEIVED_PAGE)), master, scheme)
    return MappedGroup(
        bills=mapping.bills,
        held_outcomes=held_outcomes(mapping.split.held, lines, "as_id"),
        held_rows=mapping.split.held,
        warnings=mapping.split.warnings,
        notes=mapping.notes(lines),
    )


RETURNS = SyncSpec(
    name="returns",
    transfer=KingdeeBills(
        FORM_ID,
        by_number=lambda jst, numbers: jst.refunds_by_ids(as_ids=numbers),
        # Confirmed after-sales whose goods the warehouse received; the others are not fetched.
        in_window=lambda jst, window: jst.refund_pages(
            modified_begin=window.start,
            modified_end=window.end,
            status=IN_SCOPE_STATUS,
            good_status=RECEIVED_GOOD_STATUS,
        ),
        map_group=map_returns_group,
    ),
)


@flow(name="sync-returns")
def sync_returns(
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    documents: list[str] | None = None,
    limit: int | None = None,
    sweep: bool = False,
) -> dict:
    """Book received Jushuitan returns as Kingdee SAL_RETURNSTOCK bills (lines with r_qty > 0 only).

    Each shop's after-sales come from its route: the standard query, or the Qimen route for the shops in
    JST_QIMEN_SHOP_IDS (connectors/jushuitan/qimen.py). Returns not yet received are not fetched; receiving
    them changes their modified time, so a later incremental run picks them up. Parameters as for
    sync-outbound (`documents` are as_ids).
    """
    return run_sync(RETURNS, since, until, dry_run, batch_size, documents, limit=limit, sweep=sweep)
