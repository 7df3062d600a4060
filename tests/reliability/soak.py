"""`make soak`: many seeded fault and crash scenarios in a row, each checked against the oracle.

    python -m tests.reliability.soak [--scenarios 120] [--seed 1000]

Every third scenario kills a `jst-kingdee sync outbound` child at a seeded point; the others arm one to
three seeded faults. The last line is `RESULT scenarios=N lost=L duplicated=D mismatched=M`; the exit
status is non-zero when any scenario lost, duplicated or mismatched a bill or reported held documents
wrongly. A scenario is reproduced by its seed (printed on its line).
"""

from __future__ import annotations

import process_settings  # noqa: F401  first: its defaults must be set before Prefect or Polars load

import os

# Before Prefect is imported: quiet the per-run console logs (the verdicts are the output).
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import argparse  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402

from tests.reliability.scenarios import FAULTS, Outcome, crash_scenario, fault_scenario  # noqa: E402


def scenario(index: int, seed: int, root: Path, api_url: str) -> Outcome:
    if index % 3 == 0:
        return crash_scenario(root, seed, api_url)
    rng = random.Random(seed)
    return fault_scenario(root, seed, rng.sample(sorted(FAULTS), rng.randint(1, 3)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args()
    # Injected resets make uvicorn print a traceback each; the verdicts say what matters.
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
    lost = duplicated = mismatched = failed = unfired = 0
    started = time.monotonic()
    with prefect_test_harness(server_startup_timeout=120):
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            api_url = str(PREFECT_API_URL.value())
            for index in range(args.scenarios):
                seed = args.seed + index
                with tempfile.TemporaryDirectory(prefix="soak-") as folder:
                    outcome = scenario(index, seed, Path(folder), api_url)
                lost += len(outcome.verdict.lost)
                duplicated += len(outcome.verdict.duplicated)
                mismatched += len(outcome.verdict.mismatched)
                failed += not outcome.ok
                unfired += len(outcome.unfired)
                print(f"{index + 1:4d} {'ok  ' if outcome.ok else 'FAIL'} {outcome}", flush=True)
    print(
        f"{args.scenarios} scenarios in {time.monotonic() - started:.0f} s; {failed} with problems; "
        f"{unfired} armed faults never struck (their run ended before)",
        flush=True,
    )
    print(f"RESULT scenarios={args.scenarios} lost={lost} duplicated={duplicated} mismatched={mismatched}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
