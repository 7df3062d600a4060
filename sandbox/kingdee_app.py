"""An emulator of the Kingdee K3Cloud (金蝶云·星空) WebAPI, served over real HTTP on 127.0.0.1.

It speaks the protocol of docs KINGDEE_API.md from the server side: both signatures of the API-signature
mode are verified here independently of any client code (an emulator sharing the client's signing would
agree with a wrong client), sessions slide and expire like the real ones, queries run through a real
FilterString parser, and saves validate bills with Kingdee's own wording so the sync meets the same
failures it will meet in production. Business faults (rate limits, failing bills, answers lost after
commit) are switched on through `/__admin/...`; transport faults come from `FaultMiddleware`.
`POST /__admin/login_answer` changes what a successful login answers (`LoginResultType`, `Message`,
`MessageCode`): real servers accept some logins with a notice, e.g. LoginResultType -5 for an administrator
or a password-policy warning, and `IsSuccessByAPI` true (KINGDEE_API_NOTES.md, login result).

Service paths: `POST /k3cloud/{ServiceName}.common.kdsvc` (prefix and service name case-insensitive).

Guesses where the spec is silent [U]: validation failures carry MsgCode 11, unknown numbers in
Submit/Audit/UnAudit/Delete MsgCode 10 and wrong states MsgCode 12; text compares case-insensitively in
filters and sorts (SQL Server's default collation); a bare reference key in FieldKeys (`FCustomerID`)
answers the referenced row's id; an entry field in FilterString or OrderString also yields one row per
line, like the join behind a real query; no timestamp window or nonce check on signatures (none was
observed on a live server).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from sandbox import credentials
from sandbox.faults import FaultMiddleware, Faults
from sandbox.kingdee_filter import FilterSyntaxError, parse_filter

SESSION_LOST = "会话信息已丢失，请重新登录"
BAD_PASSPORT = "Fail to verify thirty passport"
SESSION_COOKIE = "kdservice-sessionid"
ASPNET_COOKIE = "ASP.NET_SessionId"
SIMULATED_FAILURE = "模拟业务校验失败"
SIMULATED_SUBMIT_FAILURE = "模拟提交失败"
SIMULATED_AUDIT_FAILURE = "模拟审核失败"
STOCK_CHECK_INTERACTION = "STK_InvCheckResult"
DEFAULT_LIMIT = 2000
MAX_LIMIT = 10000

_BEIJING = timezone(timedelta(hours=8))
_XOR_KEY = b"0054f397c6234378b09ca7d3e5debce7"
_SUPPORTED_LCIDS = {"2052", "1033", "3076"}
_SUFFIX = ".common.kdsvc"
_FORM_SERVICE = "kingdee.bos.webapi.servicesstub.dynamicformservice."
_AUTH_SERVICE = "kingdee.bos.webapi.servicesstub.authservice."
_DATA_CENTERS = "kingdee.bos.servicefacade.servicesstub.account.accountservice.getdatacenterlist"
_DATE_FIELDS = {"fdate", "fcreatedate", "fmodifydate", "fapprovedate"}
_DATE_VALUE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(:\d{2})?(?:\.\d+)?)?$")
_STATUS_NAMES = {"Z": "暂存", "A": "创建", "B": "审核中", "C": "已审核", "D": "重新审核"}


# --- credentials and signatures ---------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """The data centre and integration user the emulator accepts (defaults: sandbox/credentials.py)."""

    acct_id: str = credentials.KINGDEE_ACCT_ID
    username: str = credentials.KINGDEE_USERNAME
    app_id: str = credentials.KINGDEE_APP_ID
    app_secret: str = field(default=credentials.KINGDEE_APP_SECRET, repr=False)
    password: str = field(default=credentials.KINGDEE_PASSWORD, repr=False)
    lcid: int = credentials.KINGDEE_LCID


def client_secret(app_id: str) -> str:
    """The X-Api-Signature key: the 32-char code after `_` in the app id, base64-decoded, XORed with
    Kingdee's fixed key and re-encoded. Anything else yields '' (the SDK then signs with an empty key)."""
    _, _, code = app_id.partition("_")
    if len(code) != 32:
        return ""
    try:
        scrambled = base64.b64decode(code, validate=True)
    except binascii.Error:
        return ""
    return base64.b64encode(bytes(b ^ k for b, k in zip(scrambled, _XOR_KEY, strict=False))).decode()


def _hmac_hex_base64(key: str, message: str) -> str:
    """Kingdee's primitive: base64 of the lower-case *hex string* of HMAC-SHA256."""
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def api_signature(app_id: str, path: str, nonce: str, timestamp: str) -> str:
    """Expected X-Api-Signature for a POST to `path` (as sent, from the first `/` after the host)."""
    string_to_sign = f"POST\n{quote(path, safe='')}\n\nx-api-nonce:{nonce}\nx-api-timestamp:{timestamp}\n"
    return _hmac_hex_base64(client_secret(app_id), string_to_sign)


def kd_signature(app_id: str, app_secret: str, app_data: str) -> str:
    """Expected X-Kd-Signature over the app id followed by the plain `acct,user,lcid,org` app data."""
    return _hmac_hex_base64(app_secret, app_id + app_data)


def login_sign(acct_id: str, username: str, app_id: str, app_secret: str, timestamp: str) -> str:
    """LoginBySign's `sign`: SHA-256 hex of the five strings sorted and concatenated."""
    return hashlib.sha256("".join(sorted([acct_id, username, app_id, app_secret, timestamp])).encode()).hexdigest()


class _Sessions:
    """Server-side sessions with a sliding idle time-out, read from an injectable clock."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._last_used: dict[str, float] = {}
        self.created = 0

    def open(self) -> str:
        session_id = secrets.token_hex(16)
        self._last_used[session_id] = self._clock()
        self.created += 1
        return session_id

    def touch(self, session_id: str | None) -> bool:
        """True (and renewed) when the session exists and has not idled out."""
        if not session_id or session_id not in self._last_used:
            return False
        now = self._clock()
        if now - self._last_used[session_id] > self._ttl:
            del self._last_used[session_id]
            return False
        self._last_used[session_id] = now
        return True

    def expire_all(self) -> int:
        count = len(self._last_used)
        self._last_used.clear()
        return count


# --- errors and envelopes ---------------------------------------------------------------------------


class _ServiceError(Exception):
    """A whole call fails: rendered in the service's own error shape."""

    def __init__(self, msg_code: int, message: str, field_name: str | None = None) -> None:
        super().__init__(message)
        self.msg_code = msg_code
        self.message = message
        self.field_name = field_name


def _status(errors: list[dict], successes: list[dict], msg_code: int) -> dict:
    ok = not errors
    return {
        "IsSuccess": ok,
        "ErrorCode": 0 if ok else 500,
        "Errors": errors,
        "SuccessEntitys": successes,
        "SuccessMessages": [],
        "MsgCode": 0 if ok else msg_code,
    }


