"""Runs whose window holds nothing, over real HTTP against both emulators (issue 19, item 1).

An empty Kingdee answer used to come back with untyped (Null) columns, and the first string operation on
one failed the run: the nightly incremental materials run failed every night nothing had changed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flows.all import sync_all
from flows.check_mappings import check_mappings
from flows.materials import sync_materials
from flows.outbound import sync_outbound
from flows.reconcile import reconcile
from flows.returns import sync_returns
from sandbox.data import KINGDEE_TIME, SHANGHAI

BOOKED = ("written", "skipped_existing", "held", "failed")


def _empty_window(world) -> dict:
    """Fifteen days that end a day before anything in the world (its materials were modified up to 60 days
    before its end): no material modified, no document shipped or returned. Several 7-day query windows,
    each empty; and no further back, since reconcile reads after-sales modified from `since` until now, one
    paced call per 7 days."""
    modified = (datetime.strptime(row["FModifyDate"], KINGDEE_TIME) for row in world.kingdee["BD_MATERIAL"])
    end = min(world.start, *(moment.replace(tzinfo=SHANGHAI) for moment in modified)) - timedelta(days=1)
    return {"since": end - timedelta(days=15), "until": end}


def _adds_up(summary: dict) -> bool:
    return summary["fetched"] == sum(summary[outcome] for outcome in BOOKED)


def test_each_sync_over_a_window_with_nothing_in_it_succeeds_and_books_nothing(sandbox):
    window = _empty_window(sandbox.world)
    for run in (sync_materials, sync_outbound, sync_returns):
        summary = run(**window)
        assert summary["fetched"] == 0 and _adds_up(summary), (run.name, summary)
    assert not sandbox.items()
    assert not sandbox.bills("SAL_OUTSTOCK") and not sandbox.bills("SAL_RETURNSTOCK")


def test_reconcile_over_a_period_with_nothing_in_it_finds_nothing(sandbox):
    summary = reconcile(**_empty_window(sandbox.world))
    assert summary["documents"] == {
        "outbound": {"jushuitan": 0, "kingdee": 0},
        "returns": {"jushuitan": 0, "kingdee": 0},
    }
    assert all(count == 0 for counts in summary["counts"].values() for count in counts.values()), summary


def test_check_mappings_over_a_period_with_nothing_in_it_lists_no_held_documents(sandbox):
    summary = check_mappings(**_empty_window(sandbox.world))
    assert summary["held_outbound"] == summary["held_returns"] == summary["unknown_skus"] == 0, summary


def test_incremental_sync_all_after_a_backfill_with_nothing_new_succeeds(sandbox):
    """The customer's path: a backfill, then the plain nightly run with nothing changed since."""
    world = sandbox.world
    backfill = sync_all(since=world.start - timedelta(days=1), until=datetime.now(world.end.tzinfo))
    assert backfill["materials"]["written"] > 0 and backfill["outbound"]["written"] > 0
    booked = {form: set(sandbox.bills(form)) for form in ("SAL_OUTSTOCK", "SAL_RETURNSTOCK")}

    nightly = sync_all()

    materials = nightly["materials"]
    assert materials["fetched"] == materials["notes"]["held earlier, retried"], materials
    for name, summary in nightly.items():
        assert _adds_up(summary), (name, summary)
        assert summary["written"] == 0 and summary["failed"] == 0, (name, summary)
    assert {form: set(sandbox.bills(form)) for form in booked} == booked
