"""`jst-kingdee sync outbound` killed with SIGKILL at seeded points, then run again: what the killed run
left is exact and unique, and after the next run Kingdee matches the oracle, the held documents are
reported and pending in the ledger, and the watermark has moved; and a run killed between save and
Submit is submitted by the next one."""

from __future__ import annotations

import signal

import pytest

from flows.outbound import sync_outbound
from tests.reliability.oracle import BillOracle
from tests.reliability.scenarios import CRASH_POINTS, crash_scenario
from tests.reliability.stage import start_child

# Twelve seeds: every kill point at least once, the others drawn by the seed (a third of them after a
# completed run, with new documents arriving in between).
SEEDS = range(12)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_a_killed_run_is_repaired_by_the_next_one(seed, tmp_path, prefect_api):
    point = CRASH_POINTS[seed] if seed < len(CRASH_POINTS) else None
    outcome = crash_scenario(tmp_path, seed, prefect_api, point)
    assert outcome.ok, str(outcome)


@pytest.mark.slow
def test_a_run_killed_between_save_and_submit_is_submitted_by_the_next_one(make_stage, prefect_api):
    """SIGKILL while the first Submit is on its way: every bill is saved (创建, A), none submitted. The next
    incremental run re-reads the window (the killed run never moved the watermark), finds them by FBillNo
    and submits and audits them."""
    stage = make_stage(settings={"SYNC_SUBMIT_AFTER_SAVE": "true", "SYNC_AUDIT_AFTER_SUBMIT": "true"})
    submit = stage.kingdee_tap.at("DynamicFormService.Submit", 1, hold="before")
    child = start_child(stage, prefect_api, "sync", "outbound")
    if not submit.reached.wait(90):
        child.kill()
        pytest.fail(f"the child never sent Submit: {child.communicate()[1][-500:]}")
    child.send_signal(signal.SIGKILL)
    child.communicate()
    stage.kingdee_tap.release_all()
    expected = BillOracle(stage.world).expected("SAL_OUTSTOCK")
    assert {bill["FBillNo"]: bill["FDocumentStatus"] for bill in stage.bills()} == dict.fromkeys(expected, "A")

    summary = sync_outbound()
    assert {bill["FDocumentStatus"] for bill in stage.bills()} == {"C"}
    assert summary["skipped_existing"] == len(expected) and summary["audited"] == len(expected)
