"""The per-record baseline: SCHEME.md §4 and §5 written the way a hand-written integration script would
do it, one loop over the API's dicts, plain `json.dumps` for the bodies.

It exists to be measured against and to cross-check the project's Polars path bill by bill, so it
reads the same raw values the same way (numbers from text with surrounding spaces, whole seconds
from times with milliseconds, case-sensitive lot letters) and applies the same rules to the same
lines. It reports held lines as (document, line, rule id), like the project's held rows.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.kingdee.saving import DEFAULT_SAVE_OPTIONS
from transforms.documents import MasterData
from transforms.mappings import SchemeConfig

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
KINGDEE_DECIMAL_LIMIT = 1e13  # decimal(23,10): 13 digits before the point
HELD_WITH_LINE = "doc.held_with_line"
Reason = tuple[str | None, str | None, str]  # document, line, rule id


@dataclass
class Output:
    """What one implementation produced: the BatchSave bodies and the reasons lines were held or warned."""

    bodies: list[bytes]
    held: set[Reason]
    warnings: set[Reason]


@dataclass(frozen=True)
class Lookups:
    shops: dict[int, str]  # shop_id → customer number
    warehouses: dict[int, str]  # wms_co_id → stock number
    customers: frozenset[str]
    stocks: frozenset[str]
    materials: dict[str, tuple[str, bool]]  # number → (base unit, batch managed)

    @classmethod
    def of(cls, master: MasterData) -> Lookups:
        return cls(
            shops=dict(master.shops.select("shop_id", "customer_number").iter_rows()),
            warehouses=dict(master.warehouses.select("wms_co_id", "stock_number").iter_rows()),
            customers=frozenset(master.customers["number"]),
            stocks=frozenset(master.stocks["number"]),
            materials={
                number_: (unit, batch)
                for number_, unit, batch in master.materials.select("number", "base_unit", "batch_managed").iter_rows()
            },
        )


# --- reading raw values ------------------------------------------------------------------------------


def text(value: Any) -> str | None:
    """A value as text; numbers as Jushuitan shows them (an integral float without its `.0`)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    return None  # a list or an object where a value should be


def number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value[:19], TIME_FORMAT)
    except ValueError:
        return None


def flag(value: Any) -> bool:
    shown = text(value)
    return shown is not None and shown.lower() in ("true", "1")


def filled(value: str | None) -> bool:
    return value is not None and value.strip() != ""


def at_least(value: float, bound: float, *, strictly: bool = False) -> bool:
    """A comparison as Polars makes it: NaN sorts above every number."""
    return math.isnan(value) or (value > bound if strictly else value >= bound)


def storable(value: float | None) -> bool:
    return value is None or not math.isfinite(value) or abs(value) < KINGDEE_DECIMAL_LIMIT


# --- shared steps -------------------------------------------------------------------------------------


def latest_versions(documents: Iterable[dict], key: str) -> list[dict]:
    """One version per document number, the highest ts (first seen on ties); unnumbered ones all kept."""
    documents = list(documents)
    best: dict[str, tuple[int, dict]] = {}
    for doc in documents:
        number_ = text(doc.get(key))
        if number_ is None:
            continue
        ts = integer(doc.get("ts"))
        kept = best.get(number_)
        if kept is None or (ts is not None and (kept[0] is None or ts > kept[0])):
            best[number_] = (ts, doc)
    chosen = {id(doc) for _, doc in best.values()}
    return [doc for doc in documents if text(doc.get(key)) is None or id(doc) in chosen]


def line_dicts(doc: dict) -> list[dict]:
    """A document's lines; a document without any keeps one empty line, so its rules still run."""
    items = doc.get("items")
    if not isinstance(items, list) or not items:
        return [{}]
    return [item if isinstance(item, dict) else {} for item in items]


@dataclass(frozen=True)
class Header:
    """A document's own facts, read once per document."""

    doc: dict
    document: str | None
    customer: str | None
    stock: str | None


def header(doc: dict, key: str, lookups: Lookups) -> Header:
    shop = integer(doc.get("shop_id"))
    warehouse = integer(doc.get("wms_co_id"))
    return Header(
        doc=doc,
        document=text(doc.get(key)),
        customer=lookups.shops.get(shop) if shop is not None else None,
        stock=lookups.warehouses.get(warehouse) if warehouse is not None else None,
    )


@dataclass
class Line:
    """One line with the facts every rule and the model need."""

    head: Header
    raw: dict
    line: str | None
    sku: str | None
    material: tuple[str, bool] | None
    quantity: float | None
    price: float | None

    @property
    def document(self) -> str | None:
        return self.head.document


