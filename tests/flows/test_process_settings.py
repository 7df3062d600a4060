"""The flows' allocator setting reaches Polars: set by process_settings, which every entry point imports
before Polars is loaded, freed memory is kept for reuse instead of being given back and faulted in again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Loaded the way a Prefect worker's flow run loads a deployment (prefect.yaml's entrypoint).
LOAD_FLOW = (
    "from prefect.flows import load_flow_from_entrypoint; "
    f"load_flow_from_entrypoint({str(ROOT / 'flows' / 'outbound.py')!r} + ':sync_outbound')"
)
PAGES = 3 * 10_000_000 * 8 // 4096  # the three 80 MB buffers `work` writes

SCRIPT = """
import resource, time
{first}
import polars as pl

def work():
    return (pl.int_range(0, 10_000_000, eager=True).cast(pl.Float64) * 2.0).sum()

work()
time.sleep(3)  # longer than the default takes to give most of it back
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
work()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(first: str) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items() if key != "_RJEM_MALLOC_CONF"}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT.format(first=first)], env=env, stdout=subprocess.PIPE, text=True
    )


def test_memory_freed_by_polars_is_reused_when_the_flows_are_loaded_first() -> None:
    with_flows, without = page_faults(LOAD_FLOW), page_faults("")
    faults_with_flows, faults_without = (int(run.communicate(timeout=60)[0]) for run in (with_flows, without))
    assert faults_with_flows < 0.05 * PAGES, faults_with_flows
    assert faults_without > 0.2 * PAGES, faults_without  # the default: the test would see a missing setting
