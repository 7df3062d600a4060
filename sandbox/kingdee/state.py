"""One emulated data centre: its base data, saved bills, sessions, business-fault knobs and counters."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

from sandbox.kingdee.auth import Sessions
from sandbox.kingdee.forms import BILL_FORMS, BaseForm, BillForm
from sandbox.kingdee.query import MAX_LIMIT, flatten
from sandbox.kingdee.signatures import Account
from sandbox.kingdee.store import BillStore
from sandbox.kingdee.wire import ServiceError

_BEIJING = timezone(timedelta(hours=8))
WRITES = ("Save", "BatchSave", "Submit", "Audit", "UnAudit", "Delete")


@dataclass
class SaveFaults:
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


class Kingdee:
    """The state of one emulated data centre (one instance per app); the modules of each concern act on it."""

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
            form_id.lower(): BaseForm(form_id, [{k.lower(): v for k, v in row.items()} for row in rows])
            for form_id, rows in base_data.items()
        }
        self.sessions = Sessions(session_ttl_seconds, clock)
        self.save_faults = SaveFaults()
        self.bills = {form.form_id: BillStore(partial(flatten, self.base)) for form in BILL_FORMS.values()}
        self._clock = clock
        self.save_latency_ms = save_latency_ms
        self.save_latency_per_bill_ms = save_latency_per_bill_ms
        self.fids = itertools.count(100001)
        # POST /__admin/query_row_cap: the most rows one ExecuteBillQuery page answers (a tenant's cap).
        self.query_row_cap = MAX_LIMIT
        self.entry_ids = itertools.count(200001)
        self.auto_numbers = {form.form_id: itertools.count(1) for form in BILL_FORMS.values()}
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
        self.saves_in_flight = 0
        self.max_concurrent_saves = 0

    def now(self) -> str:
        return datetime.fromtimestamp(self._clock(), _BEIJING).strftime("%Y-%m-%dT%H:%M:%S")

    def bill_form(self, form_id: Any) -> BillForm:
        form = BILL_FORMS.get(str(form_id or "").lower())
        if form is None:
            if str(form_id or "").lower() in self.base:
                raise ServiceError(12, f"模拟器不支持对“{form_id}”执行此操作")
            raise ServiceError(4, f"标识为“{form_id}”的业务对象不存在，或者被删除")
        return form

    def stats(self) -> dict:
        return {
            "calls": dict(self.calls),
            "writes": sum(self.calls[name] for name in WRITES),
            "batch_sizes": list(self.batch_sizes),
            "duplicate_rejections": self.duplicate_rejections,
            "simulated_row_failures": self.simulated_row_failures,
            "late_answers_after_commit": self.late_answers_after_commit,
            "stock_check_interactions": self.stock_check_interactions,
            "max_concurrent_saves": self.max_concurrent_saves,
            "logins": self.logins,
            "sessions_created": self.sessions.created,
        }
