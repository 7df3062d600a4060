"""All three syncs in dependency order (materials first: items must exist before documents use them), and
the nightly omission sweep of the two document syncs."""

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
    limit: int | None = None,
) -> dict[str, dict]:
    """Run materials, then outbound, then returns; each keeps its own watermark and report.

    A window (`since`/`until`) applies to the documents; materials always run incrementally (all of
    them on the first run), so every item a document needs exists in Jushuitan first. `limit`: at most
    that many new bills each for outbound and for returns, saved as drafts (materials are not limited).
    """
    return {
        "materials": sync_materials(dry_run=dry_run),
        "outbound": sync_outbound(since=since, until=until, dry_run=dry_run, batch_size=batch_size, limit=limit),
        "returns": sync_returns(since=since, until=until, dry_run=dry_run, batch_size=batch_size, limit=limit),
    }


@flow(name="sync-sweep")
def sync_sweep(dry_run: bool = False) -> dict[str, dict]:
    """The omission sweep: outbound and returns re-read over the SYNC_SWEEP_DAYS before their watermarks,
    which stay where they are; only what Kingdee lacks is written, and each report says how many it caught
    (0 normally: anything else is a document the incremental runs missed).

    A flow of its own, not a parameter of sync-all: it has its own nightly schedule and no-overlap limit, and
    materials, which sync-all runs first, go to Jushuitan, not Kingdee: nothing of theirs for it to catch.
    """
    return {
        "outbound": sync_outbound(sweep=True, dry_run=dry_run),
        "returns": sync_returns(sweep=True, dry_run=dry_run),
    }
