"""The deterministic sandbox world both emulators serve and the transforms are tested against.

One seed gives one world: the same shops, warehouses, documents and Kingdee base data every time, so a
test can name a case ("the line with SKU G2999-01") and find it. The world deliberately contains every
case the sync must handle — unmapped shops, SKUs unknown to Kingdee, bad quantities, returns in every
state and every lot rule — because an emulator full of clean data would prove nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
JST_TIME = "%Y-%m-%d %H:%M:%S"  # Jushuitan's Beijing wall-clock strings
KINGDEE_TIME = "%Y-%m-%dT%H:%M:%S"  # how ExecuteBillQuery returns dates

CO_ID = 10012345  # the merchant's Jushuitan company id
ORG_NUMBER = "100"  # the customer's single Kingdee organisation

UNKNOWN_SKU = "G2999-01"  # sold in Jushuitan, missing from BD_MATERIAL
LOT_CONTRADICTION_STYLE = "T4999"  # neither letter in i_id, yet batch-managed in Kingdee
UNMAPPED_SHOP_ID = 10090

# BD_UNIT: FNumber -> FName (FName is also the unit name Jushuitan shows on document lines).
UNITS: dict[str, str] = {"Pcs": "个", "jian": "件", "he": "盒", "bao": "包", "tao": "套"}


@dataclass(frozen=True)
class _Style:
    i_id: str
    name: str
    unit: str  # BD_UNIT FNumber
    price_cents: int
    specs: tuple[str, ...]  # one SKU per specification: f"{i_id}-{n:02d}"
    in_kingdee: bool = True
    document_status: str = "C"
    forbid_status: str = "A"
    sell_online: bool = True

    @property
    def batch_managed(self) -> bool:
        """The customer's catalogue rule (SCHEME.md §3), with T4999 as the one deliberate exception."""
        return "A" in self.i_id or self.i_id == LOT_CONTRADICTION_STYLE

    @property
    def sold_in_jushuitan(self) -> bool:
        return self.document_status == "C" and self.sell_online and self.forbid_status == "A"


_CATALOGUE: tuple[_Style, ...] = (
    # A1: snacks, batch-managed → lot "0"
    _Style("A1001", "每日坚果", "bao", 5990, ("500g/袋", "250g/袋")),
    _Style("A1002", "手撕牛肉干", "bao", 4580, ("200g/袋", "400g/袋")),
    _Style("A1003", "芒果干", "he", 2990, ("100g/盒",)),
    _Style("A1004", "海苔脆片", "he", 3650, ("12包/盒", "24包/盒")),
    # G2: stationery and toys, not batch-managed → no lot
    _Style("G2001", "中性笔", "Pcs", 350, ("黑色;0.5mm", "蓝色;0.5mm", "红色;0.5mm")),
    _Style("G2002", "线圈笔记本", "Pcs", 1280, ("A5;80页", "B5;60页")),
    _Style("G2003", "拼装积木", "tao", 12900, ("经典款;300粒", "城市款;500粒")),
    _Style("G2004", "毛绒玩具熊", "Pcs", 6900, ("棕色;30cm",)),
    # AG3: both letters, A wins → lot "0"
    _Style("AG3001", "零食文具礼盒", "he", 9900, ("儿童节款",)),
    _Style("AG3002", "开学零食套装", "tao", 15800, ("标准装",)),
    # T4: apparel, neither letter → empty lot and a warning
    _Style("T4001", "纯棉T恤", "jian", 7900, ("白色;M", "白色;L", "黑色;L")),
    _Style("T4002", "连帽卫衣", "jian", 15900, ("灰色;L", "红色;L")),
    _Style(LOT_CONTRADICTION_STYLE, "限量联名T恤", "jian", 19900, ("黑色;XL",)),
    # Known to Jushuitan only.
    _Style("G2999", "试销盲盒", "Pcs", 3900, ("随机款",), in_kingdee=False),
    # In Kingdee but never sold online: not audited, or audited without the 是否网销 flag.
    _Style("A1901", "新品辣条", "bao", 990, ("100g/袋",), document_status="A"),
    _Style("G2902", "新款橡皮", "Pcs", 250, ("白色",), document_status="B"),
    _Style("A1801", "散装瓜子", "bao", 1590, ("5kg/袋",), sell_online=False),
    _Style("G2802", "办公文件夹", "Pcs", 890, ("A4;蓝色",), sell_online=False, forbid_status="B"),
)