def enrich(head: Header, raw: dict, line_key: str, quantity: Any, price: Any, lookups: Lookups) -> Line:
    sku = text(raw.get("sku_id"))
    return Line(
        head=head,
        raw=raw,
        line=text(raw.get(line_key)),
        sku=sku,
        material=lookups.materials.get(sku) if sku is not None else None,
        quantity=number(quantity),
        price=number(price),
    )


def line_failures(item: Line, lookups: Lookups, duplicates: Counter) -> list[str]:
    """The rules every line must pass (transforms.documents.line_rules), in the same order."""
    head, sku = item.head, item.sku
    failed = []
    if not filled(head.document):
        failed.append("doc.id_missing")
    if sku is None and text(item.raw.get("qty")) is None:
        failed.append("doc.no_lines")
    if head.customer is None:
        failed.append("shop.unmapped")
    elif head.customer not in lookups.customers:
        failed.append("customer.unknown")
    if head.stock is None:
        failed.append("warehouse.unmapped")
    elif head.stock not in lookups.stocks:
        failed.append("stock.unknown")
    if sku is not None and item.material is None:
        failed.append("material.unknown")
    if not filled(sku):
        failed.append("sku.missing")
    quantity, price = item.quantity, item.price
    if quantity is None or not math.isfinite(quantity):
        failed.append("qty.invalid")
    if quantity is not None and not at_least(quantity, 0, strictly=True):
        failed.append("qty.not_positive")
    if price is None or not math.isfinite(price):
        failed.append("price.invalid")
    if price is not None and not at_least(price, 0):
        failed.append("price.negative")
    amount = None if quantity is None or price is None else quantity * price
    if not (storable(quantity) and storable(price) and storable(amount)):
        failed.append("value.out_of_range")
    if duplicates[(item.document, item.line)] > 1:
        failed.append("line.duplicate")
    return failed


def split(lines: list[Line], failures: list[list[str]]) -> tuple[list[Line], set[Reason]]:
    """Lines of documents with no failure go through; every line of the others is held, with its own
    reasons or as held with its document."""
    held_documents = {item.document for item, failed in zip(lines, failures, strict=True) if failed}
    held: set[Reason] = set()
    valid = []
    for item, failed in zip(lines, failures, strict=True):
        if item.document not in held_documents:
            valid.append(item)
            continue
        for rule in failed or [HELD_WITH_LINE]:
            held.add((item.document, item.line, rule))
    return valid, held


def by_document(lines: list[Line]) -> dict[str, list[Line]]:
    bills: dict[str, list[Line]] = {}
    for item in lines:
        bills.setdefault(item.document, []).append(item)
    return bills


def ref(number_: str | None) -> dict[str, str | None]:
    return {"FNumber": number_}


