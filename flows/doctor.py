"""The doctor flow (`jst-kingdee doctor`): read-only checks of the configured tenant before go-live —
both hosts, Jushuitan auth, token and clock, the Kingdee login, the field keys our bills and queries use
on the tenant's forms (and their case), the hand-kept tables, the outbound statuses seen, org and currency,
the bill types, owner type, ExecuteBillQuery's row cap, the main warehouse's wms_co_id, and each shop's
after-sales route with its counts. Reads both
systems, writes neither (the token the Jushuitan client obtains is kept, as on every run). The decisions
are transforms/doctor.py; the table is the flow's markdown artifact and what the CLI prints."""

from __future__ import annotations

import process_settings  # noqa: F401  first: its defaults must be set before Prefect or Polars load

import email.utils
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

import httpx
import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from basics.shanghai import beijing_wall_clock, now_shanghai
from connectors.jushuitan import Deduplicator, JushuitanClient
from connectors.jushuitan.errors import JushuitanError, JushuitanTimestampError
from connectors.kingdee import Filter, KingdeeClient, KingdeeError
from connectors.settings import JushuitanSettings
from deploy.blocks import connector_settings, jushuitan_client, token_store
from flows.check_mappings import read_worklist
from reporting.files import md_text
from state.settings import SyncSettings
from state.tables import hand_kept_tables
from transforms import doctor as checks
from transforms.worklist import JushuitanView, check_period

PROBE_TIMEOUT_SECONDS = 10.0


@task(name="probe-host", cache_policy=NO_CACHE)
def probe(system: str, url: str, verify: bool) -> tuple[dict[str, str], datetime | None]:
    """One GET of the host (any HTTP answer means reachable, TLS verified), and the server's Date header."""
    try:
        response = httpx.get(url, timeout=PROBE_TIMEOUT_SECONDS, verify=verify, trust_env=False)
    except httpx.HTTPError as exc:
        return checks.reachable(system, url, f"{type(exc).__name__}: {exc}"), None
    date = response.headers.get("date")
    return checks.reachable(system, url, None), email.utils.parsedate_to_datetime(date) if date else None


def _token_expires_in(settings: JushuitanSettings) -> float | None:
    """Seconds the stored token has left after the signed read (None: a token from settings, expiry unknown)."""
    token = token_store(settings).load()
    return None if token is None or token.expires_at is None else token.expires_at - time.time()


@task(name="jushuitan-auth", cache_policy=NO_CACHE)
def jushuitan_auth(jst: JushuitanClient, settings: JushuitanSettings) -> tuple[dict[str, str], bool, int | None]:
    """A signed read (the shop list) with the configured app; (the check, whether code 180 refused it, the
    company id the shops carry)."""
    try:
        shops = [shop for page in jst.shops() for shop in page]
    except JushuitanError as error:
        return checks.jushuitan_auth(error.code, error.msg, None), isinstance(error, JushuitanTimestampError), None
    co_ids = {shop.get("co_id") for shop in shops} - {None}
    co_id = int(next(iter(co_ids))) if len(co_ids) == 1 else None
    return checks.jushuitan_auth(None, None, _token_expires_in(settings)), False, co_id