@dataclass(frozen=True)
class _Sku:
    sku_id: str
    style: _Style
    spec: str

    @property
    def unit_name(self) -> str:
        return UNITS[self.style.unit]


_SKUS: tuple[_Sku, ...] = tuple(
    _Sku(f"{style.i_id}-{n:02d}", style, spec) for style in _CATALOGUE for n, spec in enumerate(style.specs, start=1)
)


def _sellable() -> list[_Sku]:
    """SKUs that appear in Jushuitan documents in the normal course (the unknown SKU is planted)."""
    return [sku for sku in _SKUS if sku.style.sold_in_jushuitan and sku.sku_id != UNKNOWN_SKU]


# Jushuitan's unit name per SKU, for building warehouse receipts from after-sale lines.
SKU_UNIT_NAMES: dict[str, str] = {sku.sku_id: sku.unit_name for sku in _SKUS}

_SHOPS = (  # shop_id, name, site, so_id prefix, Kingdee customer number (None: unmapped)
    (10086, "天猫旗舰店", "天猫商城", "TB", "CUST001"),
    (10087, "京东自营店", "京东", "JD", "CUST002"),
    (10088, "抖音小店", "抖音小店", "DY", "CUST003"),
    (10089, "拼多多专营店", "拼多多", "PDD", "CUST004"),
    (UNMAPPED_SHOP_ID, "小红书店", "小红书", "XHS", None),
)
_SHOP_WEIGHTS = (30, 25, 20, 17, 8)
_WAREHOUSES = ((10001, "上海主仓", "CK001"), (10002, "广州分仓", "CK002"), (10003, "成都分仓", "CK003"))
_WAREHOUSE_WEIGHTS = (60, 25, 15)
_CARRIERS = (
    ("SF", "顺丰速运", "SF", 12),
    ("YTO", "圆通速递", "YT", 13),
    ("ZTO", "中通快递", "78", 12),
    ("YUNDA", "韵达快递", "43", 11),
    ("JD", "京东快递", "JDV", 12),
)
_OUTBOUND_STATUSES = (("Confirmed", 80), ("WaitConfirm", 10), ("Cancelled", 5), ("Delete", 5))
# Shipped documents Jushuitan has archived (归档) by the end of the world, and how long after shipping.
_ARCHIVED_SHARE = 0.1
_ARCHIVED_AFTER_DAYS = (1.0, 5.0)
_MIN_UNMAPPED_SHOP_DOCUMENTS = 3


@dataclass
class SandboxWorld:
    seed: int
    start: datetime  # tz-aware Asia/Shanghai
    end: datetime  # tz-aware Asia/Shanghai
    shops: list[dict]  # rows exactly as /open/shops/query returns them
    warehouses: list[dict]  # rows as /open/wms/partner/query returns them
    outbound: list[dict]  # documents (with items[]) as /open/orders/out/simple/query returns them
    refunds: list[dict]  # after-sales (with items[]) as /open/refund/single/query returns them
    received: list[dict]  # return-warehousing records as /open/aftersale/received/query returns them
    items: dict[str, dict] = field(default_factory=dict)  # Jushuitan item store by sku_id (starts empty)
    kingdee: dict[str, list[dict]] = field(default_factory=dict)  # Kingdee base data per FormId


def jst_time(moment: datetime) -> str:
    """A Jushuitan wall-clock string in Beijing time."""
    return moment.astimezone(SHANGHAI).strftime(JST_TIME)


