"""Seeded fault and crash scenarios for the sales-outbound sync, and the check that follows every one.

A fault scenario arms one or more faults on the emulators, runs the sync (it may fail), lets the outage
end and runs again until the run completes; a crash scenario runs the sync as a child process, SIGKILLs
it at a chosen point and runs again. Either way the verdict compares Kingdee with the oracle and checks
that every held document is in the report and the ledger. Used by the pytest suites and by `make soak`.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
from prefect.variables import Variable

from flows.outbound import sync_outbound
from sandbox.data import SHANGHAI, jst_time
from state.ledger import HeldLedger
from state.settings import SyncSettings
from state.watermarks import watermark_name
from tests.reliability.oracle import OUTBOUND_FORM, BillOracle, Verdict, compare
from tests.reliability.stage import OUTBOUND_QUERY, Stage, environment, open_stage, start_child

BATCH_SAVE = "DynamicFormService.BatchSave"
BILL_QUERY = "DynamicFormService.ExecuteBillQuery"
CLEAR_FAULTS = {
    "latency_ms": 0,
    "error_5xx_rate": 0,
    "timeout_rate": 0,
    "reset_rate": 0,
    "burst_5xx": 0,
    "truncate_next": 0,
    "replace_next": [],
    "path_prefixes": [],
}
MAX_RERUNS = 3


# --- faults -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """`arm` sets the fault on a running stage; `fired` says afterwards whether it really happened (a
    scenario whose fault never fired proves nothing); `settings` are the environment the run needs for
    it (a short client time-out, a session-based login)."""

    name: str
    what: str
    arm: Callable[[Stage, random.Random], None]
    fired: Callable[[Stage], bool]
    settings: dict[str, str] = field(default_factory=dict)


def _faults(system: str, **knobs) -> Callable[[Stage, random.Random], None]:
    return lambda stage, rng: stage.admin(system, "faults", {**knobs, "seed": rng.randrange(1000)})


def _injected(system: str, kind: str) -> Callable[[Stage], bool]:
    return lambda stage: stage.fault_state(system)["fired"].get(kind, 0) > 0


def _refused(code: int) -> Callable[[Stage], bool]:
    return lambda stage: any(str(code) in codes for codes in stage.jst_stats()["rejected"].values())


def _expire_tokens_mid_fetch(stage: Stage, rng: random.Random) -> None:
    stage.jst_tap.at(OUTBOUND_QUERY, rng.randint(2, 4), action=lambda: stage.admin("jst", "expire_tokens"))


def _per_minute_limit(stage: Stage, rng: random.Random) -> None:
    # The quota runs out after 2 or 3 pages (a first run reads at least six); the client's retry of the
    # refused page comes after the minute has "passed".
    quota = rng.randint(2, 3)
    stage.admin("jst", "limits", {"calls_per_minute": quota})
    stage.jst_tap.at(OUTBOUND_QUERY, quota + 2, action=lambda: stage.admin("jst", "limits", {"calls_per_minute": 100}))


def _expire_sessions_mid_run(stage: Stage, rng: random.Random) -> None:
    stage.kingdee_tap.at(BATCH_SAVE, rng.randint(1, 3), action=lambda: stage.admin("kingdee", "expire_sessions"))
    stage.kingdee_tap.at(BILL_QUERY, rng.randint(2, 6), action=lambda: stage.admin("kingdee", "expire_sessions"))


def _failing_rows(stage: Stage, rng: random.Random) -> None:
    expected = sorted(BillOracle(stage.world).outbound_bookable())
    stage.admin("kingdee", "save_faults", {"fail_bill_numbers": rng.sample(expected, 3)})


def _kingdee_counted(name: str) -> Callable[[Stage], bool]:
    return lambda stage: stage.kingdee_stats()[name] > 0


SAVE_PATH = f"/k3cloud/Kingdee.BOS.WebApi.ServicesStub.{BATCH_SAVE}"
GATEWAY_PAGE = "<html><body>502 Bad Gateway</body></html>"
BUSY = '{"code":500,"msg":"系统繁忙","data":null}'

FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        Fault(
            "jst_5xx_burst",
            "Jushuitan answers 503 four times in a row",
            _faults("jst", burst_5xx=4),
            _injected("jst", "burst_5xx"),
        ),
        Fault(
            "jst_5xx_rate",
            "20% of Jushuitan calls answer 503",
            _faults("jst", error_5xx_rate=0.2),
            _injected("jst", "error_5xx"),
        ),
        Fault(
            "jst_resets",
            "15% of Jushuitan connections reset mid-answer",
            _faults("jst", reset_rate=0.15),
            _injected("jst", "reset"),
        ),
        Fault(
            "jst_timeouts",
            "10% of Jushuitan answers come after the client's time-out",
            _faults("jst", timeout_rate=0.1, timeout_seconds=0.8),
            _injected("jst", "timeout"),
            {"JST_TIMEOUT_SECONDS": "0.5"},
        ),
        Fault(
            "jst_per_second_limit",
            "code 199: the per-second quota is lower than the client's",
            lambda stage, rng: stage.admin("jst", "limits", {"calls_per_second": 2}),
            _refused(199),
        ),
        Fault(
            "jst_per_minute_limit",
            "code 200: the per-minute quota runs out mid-run",
            _per_minute_limit,
            _refused(200),
        ),
        Fault(
            "jst_token_expiry",
            "code 100: the access token expires mid-fetch",
            _expire_tokens_mid_fetch,
            _refused(100),
        ),
        Fault(
            "jst_truncated_body",
            "two outbound pages arrive cut in half (HTTP 200)",
            _faults("jst", truncate_next=2, path_prefixes=[OUTBOUND_QUERY]),
            _injected("jst", "truncate"),
        ),
        Fault(
            "jst_gateway_page",
            "an outbound page is a gateway's HTML page with HTTP 200",
            _faults("jst", replace_next=[GATEWAY_PAGE], path_prefixes=[OUTBOUND_QUERY]),
            _injected("jst", "replace"),
        ),
        Fault(
            "jst_business_error",
            "an outbound page is HTTP 200 with an unknown business error code",
            _faults("jst", replace_next=[BUSY], path_prefixes=[OUTBOUND_QUERY]),
            _injected("jst", "replace"),
        ),
        Fault(
            "kingdee_5xx_burst",
            "Kingdee answers 503 three times in a row",
            _faults("kingdee", burst_5xx=3),
            _injected("kingdee", "burst_5xx"),
        ),
        Fault(
            "kingdee_save_resets",
            "30% of BatchSave connections reset before an answer",
            _faults("kingdee", reset_rate=0.3, path_prefixes=[SAVE_PATH]),
            _injected("kingdee", "reset"),
        ),
        Fault(
            "kingdee_timeouts",
            "10% of Kingdee answers come after the client's time-out",
            _faults("kingdee", timeout_rate=0.1, timeout_seconds=0.8),
            _injected("kingdee", "timeout"),
            {"KINGDEE_TIMEOUT_SECONDS": "0.5"},
        ),
        Fault(
            "kingdee_call_limit",
            "MsgCode 14 (call limit) on the next three calls",
            lambda stage, rng: stage.admin("kingdee", "save_faults", {"msgcode14_next": 3}),
            lambda stage: stage.kingdee_save_faults()["msgcode14_next"] == 0,
        ),
        Fault(
            "kingdee_session_expiry",
            "the Kingdee session (LoginByAppSecret) expires mid-query and mid-save",
            _expire_sessions_mid_run,
            lambda stage: stage.kingdee_stats()["logins"] >= 2,  # the expired session was replaced
            {"KINGDEE_AUTH_MODE": "app_secret"},
        ),
        Fault(
            "kingdee_row_failures",
            "three bills fail Kingdee's validation inside their BatchSave",
            _failing_rows,
            _kingdee_counted("simulated_row_failures"),
        ),
        Fault(
            "kingdee_commit_then_timeout",
            "every BatchSave commits, then answers after the client's time-out",
            lambda stage, rng: stage.admin("kingdee", "save_faults", {"timeout_after_commit_seconds": 1.0}),
            _kingdee_counted("late_answers_after_commit"),
            {"KINGDEE_TIMEOUT_SECONDS": "0.5"},
        ),
    )
}


def clear_faults(stage: Stage) -> None:
    """The outage ends: every knob back to normal (tap actions already fired once)."""
    for system in ("jst", "kingdee"):
        stage.admin(system, "faults", CLEAR_FAULTS)
    stage.admin("jst", "limits", {"calls_per_second": 5, "calls_per_minute": 100})
    stage.admin(
        "kingdee", "save_faults", {"fail_bill_numbers": [], "timeout_after_commit_seconds": 0, "msgcode14_next": 0}
    )


@contextmanager
def short_quota_waits() -> Iterator[None]:
    """Code 200 makes the client wait out a real minute; the emulator's minute "passes" at a tap instead."""
    from connectors.jushuitan import client

    saved = client._PER_MINUTE_WAIT
    client._PER_MINUTE_WAIT = (0.2, 0.3)
    try:
        yield
    finally:
        client._PER_MINUTE_WAIT = saved


