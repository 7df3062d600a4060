"""Synthetic Jushuitan answers for the benchmarks, as the API sends them: JSON bytes, 50 documents a
page, numbers as JSON numbers, and dirty data planted at a low rate.

A share `dirty_rate` of the documents carries one planted problem each (an unmapped shop, a bad
quantity, a malformed date, a repeated line id, ...), so both implementations must agree on the
holding rules too, not only on clean bills. A few documents come back later in a newer version (an
overlapping window), so both must also keep the same version.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

from transforms.documents import MasterData

PAGE_SIZE = 50
LINES_PER_DOCUMENT = 4
DIRTY_RATE = 0.01
NEW_VERSION_RATE = 0.002
START = datetime(2026, 11, 1)

# shop_id, name, Kingdee customer; CUST404 is in the table but not in Kingdee (planted only).
SHOPS = (
    (10086, "天猫旗舰店", "CUST001"),
    (10087, "京东自营店", "CUST002"),
    (10088, "抖音小店", "CUST003"),
    (10089, "拼多多专营店", "CUST004"),
    (10091, "快手小店", "CUST404"),
)
UNMAPPED_SHOP = (10090, "小红书店")
# wms_co_id, name, Kingdee stock; CK404 is in the table but not in Kingdee (planted only).
WAREHOUSES = (
    (10001, "上海主仓", "CK001"),
    (10002, "广州分仓", "CK002"),
    (10003, "成都分仓", "CK003"),
    (10004, "武汉分仓", "CK404"),
)
UNMAPPED_WAREHOUSE = 10009
UNKNOWN_SKU = ("X9001-01", "X9001")
CARRIERS = (("SF", 12), ("YT", 13), ("78", 12), ("43", 11), ("JDV", 12))


@dataclass(frozen=True)
class Sku:
    sku_id: str
    i_id: str
    unit: str
    batch_managed: bool
    price: float


def catalogue() -> list[Sku]:
    """A-styles are batch-managed, G-styles not (SCHEME.md §3, §5); AG has both letters (A wins);
    T-styles have neither (a lot warning on returns); T4999 is batch-managed against the rule."""
    styles = [
        *[(f"A{n}", "bao", True) for n in range(1000, 1200)],
        *[(f"G{n}", "Pcs", False) for n in range(2000, 2200)],
        *[(f"AG{n}", "he", True) for n in range(3000, 3050)],
        *[(f"T{n}", "jian", False) for n in range(4000, 4004)],
        ("T4999", "tao", True),
    ]
    return [
        Sku(f"{i_id}-{n:02d}", i_id, unit, batch, round(4.9 + (int(i_id[-4:]) * 7 + n * 13) % 200 * 0.5, 2))
        for i_id, unit, batch in styles
        for n in range(1, 6)
    ]


def master_data(skus: list[Sku]) -> MasterData:
    """The hand-kept tables and Kingdee's base data the generated documents are checked against."""
    return MasterData(
        shops=pl.DataFrame(
            [(shop_id, name, customer) for shop_id, name, customer in SHOPS],
            schema={"shop_id": pl.Int64, "shop_name": pl.String, "customer_number": pl.String},
            orient="row",
        ),
        warehouses=pl.DataFrame(
            list(WAREHOUSES),
            schema={"wms_co_id": pl.Int64, "warehouse_name": pl.String, "stock_number": pl.String},
            orient="row",
        ),
        materials=pl.DataFrame(
            [(s.sku_id, s.unit, s.batch_managed) for s in skus],
            schema={"number": pl.String, "base_unit": pl.String, "batch_managed": pl.Boolean},
            orient="row",
        ),
        customers=pl.DataFrame({"number": [c for *_, c in SHOPS if c != "CUST404"]}),
        stocks=pl.DataFrame({"number": [s for *_, s in WAREHOUSES if s != "CK404"]}),
    )


