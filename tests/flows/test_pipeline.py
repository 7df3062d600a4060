from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import polars as pl

from flows.common import OUTCOME_SCHEMA
from flows.outbound import sync_outbound
from flows.pipeline import final_outcomes, grouped
from sandbox.kingdee_app import create_app
from sandbox.server import serve_in_thread
from tests.flows.oracle import Scheme


def test_grouped_keeps_order_and_the_short_tail():
    assert list(grouped(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(grouped([], 3)) == []


def test_a_document_seen_twice_in_a_run_reports_what_kingdee_holds():
    outcomes = pl.DataFrame(
        {
            "document": ["1", "1", "2", "2", None, None],
            "outcome": ["held", "written", "held", "failed", "held", "held"],
        }
    ).with_columns(pl.lit(None, pl.String).alias(c) for c in ("shop_id", "shop_name", "kingdee_number", "message"))
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
