"""The doctor flow (`jst-kingdee doctor`): read-only checks of the configured tenant before go-live —
both hosts, Jushuitan auth, token and clock, the Kingdee login, the field keys our bills and queries use
on the tenant's forms, the hand-kept tables, the outbound statuses seen, org and currency. Reads both
systems, writes neither (the token the Jushuitan client obtains is kept, as on every run). The decisions
are transforms/doctor.py; the table is the flow's markdown artifact and what the CLI prints."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from basics.shanghai import now_shanghai
from connectors.jushuitan import JushuitanClient
from connectors.jushuitan.errors import JushuitanError, JushuitanTimestampError
from connectors.kingdee import KingdeeClient, KingdeeError
from connectors.settings import JushuitanSettings
from deploy.blocks import connector_settings, jushuitan_client, token_store
from flows.check_mappings import read_worklist
from reporting.files import md_text
from state.settings import SyncSettings
from transforms import doctor as checks
from transforms.worklist import check_period

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
def jushuitan_auth(jst: JushuitanClient, settings: JushuitanSettings) -> tuple[dict[str, str], bool]:
    """A signed read (the shop list) with the configured app; (the check, whether code 180 refused it)."""
    try:
        list(jst.shops())
    except JushuitanError as error:
        return checks.jushuitan_auth(error.code, error.msg, None), isinstance(error, JushuitanTimestampError)
    return checks.jushuitan_auth(None, None, _token_expires_in(settings)), False


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
            rows.append(checks.fields_on_tenant(form_id, used, kingdee.query_business_info(form_id), scheme))
        except KingdeeError as error:
            rows.append(
                checks.row(
                    f"{form_id} field keys",
                    checks.FAIL,
                    str(error),
                    "QueryBusinessInfo needs the integration user's right to read the form's metadata",
                )
            )
    return rows


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
        auth, refused_for_time = jushuitan_auth(jst, jst_settings)
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
    table = checks.table(rows)
    code = checks.exit_code(table)
    create_markdown_artifact(key="doctor", markdown=render(table), description="jst-kingdee doctor")
    get_run_logger().info("doctor: %s", dict(table["status"].value_counts().rows()))
    return {"checks": table.to_dicts(), "exit_code": code}
