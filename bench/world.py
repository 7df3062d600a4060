"""A large sandbox world for the end-to-end benchmarks, built fast and with a fixed number of lines.

`sandbox.data.generate_world` gives 1–4 lines per document and needs ~21 s for 250,000 documents; the
memory benchmark wants exactly 4 lines each (1,000,000 lines). This builds the documents in bulk from a
small generated world: shops, warehouses, carriers, statuses and SKUs are drawn from that world's
own documents, so the shapes (keys, types, the unmapped shop, every status) are the emulator's.
"""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta

from sandbox.data import SHANGHAI, UNKNOWN_SKU, SandboxWorld, generate_world, jst_time

SO_PREFIX = re.compile(r"^[A-Z]+")
QTYS = (1, 1, 1, 2, 2, 3, 5)


def template_world(seed: int = 11, end: datetime | None = None) -> SandboxWorld:
    """The small generated world the bulk documents are drawn from; its Kingdee base data is theirs too."""
    return generate_world(seed=seed, days=7, orders_per_day=40, end=end)


def bulk_world(
    documents: int, lines_per_document: int = 4, *, seed: int = 11, days: int = 28, end: datetime | None = None
) -> SandboxWorld:
    """`documents` outbound documents of `lines_per_document` distinct SKUs each, modified over `days`."""
    end = (end or datetime.now(SHANGHAI)).replace(second=0, microsecond=0)
    template = template_world(seed, end)
    skus = list({line["sku_id"]: line for doc in template.outbound for line in doc["items"]}.values())
    skus = [line for line in skus if line["sku_id"] != UNKNOWN_SKU]
    if len(skus) < lines_per_document:
        raise ValueError(f"the template world sells only {len(skus)} SKUs")
    heads = template.outbound  # shop, warehouse, carrier and status mix as the generator draws them
    # Lines draw from their own stream: the same seed gives the same documents (shops, statuses, dates)
    # whatever `lines_per_document` is, so runs that differ only in rows can be compared.
    rng, line_rng = random.Random(seed), random.Random(seed + 1)
    start = end - timedelta(days=days)
    span = int((end - start).total_seconds()) - 3 * 3600
    outbound = []
    next_line = 40_000_001
    for n in range(documents):
        head = rng.choice(heads)
        created = start + timedelta(seconds=rng.randrange(span))
        io_date = created + timedelta(seconds=rng.randrange(600, 36_000))
        modified = min(io_date + timedelta(seconds=rng.randrange(0, 7200)), end)
        lines = []
        for sku in line_rng.sample(skus, lines_per_document):
            qty = line_rng.choice(QTYS)
            price = sku["sale_base_price"]
            lines.append(
                {
                    "ioi_id": next_line,
                    "oi_id": next_line - 20_000_000,
                    "sku_id": sku["sku_id"],
                    "i_id": sku["i_id"],
                    "name": sku["name"],
                    "properties_value": sku["properties_value"],
                    "qty": qty,
                    "sale_price": price,
                    "sale_amount": round(price * qty, 2),
                    "sale_base_price": price,
                    "unit": sku["unit"],
                    "is_gift": False,
                }
            )
            next_line += 1
        amount = round(sum(line["sale_amount"] for line in lines) + head["freight"], 2)
        outbound.append(
            {
                **head,
                "io_id": 30_000_001 + n,
                "o_id": 8_000_001 + n,
                "so_id": f"{SO_PREFIX.match(head['so_id'])[0]}{10**17 + n}",
                "created": jst_time(created),
                "modified": jst_time(modified),
                "io_date": jst_time(io_date),
                "l_id": f"{head['l_id'][:3]}{rng.randrange(10**9, 10**10)}",
                "pay_amount": amount,
                "paid_amount": amount,
                "items": lines,
            }
        )
    outbound.sort(key=lambda doc: (doc["modified"], doc["io_id"]))
    for ts, doc in enumerate(outbound, start=1_000_001):
        doc["ts"] = ts
    return SandboxWorld(
        seed=seed,
        start=start,
        end=end,
        shops=template.shops,
        warehouses=template.warehouses,
        outbound=outbound,
        refunds=[],
        received=[],
        items={},
        kingdee=template.kingdee,
    )
