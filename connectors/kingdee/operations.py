"""Submit and Audit by bill number, after a save: one result per number, in batches."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from basics.chunks import chunks
from connectors.kingdee.answers import batch_outcomes
from connectors.kingdee.connection import KingdeeConnection, json_bytes
from connectors.kingdee.filters import check_key

log = logging.getLogger("connectors.kingdee")

SUBMIT = "DynamicFormService.Submit"
AUDIT = "DynamicFormService.Audit"
OPERATION_DEFAULTS: dict[str, dict[str, Any]] = {
    SUBMIT: {"CreateOrgId": 0, "Ids": "", "IgnoreInterationFlag": ""},
    # Audit is where an outbound bill leaves stock: pre-answer the same inventory check as on save.
    AUDIT: {"CreateOrgId": 0, "Ids": "", "InterationFlags": "STK_InvCheckResult", "IgnoreInterationFlag": ""},
}


@dataclass(frozen=True)
class OperationResult:
    """The outcome of Submit / Audit for one bill number."""

    number: str
    ok: bool
    errors: list[str] = field(default_factory=list)


class BillOperations(KingdeeConnection):
    def submit(
        self, form_id: str, numbers: Iterable[str], *, options: dict[str, Any] | None = None
    ) -> list[OperationResult]:
        return self._operate(SUBMIT, form_id, numbers, options)

    def audit(
        self, form_id: str, numbers: Iterable[str], *, options: dict[str, Any] | None = None
    ) -> list[OperationResult]:
        return self._operate(AUDIT, form_id, numbers, options)

    def _operate(
        self, service: str, form_id: str, numbers: Iterable[str], options: dict[str, Any] | None
    ) -> list[OperationResult]:
        check_key(form_id)
        results: list[OperationResult] = []
        for chunk in chunks(numbers, self.settings.batch_size):
            data = {**OPERATION_DEFAULTS[service], **(options or {}), "Numbers": list(chunk)}
            payload = self._call(service, json_bytes({"formid": form_id, "data": data}), write=True)
            outcomes = batch_outcomes(f"{service} {form_id}", payload, list(chunk), self._scrub)
            results.extend(OperationResult(n, o.ok, o.errors) for n, o in zip(chunk, outcomes, strict=True))
        done = sum(r.ok for r in results)
        log.info("%s %s: %d bills, %d done, %d failed", service, form_id, len(results), done, len(results) - done)
        return results
