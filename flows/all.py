"""All three syncs in dependency order: materials first (items must exist before documents use them)."""

from __future__ import annotations

import process_settings  # noqa: F401  first: its defaults must be set before Prefect or Polars load

from datetime import datetime

from prefect import flow

from flows.materials import sync_materials
from flows.outbound import sync_outbound
from flows.returns import sync_returns


@flow(name="sync-all")
def sync_all(
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
) -> dict[str, dict]:
    """Run materials, then outbound, then returns; each keeps its own watermark and report.

    A window (`since`/`until`) applies to the documents; materials always run incrementally (all of
    them on the first run), so every item a document needs exists in Jushuitan first.
    """
    return {
        "materials": sync_materials(dry_run=dry_run),
        "outbound": sync_outbound(since=since, until=until, dry_run=dry_run, batch_size=batch_size),
        "returns": sync_returns(since=since, until=until, dry_run=dry_run, batch_size=batch_size),
    }
