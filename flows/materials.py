"""Materials: Kingdee → Jushuitan items (create-or-update by sku_id), incremental on FModifyDate."""

from __future__ import annotations

from datetime import datetime

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from connectors.jushuitan import JushuitanClient
from connectors.kingdee import Filter, KingdeeClient
from connectors.settings import JushuitanSettings, KingdeeSettings
from flows.common import (
    FAILED,
    SHANGHAI,
    WOULD_CREATE,
    WRITTEN,
    RunWindow,
    advance_watermark,
    held_outcomes,
    outcome_frame,
    resolve_window,
)
from flows.reports import SyncReport, publish
from flows.settings import SyncSettings
from transforms.materials import map_materials, material_fields

SYNC = "materials"
KINGDEE_TIME = "%Y-%m-%d %H:%M:%S"


@task(name="fetch-materials", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[10, 60])
def fetch_materials(
    kingdee: KingdeeClient, window: RunWindow | None, numbers: list[str] | None, settings: SyncSettings
) -> pl.DataFrame:
    """Audited, enabled, sold-online materials of the org, modified in the window (or by number)."""
    scheme = settings.scheme()
    wanted = (
        Filter.eq("FDocumentStatus", "C")
        & Filter.eq("FForbidStatus", "A")
        & Filter.eq(scheme.sell_online_field, True)
        & Filter.eq("FUseOrgId.FNumber", settings.org)
    )
    if numbers:
        wanted = wanted & Filter.in_("FNumber", numbers)
    else:
        # Kingdee compares FModifyDate in its own (Beijing) wall-clock time.
        wanted = (
            wanted
            & Filter.ge("FModifyDate", window.start.astimezone(SHANGHAI).strftime(KINGDEE_TIME))
            & Filter.le("FModifyDate", window.end.astimezone(SHANGHAI).strftime(KINGDEE_TIME))
        )
    return kingdee.execute_bill_query("BD_MATERIAL", material_fields(scheme), wanted, order_by="FNumber ASC")


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
    with JushuitanClient(JushuitanSettings()) as jst, KingdeeClient(KingdeeSettings()) as kingdee:
        window = None if documents else resolve_window(SYNC, since, until, settings, full_first_run=True)
        materials = fetch_materials(kingdee, window, documents, settings)
        mapping = map_materials(materials, settings.scheme())
        uploaded = upload_items(jst, mapping.items, dry_run)
    report = SyncReport(
        sync=SYNC,
        dry_run=dry_run,
        window=window,
        outcomes=pl.concat([uploaded, held_outcomes(mapping.split.held)]),
        held_rows=mapping.split.held,
        warnings=mapping.split.warnings,
        notes={reason: n for reason, n in mapping.out_of_scope.group_by("reason").len().rows()},
    )
    publish(report, settings.reports_dir, settings.held_rows_in_artifact)
    if window and window.incremental and not dry_run:
        advance_watermark(SYNC, window)
    return report.summary()