def _error_payload(short_name: str, error: _ServiceError) -> Any:
    """ExecuteBillQuery wraps errors in two lists; every other service answers the bare envelope."""
    status = _status([{"FieldName": error.field_name, "Message": error.message, "DIndex": 0}], [], error.msg_code)
    result = {"Result": {"ResponseStatus": status}}
    return [[result]] if short_name == "ExecuteBillQuery" else result


# --- case-insensitive model access ------------------------------------------------------------------


def _key(mapping: dict, name: str) -> str | None:
    lowered = name.lower()
    return next((k for k in mapping if isinstance(k, str) and k.lower() == lowered), None)


def _get(mapping: Any, name: str) -> Any:
    if not isinstance(mapping, dict):
        return None
    key = _key(mapping, name)
    return None if key is None else mapping[key]


def _set(mapping: dict, name: str, value: Any) -> None:
    """Overwrite whatever spelling of `name` the client used, so a model never holds two FBillNo keys."""
    mapping[_key(mapping, name) or name] = value


def _number_of(reference: Any) -> str:
    """The number of a base-data reference `{"FNumber": x}` (any key case); a bare value is its own number."""
    value = _get(reference, "FNumber") if isinstance(reference, dict) else reference
    return "" if value is None else str(value).strip()


def _json_object(value: Any, what: str) -> dict:
    """`data` may come as an object or as a JSON string of one (older clients)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _ServiceError(8, f"参数错误：{what}不是有效的JSON") from None
    if not isinstance(value, dict):
        raise _ServiceError(8, f"参数错误：{what}必须是JSON对象")
    return value


def _int_param(data: dict, name: str, default: int) -> int:
    value = _get(data, name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _ServiceError(8, f"参数错误：{name}必须是整数") from None


def _kingdee_date(value: Any) -> Any:
    """Dates leave the server as 'YYYY-MM-DDTHH:MM:SS' whatever format they were saved in."""
    if not isinstance(value, str):
        return value
    match = _DATE_VALUE.match(value.strip())
    if match is None:
        return value
    day, minutes, seconds = match.groups()
    return f"{day}T{minutes or '00:00'}{seconds or ':00'}"


# --- forms ------------------------------------------------------------------------------------------

# reference field (lower-cased, same on both bill forms) -> the base-data form it points into
_REFERENCES = {
    **dict.fromkeys(
        [
            "fcustomerid",
            "fretcustid",
            "freceiverid",
            "fsettleid",
            "fpayerid",
            "freceivecustid",
            "fsettlecustid",
            "fpaycustid",
        ],
        "BD_Customer",
    ),
    "fmaterialid": "BD_MATERIAL",
    **dict.fromkeys(["funitid", "fsalunitid", "fpriceunitid", "fbaseunitid"], "BD_UNIT"),
    "fstockid": "BD_STOCK",
    **dict.fromkeys(["fsaleorgid", "fstockorgid", "fowneridhead", "fownerid", "fsettleorgid"], "ORG_Organizations"),
    **dict.fromkeys(["fsettlecurrid", "flocalcurrid"], "BD_Currency"),
}
# the primary-key field key of each base-data form, answered for a bare reference key such as FCustomerID
_BASE_IDS = {
    "bd_material": "fmaterialid",
    "bd_customer": "fcustid",
    "bd_stock": "fstockid",
    "bd_unit": "funitid",
    "org_organizations": "forgid",
    "bd_currency": "fcurrencyid",
}


def _lower_set(keys: str) -> frozenset[str]:
    return frozenset(keys.lower().split())


@dataclass(frozen=True)
class _BillForm:
    """What the emulator knows of one bill form: its keys, labels and required references."""

    form_id: str
    number_prefix: str
    bill_types: frozenset[str]
    stock_org_label: str
    customer_key: str
    customer_label: str
    currency_key: str
    material_key: str
    stock_key: str
    qty_label: str
    header_fields: frozenset[str]
    entry_fields: frozenset[str]


_COMMON_HEADER = (
    "FID FBillNo FDocumentStatus FBillTypeID FDate FSaleOrgId FStockOrgId FOwnerTypeIdHead FOwnerIdHead "
    "FCreateDate FModifyDate FApproveDate FSettleOrgId FLocalCurrId FExchangeTypeId FExchangeRate"
)
_COMMON_ENTRY = (
    "FEntity_FEntryID FRowType FMaterialId FUnitID FSalUnitID FPriceUnitId FRealQty FMustQty FTaxPrice "
    "FPrice FEntryTaxRate FAllAmount FAmount FIsFree FOwnerTypeId FOwnerId FStockId FStockStatusId FLot"
)

_BILL_FORMS = {
    form.form_id.lower(): form
    for form in (
        _BillForm(
            form_id="SAL_OUTSTOCK",
            number_prefix="XSCKD",
            bill_types=frozenset({"XSCKD01_SYS"}),
            stock_org_label="发货组织",
            customer_key="FCustomerID",
            customer_label="客户",
            currency_key="FSettleCurrID",
            material_key="FMaterialID",
            stock_key="FStockID",
            qty_label="实发数量",
            header_fields=_lower_set(
                f"{_COMMON_HEADER} FCustomerID FReceiverID FSettleID FPayerID FSaleDeptID "
                "FSalesManID FStockerID FCarriageNO FNote FBussinessType FSettleCurrID "
                "FIsIncludedTax"
            ),
            entry_fields=_lower_set(f"{_COMMON_ENTRY} FEntrynote"),
        ),
        _BillForm(
            form_id="SAL_RETURNSTOCK",
            number_prefix="XSTHD",
            bill_types=frozenset({"XSTHD01_SYS", "XSTHD06_SYS"}),
            stock_org_label="库存组织",
            customer_key="FRetcustId",
            customer_label="退货客户",
            currency_key="FSettleCurrId",
            material_key="FMaterialId",
            stock_key="FStockId",
            qty_label="实退数量",
            header_fields=_lower_set(
                f"{_COMMON_HEADER} FRetcustId FReceiveCustId FSettleCustId FPayCustId "
                "FSaledeptid FSalesManId FStockDeptId FStockerId FHeadNote FSettleCurrId"
            ),
            entry_fields=_lower_set(f"{_COMMON_ENTRY} FReturnType FNote FBarcode"),
        ),
    )
}


@dataclass
class _BaseForm:
    form_id: str
    rows: list[dict[str, Any]]  # keys lower-cased

    def find(self, number: str, use_org: str = "") -> dict[str, Any] | None:
        """The row with this number, in the bill's organisation when the form is kept per use org."""
        for row in self.rows:
            if str(row.get("fnumber", "")) != number:
                continue
            row_org = row.get("fuseorgid.fnumber")
            if not use_org or row_org in (None, "", use_org):
                return row
        return None