def received_record(refund: dict, *, io_id: int, first_ioi_id: int, io_date: str) -> dict:
    """The warehouse receipt (销售退仓单) created when a refund's goods come back; `ts` is the caller's.

    Shared by the generator and the emulator's receive action so both produce the same shape.
    """
    lines = []
    for offset, line in enumerate(refund.get("items") or []):
        qty = line.get("r_qty") or 0
        price = line.get("price") or 0
        lines.append(
            {
                "ioi_id": first_ioi_id + offset,
                "sku_id": line.get("sku_id"),
                "i_id": line.get("i_id"),
                "name": line.get("name"),
                "properties_value": line.get("properties_value"),
                "unit": SKU_UNIT_NAMES.get(line.get("sku_id") or ""),
                "qty": qty,
                "sale_price": price,
                "sale_amount": round(qty * price, 2),
            }
        )
    return {
        "io_id": io_id,
        "as_id": refund.get("as_id"),
        "o_id": refund.get("o_id"),
        "so_id": refund.get("so_id"),
        "type": refund.get("type"),
        "status": "Confirmed",
        "io_date": io_date,
        "modified": io_date,
        "created": io_date,
        "ts": 0,
        "shop_id": refund.get("shop_id"),
        "warehouse": refund.get("warehouse"),
        "wh_id": 2,  # 销退仓
        "wms_co_id": refund.get("wms_co_id"),
        "l_id": refund.get("l_id"),
        "logistics_company": refund.get("logistics_company"),
        "items": lines,
    }


def generate_world(
    seed: int = 7, days: int = 14, orders_per_day: int = 40, end: datetime | None = None
) -> SandboxWorld:
    """Build the world for (seed, days, orders_per_day, end); `end` defaults to now, floored to the minute."""
    if end is None:
        end = datetime.now(SHANGHAI).replace(second=0, microsecond=0)
    elif end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    end = end.astimezone(SHANGHAI)
    return _Generator(seed, end - timedelta(days=days), end).build(days * orders_per_day)


