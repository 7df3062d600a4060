"""End to end against the quota bound: `sync_outbound` over real HTTP, emulators with latency.

The Jushuitan emulator answers each document page after 50 ms and admits `--calls-per-second` /
`--calls-per-minute` per token and API (the client is set to the same limits, and to `--pages-in-flight`
page requests at once); Kingdee's BatchSave takes 20 ms + 1 ms per bill, with `SYNC_KINGDEE_CONCURRENCY`
saves in flight. No run can beat

    quota   = latency + max(⌊(pages − 1) ÷ per second⌋ s, ⌊(pages − 1) ÷ per minute⌋ min)
              (the emulator admits no call while the last second or minute holds its limit's worth, so
              the calls n and n + limit are at least a window apart; the last answer takes a latency)
    latency = pages × latency ÷ pages in flight
    save    = Σ batch save times ÷ concurrency
    bound   = max(quota, latency, save)          (fetch and save overlap at best)

so `ratio = wall / bound` says how much the flow adds. Each emulator runs in its own process;
Prefect's ephemeral server is started (and warmed by a trivial flow) before the clock starts.

    .venv/bin/python -m bench.e2e [--documents 40000]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from bench.emulators import JST_DOCUMENT_PATHS, ROOT, Emulators, Served

JST_LATENCY_MS = 50
SAVE_LATENCY_MS = 20
SAVE_LATENCY_PER_BILL_MS = 1


@contextmanager
def prefect_session() -> Iterator[None]:
    """An ephemeral Prefect server on a temporary database, started and warmed before anything is timed.

    Heartbeats off as in tests/flows/conftest.py (a sync flow call otherwise waits ~1 s for the thread);
    Prefect's console log is cut to warnings so thousands of task runs do not flood the output (their
    logs still go to the API, as in production).
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from prefect import flow
    from prefect.logging.handlers import PrefectConsoleHandler
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    @flow(name="bench-warm-up")
    def warm_up() -> None:
        """Loads the engine and opens the API connection before the clock starts."""

    with prefect_test_harness(server_startup_timeout=120):
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            warm_up()
            for handler in logging.getLogger().handlers:
                if isinstance(handler, PrefectConsoleHandler):
                    handler.setLevel(logging.WARNING)
            yield


@dataclass
class SyncRun:
    """One timed `sync_outbound` run and what both sides counted."""

    wall_s: float
    summary: dict
    flow_run_id: UUID
    jst_stats: dict
    kingdee_stats: dict

    @property
    def pages(self) -> int:
        """Document pages the emulator answered (refused calls excluded)."""
        calls = sum(self.jst_stats["calls"].get(path, 0) for path in JST_DOCUMENT_PATHS)
        rejected = sum(sum(self.jst_stats["rejected"].get(path, {}).values()) for path in JST_DOCUMENT_PATHS)
        return calls - rejected

    @property
    def batches(self) -> list[int]:
        return self.kingdee_stats["batch_sizes"]

    @property
    def api_calls(self) -> int:
        return sum(self.jst_stats["calls"].values()) + sum(self.kingdee_stats["calls"].values())

    def task_runs(self) -> dict[str, TaskFigures]:
        """Task runs of this flow run by task name, as the Prefect API recorded them."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        runs = []
        flow_runs = FlowRunFilter(id=FlowRunFilterId(any_=[self.flow_run_id]))
        with get_client(sync_client=True) as client:
            while batch := client.read_task_runs(flow_run_filter=flow_runs, limit=200, offset=len(runs)):
                runs += batch
        figures: dict[str, TaskFigures] = {}
        for run in runs:
            name = run.name.rsplit("-", 1)[0]  # "save-batch-a1b" → "save-batch"
            known = figures.get(name, TaskFigures(0, 0.0, 0.0))
            span = (run.end_time - run.start_time).total_seconds() if run.start_time and run.end_time else 0.0
            figures[name] = TaskFigures(known.count + 1, known.run_s + run.total_run_time.total_seconds(),
                                        known.span_s + span)  # fmt: skip
        return figures


@dataclass(frozen=True)
class TaskFigures:
    count: int
    run_s: float  # time in the task body (Prefect's total_run_time)
    span_s: float  # start to end as the API recorded them

    def __str__(self) -> str:
        each = 1000 / self.count
        return f"{self.count} runs, {self.run_s * each:.0f} ms in the body, {self.span_s * each:.0f} ms start to end"


def sync_outbound_against(served: Served, workdir: Path, env: dict[str, str]) -> SyncRun:
    """Point every setting at the emulators (and `env`), then time one backfill of the world's period."""
    os.environ.update(
        {
            "JST_BASE_URL": served.jst_url,
            "JST_TOKEN_STORE_PATH": str(workdir / "token.json"),
            "KINGDEE_SERVER_URL": f"{served.kingdee_url}/k3cloud",
            "SYNC_REPORTS_DIR": str(workdir / "reports"),
            "SYNC_STATE_DIR": str(workdir / "state"),
            "SYNC_SHOPS_TABLE": str(ROOT / "config/shops.csv"),
            "SYNC_WAREHOUSES_TABLE": str(ROOT / "config/warehouses.csv"),
            **env,
        }
    )
    from flows.outbound import sync_outbound

    started = time.perf_counter()
    state = sync_outbound(since=served.start, until=served.end, return_state=True)
    wall = time.perf_counter() - started
    summary = state.result()
    jst_stats, kingdee_stats = served.stats()
    return SyncRun(wall, summary, state.state_details.flow_run_id, jst_stats, kingdee_stats)


@dataclass(frozen=True)
class Bound:
    quota_s: float
    latency_s: float
    save_s: float

    @property
    def seconds(self) -> float:
        return max(self.quota_s, self.latency_s, self.save_s)

    @property
    def binding(self) -> str:
        floors = {"quota": self.quota_s, "latency": self.latency_s, "save": self.save_s}
        return max(floors, key=floors.__getitem__)


