"""Two worker hosts that share only the Prefect server and the PostgreSQL state database (tests/hosts/harness.py):
the run lock, the held ledger, the hand-kept tables and the watermarks work across them, a host killed
mid-run is repaired by the other, and their Jushuitan reads together stay within the platform's limits."""

from __future__ import annotations

import json
import signal
from datetime import datetime, timedelta

import polars as pl
from prefect.variables import Variable

from basics.shanghai import now_shanghai
from state.ledger import HeldLedger
from state.runs import latest_runs
from state.settings import SyncSettings
from state.tables import TABLES, apply_table
from state.watermarks import watermark_name
from tests.hosts.harness import RUN_SECONDS, Host, TwoHosts, finish, wait_until
from tests.reliability.oracle import OUTBOUND_FORM, BillOracle, compare
from tests.reliability.scenarios import BATCH_SAVE
from tests.reliability.stage import OUTBOUND_QUERY, ROOT

UNMAPPED_SHOP = "10090"  # in the sandbox world, missing from config/shops.csv


def summary(stdout: str) -> dict:
    """The JSON summary `jst-kingdee sync` prints: all of its stdout (the logs go to stderr)."""
    return json.loads(stdout)


def test_the_same_sync_on_both_hosts_at_once_runs_on_one_only(make_hosts):
    hosts = make_hosts()
    saving = hosts.stage.kingdee_tap.at(BATCH_SAVE, 1, hold="before")  # host a is mid-save
    first = hosts.a.start("sync", "outbound")
    try:
        assert saving.reached.wait(RUN_SECONDS), finish(first).stderr[-2000:] if first.poll() is not None else "no save"
        second = hosts.b.run("sync", "outbound")
        assert second.returncode != 0
        # The lock both hosts see is the database's: they share no folder a file lock could sit in.
        assert "another outbound run is in progress (advisory lock" in second.stderr
        assert "nothing was written" in second.stderr
        assert hosts.stage.kingdee_stats()["batch_sizes"] == []
        assert hosts.b.report_files() == []
        assert Variable.get(watermark_name("outbound")) is None  # host a's run is still saving
    finally:
        saving.release.set()
    done = finish(first)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = BillOracle(hosts.stage.world).expected(OUTBOUND_FORM)
    stats = hosts.stage.kingdee_stats()
    verdict = compare(expected, hosts.stage.bills(), OUTBOUND_FORM, stats["duplicate_rejections"])
    assert verdict.ok, str(verdict)
    (run,) = latest_runs(hosts.state_settings(), "outbound")
    assert run.report_dir.startswith(str(hosts.a.stage.reports))


def test_a_document_held_on_host_a_is_written_by_host_b_once_the_shared_table_is_fixed(make_hosts, tmp_path):
    hosts = make_hosts()
    oracle = BillOracle(hosts.stage.world)
    mapped_before = oracle.expected(OUTBOUND_FORM)
    first = hosts.a.run("sync", "outbound")
    assert first.returncode == 0, first.stderr[-2000:]
    ledger = HeldLedger(hosts.state_settings())
    fix = {"shop_id": UNMAPPED_SHOP, "shop_name": "小红书店", "customer_number": "CUST005", "customer_name": "线下批发"}
    oracle.shops[UNMAPPED_SHOP] = fix
    expected = oracle.expected(OUTBOUND_FORM)
    unmapped = set(expected) - set(mapped_before)
    assert unmapped and unmapped <= set(ledger.pending("outbound"))
    assert not unmapped & {bill["FBillNo"] for bill in hosts.stage.bills()}

    # An analyst maps the shop in the shared table, from a machine of their own; no host's file changes.
    shops = tmp_path / "shops.csv"
    shops.write_text((ROOT / "config/shops.csv").read_text(encoding="utf-8") + ",".join(fix.values()) + "\n", "utf-8")
    changes = apply_table(
        hosts.state_settings(), TABLES["shops"], TABLES["shops"].read_csv(shops), "analyst", str(shops), now_shanghai()
    )
    assert changes["added"] == 1

    second = hosts.b.run("sync", "outbound")
    assert second.returncode == 0, second.stderr[-2000:]
    ran_a, ran_b = summary(first.stdout), summary(second.stdout)
    # Host b's run is incremental from the watermark host a's run left on the Prefect server.
    overlap = timedelta(minutes=SyncSettings().overlap_minutes)
    assert datetime.fromisoformat(ran_b["window"][0]) == datetime.fromisoformat(ran_a["window"][1]) - overlap
    assert ran_b["written"] == len(unmapped)
    bills = hosts.stage.bills()
    assert {bill["FBillNo"]: bill["FCustomerID"] for bill in bills if bill["FBillNo"] in unmapped} == dict.fromkeys(
        unmapped, {"FNumber": "CUST005"}
    )
    verdict = compare(expected, bills, OUTBOUND_FORM, hosts.stage.kingdee_stats()["duplicate_rejections"])
    assert verdict.ok, str(verdict)
    held = ledger.documents("outbound").filter(pl.col("document").is_in(list(unmapped)))
    assert set(held["status"]) == {"released"}
    assert not unmapped & set(ledger.pending("outbound"))


