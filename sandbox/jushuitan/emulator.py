"""One emulated Jushuitan platform: the world it serves (changed in place), its document stores, tokens,
traffic and knobs, and the admin actions that change documents as the platform would."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from sandbox.data import JST_TIME, SHANGHAI, SandboxWorld, received_record
from sandbox.jushuitan.limits import Traffic
from sandbox.jushuitan.stores import Store
from sandbox.jushuitan.tokens import Tokens

WRITE_PATHS = frozenset({"/open/jushuitan/itemsku/upload"})
REFUNDS_PATH = "/open/refund/single/query"


class Emulator:
    """The state of one emulated platform: the world it serves, its stores, tokens, traffic and knobs."""

    def __init__(
        self,
        world: SandboxWorld,
        *,
        calls_per_second: int,
        calls_per_minute: int,
        token_ttl_seconds: int,
        max_upload_items: int,
        clock: Callable[[], float],
        app_key: str,
        app_secret: str,
    ) -> None:
        self.world = world
        self._clock = clock
        # POST /__admin/clock: the platform's clock runs this far ahead (behind, if negative) of the host's.
        self.clock_offset_seconds = 0.0
        self.max_upload_items = max_upload_items
        self.upload_answer = "every"  # one of UPLOAD_ANSWERS
        # POST /__admin/after_sales_routes: shops whose after-sales only the Qimen route serves (the standard
        # refund query leaves them out, as public code says it does for Taobao-family shops). Empty by default.
        self.qimen_only_shops: frozenset[str] = frozenset()
        self.stores = {
            "outbound": Store(world.outbound, "io_id"),
            "refunds": Store(world.refunds, "as_id"),
            "received": Store(world.received, "io_id"),
        }
        self.traffic = Traffic(calls_per_second, calls_per_minute)
        self._ts = max(
            [store.max_ts() for store in self.stores.values()] + [item.get("ts", 0) for item in world.items.values()],
            default=0,
        )
        self.tokens = Tokens(
            app_key=app_key, app_secret=app_secret, ttl_seconds=token_ttl_seconds, clock=self.clock, seed=world.seed
        )

    def clock(self) -> float:
        """The platform's time: what timestamps are checked against (code 180) and tokens expire by."""
        return self._clock() + self.clock_offset_seconds

    def hidden_shops(self, path: str) -> frozenset[str]:
        """The shops a standard document query leaves out: after-sales of the Qimen-only shops."""
        return self.qimen_only_shops if path == REFUNDS_PATH else frozenset()

    def next_ts(self) -> int:
        self._ts += 1
        return self._ts

    def now_text(self) -> str:
        return datetime.fromtimestamp(self.clock(), SHANGHAI).strftime(JST_TIME)

    def authorize(self, params: dict[str, str], path: str) -> dict:
        """The caller and token checks, then the rate limit of this token on this path: the parsed biz object."""
        label, biz = self.tokens.authorize(params)
        self.traffic.admit((label, path), self.clock())
        return biz

    def update(self, kind: str, doc_id: int, changes: dict) -> dict | None:
        doc = self.stores[kind].get(doc_id)
        if doc is None:
            return None
        doc.update(changes)
        if "modified" not in changes:
            doc["modified"] = self.now_text()
        self.stores[kind].touch(doc, self.next_ts())
        return doc

    def receive(self, refund: dict, r_qty: Mapping[str, int]) -> dict:
        """The goods of an after-sale arrive: the refund is seller-received and a receipt is created."""
        now = self.now_text()
        for line in refund.get("items") or []:
            line["r_qty"] = r_qty.get(str(line.get("asi_id")), line.get("qty"))
            line["receive_date"] = now
        refund["good_status"] = "SELLER_RECEIVED"
        refund["modified"] = now
        self.stores["refunds"].touch(refund, self.next_ts())
        receipts = self.stores["received"]
        io_ids = [doc["io_id"] for doc in receipts.rows if isinstance(doc.get("io_id"), int)]
        line_ids = [
            line["ioi_id"]
            for doc in receipts.rows
            for line in doc.get("items") or []
            if isinstance(line, dict) and isinstance(line.get("ioi_id"), int)
        ]
        record = received_record(
            refund,
            io_id=max(io_ids, default=50_000_000) + 1,
            first_ioi_id=max(line_ids, default=60_000_000) + 1,
            io_date=now,
        )
        receipts.put(record, self.next_ts())
        return record

    def inject(self, kind: str, records: list[dict]) -> list[int]:
        store = self.stores[kind]
        stamps = []
        for record in records:
            stamp = self.next_ts()
            store.put(dict(record), stamp)
            stamps.append(stamp)
        return stamps

    def stats(self) -> dict:
        traffic = self.traffic
        return {
            "limits": {"calls_per_second": traffic.per_second, "calls_per_minute": traffic.per_minute},
            "calls": dict(traffic.calls),
            "writes": sum(n for path, n in traffic.calls.items() if path in WRITE_PATHS),
            "rejected": {path: {str(code): n for code, n in codes.items()} for path, codes in traffic.rejected.items()},
            "peaks": [
                {
                    "token": label,
                    "path": path,
                    "max_calls_per_second": traffic.peak_second[(label, path)],
                    "max_calls_per_minute": traffic.peak_minute[(label, path)],
                }
                for label, path in traffic.peak_second
            ],
            "max_in_flight": dict(traffic.peak_in_flight),
        }