@task(name="kingdee-reads", cache_policy=NO_CACHE)
def kingdee_reads(kingdee: KingdeeClient, settings: SyncSettings) -> list[dict[str, str]]:
    """Login (by the first read), org and currency, and the field keys of each form on the tenant."""
    scheme = settings.scheme()
    mode = kingdee.settings.auth_mode
    try:
        org = kingdee.execute_bill_query_by_number("ORG_Organizations", ["FNumber"], [scheme.org], number_key="FNumber")
    except KingdeeError as error:
        return [checks.kingdee_login(mode, str(error))]
    currency = kingdee.execute_bill_query_by_number("BD_Currency", ["FNumber"], [scheme.currency], number_key="FNumber")
    rows = [
        checks.kingdee_login(mode, None),
        checks.base_number("organisation", "ORG_Organizations", scheme.org, org.height > 0),
        checks.base_number("currency", "BD_Currency", scheme.currency, currency.height > 0),
    ]
    for form_id, used in checks.field_keys_used(scheme).items():
        try:
            tenant = kingdee.query_business_info(form_id)
        except KingdeeError as error:
            rows.append(
                checks.row(
                    f"{form_id} field keys",
                    checks.FAIL,
                    str(error),
                    "QueryBusinessInfo needs the integration user's right to read the form's metadata",
                )
            )
            continue
        rows.append(checks.fields_on_tenant(form_id, used, tenant, scheme))
        if form_id in checks.BILL_FORMS:  # BD_MATERIAL's keys are queried as spelled on every run already
            rows.append(_key_case(kingdee, form_id, used, tenant))
    return rows


def _key_case(kingdee: KingdeeClient, form_id: str, used: set[str], tenant: pl.DataFrame) -> dict[str, str]:
    """Query the keys the tenant has, spelled as the bills spell them, for no row at all."""
    have = {key.lower() for key in tenant["key"]}
    keys = sorted(key for key in used if key.lower() in have)
    try:
        kingdee.execute_bill_query(form_id, keys, Filter.eq("FBillNo", "__doctor__"))
    except KingdeeError as error:
        return checks.key_case(form_id, len(keys), str(error))
    return checks.key_case(form_id, len(keys), None)


@task(name="kingdee-tenant", cache_policy=NO_CACHE)
def kingdee_tenant(kingdee: KingdeeClient, settings: SyncSettings, since: datetime) -> list[dict[str, str]]:
    """SCHEME.md's bill types in BOS_BillType, the owner type of the tenant's recent bills, and whether
    ExecuteBillQuery caps a page below KINGDEE_QUERY_PAGE_SIZE; a read the tenant refuses is that check's FAIL."""
    scheme = settings.scheme()
    wanted = {"SAL_OUTSTOCK": scheme.outbound_bill_type, "SAL_RETURNSTOCK": scheme.return_bill_type}

    def bill_types() -> list[dict[str, str]]:
        keys = ["FNumber", "FBillFormID"]
        found = kingdee.execute_bill_query_by_number(
            "BOS_BillType", keys, wanted.values(), number_key="FNumber", schema=dict.fromkeys(keys, pl.String)
        )
        return [
            checks.bill_type(form_id, number, found.filter(pl.col("FNumber") == number)["FBillFormID"].to_list())
            for form_id, number in wanted.items()
        ]

    def owner_type(form_id: str) -> list[dict[str, str]]:
        recent = Filter.ge("FDate", beijing_wall_clock(since))
        owners = kingdee.execute_bill_query(
            form_id, ["FOwnerTypeIdHead"], recent, schema={"FOwnerTypeIdHead": pl.String}
        )
        return [checks.owner_type(form_id, scheme.owner_type, owners["FOwnerTypeIdHead"])]

    def row_cap() -> list[dict[str, str]]:
        page = kingdee.settings.query_page_size
        numbers = kingdee.execute_bill_query("BD_MATERIAL", ["FNumber"], order_by="FNumber ASC", schema=_NUMBER)
        beyond = 0
        if 0 < numbers.height < page:  # one short page: is anything after its last number?
            after = Filter.gt("FNumber", numbers["FNumber"].max())
            beyond = kingdee.execute_bill_query("BD_MATERIAL", ["FNumber"], after, "FNumber ASC", schema=_NUMBER).height
        return [checks.query_row_cap(page, numbers.height, beyond)]

    reads = [
        ("bill types (BOS_BillType)", bill_types),
        *((f"owner type ({form_id})", partial(owner_type, form_id)) for form_id in checks.BILL_FORMS),
        ("ExecuteBillQuery row cap", row_cap),
    ]
    rows: list[dict[str, str]] = []
    for check, read in reads:
        try:
            rows += read()
        except KingdeeError as error:
            rows.append(checks.row(check, checks.FAIL, str(error), "grant the integration user the right to read it"))
    return rows


