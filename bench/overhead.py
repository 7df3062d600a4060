"""Prefect and API overhead per flow run grows with pages and batches, never with rows.

Three runs of `sync_outbound` (latency off: counts do not depend on it): a base world, the same
documents with twice the lines each (rows ×2, pages and batches unchanged), and twice the documents
(pages and batches ×2). Task runs come from the Prefect API (read_task_runs by flow run id), API
calls from both emulators' /__admin/stats. The e2e case's own figures are bench/e2e.py's
`RESULT overhead` line; this script shows how they scale and exits 1 if rows move them.

    .venv/bin/python -m bench.overhead [--documents 5000]
"""

from __future__ import annotations

import argparse
import sys

from bench.e2e import Case, CaseRun, prefect_session, run_case


def row(name: str, done: CaseRun) -> str:
    tasks = ", ".join(f"{task} {figures.count}" for task, figures in sorted(done.tasks.items()))
    return (
        f"{name:<22} {done.served.documents:>9} {done.served.lines:>9} {done.run.pages:>6} {len(done.run.batches):>8}"
        f" {done.task_runs:>10} {done.run.api_calls:>10}   {tasks}"
    )


def growth(done: CaseRun, base: CaseRun) -> str:
    figures = {
        "rows": (done.served.lines, base.served.lines),
        "pages": (done.run.pages, base.run.pages),
        "batches": (len(done.run.batches), len(base.run.batches)),
        "task runs": (done.task_runs, base.task_runs),
        "API calls": (done.run.api_calls, base.run.api_calls),
    }
    return ", ".join(f"{name} ×{new / old:.2f}" for name, (new, old) in figures.items())


def main() -> None:
    parser = argparse.ArgumentParser(description="task runs and API calls against rows, pages and batches")
    parser.add_argument("--documents", type=int, default=5000)
    args = parser.parse_args()
    # Groups fixed at 20 pages: with latency off mapping binds, and groups that grow with what has queued
    # up (flows.streaming.page_groups) would make the task count depend on timing; it can only go down.
    fast = {"latency": False, "calls_per_second": 1000, "calls_per_minute": 60_000, "max_pages_per_group": 20}
    cases = {
        "base": Case(args.documents, lines_per_document=4, **fast),
        "rows x2": Case(args.documents, lines_per_document=8, **fast),
        "documents x2": Case(2 * args.documents, lines_per_document=4, **fast),
    }
    with prefect_session():
        runs = {name: run_case(case) for name, case in cases.items()}

    print(f"{'':<22} {'documents':>9} {'rows':>9} {'pages':>6} {'batches':>8} {'task runs':>10} {'API calls':>10}")
    for name, done in runs.items():
        print(row(name, done))
    base, more_rows, more_docs = runs.values()
    unmoved = (more_rows.task_runs, more_rows.run.api_calls) == (base.task_runs, base.run.api_calls)
    for name in ("rows x2", "documents x2"):
        print(f"{name}: {growth(runs[name], base)}")
    print("overhead follows pages and batches, not rows" if unmoved else "FAIL: more rows changed the overhead")
    sys.exit(0 if unmoved else 1)


if __name__ == "__main__":
    main()
