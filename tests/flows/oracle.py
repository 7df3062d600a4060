"""An independent reading of SCHEME.md, in plain Python over the sandbox world, used to check what the
flows wrote. It shares no code with transforms/: if both agree, the rules were implemented twice."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from sandbox.data import SandboxWorld

ROOT = Path(__file__).resolve().parents[2]
# Shipped outbound statuses, SCHEME.md §4 as amended by issue 19 (已出库 and 归档); kept apart from the
# product's setting on purpose.
OUTBOUND_SHIPPED = ("Confirmed", "Archive")


def read_table(name: str, key: str) -> dict[str, dict]:
    with open(ROOT / "config" / name, encoding="utf-8") as f:
        return {row[key]: row for row in csv.DictReader(f)}


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _date(value) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S").strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


class Scheme:
    def __init__(self, world: SandboxWorld) -> None:
        self.world = world
        self.shops = read_table("shops.csv", "shop_id")
        self.warehouses = read_table("warehouses.csv", "wms_co_id")
        self.materials = {
            m["FNumber"]: m
            for m in world.kingdee["BD_MATERIAL"]
            if m["FDocumentStatus"] == "C" and m["FForbidStatus"] == "A"
        }
        self.customers = {c["FNumber"] for c in world.kingdee["BD_Customer"]}
        self.stocks = {s["FNumber"] for s in world.kingdee["BD_STOCK"]}

    def _header_ok(self, doc: dict) -> bool:
        shop = self.shops.get(str(doc.get("shop_id")))
        warehouse = self.warehouses.get(str(doc.get("wms_co_id")))
        return bool(
            shop
            and warehouse
            and shop["customer_number"] in self.customers
            and warehouse["stock_number"] in self.stocks
        )

    def _line_ok(self, line: dict, qty_key: str, price_key: str) -> bool:
        qty, price = _number(line.get(qty_key)), _number(line.get(price_key))
        return line.get("sku_id") in self.materials and qty is not None and qty > 0 and price is not None and price >= 0

    # --- §4 sales outbound -----------------------------------------------------------------
    def outbound_bookable(self) -> dict[str, dict]:
        return {
            str(doc["io_id"]): doc
            for doc in self.world.outbound
            if doc.get("status") in OUTBOUND_SHIPPED
            and self._header_ok(doc)
            and _date(doc.get("io_date"))
            and doc.get("items")
            and all(self._line_ok(line, "qty", "sale_price") for line in doc["items"])
        }

    def outbound_held(self) -> set[str]:
        return {str(d["io_id"]) for d in self.world.outbound if d.get("status") in OUTBOUND_SHIPPED} - set(
            self.outbound_bookable()
        )

    # --- §5 sales returns ------------------------------------------------------------------
    def return_lot(self, i_id: str) -> str:
        return "0" if "A" in i_id else ""

    def returned_lines(self, refund: dict) -> list[dict]:
        return [line for line in refund.get("items") or [] if (_number(line.get("r_qty")) or 0) > 0]

    def return_date(self, refund: dict) -> str | None:
        dates = [_date(line.get("receive_date")) for line in self.returned_lines(refund)]
        if all(dates):
            return max(dates)
        receipts = [_date(r.get("io_date")) for r in self.world.received if r.get("as_id") == refund["as_id"]]
        receipts = [d for d in receipts if d]
        fallback = max(receipts) if receipts else None
        dates = [d or fallback for d in dates]
        return max(dates) if all(dates) else None

    def returns_bookable(self) -> dict[str, dict]:
        result = {}
        for refund in self.world.refunds:
            lines = self.returned_lines(refund)
            if not (refund.get("status") == "Confirmed" and refund.get("good_status") == "SELLER_RECEIVED" and lines):
                continue
            ok = (
                self._header_ok(refund)
                and self.return_date(refund) is not None
                and all(
                    self._line_ok(line, "r_qty", "price")
                    and _number(line.get("qty")) is not None
                    and (self.return_lot(line["i_id"]) == "0") == bool(self.materials[line["sku_id"]]["FIsBatchManage"])
                    for line in lines
                )
            )
            if ok:
                result[str(refund["as_id"])] = refund
        return result