def bodies(form_id: str, models: Sequence[dict], batch_size: int = 100) -> list[bytes]:
    return [
        json.dumps(
            {"formid": form_id, "data": {**DEFAULT_SAVE_OPTIONS, "Model": list(models[start : start + batch_size])}},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        for start in range(0, len(models), batch_size)
    ]


# --- sales outbound (SCHEME.md §4) --------------------------------------------------------------------


def outbound(pages: Iterable[list[dict]], master: MasterData, config: SchemeConfig, batch_size: int = 100) -> Output:
    lookups = Lookups.of(master)
    lines = []
    shipped: dict[int, datetime | None] = {}  # id(document) → ship time
    for doc in latest_versions((doc for page in pages for doc in page), "io_id"):
        if text(doc.get("status")) not in config.outbound_booked_statuses:
            continue
        head = header(doc, "io_id", lookups)
        shipped[id(doc)] = moment(doc.get("io_date"))
        lines += [
            enrich(head, raw, "ioi_id", raw.get("qty"), raw.get("sale_price"), lookups) for raw in line_dicts(doc)
        ]
    duplicates = Counter((item.document, item.line) for item in lines)
    failures = []
    for item in lines:
        failed = line_failures(item, lookups, duplicates)
        if shipped[id(item.head.doc)] is None:
            failed.append("date.missing")
        failures.append(failed)
    valid, held = split(lines, failures)

    org = ref(config.org)
    models = []
    for bill_no, items in by_document(valid).items():
        head = items[0].head
        so_id = text(head.doc.get("so_id"))
        models.append(
            {
                "FBillTypeID": {"FNUMBER": config.outbound_bill_type},
                "FBillNo": bill_no,
                "FDate": shipped[id(head.doc)].strftime(TIME_FORMAT),
                "FSaleOrgId": org,
                "FStockOrgId": org,
                "FCustomerID": ref(head.customer),
                "FOwnerTypeIdHead": config.owner_type,
                "FOwnerIdHead": org,
                config.tracking_field: text(head.doc.get("l_id")),
                config.online_order_field: so_id,
                "FNote": config.note_prefix + (so_id or ""),
                "SubHeadEntity": {"FSettleCurrID": ref(config.currency), "FSettleOrgID": org},
                "FEntity": [
                    {
                        "FMaterialID": ref(item.sku),
                        "FUnitID": ref(item.material[0]),
                        "FRealQty": item.quantity,
                        "FTaxPrice": item.price,
                        "FIsFree": flag(item.raw.get("is_gift")),
                        "FStockID": ref(head.stock),
                        "FLot": ref(config.outbound_lot) if item.material[1] else None,
                        "FOwnerTypeID": config.owner_type,
                        "FOwnerID": org,
                        "FStockStatusID": ref(config.stock_status),
                    }
                    for item in items
                ],
            }
        )
    return Output(bodies("SAL_OUTSTOCK", models, batch_size), held, set())


# --- sales returns (SCHEME.md §5) ---------------------------------------------------------------------


def return_lot(i_id: str | None) -> str:
    return "0" if "A" in (i_id or "") else ""


def returns(
    pages: Iterable[list[dict]],
    receipts: Iterable[dict],
    master: MasterData,
    config: SchemeConfig,
    batch_size: int = 100,
) -> Output:
    lookups = Lookups.of(master)
    stock_in: dict[str, datetime] = {}
    for receipt in receipts:
        as_id, when = text(receipt.get("as_id")), moment(receipt.get("io_date"))
        if as_id is not None and when is not None and (as_id not in stock_in or when > stock_in[as_id]):
            stock_in[as_id] = when

    lines = []
    for doc in latest_versions((doc for page in pages for doc in page), "as_id"):
        if text(doc.get("status")) != "Confirmed" or text(doc.get("good_status")) != "SELLER_RECEIVED":
            continue
        head = header(doc, "as_id", lookups)
        for raw in line_dicts(doc):
            returned = number(raw.get("r_qty"))
            nothing = (returned is not None and returned <= 0) or (
                text(raw.get("sku_id")) is None and text(raw.get("r_qty")) is None
            )
            if not nothing:
                lines.append(enrich(head, raw, "asi_id", raw.get("r_qty"), raw.get("price"), lookups))

    return_time: dict[str | None, datetime] = {}
    for item in lines:
        when = moment(item.raw.get("receive_date")) or stock_in.get(item.document)
        if when is not None and (item.document not in return_time or when > return_time[item.document]):
            return_time[item.document] = when

    duplicates = Counter((item.document, item.line) for item in lines)
    failures = []
    warnings: set[Reason] = set()
    for item in lines:
        failed = line_failures(item, lookups, duplicates)
        requested = number(item.raw.get("qty"))
        if requested is None or not math.isfinite(requested) or requested < 0:
            failed.append("qty.requested_invalid")
        if item.document not in return_time:
            failed.append("date.missing")
        i_id = text(item.raw.get("i_id"))
        if i_id is None or ("A" not in i_id and "G" not in i_id):
            warnings.add((item.document, item.line, "lot.no_letter"))
        if item.material is not None and (return_lot(i_id) == "0") != item.material[1]:
            failed.append("lot.contradicts_batch")
        failures.append(failed)
    valid, held = split(lines, failures)

    org = ref(config.org)
    models = []
    for bill_no, items in by_document(valid).items():
        head = items[0].head
        models.append(
            {
                "FBillTypeID": {"FNUMBER": config.return_bill_type},
                "FBillNo": bill_no,
                "FDate": return_time[bill_no].strftime(TIME_FORMAT),
                "FSaleOrgId": org,
                "FStockOrgId": org,
                "FRetcustId": ref(head.customer),
                "FOwnerTypeIdHead": config.owner_type,
                "FOwnerIdHead": org,
                "FHeadNote": config.note_prefix + (text(head.doc.get("so_id")) or ""),
                "SubHeadEntity": {"FSettleCurrId": ref(config.currency), "FSettleOrgId": org},
                "FEntity": [
                    {
                        "FMaterialId": ref(item.sku),
                        "FUnitID": ref(item.material[0]),
                        "FRealQty": item.quantity,
                        "FMustQty": number(item.raw.get("qty")),
                        "FTaxPrice": item.price,
                        "FIsFree": flag(item.raw.get("is_gift")),
                        "FStockId": ref(head.stock),
                        "FLot": ref(lot) if (lot := return_lot(text(item.raw.get("i_id")))) else None,
                        "FOwnerTypeId": config.owner_type,
                        "FOwnerId": org,
                        "FReturnType": ref(config.return_type),
                        "FStockstatusId": ref(config.stock_status),
                    }
                    for item in items
                ],
            }
        )
    return Output(bodies("SAL_RETURNSTOCK", models, batch_size), held, warnings)
