"""ExecuteBillQuery / BillQuery: field keys, FilterString (`filters`), OrderString and
paging over base data and saved bills, both seen as rows of lower-cased query keys."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sandbox.kingdee.filters import FilterSyntaxError, parse_filter
from sandbox.kingdee.forms import BASE_IDS, BILL_FORMS, REFERENCES, BaseForm
from sandbox.kingdee.store import BillStore, root_key
from sandbox.kingdee.wire import ServiceError, get_key, int_param, is_date_key, kingdee_date, number_of

DEFAULT_LIMIT = 2000
MAX_LIMIT = 10000


def query(
    base: dict[str, BaseForm], bills: dict[str, BillStore], data: dict, row_cap: int = MAX_LIMIT
) -> tuple[list[str], list[list[Any]]]:
    """Run an ExecuteBillQuery/BillQuery: (field keys as sent, rows in field-key order), at most `row_cap`
    rows a page whatever Limit asks (a tenant's cap)."""
    form_id = str(get_key(data, "FormId") or "")
    if not form_id:
        raise ServiceError(5, "单据标识为空")
    field_keys = [k.strip() for k in str(get_key(data, "FieldKeys") or "").split(",") if k.strip()]
    if not field_keys:
        raise ServiceError(8, "参数错误：FieldKeys不能为空")
    raw_filter = get_key(data, "FilterString")
    if isinstance(raw_filter, list):
        if raw_filter:
            raise ServiceError(4, "模拟器只支持字符串形式的FilterString")
        raw_filter = ""
    try:
        row_filter = parse_filter(str(raw_filter or ""))
    except FilterSyntaxError as exc:
        raise ServiceError(4, f"GetRealExpress error: 过滤条件“{raw_filter}”有误：{exc}") from None
    order = _parse_order(str(get_key(data, "OrderString") or ""))
    wanted = [k.lower() for k in field_keys]
    referenced = set(wanted) | row_filter.fields | {key for key, _ in order}
    try:
        rows = _rows(base, bills, form_id, referenced, row_filter.texts("FBillNo"))
    except _UnknownField as unknown:  # name the key as the client spelled it
        spelled = next((k for k in field_keys if k.lower() == unknown.key), unknown.key)
        raise ServiceError(9, f"元数据中标识为{spelled}的字段不存在", spelled) from None
    rows = [row for row in rows if row_filter(row)]
    for key, descending in reversed(order):
        rows.sort(key=lambda row, key=key: _sort_key(row.get(key)), reverse=descending)
    top = int_param(data, "TopRowCount", 0)
    start = max(int_param(data, "StartRow", 0), 0)
    limit = int_param(data, "Limit", 0)
    limit = min(DEFAULT_LIMIT if limit <= 0 else min(limit, MAX_LIMIT), row_cap)
    if top > 0:
        rows = rows[:top]
    return field_keys, [[row.get(key) for key in wanted] for row in rows[start : start + limit]]


def _rows(
    base: dict[str, BaseForm],
    bills: dict[str, BillStore],
    form_id: str,
    referenced: set[str],
    numbers: frozenset[str] | None,
) -> list[dict[str, Any]]:
    """Rows of a base-data form or of saved bills, keyed by lower-cased query keys; unknown keys fail.
    `numbers`: the casefolded FBillNo texts the filter allows, if it pins them (bills only)."""
    base_form = base.get(form_id.lower())
    if base_form is not None:
        known = set().union(*(row.keys() for row in base_form.rows)) if base_form.rows else set()
        # `FBaseUnitId.FName`: a field of the referenced base data, found through its number.
        through = {
            key: base.get(REFERENCES[root_key(key)].lower())
            for key in referenced
            if key not in known and "." in key and f"{root_key(key)}.fnumber" in known and root_key(key) in REFERENCES
        }
        _check_keys(referenced, lambda key: key in known or key in through)
        rows = [{k: kingdee_date(v) if is_date_key(k) else v for k, v in row.items()} for row in base_form.rows]
        for key, target in through.items():
            sub = key.split(".", 1)[1]
            for row in rows:
                found = target.find(str(row.get(f"{root_key(key)}.fnumber", ""))) if target else None
                row[key] = found.get(sub) if found else None
        return rows
    form = BILL_FORMS.get(form_id.lower())
    if form is None:
        raise ServiceError(4, f"标识为“{form_id}”的业务对象不存在，或者被删除")
    stored = bills[form.form_id]
    entry_keys = (form.entry_fields | stored.entry_roots.keys()) - form.header_fields
    header_keys = form.header_fields | stored.header_roots.keys()

    def known(key: str) -> bool:
        root = root_key(key)
        return root in entry_keys or root in header_keys or root.startswith("f_")

    _check_keys(referenced, known)
    headers = stored.flattened(numbers)
    if not any(root_key(key) in entry_keys for key in referenced):
        return [header for header, _ in headers]
    rows = []
    for header, lines in headers:
        for line in lines or [{}]:  # a bill without lines still shows once, like a left join
            rows.append({**header, **line})
    return rows


def flatten(base: dict[str, BaseForm], node: dict) -> dict[str, Any]:
    """One level of a saved model as query keys: `FCustomerID.FNumber`, sub-head fields at top level."""
    flat: dict[str, Any] = {}
    for key, value in node.items():
        lowered = key.lower()
        if isinstance(value, list):
            continue  # the entry (handled per line) and any other entity
        if isinstance(value, dict) and lowered.startswith("subheadentity"):
            flat.update(flatten(base, value))
        elif isinstance(value, dict):
            flat.update(_reference_keys(base, lowered, value))
        elif lowered == "fentryid":
            flat["fentity_fentryid"] = value
        else:
            flat[lowered] = kingdee_date(value) if is_date_key(lowered) else value
    return flat


def _reference_keys(base: dict[str, BaseForm], key: str, reference: dict) -> dict[str, Any]:
    """`X` answers the referenced row's id, `X.FName` etc. its fields (what was sent wins)."""
    number = number_of(reference)
    form_id = REFERENCES.get(key)
    target = base.get(form_id.lower()) if form_id else None
    row = target.find(number) if target else None
    keys: dict[str, Any] = {f"{key}.{sub}": value for sub, value in (row or {}).items()}
    keys.update({f"{key}.{sub.lower()}": value for sub, value in reference.items() if not isinstance(value, dict)})
    keys[key] = row.get(BASE_IDS.get(target.form_id.lower(), ""), number) if row and target else number
    return keys


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
            raise ServiceError(4, f"排序条件“{text}”有误")
        order.append((words[0].lower(), direction == "DESC"))
    return order


def _sort_key(value: Any) -> tuple:
    """NULLs first (as SQL Server sorts them), then numbers, then text."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, float(value))
    return (2, str(value).casefold())
