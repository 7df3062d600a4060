"""Materials: Kingdee → Jushuitan items (create-or-update by sku_id), incremental on FModifyDate."""

from __future__ import annotations

import process_settings  # noqa: F401  first: its defaults must be set before Prefect or Polars load

from datetime import datetime

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from basics.shanghai import SHANGHAI, now_shanghai
from connectors.jushuitan import JushuitanClient
from connectors.kingdee import Filter, KingdeeClient
from deploy.blocks import open_clients
from flows.common import ByNumber, check_documents
from reporting.reports import SyncReport, check_reports_dir, publish
from state.ledger import HeldLedger
from state.run_lock import run_lock
from state.settings import SyncSettings
from state.watermarks import RunWindow, advance_watermark, resolve_window
from transforms.materials import map_materials, material_schema
from transforms.outcomes import FAILED, WOULD_CREATE, WRITTEN, held_outcomes, outcome_frame

SYNC = "materials"
KINGDEE_TIME = "%Y-%m-%d %H:%M:%S"


@task(name="fetch-materials", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[10, 60])
def fetch_materials(
    kingdee: KingdeeClient, window: RunWindow | None, numbers: list[str], settings: SyncSettings
) -> pl.DataFrame:
    """Audited, enabled, sold-online materials of the org modified in the window, plus `numbers`
    (held ones retried, or a replay) whatever their modify date or state: map_materials tells which of
    those are out of scope and why, and a number missing here is one Kingdee does not know."""
    scheme = settings.scheme()
    in_org = Filter.eq("FUseOrgId.FNumber", settings.org)
    wanted = (
        Filter.eq("FDocumentStatus", "C")
        & Filter.eq("FForbidStatus", "A")
        & Filter.eq(scheme.sell_online_field, True)
        & in_org
    )
    selections = [in_org & Filter.in_("FNumber", numbers)] if numbers else []
    if window:
        # Kingdee compares FModifyDate in its own (Beijing) wall-clock time.
        selections.append(
            wanted
            & Filter.ge("FModifyDate", window.start.astimezone(SHANGHAI).strftime(KINGDEE_TIME))
            & Filter.le("FModifyDate", window.end.astimezone(SHANGHAI).strftime(KINGDEE_TIME))
        )
    schema = material_schema(scheme)
    frames = [
        kingdee.execute_bill_query("BD_MATERIAL", list(schema), selection, order_by="FNumber ASC", schema=schema)
        for selection in selections
    ]
    return pl.concat(frames).unique("FNumber", keep="first", maintain_order=True)


@task(name="upload-items", cache_policy=NO_CACHE)
def upload_items(jst: JushuitanClient, items: pl.DataFrame, dry_run: bool) -> pl.DataFrame:
    """Per-row results: an item Jushuitan refused is a `failed` outcome with its message."""
    skus = items["sku_id"].to_list()
    if dry_run or not skus:
        return outcome_frame(skus, [WOULD_CREATE] * len(skus), [None] * len(skus))
    results = jst.upload_items(items.to_dicts())
    return outcome_frame(
        [r.sku_id for r in results],
        [WRITTEN if r.is_success else FAILED for r in results],
        [None if r.is_success else r.msg for r in results],
    )


@flow(name="sync-materials")
def sync_materials(
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    documents: list[str] | None = None,
) -> dict:
    """Push audited, sold-online Kingdee materials to Jushuitan as items (i_id = sku_id = FNumber).
    `documents`: material numbers to push again regardless of their modify date."""
    settings = SyncSettings()
    documents = check_documents(SYNC, documents)
    check_reports_dir(settings)
    with run_lock(SYNC, settings):
        ledger = HeldLedger(settings)
        with open_clients() as (jst, kingdee):
            window = None if documents else resolve_window(SYNC, since, until, settings, full_first_run=True)
            by_number = ByNumber.of(SYNC, documents, ledger)
            materials = fetch_materials(kingdee, window, by_number.numbers, settings)
            by_number.seen.update(materials["FNumber"].cast(pl.String))
            mapping = map_materials(materials, settings.scheme())
            uploaded = upload_items(jst, mapping.items, dry_run)
        outcomes = pl.concat([uploaded, held_outcomes(mapping.split.held)])
        closed = 0 if dry_run else ledger.record(SYNC, outcomes, by_number.numbers, now_shanghai())
        report = SyncReport(
            sync=SYNC,
            dry_run=dry_run,
            window=window,
            outcomes=outcomes,
            held_rows=mapping.split.held,
            warnings=mapping.split.warnings,
            notes={
                **{reason: n for reason, n in mapping.out_of_scope.group_by("reason").len().rows()},
                **by_number.notes(closed),
            },
            not_found=by_number.not_found(),
        )
        publish(report, settings)
        if window and window.incremental and not dry_run:
            advance_watermark(SYNC, window)
        return report.summary()
