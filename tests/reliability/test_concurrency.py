"""Two `jst-kingdee sync outbound` processes at once: the second one writes nothing and says why; the
first finishes, and Kingdee matches the oracle."""

from __future__ import annotations

import pytest

from tests.reliability.oracle import OUTBOUND_FORM, BillOracle, compare
from tests.reliability.scenarios import BATCH_SAVE
from tests.reliability.stage import start_child


@pytest.mark.slow
def test_a_second_cli_run_of_the_same_sync_writes_nothing(stage, prefect_api):
    saving = stage.kingdee_tap.at(BATCH_SAVE, 1, hold="before")  # the first run is mid-save
    first = start_child(stage, prefect_api, "sync", "outbound")
    try:
        assert saving.reached.wait(60), first.stderr.read() if first.poll() is not None else "no save"
        second = start_child(stage, prefect_api, "sync", "outbound")
        _, second_err = second.communicate(timeout=120)
        assert second.returncode != 0
        assert "another outbound run is in progress" in second_err
        assert stage.kingdee_stats()["batch_sizes"] == []  # the second run sent nothing
    finally:
        saving.release.set()
    _, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, first_err[-2000:]
    expected = BillOracle(stage.world).expected(OUTBOUND_FORM)
    verdict = compare(expected, stage.bills(), OUTBOUND_FORM, stage.kingdee_stats()["duplicate_rejections"])
    assert verdict.ok, str(verdict)
