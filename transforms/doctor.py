"""The doctor's decisions (issue 16 §1, §3): each read-only check of the configured tenant as a row
check, status (PASS / WARN / FAIL), detail and what to do. Values and frames in, rows out, no I/O:
flows/doctor.py reads both systems and hands the answers here.

The field keys checked against the tenant come from the code that writes and reads Kingdee — the bill
models `sal_outstock_models` / `sal_returnstock_models` build from one sample line, and the BD_MATERIAL
query keys — so the list cannot drift from what the syncs send.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

import polars as pl

from transforms.documents import TABLE_FIX_EN
from transforms.mappings import SchemeConfig
from transforms.materials import material_schema
from transforms.outbound import NEVER_BOOKED, SAL_OUTSTOCK_LINES, sal_outstock_models
from transforms.returns import SAL_RETURNSTOCK_LINES, sal_returnstock_models
from transforms.worklist import Worklist

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
CHECK_SCHEMA = {"check": pl.String, "status": pl.String, "detail": pl.String, "fix": pl.String}
MAX_CLOCK_SKEW_SECONDS = 600  # Jushuitan refuses a timestamp further off (code 180)
WARN_CLOCK_SKEW_SECONDS = 60
LISTED = 10  # ids named in one detail text
NOT_SHIPPED_YET = ("WaitConfirm",)
BILL_FORMS = ("SAL_OUTSTOCK", "SAL_RETURNSTOCK")  # written by the syncs; BD_MATERIAL is only read
QIMEN_METHOD = "jushuitan.refund.list.query"
QIMEN_ROUTE = f"Qimen {QIMEN_METHOD}"
STANDARD_ROUTE = "standard /open/refund/single/query"


def row(check: str, status: str, detail: str, fix: str = "") -> dict[str, str]:
    return {"check": check, "status": status, "detail": detail, "fix": fix}


def table(rows: Iterable[dict[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=CHECK_SCHEMA)


def exit_code(checks: pl.DataFrame) -> int:
    """0 when nothing FAILs, 1 otherwise."""
    return int(checks["status"].eq(FAIL).any())


def _listed(values: Iterable[object]) -> str:
    values = [str(value) for value in values]
    more = f" (+{len(values) - LISTED} more)" if len(values) > LISTED else ""
    return ", ".join(values[:LISTED]) + more


# --- hosts, auth, clock ----------------------------------------------------------------------------


def reachable(system: str, url: str, error: str | None) -> dict[str, str]:
    """`error`: why the HTTP(S) request to `url` got no answer, or None when it got one."""
    if error is None:
        return row(f"{system} reachable", PASS, url)
    tls = "certificate" in error.lower() or "ssl" in error.lower()
    fix = (
        "the TLS certificate was refused: install the CA or fix the server's certificate (never turn verify_tls off)"
        if tls
        else f"check the {system} URL, DNS, firewall and proxy from this host"
    )
    return row(f"{system} reachable", FAIL, f"{url}: {error}", fix)


def jushuitan_auth(code: int | None, message: str | None, token_expires_in: float | None) -> dict[str, str]:
    """A signed read with the configured app (`code`/`message` of its refusal, or None) and how long the
    token it used has left (None when unknown: a token from settings)."""
    check = "Jushuitan auth and token"
    if code in (10, 120):
        return row(
            check,
            FAIL,
            f"code {code}: {message}",
            "JST_APP_KEY / JST_APP_SECRET are wrong: copy them again from the Jushuitan open platform console",
        )
    if code == 180:
        return row(check, FAIL, f"code 180: {message}", "see the clock check")
    if code in (110, 190):
        return row(
            check,
            FAIL,
            f"code {code}: {message}",
            "whitelist this host's egress IP and grant the app the APIs it calls in the Jushuitan console",
        )
    if message is not None:
        return row(check, FAIL, f"code {code}: {message}", "see the message; retry once the platform answers")
    if token_expires_in is None:
        return row(
            check,
            WARN,
            "token from settings, expiry unknown",
            "let the client obtain its own token (unset JST_ACCESS_TOKEN) so it refreshes it before expiry",
        )
    days = token_expires_in / 86400
    if token_expires_in <= 0:
        return row(check, FAIL, "token expired", "delete the token file or block: the client asks for a new one")
    return row(check, PASS, f"token valid for {days:.1f} more days (refreshed automatically)")


def clock_skew(server_time: datetime | None, local_time: datetime, refused_for_time: bool) -> dict[str, str]:
    """This host's clock against Jushuitan's (`server_time`, the answer's Date header, None if absent);
    `refused_for_time`: a call was refused with code 180."""
    check = "clock vs Jushuitan"
    fix = (
        "synchronise this host's clock (NTP: chrony / systemd-timesyncd); Jushuitan refuses timestamps "
        f"more than {MAX_CLOCK_SKEW_SECONDS // 60} minutes off (code 180)"
    )
    if refused_for_time:
        return row(check, FAIL, "Jushuitan refused our timestamp (code 180)", fix)
    if server_time is None:
        return row(check, WARN, "the server sent no Date header: skew not measured", "check NTP on this host")
    skew = abs((local_time - server_time).total_seconds())
    status = FAIL if skew > MAX_CLOCK_SKEW_SECONDS else WARN if skew > WARN_CLOCK_SKEW_SECONDS else PASS
    return row(check, status, f"skew {skew:.0f} s", "" if status == PASS else fix)


def kingdee_login(mode: str, error: str | None) -> dict[str, str]:
    check = f"Kingdee login ({mode})"
    if error is None:
        return row(check, PASS, "a read in the configured mode was answered")
    return row(
        check,
        FAIL,
        error,
        "check KINGDEE_ACCT_ID, KINGDEE_USERNAME, KINGDEE_APP_ID, KINGDEE_APP_SECRET (and "
        "KINGDEE_PASSWORD in password mode), and that the third-party app is authorised for this data centre",
    )


# --- field keys --------------------------------------------------------------------------------------


def _sample(schema: object) -> pl.DataFrame:
    """One line of every column a payload schema declares, plus what the models carry beside it."""
    values = {pl.String: "0", pl.Float64: 1.0, pl.Boolean: True, pl.Datetime("us"): datetime(2024, 1, 1)}
    columns = {name: column.dtype.type for name, column in schema.columns.items()}  # type: ignore[attr-defined]
    sample = {name: [values[dtype]] for name, dtype in columns.items()}
    extra = {"so_id": ["0"], "l_id": ["0"], "gift": [False], "shop_id": ["0"], "shop_name": ["0"]}
    return pl.DataFrame({**sample, **extra}, schema={**columns, **dict.fromkeys(extra, pl.String), "gift": pl.Boolean})


def _model_keys(model: str) -> set[str]:
    """The field keys of one bill model: the header's, its sub-heads', and FEntity's lines'."""
    keys: set[str] = set()
    for key, value in json.loads(model).items():
        if key == "SubHeadEntity" and isinstance(value, dict):
            keys.update(value)
        elif key == "FEntity" and isinstance(value, list):
            keys.update(k for line in value for k in line)
        else:
            keys.add(key)
    return keys


def field_keys_used(config: SchemeConfig) -> dict[str, set[str]]:
    """FormId → the field keys the syncs send or query there (query keys by their root: FBaseUnitId.FNumber
    is the field FBaseUnitId)."""
    outbound = sal_outstock_models(_sample(SAL_OUTSTOCK_LINES), config)["model"].item()
    returns = sal_returnstock_models(_sample(SAL_RETURNSTOCK_LINES), config)["model"].item()
    return {
        "SAL_OUTSTOCK": _model_keys(outbound),
        "SAL_RETURNSTOCK": _model_keys(returns),
        "BD_MATERIAL": {key.split(".", 1)[0] for key in material_schema(config)},
    }


def _setting(key: str, config: SchemeConfig) -> str:
    names = {
        config.tracking_field: "SYNC_TRACKING_FIELD",
        config.online_order_field: "SYNC_ONLINE_ORDER_FIELD",
        config.sell_online_field: "SYNC_SELL_ONLINE_FIELD",
    }
    return names.get(key, "")


def fields_on_tenant(form_id: str, used: set[str], tenant: pl.DataFrame, config: SchemeConfig) -> dict[str, str]:
    """`tenant`: key, must_input of QueryBusinessInfo. Keys compare case-insensitively, as Kingdee's do.
    A bill form's must-input fields the bills leave out are a WARN: the tenant may default them."""
    check = f"{form_id} field keys"
    have = {key.lower() for key in tenant["key"]}
    missing = sorted(key for key in used if key.lower() not in have)
    if not missing:
        sent = {key.lower() for key in used}
        unsent = sorted(key for key in tenant.filter("must_input")["key"] if key.lower() not in sent)
        if form_id in BILL_FORMS and unsent:
            return row(
                check,
                WARN,
                f"all {len(used)} keys exist; must-input fields we do not send: {_listed(unsent)}",
                "give them a default on the tenant (a save without them fails), or confirm Kingdee fills them in",
            )
        return row(check, PASS, f"all {len(used)} keys the syncs use exist")
    custom = [f"{key} ({_setting(key, config)})" for key in missing if _setting(key, config)]
    fix = "add the field on the tenant's form (BOS designer) or correct the key"
    if custom:
        fix = f"set the custom field key for this tenant: {', '.join(custom)}; else {fix}"
    return row(check, FAIL, f"missing on the tenant: {', '.join(missing)}", fix)


# --- hand-kept tables, statuses, organisation --------------------------------------------------------


def tables(worklist: Worklist) -> list[dict[str, str]]:
    """Shops and warehouses Jushuitan shows without a row, and rows whose Kingdee number is not usable."""
    shops, warehouses, rows = worklist.shops, worklist.warehouses, worklist.table_rows
    unusable = rows.filter(~pl.col("problem").str.ends_with("_gone"))
    gone = rows.filter(pl.col("problem").str.ends_with("_gone"))
    found = [
        (
            "shops mapped (shops table)",
            shops,
            "shop_id",
            f"map each shop to a Kingdee customer number in the shops table: {TABLE_FIX_EN}",
        ),
        (
            "warehouses mapped (warehouses table)",
            warehouses,
            "wms_co_id",
            f"map each warehouse to a Kingdee stock number in the warehouses table: {TABLE_FIX_EN}",
        ),
    ]
    checks = [
        row(name, FAIL, f"no row for {_listed(frame[key])}", fix) if frame.height else row(name, PASS, "every one seen")
        for name, frame, key, fix in found
    ]
    if unusable.height:
        detail = _listed(f"{r['kingdee_number']} ({r['label_en']})" for r in unusable.iter_rows(named=True))
        hints = _listed(dict.fromkeys(unusable["hint"]))
        checks.append(row("table numbers usable in Kingdee", FAIL, detail, hints))
    else:
        checks.append(row("table numbers usable in Kingdee", PASS, "every customer and stock is audited and enabled"))
    if gone.height:
        checks.append(
            row("table rows still in Jushuitan", WARN, f"not seen: {_listed(gone['key'])}", _listed(set(gone["hint"])))
        )
    return checks


def outbound_statuses(seen: pl.Series, config: SchemeConfig) -> dict[str, str]:
    """The statuses of the period's outbound documents against SYNC_OUTBOUND_BOOKED_STATUSES."""
    counts = seen.value_counts(sort=True)
    detail = ", ".join(f"{status}: {n}" for status, n in counts.rows()) or "no outbound documents in the period"
    known = {*config.outbound_booked_statuses, *NEVER_BOOKED, *NOT_SHIPPED_YET}
    unknown = sorted({str(s) for s in seen.drop_nulls()} - known)
    if unknown:
        return row(
            "outbound statuses booked",
            WARN,
            detail,
            f"statuses neither booked nor refused: {', '.join(unknown)}; "
            "decide whether they are shipped and set SYNC_OUTBOUND_BOOKED_STATUSES (docs/wire_facts.md)",
        )
    return row("outbound statuses booked", PASS, f"{detail}; booked: {', '.join(config.outbound_booked_statuses)}")


def base_number(what: str, form_id: str, number: str, found: bool) -> dict[str, str]:
    """Org 100 and currency PRE001: `found` when a query by FNumber returned the row."""
    if found:
        return row(f"{what} {number}", PASS, f"{form_id} {number} exists")
    return row(
        f"{what} {number}",
        FAIL,
        f"{form_id} {number} not found",
        f"create it in Kingdee ({form_id}) or correct the number in the settings (SYNC_ORG / SYNC_CURRENCY)",
    )


def bill_type(form_id: str, number: str, forms: list[str]) -> dict[str, str]:
    """SCHEME.md's bill type of `form_id`: `forms`, the FBillFormID of each BOS_BillType row numbered so."""
    check = f"bill type {number} ({form_id})"
    if not forms:
        return row(
            check, FAIL, f"BOS_BillType {number} not found", f"create bill type {number} for {form_id} on the tenant"
        )
    if form_id.lower() not in {form.lower() for form in forms}:
        return row(
            check, FAIL, f"{number} is a bill type of {', '.join(forms)}, not {form_id}", "correct the bill type"
        )
    return row(check, PASS, f"BOS_BillType {number} exists for {form_id}")


def owner_type(form_id: str, configured: str, seen: pl.Series) -> dict[str, str]:
    """The owner type our bills send against the one the tenant's own recent bills of `form_id` carry."""
    check = f"owner type ({form_id})"
    used = sorted({str(value) for value in seen.drop_nulls()})
    if not used:
        return row(check, PASS, f"no recent {form_id} on the tenant to compare; we send {configured}")
    if used == [configured]:
        return row(check, PASS, f"the tenant's recent {form_id} bills carry {configured}, as ours")
    return row(
        check,
        WARN,
        f"the tenant's recent {form_id} bills carry {', '.join(used)}; ours carry {configured}",
        "confirm the owner type with the tenant's Kingdee administrator (SCHEME.md: the owner is organisation 100)",
    )


def query_row_cap(page_size: int, first_page: int, beyond: int) -> dict[str, str]:
    """ExecuteBillQuery's row cap: `first_page` rows came back to a page of `page_size`; `beyond` rows exist
    after them. A page that comes back short ends a walk, so a tenant capping below the page size would cut
    every query off unseen."""
    check = "ExecuteBillQuery row cap"
    if beyond:
        return row(
            check,
            FAIL,
            f"a page of {page_size} came back with {first_page} rows while {beyond} more exist",
            f"set KINGDEE_QUERY_PAGE_SIZE to {first_page} or less (the tenant's cap)",
        )
    if first_page < page_size:
        return row(check, PASS, f"all {first_page} rows in one page of {page_size} (a cap, if any, is higher)")
    return row(check, PASS, f"full pages of {page_size} rows answered")


def key_case(form_id: str, keys: int, error: str | None) -> dict[str, str]:
    """A query of `form_id` with `keys` keys spelled as the syncs spell them: refused if the tenant's keys
    were case-sensitive and ours differ in case."""
    check = f"{form_id} field-key case"
    if error is None:
        return row(check, PASS, f"the tenant accepts all {keys} keys as the syncs spell them")
    return row(check, FAIL, error, "the tenant matches keys by case: spell the key as the tenant's metadata does")


def main_warehouse(seen: Iterable[int], mapped: Iterable[int], co_id: int | None) -> dict[str, str]:
    """Documents of the main warehouse may carry wms_co_id 0 or the company id instead of a warehouse's own
    id (public code disagrees): the warehouses table needs a row for whichever the tenant's documents carry."""
    check = "main warehouse wms_co_id"
    main = sorted({0, *([co_id] if co_id is not None else [])} & set(seen))
    if not main:
        return row(check, PASS, f"no document carries wms_co_id 0 or the company id {co_id}")
    unmapped = sorted(set(main) - set(mapped))
    if unmapped:
        return row(
            check,
            FAIL,
            f"documents carry wms_co_id {_listed(unmapped)} (the main warehouse: 0 or company id {co_id})",
            "add a warehouses table row for that wms_co_id, mapped to the main warehouse's Kingdee stock",
        )
    return row(check, PASS, f"documents carry wms_co_id {_listed(main)} for the main warehouse, mapped")


# --- after-sales routes ----------------------------------------------------------------------------------


def _per_shop(lines: pl.DataFrame, document: str) -> dict[str, int]:
    counts = lines.group_by(pl.col("shop_id").cast(pl.String)).agg(pl.col(document).n_unique())
    return dict(counts.rows())


def quiet_shops(outbound: pl.DataFrame, refunds: pl.DataFrame) -> list[str]:
    """The shops with outbound documents but no after-sale in the period."""
    after_sales = _per_shop(refunds, "as_id")
    return sorted(shop for shop in _per_shop(outbound, "io_id") if shop and not after_sales.get(shop))


def after_sales_routes(
    shops: pl.DataFrame,
    outbound: pl.DataFrame,
    refunds: pl.DataFrame,
    qimen_shops: Iterable[int],
    probed: dict[str, int | str],
    days: int,
) -> list[dict[str, str]]:
    """Per shop: the route its after-sales come from, their count next to the count of outbound documents.
    A shop with outbound but no after-sale is a WARN naming the Qimen route, unless that route was asked
    (`probed`: after-sales it returns, or why it could not be asked) and has none either."""
    qimen = {str(shop) for shop in qimen_shops}
    names = dict(shops.select("id", "name").rows())
    shipped, returned = _per_shop(outbound, "io_id"), _per_shop(refunds, "as_id")
    rows = []
    for shop in sorted({*names, *shipped} - {None, ""}, key=lambda s: (len(s), s)):
        route = QIMEN_ROUTE if shop in qimen else STANDARD_ROUTE
        check = f"after-sales route, shop {shop} {names.get(shop) or ''}".rstrip()
        detail = f"{route}: {returned.get(shop, 0)} after-sales, {shipped.get(shop, 0)} outbound in {days} days"
        probe = probed.get(shop)
        if returned.get(shop) or not shipped.get(shop):
            rows.append(row(check, PASS, detail))
        elif shop in qimen:
            fix = (
                "the Qimen route returns none for it: check the shop's Qimen authorisation and JST_QIMEN_CUSTOMER_ID "
                "/ JST_QIMEN_CUSTOMER_ID_KEY, or take it out of JST_QIMEN_SHOP_IDS"
            )
            rows.append(row(check, WARN, detail, fix))
        elif probe == 0:
            rows.append(row(check, PASS, f"{detail}; the Qimen route has none either"))
        else:
            asked = f"; the Qimen route returns {probe}" if isinstance(probe, int) else ""
            asked = f"; the Qimen route could not be asked: {probe}" if isinstance(probe, str) else asked
            fix = (
                f"Taobao/Tmall-family shops' after-sales may come only through the Qimen route ({QIMEN_METHOD}): "
                f"if shop {shop} is one, add it to JST_QIMEN_SHOP_IDS (with JST_QIMEN_APP_KEY, JST_QIMEN_APP_SECRET, "
                "JST_QIMEN_CUSTOMER_ID, JST_QIMEN_ROUTER_URL)"
            )
            rows.append(row(check, WARN, detail + asked, fix))
    return rows
