"""The Kingdee K3Cloud WebAPI client: one POST per service call, JSON in and out (KINGDEE_API.md).

It knows the protocol, not the business: paging, the three error shapes, sessions, retries, and the
rule that a write is never resent when it may already have been committed.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import polars as pl

from basics.chunks import chunks
from connectors.http import RETRYABLE_STATUS, Backoff, RetryableError, retry
from connectors.kingdee.auth import (
    SENSITIVE_HEADERS,
    Session,
    check_login_result,
    decode_client_secret,
    login_request,
    signature_headers,
)
from connectors.kingdee.errors import (
    KingdeeAuthError,
    KingdeeBusinessError,
    KingdeeRateLimited,
    KingdeeSessionExpired,
    KingdeeTransportError,
    RowError,
)
from connectors.kingdee.filters import Filter, check_key
from connectors.settings import KingdeeSettings

log = logging.getLogger("connectors.kingdee")

SERVICE_PREFIX = "Kingdee.BOS.WebApi.ServicesStub."
EXECUTE_BILL_QUERY = "DynamicFormService.ExecuteBillQuery"
BILL_QUERY = "DynamicFormService.BillQuery"
BATCH_SAVE = "DynamicFormService.BatchSave"
SUBMIT = "DynamicFormService.Submit"
AUDIT = "DynamicFormService.Audit"
DELETE = "DynamicFormService.Delete"

MSG_SESSION_LOST = 1
MSG_CALL_LIMIT = 14
MAX_QUERY_LIMIT = 10_000

# Strings, not JSON booleans: that is what Kingdee's own templates send, and every server accepts it.
DEFAULT_SAVE_OPTIONS: dict[str, Any] = {
    "NeedUpDateFields": [],
    "NeedReturnFields": [],
    "IsDeleteEntry": "true",
    "SubSystemId": "",
    "IsVerifyBaseDataField": "true",
    "IsEntryBatchFill": "true",
    "ValidateFlag": "true",
    "NumberSearch": "true",
    # Pre-answers the inventory-check question, which would otherwise stop an unattended save.
    "InterationFlags": "STK_InvCheckResult",
    # Kingdee hid this switch because on bills it aborts nested transactions; submit and audit apart.
    "IsAutoSubmitAndAudit": "false",
}
OPERATION_DEFAULTS: dict[str, dict[str, Any]] = {
    SUBMIT: {"CreateOrgId": 0, "Ids": "", "IgnoreInterationFlag": ""},
    # Audit is where an outbound bill leaves stock: pre-answer the same inventory check as on save.
    AUDIT: {"CreateOrgId": 0, "Ids": "", "InterationFlags": "STK_InvCheckResult", "IgnoreInterationFlag": ""},
    DELETE: {"CreateOrgId": 0, "Ids": ""},
}

# 429 and 503 mean the request was turned away unprocessed, so even a write may be sent again.
REFUSED_STATUS = frozenset({429, 503})
# Raised before a byte of the request left this process: resending cannot duplicate anything.
UNSENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
ORDER_BY = re.compile(
    r"^\s*[A-Za-z_][A-Za-z0-9_.]*(\s+(?i:asc|desc))?(\s*,\s*[A-Za-z_][A-Za-z0-9_.]*(\s+(?i:asc|desc))?)*\s*$"
)
MESSAGE_LIMIT = 300
# How Kingdee words a refused save whose FBillNo is taken, in a Chinese and an English install.
DUPLICATE_NUMBER_MARKERS = ("已经存在", "already exists")


@dataclass(frozen=True)
class SaveResult:
    """The outcome of one bill of a BatchSave; `index` is its position in the caller's sequence.

    `duplicate_number`: refused because a bill with its FBillNo exists (a concurrent writer may have
    saved it first); the caller confirms by FBillNo before counting it as already there."""

    index: int
    bill_no: str | None
    ok: bool
    fid: int | None
    number: str | None
    errors: list[str] = field(default_factory=list)
    duplicate_number: bool = False


@dataclass(frozen=True)
class OperationResult:
    """The outcome of Submit / Audit / Delete for one bill number."""

    number: str
    ok: bool
    errors: list[str] = field(default_factory=list)


def response_status(payload: Any) -> dict[str, Any] | None:
    """The ResponseStatus inside any of Kingdee's three envelope shapes, or None for plain data.

    Shapes: `{"Result": {"ResponseStatus": ...}}` (operations), `[[{"Result": ...}]]` (query errors),
    and a bare `{"ResponseStatus": ...}` or status object.
    """
    while isinstance(payload, list) and payload and isinstance(payload[0], list | dict):
        head = payload[0]
        if isinstance(head, dict) and "Result" not in head:
            return None  # a BillQuery row
        payload = head
    if not isinstance(payload, dict):
        return None
    result = payload.get("Result")
    if isinstance(result, dict) and isinstance(result.get("ResponseStatus"), dict):
        return result["ResponseStatus"]
    if isinstance(payload.get("ResponseStatus"), dict):
        return payload["ResponseStatus"]
    if "IsSuccess" in payload:
        return payload
    return None


def row_errors(status: dict[str, Any]) -> list[RowError]:
    errors = []
    for entry in status.get("Errors") or []:
        if isinstance(entry, dict):
            dindex = entry.get("DIndex")
            errors.append(
                RowError(
                    field_name=entry.get("FieldName") or None,
                    message=str(entry.get("Message") or ""),
                    dindex=dindex if isinstance(dindex, int) else None,
                )
            )
    return errors


def _failure_code(payload: Any) -> int | None:
    """MsgCode of a failed call (None when the call succeeded or carries plain data)."""
    status = response_status(payload)
    if status is None or status.get("IsSuccess") is True:
        return None
    code = status.get("MsgCode")
    return code if isinstance(code, int) else None


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def batch_save_body(form_id: str, models: Sequence[bytes], options: dict[str, Any] | None = None) -> bytes:
    """One BatchSave request body: the save options (DEFAULT_SAVE_OPTIONS, then `options`) with `models`,
    pre-serialized JSON objects, spliced in as they are."""
    merged = {**DEFAULT_SAVE_OPTIONS, **(options or {})}
    if "Model" in merged:
        raise ValueError("pass the bills as `models`, not in options")
    head = _json_bytes({"formid": form_id, "data": merged})[:-2] + b',"Model":['  # the JSON without its "}}"
    if not models:
        return head + b"]}}"
    # One join writes the body: each `+` on a whole body (~150 KB at 100 bills) would copy it again.
    parts = list(models)
    parts[0] = head + parts[0]
    parts[-1] += b"]}}"
    return b",".join(parts)


def _bill_no(model: dict[str, Any] | bytes) -> str | None:
    parsed = json.loads(model) if isinstance(model, bytes) else model
    if not isinstance(parsed, dict):
        raise TypeError("each model must be a JSON object")
    bill_no = parsed.get("FBillNo")
    return None if bill_no is None else str(bill_no)


def _checked_keys(field_keys: Sequence[str], schema: dict[str, pl.DataType] | None) -> list[str]:
    keys = list(field_keys)
    unknown = set(schema or {}) - set(keys)
    if unknown:
        raise ValueError(f"schema names columns that are not field keys: {sorted(unknown)}")
    return keys


def _fits(row: Any, width: int) -> bool:
    return isinstance(row, list) and len(row) == width


def _frame(keys: list[str], rows: list[Any], schema: dict[str, pl.DataType] | None) -> pl.DataFrame:
    """ExecuteBillQuery rows as a frame named by the field keys, cast by `schema` where it names a column."""
    if any(not _fits(row, len(keys)) for row in rows):
        raise KingdeeTransportError(f"{EXECUTE_BILL_QUERY}: rows do not match the {len(keys)} field keys")
    if not rows:
        return pl.DataFrame(schema={key: (schema or {}).get(key, pl.Null) for key in keys})
    frame = pl.DataFrame(rows, schema=keys, orient="row", infer_schema_length=None)
    return _apply_schema(frame, schema) if schema else frame


def _names_a_duplicate_number(errors: list[str]) -> bool:
    return any(marker in error for error in errors for marker in DUPLICATE_NUMBER_MARKERS)


def _describe(error: RowError) -> str:
    return f"{error.field_name}: {error.message}" if error.field_name else error.message


def _apply_schema(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Cast columns; dates arrive as text ('2024-12-04T00:00:00'), which Polars parses but will not cast."""
    columns = []
    for key, dtype in schema.items():
        if frame.schema[key] == pl.String and dtype.is_temporal():
            columns.append(pl.col(key).str.strptime(dtype))
        else:
            columns.append(pl.col(key).cast(dtype))
    return frame.with_columns(columns)


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    entity: dict[str, Any]
    errors: list[str]