class _Generator:
    def __init__(self, seed: int, start: datetime, end: datetime) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.start = start
        self.end = end
        self.next_ioi_id = 40_000_001
        self.next_asi_id = 700_001
        self.used_order_numbers: set[str] = set()

    # --- the whole world -----------------------------------------------------------------------

    def build(self, document_count: int) -> SandboxWorld:
        outbound = [self._outbound(io_id=30_000_001 + n, o_id=8_000_001 + n) for n in range(document_count)]
        outbound.sort(key=lambda doc: (doc["created"], doc["io_id"]))
        clean = self._inject_dirty_outbound(outbound)
        refunds = self._refunds(clean)
        received = self._received(refunds)
        self._archive(clean)
        self._assign_ts(outbound, refunds, received)
        return SandboxWorld(
            seed=self.seed,
            start=self.start,
            end=self.end,
            shops=self._shops(),
            warehouses=_warehouses(),
            outbound=outbound,
            refunds=refunds,
            received=received,
            items={},
            kingdee=self._kingdee(),
        )

    # --- time ----------------------------------------------------------------------------------

    def _later(self, moment: datetime, min_minutes: float, max_minutes: float) -> datetime:
        """A whole-second moment after `moment`, never past the end of the world."""
        later = moment + timedelta(seconds=int(self.rng.uniform(min_minutes, max_minutes) * 60))
        return min(later, self.end)

    # --- outbound ------------------------------------------------------------------------------

    def _order_number(self, prefix: str) -> str:
        while True:
            number = f"{prefix}{self.rng.randrange(10**17, 10**18)}"
            if number not in self.used_order_numbers:
                self.used_order_numbers.add(number)
                return number

    def _outbound(self, io_id: int, o_id: int) -> dict:
        rng = self.rng
        shop_id, shop_name, _site, prefix, _customer = rng.choices(_SHOPS, weights=_SHOP_WEIGHTS)[0]
        wms_co_id = rng.choices(_WAREHOUSES, weights=_WAREHOUSE_WEIGHTS)[0][0]
        status = rng.choices([s for s, _ in _OUTBOUND_STATUSES], weights=[w for _, w in _OUTBOUND_STATUSES])[0]
        span = (self.end - self.start).total_seconds()
        created = self.start + timedelta(seconds=int(rng.uniform(0, max(span - 3 * 3600, 0))))
        io_date = self._later(created, 10, 600)
        modified = self._later(io_date, 0, 120)
        carrier, carrier_name, tracking_prefix, digits = rng.choice(_CARRIERS)
        skus = rng.sample(_sellable(), k=rng.randint(1, 4))
        lines = [self._outbound_line(sku, is_gift=n > 0 and rng.random() < 0.08) for n, sku in enumerate(skus)]
        freight = rng.choice([0, 0, 0, 6, 8, 10])
        pay_amount = round(sum(line["sale_amount"] for line in lines) + freight, 2)
        return {
            "io_id": io_id,
            "o_id": o_id,
            "so_id": self._order_number(prefix),
            "co_id": CO_ID,
            "shop_id": shop_id,
            "shop_name": shop_name,
            "wms_co_id": wms_co_id,
            "status": status,
            "created": jst_time(created),
            "modified": jst_time(modified),
            "io_date": jst_time(io_date),
            "l_id": f"{tracking_prefix}{rng.randrange(10 ** (digits - 1), 10**digits)}",
            "lc_id": carrier,
            "logistics_company": carrier_name,
            "pay_amount": pay_amount,
            "paid_amount": pay_amount,
            "freight": freight,
            "ts": 0,
            "items": lines,
        }

    def _outbound_line(self, sku: _Sku, *, is_gift: bool) -> dict:
        base_cents = sku.style.price_cents
        price_cents = 0 if is_gift else base_cents * self.rng.choice([100, 100, 95, 90, 85]) // 100
        qty = self.rng.choice([1, 1, 1, 2, 2, 3, 5])
        line = {
            "ioi_id": self.next_ioi_id,
            "oi_id": self.next_ioi_id - 20_000_000,
            "sku_id": sku.sku_id,
            "i_id": sku.style.i_id,
            "name": sku.style.name,
            "properties_value": sku.spec,
            "qty": qty,
            "sale_price": price_cents / 100,
            "sale_amount": round(price_cents * qty / 100, 2),
            "sale_base_price": base_cents / 100,
            "unit": sku.unit_name,
            "is_gift": is_gift,
        }
        self.next_ioi_id += 1
        return line

    def _replace_line_sku(self, line: dict, sku: _Sku) -> None:
        line.update(
            sku_id=sku.sku_id,
            i_id=sku.style.i_id,
            name=sku.style.name,
            properties_value=sku.spec,
            unit=sku.unit_name,
        )

    def _inject_dirty_outbound(self, outbound: list[dict]) -> list[dict]:
        """Plant each bad-input case on its own Confirmed document; return the clean Confirmed rest."""
        confirmed = [doc for doc in outbound if doc["status"] == "Confirmed"]
        candidates = [doc for doc in confirmed if doc["shop_id"] != UNMAPPED_SHOP_ID]
        unmapped = [doc for doc in confirmed if doc["shop_id"] == UNMAPPED_SHOP_ID]
        missing = max(_MIN_UNMAPPED_SHOP_DOCUMENTS - len(unmapped), 0)
        if len(candidates) < missing + 4 + _REQUIRED_REFUNDS:
            raise ValueError("world too small for every sandbox case: raise days or orders_per_day")
        picked = self.rng.sample(candidates, k=missing + 4)
        for doc in picked[:missing]:
            doc.update(shop_id=UNMAPPED_SHOP_ID, shop_name=_SHOPS[-1][1], so_id=self._order_number("XHS"))
        unknown_doc, negative_doc, absent_doc, null_doc = picked[missing:]
        self._replace_line_sku(unknown_doc["items"][0], next(s for s in _SKUS if s.sku_id == UNKNOWN_SKU))
        negative = negative_doc["items"][0]
        negative["qty"] = -abs(negative["qty"])
        negative["sale_amount"] = round(negative["qty"] * negative["sale_price"], 2)
        del absent_doc["items"][0]["qty"]
        null_doc["items"][0]["qty"] = None
        dirty = {id(doc) for doc in picked}
        return [doc for doc in candidates if id(doc) not in dirty]

    def _archive(self, shipped: list[dict]) -> None:
        """Archive a share of the clean shipped documents some days after shipping: the status becomes
        Archive and `modified` moves to the archive time (and with it the ts, assigned after this).
        Its own random stream, so the rest of the world is the same with or without archiving."""
        rng = random.Random(f"{self.seed}-archive")
        for doc in shipped:
            shipped_at = datetime.strptime(doc["io_date"], JST_TIME).replace(tzinfo=SHANGHAI)
            archived_at = shipped_at + timedelta(seconds=int(rng.uniform(*_ARCHIVED_AFTER_DAYS) * 86400))
            if rng.random() < _ARCHIVED_SHARE and archived_at < self.end:
                doc.update(status="Archive", modified=jst_time(archived_at))

    # --- after-sales ---------------------------------------------------------------------------

    def _refunds(self, clean: list[dict]) -> list[dict]:
        """Required scenarios first (so every case exists), then a random share of the other documents."""
        pool = list(clean)
        self.rng.shuffle(pool)
        refunds = []
        for scenario in _REQUIRED_SCENARIOS:
            source = self._source_for(pool, scenario)
            refunds.append(self._refund(source, scenario))
        for source in pool:
            if self.rng.random() < 0.2:
                scenario = self.rng.choices(
                    [s for s, _ in _RANDOM_SCENARIOS], weights=[w for _, w in _RANDOM_SCENARIOS]
                )[0]
                refunds.append(self._refund(source, scenario))
        refunds.sort(key=lambda refund: (refund["created"], refund["so_id"]))
        for n, refund in enumerate(refunds):
            refund["as_id"] = 600_001 + n
        return refunds

    def _source_for(self, pool: list[dict], scenario: _Scenario) -> dict:
        """Take a document from the pool that can carry the scenario, planting what it lacks."""

        def wanted(i_id: str) -> bool:
            if scenario.style_prefix == "T4":  # plain apparel, not the lot contradiction
                return i_id.startswith("T4") and i_id != LOT_CONTRADICTION_STYLE
            return scenario.style_prefix is None or i_id.startswith(scenario.style_prefix)

        min_lines = 2 if scenario.r_qty == "zero_after_first" else 1
        min_qty = 2 if scenario.r_qty == "partial" else 1

        def qualifies(line: dict) -> bool:
            return wanted(line["i_id"]) and line["qty"] >= min_qty

        def fits(doc: dict) -> bool:
            return len(doc["items"]) >= min_lines and any(qualifies(line) for line in doc["items"])

        source = pool.pop(next((n for n, doc in enumerate(pool) if fits(doc)), 0))
        source["items"].sort(key=lambda line: not qualifies(line))  # the scenario's first line is the case
        lines = source["items"]
        if not wanted(lines[0]["i_id"]):
            self._replace_line_sku(lines[0], self.rng.choice([s for s in _sellable() if wanted(s.style.i_id)]))
        if len(lines) < min_lines:
            taken = {line["sku_id"] for line in lines}
            lines.append(self._outbound_line(next(s for s in _sellable() if s.sku_id not in taken), is_gift=False))
        if lines[0]["qty"] < min_qty:
            lines[0]["qty"] = min_qty
            lines[0]["sale_amount"] = round(min_qty * lines[0]["sale_price"], 2)
        source["pay_amount"] = source["paid_amount"] = round(
            sum(line["sale_amount"] for line in lines) + source["freight"], 2
        )
        return source

    def _refund(self, source: dict, scenario: _Scenario) -> dict:
        rng = self.rng
        lines = source["items"]
        returned = lines if scenario.all_lines else lines[: rng.randint(1, len(lines))]
        as_date = self._later(datetime.strptime(source["io_date"], JST_TIME).replace(tzinfo=SHANGHAI), 60, 4320)
        created = self._later(as_date, 0, 60)
        confirmed = self._later(created, 10, 600)
        received = self._later(confirmed, 60, 4320)
        modified = self._later(received if scenario.good_status == "SELLER_RECEIVED" else confirmed, 0, 30)
        goods_sent = scenario.good_status in ("BUYER_RETURNED_GOODS", "SELLER_RECEIVED")
        carrier_name, tracking_prefix, digits = rng.choice(_CARRIERS)[1:]
        items = [self._refund_line(line, scenario, n, received) for n, line in enumerate(returned)]
        return {
            "as_id": 0,
            "outer_as_id": str(rng.randrange(10**15, 10**16)),
            "o_id": source["o_id"],
            "so_id": source["so_id"],
            "shop_id": source["shop_id"],
            "shop_name": source["shop_name"],
            "wms_co_id": source["wms_co_id"],
            "warehouse": next(name for wid, name, _ in _WAREHOUSES if wid == source["wms_co_id"]),
            "type": scenario.type,
            "status": scenario.status,
            "good_status": scenario.good_status,
            "as_date": jst_time(as_date),
            "created": jst_time(created),
            "modified": jst_time(modified),
            "confirm_date": jst_time(confirmed) if scenario.status in ("Confirmed", "Merged") else None,
            "l_id": f"{tracking_prefix}{rng.randrange(10 ** (digits - 1), 10**digits)}" if goods_sent else None,
            "logistics_company": carrier_name if goods_sent else None,
            "ts": 0,
            "items": items,
        }

    def _refund_line(self, line: dict, scenario: _Scenario, position: int, received: datetime) -> dict:
        qty = line["qty"] if scenario.r_qty == "partial" else self.rng.randint(1, line["qty"])
        seller_received = scenario.good_status == "SELLER_RECEIVED"
        if not seller_received:
            r_qty = 0
        elif scenario.r_qty == "zero" or (scenario.r_qty == "zero_after_first" and position > 0):
            r_qty = 0
        elif scenario.r_qty == "partial" and position == 0:
            r_qty = qty - 1
        else:
            r_qty = qty
        refund_line = {
            "asi_id": self.next_asi_id,
            "sku_id": line["sku_id"],
            "i_id": line["i_id"],
            "name": line["name"],
            "properties_value": line["properties_value"],
            "qty": qty,
            "r_qty": r_qty,
            "defective_qty": 1 if r_qty > 1 and self.rng.random() < 0.1 else 0,
            "price": line["sale_price"],
            "amount": round(qty * line["sale_price"], 2),
            "is_gift": line["is_gift"],
            "receive_date": jst_time(received) if seller_received else None,
        }
        if scenario.receive_date == "absent":
            del refund_line["receive_date"]
        elif scenario.receive_date == "null":
            refund_line["receive_date"] = None
        self.next_asi_id += 1
        return refund_line

    def _received(self, refunds: list[dict]) -> list[dict]:
        """One warehouse receipt per Confirmed, seller-received after-sale, dated when the goods arrived."""
        records = []
        next_ioi_id = 60_000_001
        for refund in refunds:
            if refund["status"] != "Confirmed" or refund["good_status"] != "SELLER_RECEIVED":
                continue
            dates = [line.get("receive_date") for line in refund["items"] if line.get("receive_date")]
            io_date = max(dates) if dates else refund["modified"]
            record = received_record(refund, io_id=50_000_001 + len(records), first_ioi_id=next_ioi_id, io_date=io_date)
            record["created"] = refund["confirm_date"]
            next_ioi_id += len(record["items"])
            records.append(record)
        return records

    def _assign_ts(self, outbound: list[dict], refunds: list[dict], received: list[dict]) -> None:
        """ts is a global rowversion: increasing in modification order across every kind of record."""
        changes = [(doc["modified"], 0, doc["io_id"], doc) for doc in outbound]
        changes += [(doc["modified"], 1, doc["as_id"], doc) for doc in refunds]
        changes += [(doc["modified"], 2, doc["io_id"], doc) for doc in received]
        ts = 1_000_000
        for *_key, doc in sorted(changes, key=lambda change: change[:3]):
            ts += self.rng.randint(1, 3)
            doc["ts"] = ts

    # --- base data -----------------------------------------------------------------------------

    def _shops(self) -> list[dict]:
        created = jst_time(self.start - timedelta(days=400))
        expires = jst_time(self.end + timedelta(days=180))
        return [
            {
                "shop_id": shop_id,
                "shop_name": name,
                "co_id": CO_ID,
                "shop_site": site,
                "shop_url": f"https://shop{shop_id}.example.invalid",
                "created": created,
                "nick": f"{name}官方",
                "session_expired": expires,
                "session_uid": f"uid{shop_id}",
                "short_name": name[:2],
                "group_id": 1,
                "group_name": "线上店铺",
            }
            for shop_id, name, site, _prefix, _customer in _SHOPS
        ]

    def _kingdee(self) -> dict[str, list[dict]]:
        return {
            "BD_MATERIAL": self._materials(),
            "BD_Customer": _customers(),
            "BD_STOCK": _stocks(),
            "BD_UNIT": [
                {
                    "FUNITID": 10101 + n,
                    "FNumber": number,
                    "FName": name,
                    "FDocumentStatus": "C",
                    "FForbidStatus": "A",
                }
                for n, (number, name) in enumerate(UNITS.items())
            ],
            "ORG_Organizations": [{"FOrgID": 1, "FNumber": ORG_NUMBER, "FName": "示例电商有限公司"}],
            "BD_Currency": [{"FCURRENCYID": 1, "FNumber": "PRE001", "FName": "人民币", "FCode": "CNY"}],
            "BOS_BillType": [
                {
                    "FBillTypeID": "ad0779a4685a43a08f08d2e42d7bf3e9",
                    "FNumber": "XSCKD01_SYS",
                    "FName": "标准销售出库单",
                    "FBillFormID": "SAL_OUTSTOCK",
                },
                {
                    "FBillTypeID": "4e3b3c4c9fe4432ab3ae5e4a3e8b9e0b",
                    "FNumber": "XSTHD01_SYS",
                    "FName": "标准销售退货单",
                    "FBillFormID": "SAL_RETURNSTOCK",
                },
            ],
        }

    def _materials(self) -> list[dict]:
        rows = []
        for n, sku in enumerate(s for s in _SKUS if s.style.in_kingdee):
            modified = self.end - timedelta(seconds=self.rng.randrange(3600, 60 * 86400))
            rows.append(
                {
                    "FMaterialId": 100_001 + n,
                    "FNumber": sku.sku_id,
                    "FName": sku.style.name,
                    "FSpecification": sku.spec,
                    "FBARCODE": _ean13(f"690{self.rng.randrange(10**8, 10**9)}"),
                    "FBaseUnitId.FNumber": sku.style.unit,
                    "FDocumentStatus": sku.style.document_status,
                    "FForbidStatus": sku.style.forbid_status,
                    "FIsBatchManage": sku.style.batch_managed,
                    "FModifyDate": modified.strftime(KINGDEE_TIME),
                    "FUseOrgId.FNumber": ORG_NUMBER,
                    "F_PAEZ_SellOnline": sku.style.sell_online,
                }
            )
        return rows


