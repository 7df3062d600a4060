"""The list endpoints (shops, warehouses) and the document queries (outbound, refunds, receipts): their
parameters checked as the platform checks them, then modified-window, id-list or start_ts paging."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sandbox.data import JST_TIME, SandboxWorld
from sandbox.jushuitan.stores import Store
from sandbox.jushuitan.wire import Rejected

MAX_WINDOW = timedelta(days=7)
MAX_ID_LIST = 50


@dataclass(frozen=True)
class DocumentQuery:
    """What one document query endpoint accepts (JUSHUITAN_API.md §5)."""

    store: str
    id_lists: Mapping[str, str]  # biz key -> record field
    filters: Mapping[str, str]  # biz key -> record field, exact match
    date_types: Mapping[int, str]  # date_type -> the record field the modified_* window applies to
    max_page_size: int = 50
    default_page_size: int = 30


QUERIES: dict[str, DocumentQuery] = {
    "/open/orders/out/simple/query": DocumentQuery(
        store="outbound",
        id_lists={"so_ids": "so_id", "o_ids": "o_id", "io_ids": "io_id"},
        filters={"status": "status", "shop_id": "shop_id", "wms_co_id": "wms_co_id"},
        date_types={0: "modified", 2: "io_date"},
    ),
    "/open/refund/single/query": DocumentQuery(
        store="refunds",
        id_lists={"so_ids": "so_id", "o_ids": "o_id", "as_ids": "as_id"},
        filters={"status": "status", "shop_id": "shop_id", "good_status": "good_status", "type": "type"},
        date_types={0: "modified"},
    ),
    "/open/aftersale/received/query": DocumentQuery(
        store="received",
        id_lists={"so_ids": "so_id", "o_ids": "o_id", "as_ids": "as_id", "io_ids": "io_id"},
        filters={"shop_id": "shop_id"},
        # 2 is the order date, which receipts do not carry: their io_date stands in for it (a guess).
        date_types={0: "modified", 1: "created", 2: "io_date", 4: "io_date"},
    ),
}
# Shops: max 100 per the spec; warehouses: the maximum is undocumented, 100 is a guess.
LISTS: dict[str, tuple[str, int, int]] = {  # path -> (world attribute, default page_size, max page_size)
    "/open/shops/query": ("shops", 100, 100),
    "/open/wms/partner/query": ("warehouses", 30, 100),
}


def _int(biz: Mapping[str, Any], key: str, default: int) -> int:
    value = biz.get(key, default)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise Rejected(140, f"参数 {key} 必须是整数")


def _page(biz: Mapping[str, Any], default_size: int, max_size: int) -> tuple[int, int]:
    page_index = _int(biz, "page_index", 1)
    page_size = _int(biz, "page_size", default_size)
    if page_index < 1:
        raise Rejected(140, "page_index 必须大于等于1")
    if not 1 <= page_size <= max_size:
        raise Rejected(140, f"page_size 必须在1到{max_size}之间")
    return page_index, page_size


def _id_list(biz: Mapping[str, Any], key: str) -> list[str]:
    values = biz.get(key)
    if values is None:
        return []
    if not isinstance(values, list):
        raise Rejected(140, f"参数 {key} 必须是数组")
    if len(values) > MAX_ID_LIST:
        raise Rejected(140, f"参数 {key} 最多{MAX_ID_LIST}个")
    return [str(value) for value in values]


def _window(biz: Mapping[str, Any]) -> tuple[str, str] | None:
    begin, end = biz.get("modified_begin"), biz.get("modified_end")
    if not begin and not end:
        return None
    if not begin or not end:
        raise Rejected(140, "modified_begin 和 modified_end 必须同时存在")
    try:
        first = datetime.strptime(str(begin), JST_TIME)
        last = datetime.strptime(str(end), JST_TIME)
    except ValueError:
        raise Rejected(140, "日期格式错误，应为 yyyy-MM-dd HH:mm:ss") from None
    if last < first:
        raise Rejected(140, "modified_end 不能早于 modified_begin")
    if last - first > MAX_WINDOW:
        raise Rejected(140, "查询时间间隔不能超过7天")
    return str(begin), str(end)


def page_data(page_index: int, page_size: int, total: int, has_next: bool, rows: list[dict]) -> dict:
    return {
        "page_index": page_index,
        "page_size": page_size,
        "data_count": total,
        "page_count": math.ceil(total / page_size),
        "has_next": has_next,
        "datas": rows,
    }


def list_page(world: SandboxWorld, path: str, biz: dict) -> dict:
    attribute, default_size, max_size = LISTS[path]
    page_index, page_size = _page(biz, default_size, max_size)
    rows: list[dict] = getattr(world, attribute)
    shop_ids = _id_list(biz, "shop_ids") if attribute == "shops" else []
    if shop_ids:
        rows = [row for row in rows if str(row["shop_id"]) in shop_ids]
    page = rows[(page_index - 1) * page_size : page_index * page_size]
    return page_data(page_index, page_size, len(rows), page_index * page_size < len(rows), page)


def query(
    stores: Mapping[str, Store],
    spec: DocumentQuery,
    biz: dict,
    *,
    only_shops: frozenset[str] | None = None,
    hidden_shops: frozenset[str] = frozenset(),
) -> dict:
    """One page of `spec`'s documents matching `biz`; `only_shops` / `hidden_shops` narrow them to the shops
    a route serves (the Qimen route serves Taobao-family shops; the standard one may leave them out)."""
    page_index, page_size = _page(biz, spec.default_page_size, spec.max_page_size)
    ids = {spec.id_lists[key]: _id_list(biz, key) for key in spec.id_lists}
    ids = {record_field: values for record_field, values in ids.items() if values}
    window = _window(biz)
    date_type = biz.get("date_type", 0)
    if not isinstance(date_type, int) or isinstance(date_type, bool):
        raise Rejected(130, "date_type 参数类型错误，必须是整数")
    if date_type not in spec.date_types:
        raise Rejected(140, f"date_type 只能为 {'/'.join(map(str, spec.date_types))}")
    start_ts = biz.get("start_ts")
    if start_ts is not None:
        if isinstance(start_ts, str) and start_ts.isdigit():
            start_ts = int(start_ts)
        if not isinstance(start_ts, int) or isinstance(start_ts, bool):
            raise Rejected(140, "start_ts 必须是整数")
        if page_index != 1:
            raise Rejected(140, "使用 start_ts 查询时 page_index 只能为1")
    if window is None and not ids and start_ts is None:
        raise Rejected(140, "查询条件不能为空：请传入 modified_begin/modified_end、单号列表或 start_ts")
    is_get_total = biz.get("is_get_total", True)
    if not isinstance(is_get_total, bool):
        raise Rejected(140, "is_get_total 必须是布尔值")

    equals = {spec.filters[key]: str(biz[key]) for key in spec.filters if biz.get(key) not in (None, "")}
    in_lists = {record_field: frozenset(values) for record_field, values in ids.items()}
    window_field = spec.date_types[date_type]

    def predicate(row: dict) -> bool:
        shop = str(row.get("shop_id"))
        if shop in hidden_shops or (only_shops is not None and shop not in only_shops):
            return False
        if any(str(row.get(name)) != value for name, value in equals.items()):
            return False
        if any(str(row.get(name)) not in values for name, values in in_lists.items()):
            return False
        if window is not None:
            moment = row.get(window_field)
            return isinstance(moment, str) and window[0] <= moment[:19] <= window[1]
        return True

    store = stores[spec.store]
    if start_ts is not None:
        rows, has_next = store.after_ts(start_ts, predicate, page_size)
        total = store.count_after_ts(start_ts, predicate) if is_get_total else 0
        return page_data(1, page_size, total, has_next, rows)
    signature = json.dumps(
        [
            equals,
            sorted((k, sorted(v)) for k, v in in_lists.items()),
            window,
            window_field,
            None if only_shops is None else sorted(only_shops),
            sorted(hidden_shops),
        ],
        ensure_ascii=False,
    )
    matches = store.matching(signature, predicate)
    page = matches[(page_index - 1) * page_size : page_index * page_size]
    return page_data(page_index, page_size, len(matches), page_index * page_size < len(matches), page)