def _usable(row: dict[str, Any] | None) -> bool:
    """Audited and enabled: Kingdee treats anything else as absent ("禁用也视为不存在")."""
    return row is not None and row.get("fdocumentstatus", "C") == "C" and row.get("fforbidstatus", "A") == "A"


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in {"1", "true"}


def _positive(value: Any) -> bool | None:
    """None when absent, else whether it is a number > 0."""
    if value is None or value == "":
        return None
    try:
        return float(value) > 0
    except (TypeError, ValueError):
        return False


@dataclass
class _SaveFaults:
    """Business faults set through `POST /__admin/save_faults`; MsgCode 14 hits authenticated
    DynamicFormService calls (queries and writes), never logins or the data-centre list.

    `fail_submit_numbers` / `fail_audit_numbers` make Submit / Audit refuse those bills (MsgCode 11);
    `audit_stock_short` makes stock short for every SAL_OUTSTOCK line, so an Audit without
    `InterationFlags: STK_InvCheckResult` stops at the inventory-check interaction."""

    fail_bill_numbers: set[str] = field(default_factory=set)
    timeout_after_commit_seconds: float = 0.0  # stays on until set back to 0
    msgcode14_next: int = 0
    fail_submit_numbers: set[str] = field(default_factory=set)
    fail_audit_numbers: set[str] = field(default_factory=set)
    audit_stock_short: bool = False

    def update(self, changes: dict) -> None:
        kinds = {f.name: type(getattr(self, f.name)) for f in fields(self)}
        unknown = set(changes) - set(kinds)
        if unknown:
            raise ValueError(f"unknown save faults: {sorted(unknown)}")
        for name, value in changes.items():
            setattr(self, name, {str(n) for n in value} if kinds[name] is set else kinds[name](value))

    def as_json(self) -> dict:
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


def _jsonable(value: Any) -> Any:
    return sorted(value) if isinstance(value, set) else value


class _BillStore:
    """The saved bills of one form by number, in saving order, indexed the way queries need them.

    A query may name any key a stored bill was saved with, so the roots of those keys are counted as bills
    come, change and go. `FBillNo in (...)`, the sync's check before every save, looks up the bills it names
    through an index of their FBillNo text, as the server does, instead of flattening every stored bill per
    call (which made long runs quadratic in the emulator). Whoever edits a stored bill in place calls `changed`.
    """

    def __init__(self, flatten: Callable[[dict], dict[str, Any]]) -> None:
        self._flatten = flatten
        self._bills: dict[str, dict] = {}
        self._saved_as: dict[str, int] = {}  # number -> position in saving order
        self._positions = itertools.count()
        self._indexed: dict[str, tuple[str | None, frozenset[str], frozenset[str]]] = {}
        self._shapes: dict[frozenset[str], frozenset[str]] = {}  # bills share key sets: keep one copy
        self._by_text: defaultdict[str | None, list[str]] = defaultdict(list)  # None: FBillNo is not text
        self.header_roots: Counter[str] = Counter()
        self.entry_roots: Counter[str] = Counter()

    def __contains__(self, number: str) -> bool:
        return number in self._bills

    def get(self, number: str) -> dict | None:
        return self._bills.get(number)

    def values(self) -> Iterable[dict]:
        return self._bills.values()

    def put(self, number: str, bill: dict) -> None:
        self.pop(number)
        self._bills[number] = bill
        self._saved_as[number] = next(self._positions)
        self._index(number)

    def pop(self, number: str) -> dict | None:
        bill = self._bills.pop(number, None)
        if bill is not None:
            self._unindex(number)
            del self._saved_as[number]
        return bill

    def changed(self, number: str) -> None:
        self._unindex(number)
        self._index(number)

    def flattened(self, texts: frozenset[str] | None) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """(header, lines) as query keys, in saving order: every bill, or when `texts` pins FBillNo only
        the bills whose FBillNo text is one of them (and any whose FBillNo is not text: the filter decides)."""
        if texts is None:
            numbers: Iterable[str] = self._bills
        else:
            named = set(self._by_text.get(None, ()))
            for text in texts:
                named.update(self._by_text.get(text, ()))
            numbers = sorted(named, key=self._saved_as.__getitem__)
        return [
            (self._flatten(bill), [self._flatten(line) for line in _lines(bill)])
            for bill in map(self._bills.__getitem__, numbers)
        ]

    def _index(self, number: str) -> None:
        bill = self._bills[number]
        header = self._flatten(bill)
        entry: set[str] = set().union(*(self._flatten(line) for line in _lines(bill)))
        header_roots = self._shape({_root(key) for key in header})
        entry_roots = self._shape({_root(key) for key in entry})
        text = header.get("fbillno")
        text = text.casefold() if isinstance(text, str) else None
        self._indexed[number] = (text, header_roots, entry_roots)
        self._by_text[text].append(number)
        self.header_roots.update(header_roots)
        self.entry_roots.update(entry_roots)

    def _unindex(self, number: str) -> None:
        text, header_roots, entry_roots = self._indexed.pop(number)
        self._by_text[text].remove(number)
        if not self._by_text[text]:
            del self._by_text[text]
        self.header_roots -= Counter(header_roots)
        self.entry_roots -= Counter(entry_roots)

    def _shape(self, keys: set[str]) -> frozenset[str]:
        shape = frozenset(keys)
        return self._shapes.setdefault(shape, shape)


# --- the emulated server ----------------------------------------------------------------------------