@dataclass(frozen=True)
class _Scenario:
    """One after-sale shape: its state and which odd case its lines carry."""

    status: str
    good_status: str
    type: str = "普通退货"
    style_prefix: str | None = None  # the source document must have a line of this style
    r_qty: str = "full"  # full | partial | zero | zero_after_first
    receive_date: str = "set"  # set | absent | null
    all_lines: bool = False


_RECEIVED = ("Confirmed", "SELLER_RECEIVED")
_REQUIRED_SCENARIOS: tuple[_Scenario, ...] = (
    *(_Scenario(*_RECEIVED, style_prefix=prefix) for prefix in ("A1", "G2", "AG3", "T4", LOT_CONTRADICTION_STYLE)),
    _Scenario(*_RECEIVED, r_qty="zero_after_first", all_lines=True),
    _Scenario(*_RECEIVED, r_qty="zero"),
    _Scenario(*_RECEIVED, r_qty="partial"),
    _Scenario(*_RECEIVED, receive_date="absent"),
    _Scenario(*_RECEIVED, receive_date="null"),
    _Scenario("Confirmed", "BUYER_RETURNED_GOODS"),
    _Scenario("Confirmed", "BUYER_RETURNED_GOODS"),
    _Scenario("Confirmed", "BUYER_RECEIVED"),
    _Scenario("Confirmed", "BUYER_NOT_RECEIVED", type="仅退款"),
    _Scenario("WaitConfirm", "BUYER_RETURNED_GOODS"),
    _Scenario("Cancelled", "BUYER_NOT_RECEIVED"),
    _Scenario("Merged", "BUYER_RECEIVED"),
)
_REQUIRED_REFUNDS = len(_REQUIRED_SCENARIOS)
_RANDOM_SCENARIOS: tuple[tuple[_Scenario, int], ...] = (
    (_Scenario(*_RECEIVED), 55),
    (_Scenario("Confirmed", "BUYER_RETURNED_GOODS"), 10),
    (_Scenario("Confirmed", "BUYER_RECEIVED"), 5),
    (_Scenario("Confirmed", "BUYER_NOT_RECEIVED", type="仅退款"), 8),
    (_Scenario("WaitConfirm", "BUYER_NOT_RECEIVED"), 12),
    (_Scenario("Cancelled", "BUYER_RETURNED_GOODS"), 6),
    (_Scenario("Merged", "BUYER_RECEIVED"), 4),
)


