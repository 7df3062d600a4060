"""The mapping worklist flow: what the hand-kept tables (shops, warehouses; seeded from config/*.csv) and
Kingdee's materials are missing, for the analysts who maintain them (SCHEME.md §1–2). The tasks read
Jushuitan's master lists and the period's documents and where the tables' numbers stand in Kingdee;
transforms/worklist.py makes the lists, reporting/worklist.py the report. Reads both systems, writes neither.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from connectors.jushuitan import JushuitanClient, page_body
from connectors.kingdee import KingdeeClient
from connectors.kingdee.filters import USABLE
from deploy.blocks import open_clients
from flows.master_data import load_master_data
from reporting.worklist import period_text, publish
from state.settings import SyncSettings
from transforms.frames import OUTBOUND_PAGE, REFUND_PAGE, decode_pages, outbound_lines, refund_lines
from transforms.mappings import kingdee_status
from transforms.worklist import (
    CUSTOMER,
    MATERIAL,
    STOCK,
    JushuitanView,
    Worklist,
    build_worklist,
    check_period,
    master_list,
    unlisted_skus,
)


@task(name="read-jushuitan", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def read_jushuitan(jst: JushuitanClient, start: datetime, end: datetime) -> JushuitanView:
    """The master lists and every outbound and after-sale document modified in the period."""
    outbound = map(page_body, jst.outbound_pages(modified_begin=start, modified_end=end))
    refunds = map(page_body, jst.refund_pages(modified_begin=start, modified_end=end))
    return JushuitanView(
        shops=master_list(list(jst.shops()), "shop_id", "shop_name"),
        warehouses=master_list(list(jst.warehouses()), "wms_co_id", "name"),
        outbound=outbound_lines(decode_pages(outbound, OUTBOUND_PAGE)),
        refunds=refund_lines(decode_pages(refunds, REFUND_PAGE)),
    )


@task(name="kingdee-status", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def read_kingdee_status(kingdee: KingdeeClient, form_id: str, numbers: list[str], org: str | None) -> pl.DataFrame:
    """Where `numbers` stand in a Kingdee base form (transforms.mappings.kingdee_status), whatever their state:
    the master data only holds usable rows, and the analysts need to know why a number is not one."""
    keys = ["FNumber", "FName", "FDocumentStatus", "FForbidStatus", *(["FUseOrgId.FNumber"] if org else [])]
    schema = dict.fromkeys(keys, pl.String)
    wanted = list(dict.fromkeys(numbers))
    found = kingdee.execute_bill_query_by_number(form_id, keys, wanted, number_key="FNumber", schema=schema)
    return kingdee_status(wanted, found, org)


@task(name="kingdee-usable", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def read_usable(kingdee: KingdeeClient, form_id: str) -> pl.DataFrame:
    """number, kingdee_name of every usable (audited, enabled) row of a base form: what a suggestion may offer."""
    schema = {"FNumber": pl.String, "FName": pl.String}
    rows = kingdee.execute_bill_query(form_id, list(schema), USABLE, order_by="FNumber ASC", schema=schema)
    return rows.select(pl.col("FNumber").alias("number"), pl.col("FName").alias("kingdee_name")).unique(
        "number", keep="first", maintain_order=True
    )


def read_worklist(
    jst: JushuitanClient, kingdee: KingdeeClient, settings: SyncSettings, start: datetime, end: datetime
) -> tuple[Worklist, JushuitanView]:
    """The worklist of [start, end) from both systems (read-only), and the Jushuitan view it was built from."""
    master = load_master_data(kingdee, settings)
    view = read_jushuitan(jst, start, end)
    skus = unlisted_skus(view, master)
    customers = read_kingdee_status(kingdee, CUSTOMER.form_id, master.shops["customer_number"].to_list(), None)
    stocks = read_kingdee_status(kingdee, STOCK.form_id, master.warehouses["stock_number"].to_list(), None)
    materials = read_kingdee_status(kingdee, MATERIAL.form_id, skus["sku_id"].to_list(), settings.org)
    worklist = build_worklist(
        view,
        master,
        settings.scheme(),
        customers=customers,
        stocks=stocks,
        skus=skus,
        materials=materials,
        usable_customers=read_usable(kingdee, CUSTOMER.form_id),
        usable_stocks=read_usable(kingdee, STOCK.form_id),
    )
    return worklist, view


@flow(name="check-mappings")
def check_mappings(since: datetime | None = None, until: datetime | None = None) -> dict:
    """List what the hand-kept tables and Kingdee's materials are missing, with the documents each gap
    holds back in [since, until) (default: the last 7 days, Asia/Shanghai). Writes nothing to either
    system; the report folder holds report.xlsx and report.html."""
    start, end = check_period(since, until)
    settings = SyncSettings()
    with open_clients() as (jst, kingdee):
        worklist, _view = read_worklist(jst, kingdee, settings, start, end)
    folder = publish(worklist, start, end, settings)
    summary = {"since": start.isoformat(), "until": end.isoformat(), "report_dir": str(folder), **worklist.counts()}
    get_run_logger().info("check-mappings %s: %s; report in %s", period_text(start, end), worklist.counts(), folder)
    return summary