class KingdeeClient:
    """A thread-safe client for one Kingdee account; use as a context manager or call `close()`."""

    def __init__(
        self,
        settings: KingdeeSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if settings.auth_mode == "password" and settings.password is None:
            raise ValueError("auth_mode 'password' needs a password (KINGDEE_PASSWORD)")
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self._backoff = Backoff(settings.retry_attempts, settings.retry_base_seconds, settings.retry_cap_seconds)
        self._http = httpx.Client(
            transport=transport,
            timeout=settings.timeout_seconds,
            verify=settings.verify_tls,
            headers={"Content-Type": "application/json", "Accept-Charset": "utf-8"},
        )
        self._session = None if settings.auth_mode == "signature" else Session(self._login)

    def __enter__(self) -> KingdeeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- queries -------------------------------------------------------------------------------------

    def execute_bill_query(
        self,
        form_id: str,
        field_keys: Sequence[str],
        filter: Filter | str = "",
        order_by: str = "",
        page_size: int | None = None,
        *,
        schema: dict[str, pl.DataType] | None = None,
    ) -> pl.DataFrame:
        """All rows of an ExecuteBillQuery, paged by StartRow/Limit, as a frame named by the field keys.

        Pass a stable `order_by` (e.g. the primary key) when the result may span several pages.
        `schema` casts the named columns; without it the types are inferred from the values.
        """
        keys = _checked_keys(field_keys, schema)
        return _frame(keys, self._query(EXECUTE_BILL_QUERY, form_id, keys, filter, order_by, page_size), schema)

    def execute_bill_query_by_number(
        self,
        form_id: str,
        field_keys: Sequence[str],
        numbers: Iterable[str],
        *,
        number_key: str = "FBillNo",
        order_by: str | None = None,
        schema: dict[str, pl.DataType] | None = None,
        chunk_size: int = 500,
    ) -> pl.DataFrame:
        """`execute_bill_query` for the rows whose `number_key` (FBillNo on bills, FNumber on base data) is
        one of `numbers`, each number asked once, `chunk_size` to an IN list so no filter grows without
        bound. Rows come chunk by chunk, each chunk in `order_by` (by default the number)."""
        keys = _checked_keys(field_keys, schema)
        rows = self._rows_by_number(form_id, keys, numbers, number_key, order_by, chunk_size)
        return _frame(keys, rows, schema)

    def bill_query(
        self,
        form_id: str,
        field_keys: Sequence[str],
        filter: Filter | str = "",
        order_by: str = "",
        page_size: int | None = None,
    ) -> list[dict[str, Any]]:
        """All rows of a BillQuery (objects keyed by field key), paged like `execute_bill_query`."""
        rows = self._query(BILL_QUERY, form_id, list(field_keys), filter, order_by, page_size)
        if any(not isinstance(row, dict) for row in rows):
            raise KingdeeTransportError(f"{BILL_QUERY}: rows are not objects")
        return rows

    def existing_bill_numbers(self, form_id: str, numbers: Iterable[str], chunk_size: int = 500) -> set[str]:
        """Which of `numbers` already exist as FBillNo on `form_id`: the idempotency check before a save."""
        rows = self._rows_by_number(form_id, ["FBillNo"], numbers, "FBillNo", None, chunk_size)
        return {str(row[0]) for row in rows if _fits(row, 1)}

    def bill_statuses(self, form_id: str, numbers: Iterable[str], chunk_size: int = 500) -> dict[str, str]:
        """FDocumentStatus (Z/A/B/C/D) by FBillNo of those of `numbers` that exist on `form_id`."""
        rows = self._rows_by_number(form_id, ["FBillNo", "FDocumentStatus"], numbers, "FBillNo", None, chunk_size)
        return {str(row[0]): str(row[1]) for row in rows if _fits(row, 2)}

    def _rows_by_number(
        self,
        form_id: str,
        keys: list[str],
        numbers: Iterable[str],
        number_key: str,
        order_by: str | None,
        chunk_size: int,
    ) -> list[Any]:
        """ExecuteBillQuery rows of `keys` whose `number_key` is one of `numbers`, asked in chunks of IN lists."""
        rows: list[Any] = []
        for chunk in chunks(dict.fromkeys(numbers), chunk_size):
            condition = Filter.in_(number_key, chunk)
            rows.extend(
                self._query(EXECUTE_BILL_QUERY, form_id, keys, condition, order_by or f"{number_key} ASC", None)
            )
        return rows

    def _query(
        self,
        service: str,
        form_id: str,
        keys: list[str],
        filter: Filter | str,
        order_by: str,
        page_size: int | None,
    ) -> list[Any]:
        check_key(form_id)
        for key in keys:
            check_key(key)
        if not keys or len(set(keys)) != len(keys):
            raise ValueError("field keys must be a non-empty list without duplicates")
        if order_by and not ORDER_BY.match(order_by):
            raise ValueError(f"not an OrderString: {order_by!r}")
        limit = page_size or self.settings.query_page_size
        if not 1 <= limit <= MAX_QUERY_LIMIT:
            raise ValueError(f"page size must be in 1..{MAX_QUERY_LIMIT}")
        rows: list[Any] = []
        while True:
            data = {
                "FormId": form_id,
                "FieldKeys": ",".join(keys),
                "FilterString": str(filter),
                "OrderString": order_by,
                "TopRowCount": 0,
                "StartRow": len(rows),
                "Limit": limit,
                "SubSystemId": "",
            }
            payload = self._call(service, _json_bytes({"data": data}), write=False)
            status = response_status(payload)
            if status is not None:
                raise self._business_error(f"{service} {form_id}", status)
            if not isinstance(payload, list):
                raise KingdeeTransportError(f"{service} {form_id}: the answer is not a list of rows")
            rows.extend(payload)
            if len(payload) < limit:
                break
            if not order_by and len(rows) == limit:
                log.warning("%s %s spans several pages without order_by: paging may skip rows", service, form_id)
        log.debug("%s %s: %d rows", service, form_id, len(rows))
        return rows

    # --- writes --------------------------------------------------------------------------------------

    def batch_save(
        self,
        form_id: str,
        models: Sequence[dict[str, Any]] | Sequence[bytes],
        *,
        bill_nos: Sequence[str | None] | None = None,
        batch_size: int | None = None,
        options: dict[str, Any] | None = None,
    ) -> list[SaveResult]:
        """Save bills in batches; one result per model, in the caller's order, mapped back by DIndex.

        Models may be pre-serialized JSON objects (bytes), spliced into the body as they are; pass their
        `bill_nos` (FBillNo, in the same order) and they are not parsed again to find them. If this raises
        part-way, earlier batches may be saved: check by FBillNo before sending them again.
        """
        check_key(form_id)
        if bill_nos is not None and len(bill_nos) != len(models):
            raise ValueError(f"{len(bill_nos)} bill numbers for {len(models)} models")
        encoded = [model if isinstance(model, bytes) else _json_bytes(model) for model in models]
        numbers = list(bill_nos) if bill_nos is not None else [_bill_no(model) for model in models]
        results: list[SaveResult] = []
        size = batch_size or self.settings.batch_size
        for chunk, chunk_nos in zip(chunks(encoded, size), chunks(numbers, size), strict=True):
            payload = self._call(BATCH_SAVE, batch_save_body(form_id, chunk, options), write=True)
            outcomes = self._outcomes(f"{BATCH_SAVE} {form_id}", payload, chunk_nos)
            for bill_no, outcome in zip(chunk_nos, outcomes, strict=True):
                results.append(
                    SaveResult(
                        index=len(results),
                        bill_no=bill_no,
                        ok=outcome.ok,
                        fid=_as_int(outcome.entity.get("Id")),
                        number=outcome.entity.get("Number"),
                        errors=outcome.errors,
                        duplicate_number=not outcome.ok and _names_a_duplicate_number(outcome.errors),
                    )
                )
        saved = sum(r.ok for r in results)
        log.info("BatchSave %s: %d bills, %d saved, %d failed", form_id, len(results), saved, len(results) - saved)
        return results

    def submit(
        self, form_id: str, numbers: Iterable[str], *, options: dict[str, Any] | None = None
    ) -> list[OperationResult]:
        return self._operate(SUBMIT, form_id, numbers, options)

    def audit(
        self, form_id: str, numbers: Iterable[str], *, options: dict[str, Any] | None = None
    ) -> list[OperationResult]:
        return self._operate(AUDIT, form_id, numbers, options)

    def delete(
        self, form_id: str, numbers: Iterable[str], *, options: dict[str, Any] | None = None
    ) -> list[OperationResult]:
        return self._operate(DELETE, form_id, numbers, options)

    def _operate(
        self, service: str, form_id: str, numbers: Iterable[str], options: dict[str, Any] | None
    ) -> list[OperationResult]:
        check_key(form_id)
        results: list[OperationResult] = []
        for chunk in chunks(numbers, self.settings.batch_size):
            data = {**OPERATION_DEFAULTS[service], **(options or {}), "Numbers": list(chunk)}
            payload = self._call(service, _json_bytes({"formid": form_id, "data": data}), write=True)
            outcomes = self._outcomes(f"{service} {form_id}", payload, list(chunk))
            results.extend(OperationResult(n, o.ok, o.errors) for n, o in zip(chunk, outcomes, strict=True))
        done = sum(r.ok for r in results)
        log.info("%s %s: %d bills, %d done, %d failed", service, form_id, len(results), done, len(results) - done)
        return results

    def _outcomes(self, what: str, payload: Any, keys: Sequence[str | None]) -> list[_Outcome]:
        """Per-position outcomes of a batch call, from SuccessEntitys and Errors (read both always).

        Entities and errors are placed by DIndex; an entity without one by its Number. Errors that
        name no position go to every failed position that has none of its own.
        """
        status = response_status(payload)
        if status is None:
            raise KingdeeTransportError(f"{what}: the answer has no ResponseStatus", maybe_committed=True)
        successes: dict[int, dict[str, Any]] = {}
        for entity in status.get("SuccessEntitys") or []:
            if not isinstance(entity, dict):
                continue
            dindex = entity.get("DIndex")
            if isinstance(dindex, int) and 0 <= dindex < len(keys):
                successes[dindex] = entity
            elif entity.get("Number") in keys:
                successes[keys.index(entity["Number"])] = entity
        placed: dict[int, list[str]] = defaultdict(list)
        unplaced: list[str] = []
        for error in row_errors(status):
            text = self._scrub(_describe(error))
            if error.dindex is not None and 0 <= error.dindex < len(keys):
                placed[error.dindex].append(text)
            else:
                unplaced.append(text)
        whole_call_ok = status.get("IsSuccess") is True
        outcomes = []
        for i in range(len(keys)):
            if i in successes:
                outcomes.append(_Outcome(True, successes[i], placed.get(i, [])))
            elif placed.get(i):
                outcomes.append(_Outcome(False, {}, placed[i]))
            elif whole_call_ok and not unplaced:
                outcomes.append(_Outcome(True, {}, []))
            else:
                outcomes.append(_Outcome(False, {}, unplaced or ["no result reported for this bill: check by FBillNo"]))
        return outcomes

    def _business_error(self, what: str, status: dict[str, Any]) -> KingdeeBusinessError:
        errors = row_errors(status)
        code = status.get("MsgCode")
        detail = "; ".join(_describe(e) for e in errors[:5]) or "no message"
        return KingdeeBusinessError(
            f"{what} failed (MsgCode {code}): {self._scrub(detail)}",
            msg_code=code if isinstance(code, int) else None,
            errors=errors,
        )

    # --- one call: auth, session, retries ------------------------------------------------------------

    def _call(self, service: str, body: bytes, *, write: bool) -> Any:
        """Send one service call with retries; reads are retried freely, writes only while unsent."""

        def attempt() -> Any:
            try:
                return self._call_once(service, body, write=write)
            except RetryableError as exc:
                if exc.resend_safe:
                    log.warning("Kingdee %s: %s; retrying", service, exc.cause)
                raise
            except KingdeeRateLimited as exc:
                log.warning("Kingdee %s: call limit reached; backing off", service)
                raise RetryableError(exc) from None

        return retry(attempt, self._backoff, self._sleep)

    def _call_once(self, service: str, body: bytes, *, write: bool) -> Any:
        generation = self._session.ensure() if self._session else 0
        payload = self._exchange(service, body, write=write)
        if _failure_code(payload) == MSG_SESSION_LOST:
            self._renew(generation)
            if write:
                raise KingdeeSessionExpired(
                    f"{service}: the Kingdee session was lost; logged in again but did not resend the write "
                    "- check by FBillNo what was saved"
                )
            payload = self._exchange(service, body, write=False)
            if _failure_code(payload) == MSG_SESSION_LOST:
                raise KingdeeAuthError(f"{service}: Kingdee refused the credentials (MsgCode 1 after a fresh login)")
        if _failure_code(payload) == MSG_CALL_LIMIT:
            raise KingdeeRateLimited(f"{service}: Kingdee call limit reached (MsgCode 14)")
        return payload

    def _renew(self, generation: int) -> None:
        """Drop a lost session: log in again (session mode) or let the next signed call open a new one."""
        if self._session:
            self._session.renew(generation)
        else:
            self._http.cookies.clear()

    def _login(self) -> None:
        service, parameters = login_request(self.settings)
        self._http.cookies.clear()
        result = self._exchange(service, _json_bytes(parameters), write=False)
        check_login_result(result, self._scrub)
        log.info("Kingdee session opened with %s for user %s", service, self.settings.username)

    def _url(self, service: str) -> str:
        return f"{self.settings.server_url.rstrip('/')}/{SERVICE_PREFIX}{service}.common.kdsvc"

    def _exchange(self, service: str, body: bytes, *, write: bool) -> Any:
        """One HTTP POST and its JSON answer; classifies every failure for the retry loop."""
        url = self._url(service)
        headers = {}
        if self.settings.auth_mode == "signature":
            timestamp = str(int(self._clock()))
            headers = signature_headers(self.settings, url, timestamp, secrets.token_hex(16))
        started = time.monotonic()
        try:
            response = self._http.post(url, content=body, headers=headers)
        except UNSENT_ERRORS as exc:
            error = KingdeeTransportError(f"{service}: cannot connect to Kingdee ({type(exc).__name__})")
            raise RetryableError(error, resend_safe=True) from None
        except httpx.TransportError as exc:
            error = KingdeeTransportError(
                f"{service}: no answer from Kingdee ({type(exc).__name__}: {self._scrub(str(exc))})",
                maybe_committed=write,
            )
            raise RetryableError(error, resend_safe=not write) from None
        log.debug("%s: HTTP %d in %.0f ms", service, response.status_code, (time.monotonic() - started) * 1000)

        code = response.status_code
        text = response.text
        if code != 200:
            if "Fail to verify thirty passport" in text:
                raise KingdeeAuthError(f"{service}: Kingdee refused the account (Fail to verify thirty passport)")
            message = f"{service}: HTTP {code} from Kingdee: {self._scrub(text, response.request)}"
            if code in REFUSED_STATUS:
                raise RetryableError(KingdeeTransportError(message, status_code=code), resend_safe=True)
            if code in RETRYABLE_STATUS:
                error = KingdeeTransportError(message, status_code=code, maybe_committed=write)
                raise RetryableError(error, resend_safe=not write)
            raise KingdeeTransportError(message, status_code=code)
        if text.startswith("response_error:"):
            raise KingdeeTransportError(
                f"{service}: {self._scrub(text, response.request)}", status_code=code, maybe_committed=write
            )
        try:
            return json.loads(text)
        except ValueError:
            raise KingdeeTransportError(
                f"{service}: the answer is not JSON: {self._scrub(text, response.request)}",
                status_code=code,
                maybe_committed=write,
            ) from None

    def _scrub(self, text: str, request: httpx.Request | None = None) -> str:
        """Server text, cut short, with every credential we hold or sent blanked out."""
        known = [self.settings.app_secret.get_secret_value(), decode_client_secret(self.settings.app_id)]
        if self.settings.password is not None:
            known.append(self.settings.password.get_secret_value())
        known.extend(cookie.value or "" for cookie in self._http.cookies.jar)
        if request is not None:
            known.extend(value for name, value in request.headers.items() if name.lower() in SENSITIVE_HEADERS)
        for secret in sorted(filter(None, known), key=len, reverse=True):
            text = text.replace(secret, "***")
        return text[:MESSAGE_LIMIT]