# --- the verdict ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One scenario: what the oracle found, and the facts a report or a failing test needs."""

    name: str
    verdict: Verdict
    problems: list[str] = field(default_factory=list)  # held reporting, watermark, run errors
    failed_runs: list[str] = field(default_factory=list)
    unfired: list[str] = field(default_factory=list)  # faults that never struck (the run ended first)

    @property
    def ok(self) -> bool:
        return self.verdict.ok and not self.problems

    def __str__(self) -> str:
        return (
            f"{self.name}: {self.verdict}; problems={self.problems}; failed runs={self.failed_runs}; "
            f"never fired={self.unfired}"
        )


def check(stage: Stage, name: str, last_summary: dict | None, failed_runs: list[str]) -> Outcome:
    """After convergence: Kingdee equals the oracle, every held document is reported and pending in the
    ledger, and the watermark moved."""
    oracle = BillOracle(stage.world)
    verdict = compare(
        oracle.expected(OUTBOUND_FORM),
        stage.bills(),
        OUTBOUND_FORM,
        stage.kingdee_stats()["duplicate_rejections"],
    )
    problems = []
    held = oracle.outbound_held()
    pending = set(HeldLedger(SyncSettings(state_dir=stage.state)).pending("outbound"))
    if pending != held:
        problems.append(f"ledger pending: missing {sorted(held - pending)[:5]}, extra {sorted(pending - held)[:5]}")
    reported = reported_held(stage.reports)
    if not held <= reported:
        problems.append(f"held but not in any held.csv: {sorted(held - reported)[:5]}")
    if last_summary is None:
        problems.append("no run completed")
    elif last_summary["held"] != len(held):
        problems.append(f"last run reported {last_summary['held']} held, expected {len(held)}")
    if Variable.get(watermark_name("outbound"), default=None) is None:
        problems.append("the watermark never advanced")
    return Outcome(name, verdict, problems, failed_runs)


