"""Peak memory of the sync process over the million-line case: 250,000 outbound documents × 4 lines.

`sync_outbound` runs here against both emulators (latency off, limits raised), each in its own process
so that their copy of the world is not counted. The peak is this process's high-water mark (VmHWM):
Python, Prefect's client and engine, Polars, and whatever the flow holds. Prefect's ephemeral API
server is a child process and is not counted either.

    .venv/bin/python -m bench.memory [--lines 1000000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.e2e import Case, prefect_session, run_case

LINES_PER_DOCUMENT = 4


def peak_rss_mib() -> float:
    """This process's peak resident set size so far (Linux VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description="peak RSS of sync_outbound over a large period")
    parser.add_argument("--lines", type=int, default=1_000_000, help="line rows (4 per document)")
    args = parser.parse_args()

    case = Case(
        documents=args.lines // LINES_PER_DOCUMENT,
        lines_per_document=LINES_PER_DOCUMENT,
        latency=False,
        calls_per_second=1000,
        calls_per_minute=60_000,
    )
    started = time.perf_counter()
    with prefect_session():
        before = peak_rss_mib()
        done = run_case(case)
    done.describe()
    peak = peak_rss_mib()
    print(f"peak RSS before the run (Python, Prefect, Polars loaded; server up): {before:.0f} MiB")
    print(f"whole benchmark {time.perf_counter() - started:.0f} s")
    print(f"RESULT memory peak_rss_mib={peak:.0f} lines={done.served.lines}")


if __name__ == "__main__":
    main()