@dataclass
class BenchData:
    """Pages as bytes (what the HTTP client receives) and the master data they map against."""

    outbound_pages: list[bytes]
    refund_pages: list[bytes]
    received_pages: list[bytes]
    master: MasterData
    outbound_lines: int
    refund_lines: int
    planted: dict[str, int] = field(default_factory=dict)  # dirty kind → documents


def page_bytes(documents: list[dict], page_size: int = PAGE_SIZE) -> list[bytes]:
    """The query answers, one per page: {"code":0,"msg":...,"data":{page_index,...,"datas":[...]}}."""
    count = len(documents)
    pages = max(1, -(-count // page_size))
    return [
        json.dumps(
            {
                "code": 0,
                "msg": "执行成功",
                "data": {
                    "page_index": n + 1,
                    "page_size": page_size,
                    "data_count": count,
                    "page_count": pages,
                    "has_next": n + 1 < pages,
                    "datas": documents[n * page_size : (n + 1) * page_size],
                },
            },
            ensure_ascii=False,
        ).encode()
        for n in range(pages)
    ]


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


Mutation = Callable[[random.Random, dict], None]


def _first_line(**values: object) -> Mutation:
    def mutate(_rng: random.Random, doc: dict) -> None:
        if doc["items"]:
            doc["items"][0].update(values)

    return mutate


def _drop_first_line_field(name: str) -> Mutation:
    def mutate(_rng: random.Random, doc: dict) -> None:
        if doc["items"]:
            doc["items"][0].pop(name, None)

    return mutate


def _every_line(**values: object) -> Mutation:
    def mutate(_rng: random.Random, doc: dict) -> None:
        for line in doc["items"]:
            line.update(values)

    return mutate


def _set(**values: object) -> Mutation:
    def mutate(_rng: random.Random, doc: dict) -> None:
        doc.update(values)

    return mutate


def _repeat_line_id(_rng: random.Random, doc: dict) -> None:
    key = "ioi_id" if "ioi_id" in doc["items"][0] else "asi_id"
    doc["items"][-1][key] = doc["items"][0][key]


def _numbers_as_text(_rng: random.Random, doc: dict) -> None:
    """Not dirty: some answers carry numbers as strings, with spaces; both paths must read them."""
    for line in doc["items"]:
        for key in ("qty", "r_qty", "sale_price", "price"):
            if key in line:
                line[key] = f" {line[key]} "


def _with_milliseconds(_rng: random.Random, doc: dict) -> None:
    """Not dirty: Jushuitan sometimes adds milliseconds to a time; whole seconds are kept."""
    for key in ("io_date", "modified"):
        if doc.get(key):
            doc[key] += ".807"
    for line in doc["items"]:
        if line.get("receive_date"):
            line["receive_date"] += ".123"


COMMON_KINDS: dict[str, Mutation] = {
    "shop_unmapped": _set(shop_id=UNMAPPED_SHOP[0], shop_name=UNMAPPED_SHOP[1]),
    "customer_unknown": _set(shop_id=SHOPS[-1][0], shop_name=SHOPS[-1][1]),
    "warehouse_unmapped": _set(wms_co_id=UNMAPPED_WAREHOUSE),
    "stock_unknown": _set(wms_co_id=WAREHOUSES[-1][0]),
    "shop_id_text": _set(shop_id="店铺"),
    "sku_unknown": _first_line(sku_id=UNKNOWN_SKU[0], i_id=UNKNOWN_SKU[1]),
    "sku_empty": _first_line(sku_id=""),
    "sku_null": _first_line(sku_id=None),
    "line_id_repeated": _repeat_line_id,
    "no_lines": _set(items=[]),
    "numbers_as_text": _numbers_as_text,
    "milliseconds": _with_milliseconds,
}
OUTBOUND_KINDS: dict[str, Mutation] = {
    **COMMON_KINDS,
    "qty_negative": _first_line(qty=-2),
    "qty_zero": _first_line(qty=0),
    "qty_text": _first_line(qty="两个"),
    "qty_missing": _drop_first_line_field("qty"),
    "qty_null": _first_line(qty=None),
    "qty_nan": _first_line(qty="NaN"),
    "price_empty": _first_line(sale_price=""),
    "price_negative": _first_line(sale_price=-9.9),
    "price_infinite": _first_line(sale_price="inf"),
    "amount_too_large": _first_line(qty=10_000_000, sale_price=2_000_000.5),
    "date_impossible": _set(io_date="2026-02-30 10:00:00"),
    "date_missing": _set(io_date=None),
    "tracking_missing": _set(l_id=None),
    "order_number_missing": _set(so_id=None),
}
RETURN_KINDS: dict[str, Mutation] = {
    **COMMON_KINDS,
    "r_qty_negative": _first_line(r_qty=-1),
    "r_qty_text": _first_line(r_qty="一"),
    "r_qty_null": _first_line(r_qty=None),
    "qty_requested_text": _first_line(qty="abc"),
    "qty_requested_nan": _first_line(qty="NaN"),
    "price_empty": _first_line(price=""),
    "price_negative": _first_line(price=-3.5),
    "receive_date_impossible": _every_line(receive_date="2026-13-01 00:00:00"),
    "receive_date_partly_milliseconds": _first_line(receive_date="2026-11-30 23:59:59.999"),
    "style_lowercase_g": _first_line(sku_id="G2001-01", i_id="g2001"),  # neither letter: a warning only
    "style_lowercase_a": _first_line(sku_id="A1001-01", i_id="a1001"),  # no lot on a batch-managed item
    "lot_contradiction": _first_line(sku_id="T4999-01", i_id="T4999"),
    "order_number_missing": _set(so_id=None),
}


class _Generator:
    def __init__(self, seed: int, dirty_rate: float) -> None:
        self.rng = random.Random(seed)
        self.dirty_rate = dirty_rate
        self.skus = catalogue()
        # T4999 and the planted SKUs are never drawn for clean lines.
        self.clean_skus = [s for s in self.skus if not s.i_id.startswith("T4999")]
        self.planted: dict[str, int] = {}

    def _plant(self, doc: dict, kinds: dict[str, Mutation]) -> None:
        if self.rng.random() < self.dirty_rate:
            name = self.rng.choice(sorted(kinds))
            kinds[name](self.rng, doc)
            self.planted[name] = self.planted.get(name, 0) + 1

    def _header(self, number: int, moment: datetime) -> dict:
        shop_id, shop_name, _ = self.rng.choice(SHOPS[:4])
        return {
            "o_id": number + 7_000_000,
            "so_id": f"{self.rng.randrange(10**17, 10**18)}",
            "shop_id": shop_id,
            "shop_name": shop_name,
            "wms_co_id": self.rng.choice(WAREHOUSES[:3])[0],
            "modified": _time(moment + timedelta(minutes=30)),
            "ts": number * 10,
        }

    def outbound(self, count: int, lines: int) -> list[dict]:
        rng = self.rng
        docs = []
        for n in range(count):
            io_id = 30_000_000 + n
            moment = START + timedelta(seconds=n * 7)
            prefix, digits = rng.choice(CARRIERS)
            items = []
            for k, sku in enumerate(rng.sample(self.clean_skus, lines)):
                gift = k > 0 and rng.random() < 0.05
                items.append(
                    {
                        "ioi_id": io_id * 10 + k,
                        "sku_id": sku.sku_id,
                        "i_id": sku.i_id,
                        "name": "商品" + sku.i_id,
                        "properties_value": "默认",
                        "qty": rng.choice((1, 1, 1, 2, 2, 3, 5)),
                        "sale_price": 0.0 if gift else sku.price,
                        "sale_amount": 0.0,
                        "unit": sku.unit,
                        "is_gift": gift,
                    }
                )
            doc = {
                "io_id": io_id,
                **self._header(n, moment),
                "status": "Confirmed" if rng.random() < 0.97 else rng.choice(("WaitConfirm", "Cancelled", "Delete")),
                "io_date": _time(moment),
                "l_id": f"{prefix}{rng.randrange(10 ** (digits - 1), 10**digits)}",
                "logistics_company": "快递",
                "items": items,
            }
            self._plant(doc, OUTBOUND_KINDS)
            docs.append(doc)
        return self._new_versions(docs, "io_id", "qty")

    def refunds(self, count: int, lines: int) -> tuple[list[dict], list[dict]]:
        """After-sales and the warehouse receipts of those whose lines lack a receive date."""
        rng = self.rng
        docs, receipts = [], []
        for n in range(count):
            as_id = 600_000 + n
            moment = START + timedelta(seconds=n * 7)
            received = _time(moment + timedelta(hours=30))
            undated = rng.random() < 0.004
            items = []
            for k, sku in enumerate(rng.sample(self.clean_skus, lines)):
                qty = rng.choice((1, 1, 2, 3))
                items.append(
                    {
                        "asi_id": as_id * 10 + k,
                        "sku_id": sku.sku_id,
                        "i_id": sku.i_id,
                        "name": "商品" + sku.i_id,
                        "properties_value": "默认",
                        "qty": qty,
                        "r_qty": 0 if rng.random() < 0.03 else qty,
                        "price": sku.price,
                        "amount": round(qty * sku.price, 2),
                        "is_gift": False,
                        "receive_date": None if undated else received,
                    }
                )
            in_scope = rng.random() < 0.95
            doc = {
                "as_id": as_id,
                **self._header(n, moment),
                "warehouse": "仓库",
                "type": "普通退货",
                "status": "Confirmed" if in_scope else rng.choice(("WaitConfirm", "Cancelled", "Confirmed")),
                "good_status": "SELLER_RECEIVED" if in_scope else rng.choice(("BUYER_NOT_RECEIVED", "SELLER_RECEIVED")),
                "items": items,
            }
            # Half of the undated ones have a warehouse receipt that supplies the date.
            if undated and rng.random() < 0.5:
                receipts.append(
                    {"io_id": 9_000_000 + n, "as_id": as_id, "io_date": received, "wms_co_id": doc["wms_co_id"]}
                    | {"status": "Confirmed", "modified": received, "ts": n}
                )
            self._plant(doc, RETURN_KINDS)
            docs.append(doc)
        return self._new_versions(docs, "as_id", "r_qty"), receipts

    def _new_versions(self, docs: list[dict], key: str, quantity: str) -> list[dict]:
        """Replace the last documents by newer versions of earlier ones (an overlapping window re-read):
        same number (sometimes as text), higher ts, a changed first line."""
        repeats = int(len(docs) * NEW_VERSION_RATE)
        for slot in range(len(docs) - repeats, len(docs)):
            earlier = docs[self.rng.randrange(0, len(docs) - repeats)]
            newer = json.loads(json.dumps(earlier))
            newer["ts"] = earlier["ts"] + 1_000_000_000
            if self.rng.random() < 0.5:
                newer[key] = str(newer[key])
            if newer["items"] and isinstance(newer["items"][0].get(quantity), int):
                newer["items"][0][quantity] += 1
            docs[slot] = newer
        return docs


def generate(
    documents: int, *, lines: int = LINES_PER_DOCUMENT, seed: int = 5, dirty_rate: float = DIRTY_RATE
) -> BenchData:
    """`documents` outbound documents and as many after-sales, `lines` lines each."""
    gen = _Generator(seed, dirty_rate)
    outbound = gen.outbound(documents, lines)
    refunds, receipts = gen.refunds(documents, lines)
    return BenchData(
        outbound_pages=page_bytes(outbound),
        refund_pages=page_bytes(refunds),
        received_pages=page_bytes(receipts),
        master=master_data(gen.skus),
        outbound_lines=sum(len(doc["items"]) for doc in outbound),
        refund_lines=sum(len(doc["items"]) for doc in refunds),
        planted=dict(sorted(gen.planted.items())),
    )


def decode(pages: list[bytes]) -> list[list[dict]]:
    """The baseline's JSON decoding: each page's `datas` as Python dicts, as json.loads gives them."""
    return [json.loads(page)["data"]["datas"] for page in pages]
