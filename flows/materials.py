"""Materials: Kingdee → Jushuitan items (create-or-update by sku_id), incremental on FModifyDate."""

from __future__ import annotations

import process_settings  # noqa: F401  first: its defaults must be set before Prefect or Polars load

from datetime import datetime

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from connectors.jushuitan import JushuitanClient
from flows.master_data import fetch_materials
from flows.sync import SyncRun, SyncSpec, Transferred, run_sync
from transforms.materials import map_materials
from transforms.outcomes import WOULD_CREATE, held_outcomes, outcome_frame, upload_outcomes


@task(name="upload-items", cache_policy=NO_CACHE)
def upload_items(jst: JushuitanClient, items: pl.DataFrame, dry_run: bool) -> pl.DataFrame:
    skus = items["sku_id"].to_list()
    if dry_run or not skus:
        return outcome_frame(skus, [WOULD_CREATE] * len(skus), [None] * len(skus))
    return upload_outcomes(jst.upload_items(items.to_dicts()))


def push_items(run: SyncRun) -> Transferred:
    """One query, one mapping, one upload: no page groups, no master data (these are it), no Kingdee bill."""
    materials = fetch_materials(run.kingdee, run.window, run.by_number.numbers, run.settings)
    run.by_number.seen.update(materials["FNumber"].cast(pl.String))
    mapping = map_materials(materials, run.settings.scheme())
    return Transferred(
        outcomes=pl.concat([upload_items(run.jst, mapping.items, run.dry_run), held_outcomes(mapping.split.held)]),
        held_rows=mapping.split.held,
        warnings=mapping.split.warnings,
        notes=mapping.notes(),
    )


MATERIALS = SyncSpec(name="materials", transfer=push_items, master_data=False, full_first_run=True)


@flow(name="sync-materials")
def sync_materials(
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    documents: list[str] | None = None,
) -> dict:
    """Push audited, sold-online Kingdee materials to Jushuitan as items (i_id = sku_id = FNumber).
    `documents`: material numbers to push again regardless of their modify date."""
    return run_sync(MATERIALS, since, until, dry_run, None, documents)