def test_both_hosts_reading_jushuitan_at_once_stay_within_its_limits(make_hosts):
    """sync outbound on host a, a reconcile of the same period on host b: both page the outbound API with
    the one token of the shared block, both counting their calls in the shared state database (state/budget.py)."""
    per_second = 3
    hosts = make_hosts(
        settings={"JST_CALLS_PER_SECOND": str(per_second)},
        jst_options={"calls_per_second": per_second},
        seed=11,
        days=5,
        orders_per_day=150,
    )
    # The answer to the first outbound page either host asks for waits until the other host asks too: they read
    # at once. Held after the emulator counted it: a request held before would arrive later than it took its
    # turn, which no limiter can see.
    together = hosts.stage.jst_tap.at(OUTBOUND_QUERY, 1, hold="after")
    hosts.stage.jst_tap.at(OUTBOUND_QUERY, 2, action=together.release.set)
    world = hosts.stage.world
    period = ["--since", world.start.isoformat(), "--until", (world.end + timedelta(minutes=1)).isoformat()]
    sync = hosts.a.start("sync", "outbound", *period)
    reconcile = hosts.b.start("reconcile", *period, "--kind", "outbound")
    for process in (sync, reconcile):
        done = finish(process)
        assert done.returncode == 0, done.stderr[-2000:]
    assert together.release.is_set()

    stats = hosts.stage.jst_stats()
    assert {peak["token"] for peak in stats["peaks"]} == {"token-1"}  # one token for both hosts
    assert stats["calls"][OUTBOUND_QUERY] > 6 * per_second  # enough calls for the budget to matter
    assert max(peak["max_calls_per_second"] for peak in stats["peaks"]) <= per_second
    assert max(peak["max_calls_per_minute"] for peak in stats["peaks"]) <= 100
    assert not any({"199", "200"} & set(codes) for codes in stats["rejected"].values())


def test_a_host_killed_mid_run_is_repaired_by_the_other_host(make_hosts):
    """SIGKILL of host a mid-save, then of host b's run mid-save, then host a runs again: every bill exactly
    once. Each kill comes while the answer to a save Kingdee has committed is held, so the killed run never
    learns of those bills. Small batches and slow saves leave most bills for after the kills."""
    hosts = make_hosts(settings={"SYNC_BATCH_SIZE": "5"}, kingdee_options={"save_latency_ms": 250})
    expected = BillOracle(hosts.stage.world).expected(OUTBOUND_FORM)
    saved = 0
    for host in (hosts.a, hosts.b):
        bills = killed_mid_save(hosts, host)
        assert saved < len(bills) < len(expected), f"host {host.name} was not killed mid-run"
        stats = hosts.stage.kingdee_stats()
        verdict = compare(expected, bills, OUTBOUND_FORM, stats["duplicate_rejections"], partial=True)
        assert verdict.ok, str(verdict)
        saved = len(bills)

    last = hosts.a.run("sync", "outbound")
    assert last.returncode == 0, last.stderr[-2000:]
    ran = summary(last.stdout)
    assert (ran["skipped_existing"], ran["written"]) == (saved, len(expected) - saved)
    stats = hosts.stage.kingdee_stats()
    assert stats["duplicate_rejections"] == 0
    verdict = compare(expected, hosts.stage.bills(), OUTBOUND_FORM, stats["duplicate_rejections"])
    assert verdict.ok, str(verdict)


def killed_mid_save(hosts: TwoHosts, host: Host) -> list[dict]:
    """`sync outbound` on `host`, SIGKILLed while the answer to its second BatchSave (committed by Kingdee)
    is held; the bills Kingdee holds once every save it had taken has landed."""
    committed = hosts.stage.kingdee_tap.at(BATCH_SAVE, 2, hold="after")
    run = host.start("sync", "outbound")
    try:
        assert committed.reached.wait(RUN_SECONDS), (
            finish(run).stderr[-2000:] if run.poll() is not None else "no 2nd save"
        )
        run.send_signal(signal.SIGKILL)
        run.communicate()
    finally:
        committed.release.set()
    assert run.returncode == -signal.SIGKILL, f"host {host.name}'s run ended before it was killed"
    taken = hosts.stage.kingdee_stats
    wait_until(lambda: len(hosts.stage.bills()) == sum(taken()["batch_sizes"]), 30, "the last saves to land")
    return hosts.stage.bills()
