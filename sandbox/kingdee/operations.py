"""Submit / Audit / UnAudit / Delete of saved bills: the status each applies to, the refusals the save
faults switch on, and Audit's inventory-check interaction on short stock."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sandbox.kingdee.forms import STATUS_NAMES, BillForm
from sandbox.kingdee.wire import ServiceError, get_key, response_status, set_key

if TYPE_CHECKING:
    from sandbox.kingdee.state import Kingdee

SIMULATED_SUBMIT_FAILURE = "模拟提交失败"
SIMULATED_AUDIT_FAILURE = "模拟审核失败"
STOCK_CHECK_INTERACTION = "STK_InvCheckResult"


def operate(kingdee: Kingdee, form_id: Any, data: dict, operation: str) -> dict:
    """Submit (A/D→B), Audit (B→C), UnAudit (C→D), Delete (A/D only), by Numbers and/or Ids."""
    form = kingdee.bill_form(form_id)
    stored = kingdee.bills[form.form_id]
    numbers = get_key(data, "Numbers") or []
    ids = get_key(data, "Ids") or ""
    targets = [("number", str(n)) for n in (numbers.split(",") if isinstance(numbers, str) else numbers)]
    targets += [("id", str(i).strip()) for i in (ids.split(",") if isinstance(ids, str) else ids)]
    targets = [(kind, value) for kind, value in targets if value]
    if not targets:
        raise ServiceError(8, "参数错误：Numbers和Ids不能同时为空")
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
        number, status = str(get_key(bill, "FBillNo")), get_key(bill, "FDocumentStatus")
        if status not in allowed:
            state = STATUS_NAMES.get(status, status)
            errors.append(
                {
                    "FieldName": None,
                    "DIndex": index,
                    "Message": f"单据“{number}”的状态为“{state}”，不允许{verb}",
                }
            )
            msg_codes.append(12)
            continue
        refusal = _operation_fault(kingdee, form, operation, data, number)
        if refusal:
            errors.append({"FieldName": None, "DIndex": index, "Message": refusal})
            msg_codes.append(11)
            interactions += refusal.startswith(STOCK_CHECK_INTERACTION)
            continue
        successes.append({"Id": get_key(bill, "FID"), "Number": number, "DIndex": index})
        if after is None:
            stored.pop(number)
            continue
        set_key(bill, "FDocumentStatus", after)
        set_key(bill, "FModifyDate", kingdee.now())
        if after == "C":
            set_key(bill, "FApproveDate", kingdee.now())
        stored.changed(number)
    result: dict[str, Any] = {"ResponseStatus": response_status(errors, successes, msg_codes[0] if msg_codes else 0)}
    if interactions:
        result["InteractionContext"] = {"InteractionFormId": STOCK_CHECK_INTERACTION, "Count": interactions}
    return {"Result": result}


def _operation_fault(kingdee: Kingdee, form: BillForm, operation: str, data: dict, number: str) -> str | None:
    """Why the save faults make this Submit / Audit refuse `number`, or None.

    [U] The stock-check refusal: KINGDEE_API_NOTES.md §5.4 says an outbound Audit fails on short stock
    unless `InterationFlags` pre-answers STK_InvCheckResult; the exact shape of the interaction answer
    is not public, so the bill fails in the §4 envelope (IsSuccess false, its DIndex) and the Result
    names the interaction form."""
    faults = kingdee.save_faults
    if operation == "Submit" and number in faults.fail_submit_numbers:
        return SIMULATED_SUBMIT_FAILURE
    if operation != "Audit":
        return None
    if number in faults.fail_audit_numbers:
        return SIMULATED_AUDIT_FAILURE
    flags = {f.strip() for f in str(get_key(data, "InterationFlags") or "").split(";")}
    if faults.audit_stock_short and form.form_id == "SAL_OUTSTOCK" and STOCK_CHECK_INTERACTION not in flags:
        kingdee.stock_check_interactions += 1
        return f"{STOCK_CHECK_INTERACTION}: 单据“{number}”审核后即时库存将为负数，是否继续？（库存不足）"
    return None


# operation -> (statuses it applies to, status afterwards (None: removed), verb for the message)
_OPERATIONS: dict[str, tuple[set[str], str | None, str]] = {
    "Submit": ({"A", "D"}, "B", "提交"),
    "Audit": ({"B"}, "C", "审核"),
    "UnAudit": ({"C"}, "D", "反审核"),
    "Delete": ({"Z", "A", "D"}, None, "删除"),
}


def _by_fid(bills: Iterable[dict], fid: str) -> dict | None:
    return next((bill for bill in bills if str(get_key(bill, "FID")) == fid), None)