def quota_bound(run: SyncRun, case: Case) -> Bound:
    latency = JST_LATENCY_MS / 1000
    spacing = max((run.pages - 1) // case.calls_per_second, 60 * ((run.pages - 1) // case.calls_per_minute))
    save = sum(SAVE_LATENCY_MS + SAVE_LATENCY_PER_BILL_MS * size for size in run.batches) / 1000 / case.concurrency
    return Bound(latency + spacing, run.pages * latency / case.pages_in_flight, save)


@dataclass(frozen=True)
class Case:
    """One world and the settings a run uses; the client's limits always equal the emulator's."""

    documents: int
    lines_per_document: int = 4
    latency: bool = True  # 50 ms per Jushuitan page, 20 ms + 1 ms per bill per BatchSave
    calls_per_second: int = 20
    calls_per_minute: int = 1200
    concurrency: int = 2
    pages_in_flight: int = 2
    pages_per_group: int = 20
    max_pages_per_group: int | None = None  # None: the flows' default (groups grow when mapping binds)
    batch_size: int = 100

    def emulators(self) -> Emulators:
        return Emulators(
            self.documents,
            lines_per_document=self.lines_per_document,
            jst_latency_ms=JST_LATENCY_MS if self.latency else 0,
            calls_per_second=self.calls_per_second,
            calls_per_minute=self.calls_per_minute,
            save_latency_ms=SAVE_LATENCY_MS if self.latency else 0,
            save_latency_per_bill_ms=SAVE_LATENCY_PER_BILL_MS if self.latency else 0,
        )

    def env(self) -> dict[str, str]:
        most = {} if self.max_pages_per_group is None else {"SYNC_MAX_PAGES_PER_GROUP": str(self.max_pages_per_group)}
        return most | {
            "JST_CALLS_PER_SECOND": str(self.calls_per_second),
            "JST_CALLS_PER_MINUTE": str(self.calls_per_minute),
            "JST_PAGES_IN_FLIGHT": str(self.pages_in_flight),
            "SYNC_KINGDEE_CONCURRENCY": str(self.concurrency),
            "SYNC_PAGES_PER_GROUP": str(self.pages_per_group),
            "SYNC_BATCH_SIZE": str(self.batch_size),
        }


@dataclass(frozen=True)
class CaseRun:
    served: Served
    run: SyncRun
    tasks: dict[str, TaskFigures]

    @property
    def task_runs(self) -> int:
        return sum(figures.count for figures in self.tasks.values())

    def describe(self) -> None:
        """Print what the run did, as both emulators and the Prefect API counted it."""
        run = self.run
        print(f"world: {self.served.documents} documents, {self.served.lines} lines")
        print(f"outcomes: {run.summary}")
        print(f"pages {run.pages}, batches {len(run.batches)} ({sum(run.batches)} bills), wall {run.wall_s:.2f} s")
        for name, figures in self.tasks.items():
            print(f"  task {name}: {figures}")
        print(f"jushuitan calls {run.jst_stats['calls']}, refused {run.jst_stats['rejected']}")
        print(f"jushuitan page requests in flight at most {run.jst_stats['max_in_flight']}")
        print(
            f"kingdee calls {run.kingdee_stats['calls']}, in flight at most {run.kingdee_stats['max_concurrent_saves']}"
        )

    def overhead_line(self) -> str:
        return (
            f"RESULT overhead task_runs={self.task_runs} api_calls={self.run.api_calls} pages={self.run.pages} "
            f"batches={len(self.run.batches)} rows={self.served.lines}"
        )


def run_case(case: Case) -> CaseRun:
    """Start the emulators for `case`, run one timed sync against them, stop them. Needs `prefect_session`."""
    with case.emulators() as served, tempfile.TemporaryDirectory() as workdir:
        run = sync_outbound_against(served, Path(workdir), case.env())
        return CaseRun(served, run, run.task_runs())


def main() -> None:
    parser = argparse.ArgumentParser(description="sync_outbound wall time against the quota/latency bound")
    parser.add_argument("--documents", type=int, default=40_000)
    parser.add_argument("--calls-per-second", type=int, default=20)
    parser.add_argument("--calls-per-minute", type=int, default=1200)
    parser.add_argument("--concurrency", type=int, default=2, help="SYNC_KINGDEE_CONCURRENCY")
    parser.add_argument("--pages-in-flight", type=int, default=2, help="JST_PAGES_IN_FLIGHT")
    parser.add_argument("--pages-per-group", type=int, default=20, help="SYNC_PAGES_PER_GROUP")
    parser.add_argument("--batch-size", type=int, default=100, help="SYNC_BATCH_SIZE")
    args = parser.parse_args()
    case = Case(
        documents=args.documents,
        calls_per_second=args.calls_per_second,
        calls_per_minute=args.calls_per_minute,
        concurrency=args.concurrency,
        pages_in_flight=args.pages_in_flight,
        pages_per_group=args.pages_per_group,
        batch_size=args.batch_size,
    )
    with prefect_session():
        done = run_case(case)
    done.describe()
    bound = quota_bound(done.run, case)
    print(
        f"bound: quota {bound.quota_s:.2f} s, latency {bound.latency_s:.2f} s, save {bound.save_s:.2f} s; "
        f"{bound.binding} binds (Prefect start-up excluded)"
    )
    print(done.overhead_line())
    print(
        f"RESULT e2e ratio={done.run.wall_s / bound.seconds:.3f} wall_s={done.run.wall_s:.2f} "
        f"bound_s={bound.seconds:.2f} documents={done.served.documents}"
    )


if __name__ == "__main__":
    main()
