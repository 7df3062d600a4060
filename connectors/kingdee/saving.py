"""BatchSave: bills in batches with the save options every unattended save needs, one result per bill in
the caller's order, and the refusals that mean "this FBillNo exists" told apart."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from basics.chunks import chunks
from connectors.kingdee.answers import batch_outcomes
from connectors.kingdee.connection import KingdeeConnection, json_bytes
from connectors.kingdee.filters import check_key

log = logging.getLogger("connectors.kingdee")

BATCH_SAVE = "DynamicFormService.BatchSave"

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


def batch_save_body(form_id: str, models: Sequence[bytes], options: dict[str, Any] | None = None) -> bytes:
    """One BatchSave request body: the save options (DEFAULT_SAVE_OPTIONS, then `options`) with `models`,
    pre-serialized JSON objects, spliced in as they are."""
    merged = {**DEFAULT_SAVE_OPTIONS, **(options or {})}
    if "Model" in merged:
        raise ValueError("pass the bills as `models`, not in options")
    head = json_bytes({"formid": form_id, "data": merged})[:-2] + b',"Model":['  # the JSON without its "}}"
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


def _names_a_duplicate_number(errors: list[str]) -> bool:
    return any(marker in error for error in errors for marker in DUPLICATE_NUMBER_MARKERS)


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class BillSaving(KingdeeConnection):
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
        encoded = [model if isinstance(model, bytes) else json_bytes(model) for model in models]
        numbers = list(bill_nos) if bill_nos is not None else [_bill_no(model) for model in models]
        results: list[SaveResult] = []
        size = batch_size or self.settings.batch_size
        for chunk, chunk_nos in zip(chunks(encoded, size), chunks(numbers, size), strict=True):
            payload = self._call(BATCH_SAVE, batch_save_body(form_id, chunk, options), write=True)
            outcomes = batch_outcomes(f"{BATCH_SAVE} {form_id}", payload, chunk_nos, self._scrub)
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
