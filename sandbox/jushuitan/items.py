"""Item upload (/open/jushuitan/itemsku/upload): each SKU checked and stored, answered in the shape the
`upload_answer` knob picks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.jushuitan.wire import SUCCESS, Rejected

if TYPE_CHECKING:
    from sandbox.jushuitan.emulator import Emulator

UPLOAD_ANSWERS = ("every", "failures", "absent")


def upload_items(emulator: Emulator, biz: dict) -> dict:
    items = biz.get("items")
    if not isinstance(items, list) or not items:
        raise Rejected(140, "items 不能为空")
    if len(items) > emulator.max_upload_items:
        raise Rejected(140, f"items 每次最多上传{emulator.max_upload_items}个")
    results = []
    for row in items:
        problem = _item_problem(row)
        sku_id = row.get("sku_id") if isinstance(row, dict) else None
        if problem:
            results.append({"sku_id": sku_id, "is_success": False, "msg": problem})
            continue
        now = emulator.now_text()
        stored = emulator.world.items.get(sku_id)
        created = stored["created"] if stored else now
        emulator.world.items[sku_id] = {
            **(stored or {}),
            **row,
            "created": created,
            "modified": now,
            "ts": emulator.next_ts(),
        }
        results.append({"sku_id": sku_id, "is_success": True, "msg": SUCCESS})
    if emulator.upload_answer == "every":
        return {"datas": results}
    failures = [row for row in results if not row["is_success"]]
    return {} if emulator.upload_answer == "absent" and not failures else {"datas": failures}


def _item_problem(row: Any) -> str | None:
    """Why one uploaded item would be refused, or None (JUSHUITAN_API.md §5.c)."""
    if not isinstance(row, dict):
        return "商品数据必须是对象"
    for key, label in (("sku_id", "商品编码"), ("i_id", "款式编码"), ("name", "商品名称")):
        if row.get(key) in (None, ""):
            return f"{label}({key})不能为空"
    if len(str(row.get("properties_value") or "")) > 100:
        return "颜色及规格(properties_value)不能超过100个字符"
    enabled = row.get("enabled", 1)
    if isinstance(enabled, bool) or enabled not in (1, 0, -1):
        return "是否启用(enabled)只能为 1、0 或 -1"
    return None
