"""BatchSave's checks of one bill, in Kingdee's wording: bill type, date, organisations, customer and
currency, then per line material, unit, stock, quantity and the lot rule of batch-managed materials."""

from __future__ import annotations

from typing import Any

from sandbox.kingdee.forms import BaseForm, BillForm, usable
from sandbox.kingdee.wire import DATE_VALUE, get_key, number_of


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


def validate(base: dict[str, BaseForm], form: BillForm, model: dict) -> list[tuple[str, str]]:
    """Every problem of one bill, in Kingdee's wording: (FieldName, Message)."""
    problems: list[tuple[str, str]] = []
    fid = get_key(model, "FID")
    if fid not in (None, 0, "0", ""):
        problems.append(("FID", f"模拟器不支持修改已保存的单据（FID={fid}）"))
    bill_type = number_of(get_key(model, "FBillTypeID"))
    if not bill_type:
        problems.append(("FBillTypeID", "字段“单据类型”是必填项"))
    elif bill_type not in form.bill_types:
        problems.append(("FBillTypeID", f"字段“单据类型”的值“{bill_type}”在系统中不存在"))
    day = get_key(model, "FDate")
    if day in (None, ""):
        problems.append(("FDate", "字段“日期”是必填项"))
    elif not DATE_VALUE.match(str(day).strip()):
        problems.append(("FDate", f"字段“日期”的值“{day}”不是有效的日期"))
    sale_org = number_of(get_key(model, "FSaleOrgId"))
    stock_org = number_of(get_key(model, "FStockOrgId"))
    sub_head = get_key(model, "SubHeadEntity")
    header_refs = [
        ("FSaleOrgId", "销售组织", sale_org, "ORG_Organizations", ""),
        ("FStockOrgId", form.stock_org_label, stock_org, "ORG_Organizations", ""),
        (
            form.customer_key,
            form.customer_label,
            number_of(get_key(model, form.customer_key)),
            "BD_Customer",
            sale_org,
        ),
        (form.currency_key, "结算币别", number_of(get_key(sub_head, form.currency_key)), "BD_Currency", ""),
    ]
    for field_name, label, number, base_form, org in header_refs:
        if not number:
            problems.append((field_name, f"字段“{label}”是必填项"))
        elif _lookup(base, base_form, number, org) is None:
            problems.append((field_name, f"字段“{label}”的值“{number}”在系统中不存在"))
    lines = get_key(model, "FEntity")
    if not isinstance(lines, list) or not lines:
        problems.append(("FEntity", "单据体实体【明细信息】至少需要录入一行分录"))
        return problems
    for line_no, line in enumerate(lines, start=1):
        problems.extend(_validate_line(base, form, line if isinstance(line, dict) else {}, line_no, stock_org))
    return problems


def _validate_line(
    base: dict[str, BaseForm], form: BillForm, line: dict, line_no: int, org: str
) -> list[tuple[str, str]]:
    where = f"单据体实体【明细信息】第【{line_no}】行分录，"
    problems: list[tuple[str, str]] = []
    material_row = None
    for field_name, label, base_form in (
        (form.material_key, "物料编码", "BD_MATERIAL"),
        ("FUnitID", "库存单位", "BD_UNIT"),
        (form.stock_key, "仓库", "BD_STOCK"),
    ):
        number = number_of(get_key(line, field_name))
        row = _lookup(base, base_form, number, org) if number else None
        if not number:
            problems.append((field_name, f"{where}【{label}】字段必录"))
        elif row is None:
            problems.append((field_name, f"{where}字段“{label}”的值“{number}”在系统中不存在"))
        if base_form == "BD_MATERIAL":
            material_row = row
    positive = _positive(get_key(line, "FRealQty"))
    if positive is None:
        problems.append(("FRealQty", f"{where}【{form.qty_label}】字段必录"))
    elif not positive:
        problems.append(("FRealQty", f"{where}【{form.qty_label}】必须大于0"))
    if material_row is not None:
        lot = number_of(get_key(line, "FLot"))
        material = material_row.get("fnumber")
        if _truthy(material_row.get("fisbatchmanage")) and not lot:
            problems.append(("FLot", f"{where}物料“{material}”启用了批号管理，【批号】字段必录"))
        elif not _truthy(material_row.get("fisbatchmanage")) and lot:
            problems.append(("FLot", f"{where}物料“{material}”未启用批号管理，【批号】不允许录入"))
    return problems


def _lookup(base: dict[str, BaseForm], base_form: str, number: str, org: str) -> dict | None:
    form = base.get(base_form.lower())
    row = form.find(number, org) if form else None
    return row if usable(row) else None