def reported_held(reports: Path) -> set[str]:
    """Documents with a holding reason (not only 'held with its document') in any run's held.csv."""
    documents: set[str] = set()
    for held_csv in reports.glob("*/held.csv"):
        rows = pl.read_csv(held_csv, infer_schema=False)
        if not rows.is_empty():
            documents |= set(rows.filter(pl.col("rule_id") != "doc.held_with_line")["document"].drop_nulls())
    return documents


def converge(failed_runs: list[str]) -> dict | None:
    """Run until a run completes (the re-runs a schedule would make); the last summary, or None."""
    for _ in range(MAX_RERUNS):
        try:
            return sync_outbound()
        except Exception as exc:  # a failed run is allowed; the next one must repair it
            failed_runs.append(f"{type(exc).__name__}: {str(exc)[:200]}")
    return None


# --- fault scenarios ----------------------------------------------------------------------------------


def fault_scenario(root: Path, seed: int, names: list[str]) -> Outcome:
    """Arm `names`, run, clear, re-run until a run completes; then the verdict."""
    rng = random.Random(seed)
    settings = {"SYNC_BATCH_SIZE": str(rng.choice([10, 25]))}
    for name in names:
        settings.update(FAULTS[name].settings)
    with open_stage(root, seed=seed, settings=settings) as stage, environment(stage.env()), short_quota_waits():
        Variable.unset(watermark_name("outbound"))
        for name in names:
            FAULTS[name].arm(stage, rng)
        failed_runs: list[str] = []
        try:
            summary = sync_outbound()
        except Exception as exc:
            failed_runs.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            summary = None
        clear_faults(stage)
        # Failed rows wait in the ledger; the next run retries them (as the next scheduled run would).
        if summary is None or summary["failed"]:
            summary = converge(failed_runs)
        outcome = check(stage, f"faults {'+'.join(names)} (seed {seed})", summary, failed_runs)
        outcome.unfired = [name for name in names if not FAULTS[name].fired(stage)]
        return outcome


# --- crash scenarios ----------------------------------------------------------------------------------