_NUMBER = {"FNumber": pl.String}


@task(name="after-sales-routes", cache_policy=NO_CACHE)
def after_sales_routes(
    jst: JushuitanClient, view: JushuitanView, start: datetime, end: datetime, days: int
) -> list[dict[str, str]]:
    """Each shop's after-sales route and counts; a shop with outbound but no after-sale on the standard route
    is asked of the Qimen route too (when its app is configured), so the WARN can say what it holds."""
    qimen = jst.qimen
    probed: dict[str, int | str] = {}
    quiet = checks.quiet_shops(view.outbound, view.refunds)
    asked = [shop for shop in quiet if shop.isdigit() and int(shop) not in qimen.shop_ids]
    for shop in asked if qimen.configured else ():
        try:
            pages = qimen.refund_pages(
                shop_id=int(shop), modified_begin=start, modified_end=end, filters={}, dedup=Deduplicator("as_id")
            )
            probed[shop] = sum(len(page) for page in pages)
        except JushuitanError as error:
            probed[shop] = str(error)
    return checks.after_sales_routes(view.shops, view.outbound, view.refunds, qimen.shop_ids, probed, days)


def render(table: pl.DataFrame, escape: Callable[[object], str] = md_text) -> str:
    """The checks as one markdown table (plain text in a terminal with `escape=str`)."""
    lines = ["| check | status | detail | fix |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(escape(value) for value in row) + " |" for row in table.iter_rows()]
    return "\n".join(lines)


@flow(name="doctor")
def doctor(days: int = 7) -> dict:
    """Check the configured tenant read-only: one row per check, PASS / WARN / FAIL with what to do, over the
    Jushuitan documents of the last `days` days. `exit_code` is 1 when anything FAILs."""
    settings = SyncSettings()
    jst_settings, kingdee_settings = connector_settings()
    jst_probe, server_time = probe("Jushuitan", jst_settings.base_url, jst_settings.verify_tls)
    kingdee_probe, _ = probe("Kingdee", kingdee_settings.server_url, kingdee_settings.verify_tls)
    rows = [jst_probe, kingdee_probe]
    end = now_shanghai()
    start, end = check_period(end - timedelta(days=days), end)
    with jushuitan_client(jst_settings) as jst, KingdeeClient(kingdee_settings) as kingdee:
        auth, refused_for_time, co_id = jushuitan_auth(jst, jst_settings)
        rows += [auth, checks.clock_skew(server_time, datetime.now().astimezone(), refused_for_time)]
        kingdee_rows = kingdee_reads(kingdee, settings)
        rows += kingdee_rows
        # kingdee_rows opens with the login check
        if auth["status"] == checks.FAIL or kingdee_rows[0]["status"] == checks.FAIL:
            rows.append(
                checks.row(
                    "hand-kept tables",
                    checks.FAIL,
                    "not checked: a system could not be read",
                    "fix the checks above, then run doctor again",
                )
            )
        else:
            worklist, view = read_worklist(jst, kingdee, settings, start, end)
            rows += [*checks.tables(worklist), checks.outbound_statuses(view.outbound["status"], settings.scheme())]
            rows += kingdee_tenant(kingdee, settings, start)
            seen = pl.concat([view.outbound["wms_co_id"], view.refunds["wms_co_id"]]).cast(pl.Int64, strict=False)
            mapped = hand_kept_tables(settings)[1]["wms_co_id"]
            rows.append(checks.main_warehouse(seen.drop_nulls().to_list(), mapped.to_list(), co_id))
            rows += after_sales_routes(jst, view, start, end, days)
    table = checks.table(rows)
    code = checks.exit_code(table)
    create_markdown_artifact(key="doctor", markdown=render(table), description="jst-kingdee doctor")
    get_run_logger().info("doctor: %s", dict(table["status"].value_counts().rows()))
    return {"checks": table.to_dicts(), "exit_code": code}
