"""Reconciliation: for a period, Jushuitan sales outbound and received returns against the Kingdee
SAL_OUTSTOCK / SAL_RETURNSTOCK bills, per document and per day × shop. Reads both systems, writes
neither; transforms/reconcile.py compares, reporting/reconcile.py writes the workbook, the HTML page
and the Prefect artifact.

The period is half-open, [since, until), on Beijing wall-clock time. Jushuitan documents are placed by
the date their bill carries (outbound: io_date; returns: the receive date), Kingdee bills by FDate.
A document whose bill carries a date outside the period is still found, by number, so a changed
date shows as a date mismatch instead of as one bill missing and another extra. With a real Kingdee,
whose FDate usually has no time of day, reconcile whole days (midnight to midnight).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from basics.shanghai import beijing_wall_clock, now_shanghai
from connectors.jushuitan import JushuitanClient, page_body
from connectors.kingdee import Filter, KingdeeClient
from deploy.blocks import open_clients
from flows.master_data import load_master_data
from reporting.reconcile import period_text, publish
from state.settings import SyncSettings
from transforms import outbound, returns
from transforms.documents import MasterData
from transforms.frames import (
    OUTBOUND_PAGE,
    RECEIVED_PAGE,
    REFUND_PAGE,
    decode_pages,
    outbound_lines,
    received_dates,
    refund_lines,
)
from transforms.mappings import SchemeConfig
from transforms.reconcile import (
    KINDS,
    KINGDEE_ROWS_SCHEMA,
    Kind,
    KindName,
    Reconciliation,
    held_reasons,
    in_period,
    outbound_documents,
    reconciliation,
    returns_documents,
)

ORDER = "FBillNo ASC, FEntity_FEntryID ASC"  # a bill's entry lines together, in entry order


@dataclass(frozen=True)
class JushuitanSide:
    documents: pl.DataFrame  # transforms.reconcile.SIDE_SCHEMA
    held: pl.DataFrame  # document, reason


def _decoded(pages: Iterable[list[dict]], schema: pl.Struct) -> pl.DataFrame:
    return decode_pages(map(page_body, pages), schema)


@task(name="jushuitan-outbound", cache_policy=NO_CACHE)
def jushuitan_outbound(
    jst: JushuitanClient, master: MasterData, scheme: SchemeConfig, since: datetime, until: datetime
) -> JushuitanSide:
    """Outbound documents shipped in the period (queried by io_date, every status), run through the
    sync's own mapping: which statuses are booked, what it would hold and why come from the same rules.
    One query for all statuses: the API filters one status at a time, and the booked ones are a setting."""
    pages = jst.outbound_pages(modified_begin=since, modified_end=until, date_type=2)
    lines = outbound_lines(_decoded(pages, OUTBOUND_PAGE))
    mapping = outbound.map_outbound(lines, master, scheme)
    taken = pl.concat([mapping.bills["bill_no"], mapping.split.held_documents])
    return JushuitanSide(
        documents=in_period(outbound_documents(lines, taken), since, until),
        held=held_reasons(mapping.split.held),
    )


@task(name="jushuitan-returns", cache_policy=NO_CACHE)
def jushuitan_returns(
    jst: JushuitanClient, master: MasterData, scheme: SchemeConfig, since: datetime, until: datetime
) -> JushuitanSide:
    """Confirmed, received after-sales whose goods came back in the period. The API filters after-sales by
    modification time only, and receiving one modifies it: everything modified since `since` is read
    and placed by its receive date."""
    pages = jst.refund_pages(
        modified_begin=since,
        modified_end=max(beijing_wall_clock(now_shanghai()), since),
        status=returns.IN_SCOPE_STATUS,
        good_status=returns.RECEIVED_GOOD_STATUS,
    )
    lines = refund_lines(_decoded(pages, REFUND_PAGE))
    undated_ids = returns.undated(lines)
    stock_in = received_dates(_decoded(jst.received_by_ids(as_ids=undated_ids) if undated_ids else (), RECEIVED_PAGE))
    mapping = returns.map_returns(lines, stock_in, master, scheme)
    taken = pl.concat([mapping.bills["bill_no"], mapping.split.held_documents])
    return JushuitanSide(
        documents=in_period(returns_documents(lines, stock_in, taken), since, until),
        held=held_reasons(mapping.split.held),
    )


@task(name="kingdee-bills", cache_policy=NO_CACHE)
def kingdee_bills(
    kingdee: KingdeeClient, kind: Kind, since: datetime, until: datetime, numbers: list[str]
) -> pl.DataFrame:
    """Entry lines (KINGDEE_ROWS_SCHEMA) of the bills dated in the period, plus those of `numbers` dated
    elsewhere."""
    customer = f"{kind.customer_key}.FNumber"
    keys = ["FBillNo", "FDate", "FDocumentStatus", customer, "FRealQty", "FTaxPrice"]
    schema = {key: KINGDEE_ROWS_SCHEMA["customer_number" if key == customer else key] for key in keys}

    dated = kingdee.execute_bill_query(
        kind.form_id, keys, Filter.ge("FDate", since) & Filter.lt("FDate", until), order_by=ORDER, schema=schema
    )
    seen = set(dated["FBillNo"].to_list())
    elsewhere = [number for number in numbers if number not in seen]
    if not elsewhere:
        return dated.rename({customer: "customer_number"})
    by_number = kingdee.execute_bill_query_by_number(kind.form_id, keys, elsewhere, order_by=ORDER, schema=schema)
    return pl.concat([dated, by_number]).rename({customer: "customer_number"})


def reconcile_kind(
    jst: JushuitanClient,
    kingdee: KingdeeClient,
    master: MasterData,
    settings: SyncSettings,
    kind: Kind,
    since: datetime,
    until: datetime,
) -> Reconciliation:
    fetch = jushuitan_outbound if kind.name == "outbound" else jushuitan_returns
    side = fetch(jst, master, settings.scheme(), since, until)
    rows = kingdee_bills(kingdee, kind, since, until, side.documents["document"].to_list())
    return reconciliation(kind, side.documents, side.held, rows, master.shops)


@flow(name="reconcile")
def reconcile(since: datetime, until: datetime, kinds: list[KindName] | None = None) -> dict:
    """Compare Jushuitan with Kingdee over [since, until) (naive times are Asia/Shanghai).

    `kinds`: "outbound", "returns" or both (the default). Returns the counts per class and kind and
    where the report files are.
    """
    start, end = beijing_wall_clock(since), beijing_wall_clock(until)
    if end <= start:
        raise ValueError(f"until ({until}) must be after since ({since})")
    settings = SyncSettings()
    chosen = [KINDS[name] for name in dict.fromkeys(kinds or KINDS)]
    with open_clients() as (jst, kingdee):
        master = load_master_data(kingdee, settings)
        results = [reconcile_kind(jst, kingdee, master, settings, kind, start, end) for kind in chosen]
    folder = publish(results, start, end, settings)
    summary = {
        "since": start.isoformat(),
        "until": end.isoformat(),
        "report_dir": str(folder),
        "counts": {r.kind.name: r.counts() for r in results},
        "documents": {r.kind.name: {"jushuitan": r.jushuitan.height, "kingdee": r.kingdee.height} for r in results},
    }
    get_run_logger().info("reconcile %s: %s; report in %s", period_text(start, end), summary["counts"], folder)
    return summary
