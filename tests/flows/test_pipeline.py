from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

import httpx
import polars as pl
import pytest
from prefect.variables import Variable

from connectors.jushuitan import JushuitanTransportError
from flows.outbound import sync_outbound
from sandbox import jushuitan as jushuitan_app
from sandbox.data import generate_world
from sandbox.kingdee import create_app
from sandbox.server import serve_in_thread
from state.watermarks import watermark_name
from tests.flows.oracle import Scheme
from transforms.outcomes import OUTCOME_SCHEMA, final_outcomes

OUTBOUND = "/open/orders/out/simple/query"


def test_a_document_seen_twice_in_a_run_reports_what_kingdee_holds():
    outcomes = pl.DataFrame(
        {
            "document": ["1", "1", "2", "2", None, None],
            "outcome": ["held", "written", "held", "failed", "held", "held"],
        }
    ).with_columns(
        pl.lit(None, pl.String).alias(c) for c in ("shop_id", "shop_name", "kingdee_number", "follow_up", "message")
    )
    final = final_outcomes(outcomes.select(list(OUTCOME_SCHEMA)).cast(OUTCOME_SCHEMA))
    assert sorted(final.filter(pl.col("document").is_not_null()).select("document", "outcome").rows()) == [
        ("1", "written"),
        ("2", "failed"),
    ]
    assert final.filter(pl.col("document").is_null()).height == 2  # never merged away


def test_small_groups_and_batches_save_concurrently_and_write_everything_once(sandbox, monkeypatch):
    # A Kingdee emulator that takes 150 ms per BatchSave, so saves overlap if the flow lets them.
    with serve_in_thread(create_app(sandbox.world.kingdee, save_latency_ms=150)) as slow_kingdee:
        monkeypatch.setenv("KINGDEE_SERVER_URL", f"{slow_kingdee.url}/k3cloud")
        monkeypatch.setenv("SYNC_PAGES_PER_GROUP", "1")
        monkeypatch.setenv("SYNC_BATCH_SIZE", "7")
        monkeypatch.setenv("SYNC_KINGDEE_CONCURRENCY", "3")
        window = {"since": sandbox.world.start - timedelta(days=1), "until": datetime.now(sandbox.world.end.tzinfo)}
        summary = sync_outbound(**window)
        bills = httpx.get(f"{slow_kingdee.url}/__admin/bills/SAL_OUTSTOCK").json()
        stats = httpx.get(f"{slow_kingdee.url}/__admin/stats").json()
    expected = Scheme(sandbox.world).outbound_bookable()
    assert sorted(b["FBillNo"] for b in bills) == sorted(expected)
    assert summary["written"] == len(expected)
    assert summary["fetched"] == summary["written"] + summary["held"]
    assert max(stats["batch_sizes"]) <= 7 and sum(stats["batch_sizes"]) == len(expected)
    assert 2 <= stats["max_concurrent_saves"] <= 3


class EmptyPage:
    """In front of the Jushuitan emulator: outbound page `page` is held until the page after it has been
    asked for (both in flight at once), then answered without rows although its count promises more."""

    def __init__(self, app, page: int) -> None:
        self.app, self.page = app, page
        self.armed = True
        self.overlapped = False
        self._next_asked = asyncio.Event()

    async def __call__(self, scope, receive, send) -> None:
        if not (self.armed and scope["type"] == "http" and scope["path"] == OUTBOUND):
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        page = json.loads(dict(parse_qsl(body.decode()))["biz"]).get("page_index")
        if page == self.page + 1:
            self._next_asked.set()
        if page != self.page:
            replayed = [{"type": "http.request", "body": body, "more_body": False}]
            await self.app(scope, lambda: _replay(replayed, receive), send)
            return
        try:
            await asyncio.wait_for(self._next_asked.wait(), timeout=10)
            self.overlapped = True
        except TimeoutError:
            pass
        data = {"page_index": page, "page_size": 50, "data_count": 999, "page_count": 20, "has_next": True}
        answer = json.dumps({"code": 0, "msg": "执行成功", "data": {**data, "datas": []}}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": answer})


async def _replay(replayed: list[dict], receive) -> dict:
    return replayed.pop() if replayed else await receive()


def test_a_page_failing_while_the_next_is_in_flight_fails_the_run_before_the_watermark_moves(sandbox, monkeypatch):
    world = generate_world(seed=7, days=6, orders_per_day=60)  # eight pages of 50 in one 7-day window
    limits = {"calls_per_second": 50, "calls_per_minute": 3000}
    jst_app = EmptyPage(jushuitan_app.create_app(world, **limits), page=3)
    with serve_in_thread(jst_app) as jst, serve_in_thread(create_app(world.kingdee)) as kingdee:
        for name, value in {
            "JST_BASE_URL": jst.url,
            "JST_CALLS_PER_SECOND": "50",
            "JST_CALLS_PER_MINUTE": "3000",
            "KINGDEE_SERVER_URL": f"{kingdee.url}/k3cloud",
            "SYNC_INITIAL_LOOKBACK_DAYS": "7",
            "SYNC_SAFETY_LAG_MINUTES": "0",
            "SYNC_PAGES_PER_GROUP": "1",  # the pages before the failure are booked
        }.items():
            monkeypatch.setenv(name, value)
        with pytest.raises(JushuitanTransportError, match="page 3 has no rows"):
            sync_outbound()
        assert jst_app.overlapped
        assert Variable.get(watermark_name("outbound"), default=None) is None

        jst_app.armed = False
        sync_outbound()
        bills = httpx.get(f"{kingdee.url}/__admin/bills/SAL_OUTSTOCK").json()
        stats = httpx.get(f"{kingdee.url}/__admin/stats").json()
    assert sorted(bill["FBillNo"] for bill in bills) == sorted(Scheme(world).outbound_bookable())
    assert stats["duplicate_rejections"] == 0
    assert Variable.get(watermark_name("outbound"), default=None) is not None