def _warehouses() -> list[dict]:
    return [
        {
            "name": name,
            "co_id": CO_ID,
            "wms_co_id": wms_co_id,
            "is_main": n == 0,
            "status": "生效",
            "remark1": "",
            "remark2": stock,
        }
        for n, (wms_co_id, name, stock) in enumerate(_WAREHOUSES)
    ]


# Customers no shop is mapped to yet: the wholesale account, the one finance opened for the unmapped
# shop (named as finance names accounts, not as the shop is named), and that shop's old, forbidden one.
_UNMAPPED_CUSTOMERS = (
    ("CUST005", "线下批发客户", "A"),
    ("CUST006", "小红书旗舰店", "A"),
    ("CUST007", "小红书店(旧)", "B"),
)


def _customers() -> list[dict]:
    mapped = [(number, name, "A") for _id, name, _site, _prefix, number in _SHOPS if number]
    return [
        {
            "FCUSTID": 200_001 + n,
            "FNumber": number,
            "FName": name,
            "FUseOrgId.FNumber": ORG_NUMBER,
            "FDocumentStatus": "C",
            "FForbidStatus": forbid,
        }
        for n, (number, name, forbid) in enumerate([*mapped, *_UNMAPPED_CUSTOMERS])
    ]


def _stocks() -> list[dict]:
    stocks = [(number, name) for _id, name, number in _WAREHOUSES] + [("CK099", "样品仓")]
    return [
        {
            "FStockId": 300_001 + n,
            "FNumber": number,
            "FName": name,
            "FUseOrgId.FNumber": ORG_NUMBER,
            "FDocumentStatus": "C",
            "FForbidStatus": "A",
        }
        for n, (number, name) in enumerate(stocks)
    ]


def _ean13(first12: str) -> str:
    """A barcode with a valid EAN-13 check digit, so barcode validators downstream accept it."""
    total = sum(int(d) * (3 if n % 2 else 1) for n, d in enumerate(first12))
    return first12 + str((10 - total % 10) % 10)