CRASH_POINTS = (
    "token",  # while the first access token is requested
    "master_data",  # while Kingdee base data loads
    "fetch",  # while outbound pages are fetched
    "save_before",  # a BatchSave is on its way, not yet received (earlier chunks may be saved)
    "save_after",  # a BatchSave committed, its answer never arrives
    "before_ledger",  # everything saved, the held ledger not yet written
    "before_report",  # ledger written, the report not yet published
    "before_watermark",  # report published, the watermark not yet saved
)
PAUSES = {
    "before_ledger": "state.ledger:HeldLedger.record",
    "before_report": "flows.sync:publish",
    "before_watermark": "flows.sync:advance_watermark",
}
CRASH_BATCH_SIZE = 10


def _arm_crash(stage: Stage, point: str, rng: random.Random, history: bool) -> Callable[[], bool]:
    """Set the kill point; returns a poll that says whether the child has reached it. After a completed
    run the child fetches two pages (held documents by number, then the short window) and saves one
    batch; a first run fetches at least six pages (five 7-day windows) and saves one batch per ten bills."""
    if point in PAUSES:
        return (stage.root / "paused").exists
    if point == "token":
        checkpoint = stage.jst_tap.at("/openWeb/auth/getInitToken", 1, hold="before")
    elif point == "master_data":
        checkpoint = stage.kingdee_tap.at(BILL_QUERY, rng.randint(1, 3), hold="before")
    elif point == "fetch":
        checkpoint = stage.jst_tap.at(OUTBOUND_QUERY, rng.randint(1, 2 if history else 4), hold="before")
    else:
        batches = 1 if history else -(-len(BillOracle(stage.world).outbound_bookable()) // CRASH_BATCH_SIZE)
        hold = "before" if point == "save_before" else "after"
        checkpoint = stage.kingdee_tap.at(BATCH_SAVE, rng.randint(1, batches), hold=hold)
    return checkpoint.reached.is_set


def _new_documents(stage: Stage, rng: random.Random, count: int) -> None:
    """Documents that arrive after a completed run: copies of bookable ones under new numbers, modified
    a second ago (a later `modified` would lie beyond the next run's window: not due yet)."""
    bookable = list(BillOracle(stage.world).outbound_bookable().values())
    now = jst_time(datetime.now(SHANGHAI) - timedelta(seconds=1))
    base = max(int(doc["io_id"]) for doc in stage.world.outbound if isinstance(doc.get("io_id"), int))
    copies = []
    for n, doc in enumerate(rng.sample(bookable, count), start=1):
        copy = json.loads(json.dumps(doc))
        copy.update(io_id=base + n, so_id=f"{doc['so_id']}N{n}", modified=now)
        for k, line in enumerate(copy["items"]):
            line["ioi_id"] = 90_000_000 + 100 * n + k
        copies.append(copy)
    stage.admin("jst", "records/outbound", copies)


def crash_scenario(root: Path, seed: int, prefect_api_url: str, point: str | None = None) -> Outcome:
    """Kill a `jst-kingdee sync outbound` child at `point` (seeded when None), then run again."""
    rng = random.Random(seed)
    point = point or rng.choice(CRASH_POINTS)
    settings = {"SYNC_BATCH_SIZE": str(CRASH_BATCH_SIZE)}
    with open_stage(root, seed=seed, settings=settings) as stage, environment(stage.env()):
        Variable.unset(watermark_name("outbound"))
        # Sometimes a completed run came before and new documents arrived since (the token then exists).
        history = point != "token" and rng.random() < 0.3
        if history:
            sync_outbound()
            _new_documents(stage, rng, 3)
        reached = _arm_crash(stage, point, rng, history)
        child = start_child(stage, prefect_api_url, "sync", "outbound", pause_at=PAUSES.get(point, ""))
        name = f"crash at {point}{' after a completed run' if history else ''} (seed {seed})"
        problems = []
        deadline = time.monotonic() + 90
        while not reached() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        if child.poll() is not None or not reached():
            child.kill()
            _, err = child.communicate()
            return Outcome(name, Verdict(), [f"the child never reached {point}: rc={child.returncode} {err[-500:]}"])
        child.send_signal(signal.SIGKILL)
        child.communicate()
        stage.jst_tap.release_all()
        stage.kingdee_tap.release_all()
        oracle = BillOracle(stage.world)
        partial = compare(
            oracle.expected(OUTBOUND_FORM),
            stage.bills(),
            OUTBOUND_FORM,
            stage.kingdee_stats()["duplicate_rejections"],
            partial=True,
        )
        if not partial.ok:
            problems.append(f"right after the kill: {partial}")
        failed_runs: list[str] = []
        outcome = check(stage, name, converge(failed_runs), failed_runs)
        outcome.problems[:0] = problems
        return outcome