class _Kingdee:
    """State and behaviour of one emulated data centre (one instance per app)."""

    def __init__(
        self,
        base_data: dict[str, list[dict]],
        *,
        account: Account,
        session_ttl_seconds: float,
        save_latency_ms: float,
        save_latency_per_bill_ms: float,
        clock: Callable[[], float],
    ) -> None:
        self.account = account
        self.base = {
            form_id.lower(): _BaseForm(form_id, [{k.lower(): v for k, v in row.items()} for row in rows])
            for form_id, rows in base_data.items()
        }
        self.sessions = _Sessions(session_ttl_seconds, clock)
        self.save_faults = _SaveFaults()
        self.bills = {form.form_id: _BillStore(self._flatten) for form in _BILL_FORMS.values()}
        self._clock = clock
        self._save_latency_ms = save_latency_ms
        self._save_latency_per_bill_ms = save_latency_per_bill_ms
        self._fids = itertools.count(100001)
        self._entry_ids = itertools.count(200001)
        self._auto_numbers = {form.form_id: itertools.count(1) for form in _BILL_FORMS.values()}
        self.calls: Counter[str] = Counter()
        self.batch_sizes: list[int] = []
        # Saves refused because the FBillNo was already stored: an idempotent client never causes one.
        self.duplicate_rejections = 0
        # How often the save faults struck (tests check that a fault they set really happened).
        self.simulated_row_failures = 0
        self.late_answers_after_commit = 0
        self.stock_check_interactions = 0
        self.logins = 0
        # Fields of a successful login's answer replaced through /__admin/login_answer.
        self.login_answer: dict[str, Any] = {}
        self._saves_in_flight = 0
        self.max_concurrent_saves = 0

    def now(self) -> str:
        return datetime.fromtimestamp(self._clock(), _BEIJING).strftime("%Y-%m-%dT%H:%M:%S")

    def bill_form(self, form_id: Any) -> _BillForm:
        form = _BILL_FORMS.get(str(form_id or "").lower())
        if form is None:
            if str(form_id or "").lower() in self.base:
                raise _ServiceError(12, f"模拟器不支持对“{form_id}”执行此操作")
            raise _ServiceError(4, f"标识为“{form_id}”的业务对象不存在，或者被删除")
        return form

    # --- authentication ---

    def authenticate(self, request: Request) -> tuple[str, str | None]:
        """('ok', new session id or None) | ('denied', None) | ('passport', None).

        A valid session skips the signature check (as observed on live servers); otherwise both
        signatures must verify and a new session is opened.
        """
        presented = request.headers.get(SESSION_COOKIE) or request.cookies.get(SESSION_COOKIE)
        if self.sessions.touch(presented):
            return "ok", None
        verdict = self._verify_signatures(request)
        return (verdict, self.sessions.open()) if verdict == "ok" else (verdict, None)

    def _verify_signatures(self, request: Request) -> str:
        headers = request.headers
        needed = [
            "x-kd-appkey",
            "x-kd-appdata",
            "x-kd-signature",
            "x-api-signature",
            "x-api-timestamp",
            "x-api-nonce",
        ]
        if any(not headers.get(name) for name in needed):
            return "denied"
        try:
            app_data = base64.b64decode(headers["x-kd-appdata"], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "denied"
        acct_id, username, lcid, *_ = [*app_data.split(","), "", "", ""]
        if acct_id != self.account.acct_id:
            return "passport"
        app_id = headers["x-kd-appkey"]
        if (
            username != self.account.username
            or lcid not in _SUPPORTED_LCIDS
            or app_id != self.account.app_id
            or headers.get("x-api-clientid", "") != app_id.partition("_")[0]
        ):
            return "denied"
        path = unquote(request.scope.get("raw_path", b"").decode("latin-1")) or request.url.path
        if request.url.query:
            path = f"{path}?{request.url.query}"
        expected_api = api_signature(app_id, path, headers["x-api-nonce"], headers["x-api-timestamp"])
        expected_kd = kd_signature(self.account.app_id, self.account.app_secret, app_data)
        api_ok = hmac.compare_digest(expected_api, headers["x-api-signature"])
        kd_ok = hmac.compare_digest(expected_kd, headers["x-kd-signature"])
        return "ok" if api_ok and kd_ok else "denied"

    def login(self, short_name: str, body: dict) -> tuple[dict, str | None]:
        """ValidateUser / LoginByAppSecret / LoginBySign: (login result, new session id or None)."""
        names = {
            "ValidateUser": ["acctid", "username", "password", "lcid"],
            "LoginByAppSecret": ["acctid", "username", "appid", "appsecret", "lcid"],
            "LoginBySign": ["acctid", "username", "appid", "timestamp", "sign", "lcid"],
        }[short_name]
        params = _login_parameters(body, names)
        account = self.account
        if params["acctid"] != account.acct_id:
            return _login_failure(f"数据中心“{params['acctid']}”不存在"), None
        if params["username"] != account.username:
            return _login_failure("用户名或密码错误！"), None
        if params["lcid"] not in _SUPPORTED_LCIDS:
            return _login_failure("不支持的语言标识"), None
        if short_name == "ValidateUser":
            ok = hmac.compare_digest(params["password"], account.password)
        elif short_name == "LoginByAppSecret":
            ok = params["appid"] == account.app_id and hmac.compare_digest(params["appsecret"], account.app_secret)
        else:
            expected = login_sign(
                account.acct_id, account.username, account.app_id, account.app_secret, params["timestamp"]
            )
            ok = params["appid"] == account.app_id and hmac.compare_digest(params["sign"].lower(), expected)
        if not ok:
            message = "用户名或密码错误！" if short_name == "ValidateUser" else "应用ID、应用密钥或签名验证失败"
            return _login_failure(message), None
        self.logins += 1
        session_id = self.sessions.open()
        return self._login_success(session_id), session_id

    def _login_success(self, session_id: str) -> dict:
        org = self.base.get("org_organizations")
        org_row = org.find("100") if org else None
        return {
            "Message": None,
            "MessageCode": "CheckPasswordPolicy",
            "LoginResultType": 1,
            "Context": {
                "UserLocale": "zh-CN",
                "LogLocale": "zh-CN",
                "DBid": self.account.acct_id,
                "DatabaseType": 3,
                "SessionId": _aspnet_session_id(session_id),
                "UserId": 100008,
                "UserName": self.account.username,
                "DataCenterNumber": "SANDBOX",
                "DataCenterName": "沙箱数据中心",
                "UserToken": secrets.token_hex(16),
                "CurrentOrganizationInfo": {
                    "ID": (org_row or {}).get("forgid", 1),
                    "Name": (org_row or {}).get("fname", ""),
                    "AcctOrgType": "1",
                },
            },
            "KDSVCSessionId": session_id,
            "FormId": None,
            "Lcid": self.account.lcid,
            "IsSuccessByAPI": True,
            **self.login_answer,
        }

    def data_centers(self) -> list[dict]:
        return [{"Id": self.account.acct_id, "Number": "SANDBOX", "Name": "沙箱数据中心", "DatabaseType": 3}]

    # --- queries ---

    def query(self, data: dict) -> tuple[list[str], list[list[Any]]]:
        """Run an ExecuteBillQuery/BillQuery: (field keys as sent, rows in field-key order)."""
        form_id = str(_get(data, "FormId") or "")
        if not form_id:
            raise _ServiceError(5, "单据标识为空")
        field_keys = [k.strip() for k in str(_get(data, "FieldKeys") or "").split(",") if k.strip()]
        if not field_keys:
            raise _ServiceError(8, "参数错误：FieldKeys不能为空")
        raw_filter = _get(data, "FilterString")
        if isinstance(raw_filter, list):
            if raw_filter:
                raise _ServiceError(4, "模拟器只支持字符串形式的FilterString")
            raw_filter = ""
        try:
            row_filter = parse_filter(str(raw_filter or ""))
        except FilterSyntaxError as exc:
            raise _ServiceError(4, f"GetRealExpress error: 过滤条件“{raw_filter}”有误：{exc}") from None
        order = _parse_order(str(_get(data, "OrderString") or ""))
        wanted = [k.lower() for k in field_keys]
        referenced = set(wanted) | row_filter.fields | {key for key, _ in order}
        try:
            rows = self._rows(form_id, referenced, row_filter.texts("FBillNo"))
        except _UnknownField as unknown:  # name the key as the client spelled it
            spelled = next((k for k in field_keys if k.lower() == unknown.key), unknown.key)
            raise _ServiceError(9, f"元数据中标识为{spelled}的字段不存在", spelled) from None
        rows = [row for row in rows if row_filter(row)]
        for key, descending in reversed(order):
            rows.sort(key=lambda row, key=key: _sort_key(row.get(key)), reverse=descending)
        top = _int_param(data, "TopRowCount", 0)
        start = max(_int_param(data, "StartRow", 0), 0)
        limit = _int_param(data, "Limit", 0)
        limit = DEFAULT_LIMIT if limit <= 0 else min(limit, MAX_LIMIT)
        if top > 0:
            rows = rows[:top]
        return field_keys, [[row.get(key) for key in wanted] for row in rows[start : start + limit]]

    def _rows(self, form_id: str, referenced: set[str], numbers: frozenset[str] | None) -> list[dict[str, Any]]:
        """Rows of a base-data form or of saved bills, keyed by lower-cased query keys; unknown keys fail.
        `numbers`: the casefolded FBillNo texts the filter allows, if it pins them (bills only)."""
        base = self.base.get(form_id.lower())
        if base is not None:
            known = set().union(*(row.keys() for row in base.rows)) if base.rows else set()
            # `FBaseUnitId.FName`: a field of the referenced base data, found through its number.
            through = {
                key: self.base.get(_REFERENCES[_root(key)].lower())
                for key in referenced
                if key not in known and "." in key and f"{_root(key)}.fnumber" in known and _root(key) in _REFERENCES
            }
            _check_keys(referenced, lambda key: key in known or key in through)
            rows = [{k: _kingdee_date(v) if _is_date_key(k) else v for k, v in row.items()} for row in base.rows]
            for key, target in through.items():
                sub = key.split(".", 1)[1]
                for row in rows:
                    found = target.find(str(row.get(f"{_root(key)}.fnumber", ""))) if target else None
                    row[key] = found.get(sub) if found else None
            return rows
        form = _BILL_FORMS.get(form_id.lower())
        if form is None:
            raise _ServiceError(4, f"标识为“{form_id}”的业务对象不存在，或者被删除")
        stored = self.bills[form.form_id]
        entry_keys = (form.entry_fields | stored.entry_roots.keys()) - form.header_fields
        header_keys = form.header_fields | stored.header_roots.keys()

        def known(key: str) -> bool:
            root = _root(key)
            return root in entry_keys or root in header_keys or root.startswith("f_")

        _check_keys(referenced, known)
        headers = stored.flattened(numbers)
        if not any(_root(key) in entry_keys for key in referenced):
            return [header for header, _ in headers]
        rows = []
        for header, lines in headers:
            for line in lines or [{}]:  # a bill without lines still shows once, like a left join
                rows.append({**header, **line})
        return rows

    def _flatten(self, node: dict) -> dict[str, Any]:
        """One level of a saved model as query keys: `FCustomerID.FNumber`, sub-head fields at top level."""
        flat: dict[str, Any] = {}
        for key, value in node.items():
            lowered = key.lower()
            if isinstance(value, list):
                continue  # the entry (handled per line) and any other entity
            if isinstance(value, dict) and lowered.startswith("subheadentity"):
                flat.update(self._flatten(value))
            elif isinstance(value, dict):
                flat.update(self._reference_keys(lowered, value))
            elif lowered == "fentryid":
                flat["fentity_fentryid"] = value
            else:
                flat[lowered] = _kingdee_date(value) if _is_date_key(lowered) else value
        return flat

    def _reference_keys(self, key: str, reference: dict) -> dict[str, Any]:
        """`X` answers the referenced row's id, `X.FName` etc. its fields (what was sent wins)."""
        number = _number_of(reference)
        base_form = _REFERENCES.get(key)
        base = self.base.get(base_form.lower()) if base_form else None
        row = base.find(number) if base else None
        keys: dict[str, Any] = {f"{key}.{sub}": value for sub, value in (row or {}).items()}
        keys.update({f"{key}.{sub.lower()}": value for sub, value in reference.items() if not isinstance(value, dict)})
        keys[key] = row.get(_BASE_IDS.get(base.form_id.lower(), ""), number) if row and base else number
        return keys

    # --- saves ---

    async def save(self, form_id: Any, data: dict, *, batch: bool) -> dict:
        """Save (one Model object) and BatchSave (a Model array).

        [U] Partial commit: no public source says whether a BatchSave commits its valid bills when
        others fail. The emulator commits every valid bill and reports the rest by DIndex, the
        harsher case for a client (a blind retry of the whole batch then meets duplicates).
        """
        form = self.bill_form(form_id)
        model = _get(data, "Model")
        models = model if batch else [model]
        if not isinstance(models, list) or not models or not all(isinstance(m, dict) for m in models):
            shape = "非空的JSON数组" if batch else "JSON对象"
            raise _ServiceError(8, f"参数错误：Model必须是{shape}")
        self.batch_sizes.append(len(models))
        self._saves_in_flight += 1
        self.max_concurrent_saves = max(self.max_concurrent_saves, self._saves_in_flight)
        try:
            latency_ms = self._save_latency_ms + self._save_latency_per_bill_ms * len(models)
            if latency_ms > 0:
                await asyncio.sleep(latency_ms / 1000)
            errors, successes = self._commit(form, models, [str(f) for f in _get(data, "NeedReturnFields") or []])
            if self.save_faults.timeout_after_commit_seconds > 0:
                self.late_answers_after_commit += 1
                await asyncio.sleep(self.save_faults.timeout_after_commit_seconds)
        finally:
            self._saves_in_flight -= 1
        result: dict[str, Any] = {"ResponseStatus": _status(errors, [s for s, _ in successes], 11)}
        if not batch:
            saved = successes[0][0] if successes else {"Id": "", "Number": ""}
            result.update({"Id": saved["Id"], "Number": saved["Number"]})
        result["NeedReturnData"] = [returned for _, returned in successes if returned]
        return {"Result": result}

    def _commit(self, form: _BillForm, models: list[dict], need_return: list[str]) -> tuple[list, list]:
        """Validate each bill in order; store the valid ones. No await inside: a batch commits atomically
        with respect to other requests, and a duplicate later in the same batch meets the earlier bill."""
        stored = self.bills[form.form_id]
        errors: list[dict] = []
        successes: list[tuple[dict, dict]] = []
        for index, model in enumerate(models):
            problems = self._validate(form, model)
            number = _number_of(_get(model, "FBillNo"))
            if number and number in stored:
                self.duplicate_rejections += 1
                problems.append(("FBillNo", f"单据编号“{number}”已经存在"))
            if number and number in self.save_faults.fail_bill_numbers:
                self.simulated_row_failures += 1
                problems.append(("", SIMULATED_FAILURE))
            if problems:
                errors.extend({"FieldName": f, "Message": m, "DIndex": index} for f, m in problems)
                continue
            bill = self._store(form, model, number)
            entity = {"Id": _get(bill, "FID"), "Number": _get(bill, "FBillNo"), "DIndex": index}
            successes.append((entity, {key: _get(bill, key) for key in need_return}))
        return errors, successes

    def _store(self, form: _BillForm, model: dict, number: str) -> dict:
        stored = self.bills[form.form_id]
        while not number:
            candidate = f"{form.number_prefix}{next(self._auto_numbers[form.form_id]):06d}"
            number = "" if candidate in stored else candidate
        bill = copy.deepcopy(model)
        now = self.now()
        for key, value in (
            ("FID", next(self._fids)),
            ("FBillNo", number),
            ("FDocumentStatus", "A"),
            ("FCreateDate", now),
            ("FModifyDate", now),
        ):
            _set(bill, key, value)
        for line in _lines(bill):
            _set(line, "FEntryID", next(self._entry_ids))
        stored.put(number, bill)
        return bill

    def _validate(self, form: _BillForm, model: dict) -> list[tuple[str, str]]:
        """Every problem of one bill, in Kingdee's wording: (FieldName, Message)."""
        problems: list[tuple[str, str]] = []
        fid = _get(model, "FID")
        if fid not in (None, 0, "0", ""):
            problems.append(("FID", f"模拟器不支持修改已保存的单据（FID={fid}）"))
        bill_type = _number_of(_get(model, "FBillTypeID"))
        if not bill_type:
            problems.append(("FBillTypeID", "字段“单据类型”是必填项"))
        elif bill_type not in form.bill_types:
            problems.append(("FBillTypeID", f"字段“单据类型”的值“{bill_type}”在系统中不存在"))
        day = _get(model, "FDate")
        if day in (None, ""):
            problems.append(("FDate", "字段“日期”是必填项"))
        elif not _DATE_VALUE.match(str(day).strip()):
            problems.append(("FDate", f"字段“日期”的值“{day}”不是有效的日期"))
        sale_org = _number_of(_get(model, "FSaleOrgId"))
        stock_org = _number_of(_get(model, "FStockOrgId"))
        sub_head = _get(model, "SubHeadEntity")
        header_refs = [
            ("FSaleOrgId", "销售组织", sale_org, "ORG_Organizations", ""),
            ("FStockOrgId", form.stock_org_label, stock_org, "ORG_Organizations", ""),
            (
                form.customer_key,
                form.customer_label,
                _number_of(_get(model, form.customer_key)),
                "BD_Customer",
                sale_org,
            ),
            (form.currency_key, "结算币别", _number_of(_get(sub_head, form.currency_key)), "BD_Currency", ""),
        ]
        for field_name, label, number, base_form, org in header_refs:
            if not number:
                problems.append((field_name, f"字段“{label}”是必填项"))
            elif self._lookup(base_form, number, org) is None:
                problems.append((field_name, f"字段“{label}”的值“{number}”在系统中不存在"))
        lines = _get(model, "FEntity")
        if not isinstance(lines, list) or not lines:
            problems.append(("FEntity", "单据体实体【明细信息】至少需要录入一行分录"))
            return problems
        for line_no, line in enumerate(lines, start=1):
            problems.extend(self._validate_line(form, line if isinstance(line, dict) else {}, line_no, stock_org))
        return problems

    def _validate_line(self, form: _BillForm, line: dict, line_no: int, org: str) -> list[tuple[str, str]]:
        where = f"单据体实体【明细信息】第【{line_no}】行分录，"
        problems: list[tuple[str, str]] = []
        material_row = None
        for field_name, label, base_form in (
            (form.material_key, "物料编码", "BD_MATERIAL"),
            ("FUnitID", "库存单位", "BD_UNIT"),
            (form.stock_key, "仓库", "BD_STOCK"),
        ):
            number = _number_of(_get(line, field_name))
            row = self._lookup(base_form, number, org) if number else None
            if not number:
                problems.append((field_name, f"{where}【{label}】字段必录"))
            elif row is None:
                problems.append((field_name, f"{where}字段“{label}”的值“{number}”在系统中不存在"))
            if base_form == "BD_MATERIAL":
                material_row = row
        positive = _positive(_get(line, "FRealQty"))
        if positive is None:
            problems.append(("FRealQty", f"{where}【{form.qty_label}】字段必录"))
        elif not positive:
            problems.append(("FRealQty", f"{where}【{form.qty_label}】必须大于0"))
        if material_row is not None:
            lot = _number_of(_get(line, "FLot"))
            material = material_row.get("fnumber")
            if _truthy(material_row.get("fisbatchmanage")) and not lot:
                problems.append(("FLot", f"{where}物料“{material}”启用了批号管理，【批号】字段必录"))
            elif not _truthy(material_row.get("fisbatchmanage")) and lot:
                problems.append(("FLot", f"{where}物料“{material}”未启用批号管理，【批号】不允许录入"))
        return problems

    def _lookup(self, base_form: str, number: str, org: str) -> dict | None:
        base = self.base.get(base_form.lower())
        row = base.find(number, org) if base else None
        return row if _usable(row) else None

    # --- bill operations ---

    def operate(self, form_id: Any, data: dict, operation: str) -> dict:
        """Submit (A/D→B), Audit (B→C), UnAudit (C→D), Delete (A/D only), by Numbers and/or Ids."""
        form = self.bill_form(form_id)
        stored = self.bills[form.form_id]
        numbers = _get(data, "Numbers") or []
        ids = _get(data, "Ids") or ""
        targets = [("number", str(n)) for n in (numbers.split(",") if isinstance(numbers, str) else numbers)]
        targets += [("id", str(i).strip()) for i in (ids.split(",") if isinstance(ids, str) else ids)]
        targets = [(kind, value) for kind, value in targets if value]
        if not targets:
            raise _ServiceError(8, "参数错误：Numbers和Ids不能同时为空")
        allowed, after, verb = _OPERATIONS[operation]
        errors: list[dict] = []
        successes: list[dict] = []
        msg_codes: list[int] = []  # the envelope carries the first failure's code
        interactions = 0
        for index, (kind, value) in enumerate(targets):
            bill = stored.get(value) if kind == "number" else _by_fid(stored.values(), value)
            if bill is None:
                what = "单据编号" if kind == "number" else "内码"
                errors.append({"FieldName": None, "Message": f"{what}为“{value}”的单据不存在", "DIndex": index})
                msg_codes.append(10)
                continue
            number, status = str(_get(bill, "FBillNo")), _get(bill, "FDocumentStatus")
            if status not in allowed:
                state = _STATUS_NAMES.get(status, status)
                errors.append(
                    {
                        "FieldName": None,
                        "DIndex": index,
                        "Message": f"单据“{number}”的状态为“{state}”，不允许{verb}",
                    }
                )
                msg_codes.append(12)
                continue
            refusal = self._operation_fault(form, operation, data, number)
            if refusal:
                errors.append({"FieldName": None, "DIndex": index, "Message": refusal})
                msg_codes.append(11)
                interactions += refusal.startswith(STOCK_CHECK_INTERACTION)
                continue
            successes.append({"Id": _get(bill, "FID"), "Number": number, "DIndex": index})
            if after is None:
                stored.pop(number)
                continue
            _set(bill, "FDocumentStatus", after)
            _set(bill, "FModifyDate", self.now())
            if after == "C":
                _set(bill, "FApproveDate", self.now())
            stored.changed(number)
        result: dict[str, Any] = {"ResponseStatus": _status(errors, successes, msg_codes[0] if msg_codes else 0)}
        if interactions:
            result["InteractionContext"] = {"InteractionFormId": STOCK_CHECK_INTERACTION, "Count": interactions}
        return {"Result": result}

    def _operation_fault(self, form: _BillForm, operation: str, data: dict, number: str) -> str | None:
        """Why the save faults make this Submit / Audit refuse `number`, or None.

        [U] The stock-check refusal: KINGDEE_API_NOTES.md §5.4 says an outbound Audit fails on short stock
        unless `InterationFlags` pre-answers STK_InvCheckResult; the exact shape of the interaction answer
        is not public, so the bill fails in the §4 envelope (IsSuccess false, its DIndex) and the Result
        names the interaction form."""
        faults = self.save_faults
        if operation == "Submit" and number in faults.fail_submit_numbers:
            return SIMULATED_SUBMIT_FAILURE
        if operation != "Audit":
            return None
        if number in faults.fail_audit_numbers:
            return SIMULATED_AUDIT_FAILURE
        flags = {f.strip() for f in str(_get(data, "InterationFlags") or "").split(";")}
        if faults.audit_stock_short and form.form_id == "SAL_OUTSTOCK" and STOCK_CHECK_INTERACTION not in flags:
            self.stock_check_interactions += 1
            return f"{STOCK_CHECK_INTERACTION}: 单据“{number}”审核后即时库存将为负数，是否继续？（库存不足）"
        return None

    def stats(self) -> dict:
        return {
            "calls": dict(self.calls),
            "batch_sizes": list(self.batch_sizes),
            "duplicate_rejections": self.duplicate_rejections,
            "simulated_row_failures": self.simulated_row_failures,
            "late_answers_after_commit": self.late_answers_after_commit,
            "stock_check_interactions": self.stock_check_interactions,
            "max_concurrent_saves": self.max_concurrent_saves,
            "logins": self.logins,
            "sessions_created": self.sessions.created,
        }


# operation -> (statuses it applies to, status afterwards (None: removed), verb for the message)
_OPERATIONS: dict[str, tuple[set[str], str | None, str]] = {
    "Submit": ({"A", "D"}, "B", "提交"),
    "Audit": ({"B"}, "C", "审核"),
    "UnAudit": ({"C"}, "D", "反审核"),
    "Delete": ({"Z", "A", "D"}, None, "删除"),
}


def _lines(bill: dict) -> list[dict]:
    lines = _get(bill, "FEntity")
    return [line for line in lines if isinstance(line, dict)] if isinstance(lines, list) else []


def _by_fid(bills: Iterable[dict], fid: str) -> dict | None:
    return next((bill for bill in bills if str(_get(bill, "FID")) == fid), None)


def _root(key: str) -> str:
    return key.split(".", 1)[0]


def _is_date_key(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in _DATE_FIELDS


class _UnknownField(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _check_keys(keys: Iterable[str], known: Callable[[str], bool]) -> None:
    for key in sorted(keys):
        if not known(key):
            raise _UnknownField(key)


def _parse_order(text: str) -> list[tuple[str, bool]]:
    """`FNumber ASC, FDate DESC` -> [(key, descending)]; anything else is a malformed OrderString."""
    order = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        words = part.split()
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if len(words) > 2 or direction not in {"ASC", "DESC"}:
            raise _ServiceError(4, f"排序条件“{text}”有误")
        order.append((words[0].lower(), direction == "DESC"))
    return order


def _sort_key(value: Any) -> tuple:
    """NULLs first (as SQL Server sorts them), then numbers, then text."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, float(value))
    return (2, str(value).casefold())


def _login_parameters(body: dict, names: list[str]) -> dict[str, str]:
    """Positional `{"parameters": [...]}` (array or JSON string of one) or named keys (any case)."""
    positional = _get(body, "parameters")
    if isinstance(positional, str):
        try:
            positional = json.loads(positional)
        except ValueError:
            positional = None
    if isinstance(positional, list):
        values = dict(zip(names, positional, strict=False))
    else:
        named = {k.lower(): v for k, v in body.items() if isinstance(k, str)}
        if "sign" not in named and "signeddata" in named:
            named["sign"] = named["signeddata"]
        values = {name: named.get(name) for name in names}
    return {name: "" if values.get(name) is None else str(values[name]) for name in names}


_LOGIN_ANSWER_FIELDS = {"LoginResultType", "Message", "MessageCode"}


def _login_failure(message: str) -> dict:
    return {
        "Message": message,
        "MessageCode": None,
        "LoginResultType": 0,
        "Context": None,
        "KDSVCSessionId": None,
        "IsSuccessByAPI": False,
    }


# --- HTTP -------------------------------------------------------------------------------------------

_SHORT_NAMES = {
    name.lower(): name
    for name in (
        "ExecuteBillQuery",
        "BillQuery",
        "Save",
        "BatchSave",
        "Submit",
        "Audit",
        "UnAudit",
        "Delete",
        "ValidateUser",
        "LoginByAppSecret",
        "LoginBySign",
    )
}


def _service_name(service: str) -> tuple[str, str]:
    """('form' | 'auth' | 'datacenters' | 'unknown', short name) from `Kingdee....X.common.kdsvc`."""
    lowered = service.lower().removesuffix(_SUFFIX)
    if lowered == _DATA_CENTERS:
        return "datacenters", "GetDataCenterList"
    for family, prefix in (("form", _FORM_SERVICE), ("auth", _AUTH_SERVICE)):
        if lowered.startswith(prefix):
            method = lowered.removeprefix(prefix)
            return (family, _SHORT_NAMES[method]) if method in _SHORT_NAMES else ("unknown", service)
    return "unknown", service


def _aspnet_session_id(session_id: str) -> str:
    """The companion ASP.NET_SessionId, derived so the cookie and the login Context agree."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:24]


def _with_session_cookies(response: Response, session_id: str | None) -> Response:
    if session_id:
        response.set_cookie(SESSION_COOKIE, session_id, httponly=True)
        response.set_cookie(ASPNET_COOKIE, _aspnet_session_id(session_id), httponly=True)
    return response


async def _json_body(request: Request) -> dict:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise _ServiceError(8, "参数错误：请求体不是有效的JSON") from None
    if not isinstance(body, dict):
        raise _ServiceError(8, "参数错误：请求体必须是JSON对象")
    return body


def _form_call(body: dict, needs_form: bool) -> tuple[Any, dict]:
    """(formid, data) from `{"formid", "data"}`, or the legacy `{"parameters": [formid, data]}`."""
    if _get(body, "data") is None and _get(body, "parameters") is not None:
        params = _get(body, "parameters")
        if isinstance(params, str):
            try:
                params = json.loads(params)
            except ValueError:
                raise _ServiceError(8, "参数错误：parameters不是有效的JSON") from None
        if not isinstance(params, list) or len(params) < (2 if needs_form else 1):
            raise _ServiceError(8, "参数错误：parameters不完整")
        return (params[0], _json_object(params[1], "data")) if needs_form else (None, _json_object(params[0], "data"))
    return _get(body, "formid"), _json_object(_get(body, "data"), "data")


def _routes(kingdee: _Kingdee) -> list[Route]:
    async def service(request: Request) -> Response:
        if request.path_params["prefix"].lower() != "k3cloud" or not request.path_params["service"].lower().endswith(
            _SUFFIX
        ):
            return PlainTextResponse("Not Found", status_code=404)
        family, short_name = _service_name(request.path_params["service"])
        kingdee.calls[short_name] += 1
        if family == "datacenters":
            return JSONResponse(kingdee.data_centers())
        if family == "auth":
            try:
                result, session_id = kingdee.login(short_name, await _json_body(request))
            except _ServiceError as error:
                return JSONResponse(_error_payload(short_name, error))
            return _with_session_cookies(JSONResponse(result), session_id)
        verdict, session_id = kingdee.authenticate(request)
        if verdict == "passport":
            return PlainTextResponse(BAD_PASSPORT, status_code=500)
        try:
            if verdict == "denied":
                raise _ServiceError(1, SESSION_LOST)
            if family == "unknown":
                raise _ServiceError(4, f"模拟器未实现服务“{short_name}”")
            if kingdee.save_faults.msgcode14_next > 0:
                kingdee.save_faults.msgcode14_next -= 1
                raise _ServiceError(14, "调用限制：接口调用过于频繁，请稍后再试")
            payload = await _dispatch(kingdee, short_name, await _json_body(request))
        except _ServiceError as error:
            payload = _error_payload(short_name, error)
        return _with_session_cookies(JSONResponse(payload), session_id)

    async def expire_sessions(_request: Request) -> Response:
        return JSONResponse({"expired": kingdee.sessions.expire_all()})

    async def save_faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                kingdee.save_faults.update(json.loads(await request.body() or b"{}"))
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(kingdee.save_faults.as_json())

    def stored_bills(request: Request) -> _BillStore | None:
        form = _BILL_FORMS.get(request.path_params["form"].lower())
        return None if form is None else kingdee.bills[form.form_id]

    async def list_bills(request: Request) -> Response:
        bills = stored_bills(request)
        if bills is None:
            return JSONResponse({"error": "unknown form"}, status_code=404)
        return JSONResponse(list(bills.values()))

    async def edit_bill(request: Request) -> Response:
        """Reconciliation tests change a saved bill behind the sync's back (header keys, or `FEntity` as a
        list of per-line edits, `null` leaving a line alone)."""
        bills, number = stored_bills(request), request.path_params["billno"]
        bill = bills.get(number) if bills is not None else None
        if bills is None or bill is None:
            return JSONResponse({"error": "no such bill"}, status_code=404)
        edits = json.loads(await request.body() or b"{}")
        if not isinstance(edits, dict):
            return JSONResponse({"error": "edits must be a JSON object"}, status_code=400)
        try:
            for key, value in edits.items():
                if key.lower() == "fentity" and isinstance(value, list):
                    for line, line_edits in zip(_lines(bill), value, strict=False):
                        for line_key, line_value in (line_edits or {}).items():
                            _set(line, line_key, line_value)
                else:
                    _set(bill, key, value)
            _set(bill, "FModifyDate", kingdee.now())
        finally:  # even a half-applied edit is what queries must now see
            bills.changed(number)
        return JSONResponse(bill)

    async def delete_bill(request: Request) -> Response:
        bills = stored_bills(request)
        if bills is None or bills.pop(request.path_params["billno"]) is None:
            return JSONResponse({"error": "no such bill"}, status_code=404)
        return JSONResponse({"deleted": request.path_params["billno"]})

    async def stats(_request: Request) -> Response:
        return JSONResponse(kingdee.stats())

    async def login_answer(request: Request) -> Response:
        try:
            answer = json.loads(await request.body() or b"{}")
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not set(answer) <= _LOGIN_ANSWER_FIELDS:
            return JSONResponse({"error": f"expected an object of {sorted(_LOGIN_ANSWER_FIELDS)}"}, status_code=400)
        kingdee.login_answer = answer
        return JSONResponse(answer)

    return [
        Route("/__admin/expire_sessions", expire_sessions, methods=["POST"]),
        Route("/__admin/save_faults", save_faults, methods=["GET", "POST"]),
        Route("/__admin/stats", stats, methods=["GET"]),
        Route("/__admin/login_answer", login_answer, methods=["POST"]),
        Route("/__admin/bills/{form}", list_bills, methods=["GET"]),
        Route("/__admin/bills/{form}/{billno}/delete", delete_bill, methods=["POST"]),
        Route("/__admin/bills/{form}/{billno}", edit_bill, methods=["POST"]),
        Route("/{prefix}/{service}", service, methods=["POST"]),
    ]


async def _dispatch(kingdee: _Kingdee, short_name: str, body: dict) -> Any:
    if short_name in {"ExecuteBillQuery", "BillQuery"}:
        _, data = _form_call(body, needs_form=False)
        keys, rows = kingdee.query(data)
        if short_name == "BillQuery":
            return [dict(zip(keys, row, strict=True)) for row in rows]
        return rows
    form_id, data = _form_call(body, needs_form=True)
    if short_name in {"Save", "BatchSave"}:
        return await kingdee.save(form_id, data, batch=short_name == "BatchSave")
    return kingdee.operate(form_id, data, short_name)


def create_app(
    base_data: dict[str, list[dict]],
    *,
    faults: Faults | None = None,
    session_ttl_seconds: float = 1200,
    save_latency_ms: float = 0,
    save_latency_per_bill_ms: float = 0,
    clock: Callable[[], float] = time.time,
    account: Account | None = None,
) -> ASGIApp:
    """The emulator as an ASGI app, behind `FaultMiddleware`.

    `base_data` maps FormId -> rows keyed by query field keys (copied: the app never changes it);
    `account` replaces the sandbox credentials (tests use it for the published signature vectors).
    """
    kingdee = _Kingdee(
        base_data,
        account=account or Account(),
        session_ttl_seconds=session_ttl_seconds,
        save_latency_ms=save_latency_ms,
        save_latency_per_bill_ms=save_latency_per_bill_ms,
        clock=clock,
    )
    return FaultMiddleware(Starlette(routes=_routes(kingdee)), faults)
