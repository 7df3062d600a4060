"""Save and BatchSave: validate each bill, store the valid ones with their new ids and numbers, and the
business faults of saving (failing bills, answers lost after the commit, latency)."""

from __future__ import annotations

import asyncio
import copy
from typing import TYPE_CHECKING, Any

from sandbox.kingdee.forms import BillForm
from sandbox.kingdee.validation import validate
from sandbox.kingdee.wire import ServiceError, bill_lines, get_key, number_of, response_status, set_key

if TYPE_CHECKING:
    from sandbox.kingdee.state import Kingdee

SIMULATED_FAILURE = "模拟业务校验失败"


async def save(kingdee: Kingdee, form_id: Any, data: dict, *, batch: bool) -> dict:
    """Save (one Model object) and BatchSave (a Model array).

    [U] Partial commit: no public source says whether a BatchSave commits its valid bills when
    others fail. The emulator commits every valid bill and reports the rest by DIndex, the
    harsher case for a client (a blind retry of the whole batch then meets duplicates).
    """
    form = kingdee.bill_form(form_id)
    model = get_key(data, "Model")
    models = model if batch else [model]
    if not isinstance(models, list) or not models or not all(isinstance(m, dict) for m in models):
        shape = "非空的JSON数组" if batch else "JSON对象"
        raise ServiceError(8, f"参数错误：Model必须是{shape}")
    kingdee.batch_sizes.append(len(models))
    kingdee.saves_in_flight += 1
    kingdee.max_concurrent_saves = max(kingdee.max_concurrent_saves, kingdee.saves_in_flight)
    try:
        latency_ms = kingdee.save_latency_ms + kingdee.save_latency_per_bill_ms * len(models)
        if latency_ms > 0:
            await asyncio.sleep(latency_ms / 1000)
        errors, successes = _commit(kingdee, form, models, [str(f) for f in get_key(data, "NeedReturnFields") or []])
        if kingdee.save_faults.timeout_after_commit_seconds > 0:
            kingdee.late_answers_after_commit += 1
            await asyncio.sleep(kingdee.save_faults.timeout_after_commit_seconds)
    finally:
        kingdee.saves_in_flight -= 1
    result: dict[str, Any] = {"ResponseStatus": response_status(errors, [s for s, _ in successes], 11)}
    if not batch:
        saved = successes[0][0] if successes else {"Id": "", "Number": ""}
        result.update({"Id": saved["Id"], "Number": saved["Number"]})
    result["NeedReturnData"] = [returned for _, returned in successes if returned]
    return {"Result": result}


def _commit(kingdee: Kingdee, form: BillForm, models: list[dict], need_return: list[str]) -> tuple[list, list]:
    """Validate each bill in order; store the valid ones. No await inside: a batch commits atomically
    with respect to other requests, and a duplicate later in the same batch meets the earlier bill."""
    stored = kingdee.bills[form.form_id]
    errors: list[dict] = []
    successes: list[tuple[dict, dict]] = []
    for index, model in enumerate(models):
        problems = validate(kingdee.base, form, model)
        number = number_of(get_key(model, "FBillNo"))
        if number and number in stored:
            kingdee.duplicate_rejections += 1
            problems.append(("FBillNo", f"单据编号“{number}”已经存在"))
        if number and number in kingdee.save_faults.fail_bill_numbers:
            kingdee.simulated_row_failures += 1
            problems.append(("", SIMULATED_FAILURE))
        if problems:
            errors.extend({"FieldName": f, "Message": m, "DIndex": index} for f, m in problems)
            continue
        bill = _store(kingdee, form, model, number)
        entity = {"Id": get_key(bill, "FID"), "Number": get_key(bill, "FBillNo"), "DIndex": index}
        successes.append((entity, {key: get_key(bill, key) for key in need_return}))
    return errors, successes


def _store(kingdee: Kingdee, form: BillForm, model: dict, number: str) -> dict:
    stored = kingdee.bills[form.form_id]
    while not number:
        candidate = f"{form.number_prefix}{next(kingdee.auto_numbers[form.form_id]):06d}"
        number = "" if candidate in stored else candidate
    bill = copy.deepcopy(model)
    now = kingdee.now()
    for key, value in (
        ("FID", next(kingdee.fids)),
        ("FBillNo", number),
        ("FDocumentStatus", "A"),
        ("FCreateDate", now),
        ("FModifyDate", now),
    ):
        set_key(bill, key, value)
    for line in bill_lines(bill):
        set_key(line, "FEntryID", next(kingdee.entry_ids))
    stored.put(number, bill)
    return bill
