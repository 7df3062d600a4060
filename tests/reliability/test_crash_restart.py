"""`jst-kingdee sync outbound` killed with SIGKILL at seeded points, then run again: what the killed run
left is exact and unique, and after the next run Kingdee matches the oracle, the held documents are
reported and pending in the ledger, and the watermark has moved."""

from __future__ import annotations

import pytest

from tests.reliability.scenarios import CRASH_POINTS, crash_scenario

# Twelve seeds: every kill point at least once, the others drawn by the seed (a third of them after a
# completed run, with new documents arriving in between).
SEEDS = range(12)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_a_killed_run_is_repaired_by_the_next_one(seed, tmp_path, prefect_api):
    point = CRASH_POINTS[seed] if seed < len(CRASH_POINTS) else None
    outcome = crash_scenario(tmp_path, seed, prefect_api, point)
    assert outcome.ok, str(outcome)
