"""The nightly omission sweep (sync-sweep, SYNC_SWEEP_DAYS): a document planted behind the watermark, which no
incremental run sees, is caught by the sweep once; a second sweep catches nothing and writes nothing twice."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint
from prefect.variables import Variable
from typer.testing import CliRunner

from cli import app
from flows.all import sync_sweep
from flows.outbound import sync_outbound
from flows.returns import sync_returns
from state.watermarks import watermark_name
from tests.flows.oracle import Scheme

ROOT = Path(__file__).resolve().parents[2]


def _saved(sandbox, form: str) -> list[str]:
    """Every bill number Kingdee holds, a number saved twice listed twice."""
    return [bill["FBillNo"] for bill in httpx.get(f"{sandbox.kingdee.url}/__admin/bills/{form}").json()]


def _watermarks() -> dict[str, str | None]:
    return {sync: Variable.get(watermark_name(sync), default=None) for sync in ("outbound", "returns")}


def _summary_md(sandbox, sync: str) -> str:
    return (max(sandbox.reports.glob(f"*-{sync}-*")) / "summary.md").read_text()


def _plant(sandbox, days_back: float) -> str:
    like = int(min(Scheme(sandbox.world).outbound_bookable()))
    answer = httpx.post(f"{sandbox.jst.url}/__admin/outbound/plant", json={"like": like, "days_back": days_back})
    answer.raise_for_status()
    return str(answer.json()["io_id"])


def _synced(sandbox, *flows) -> None:
    """Backfill over the sandbox period, then one incremental run of each flow: their watermarks are set."""
    window = {"since": sandbox.world.start - timedelta(days=1), "until": datetime.now(sandbox.world.end.tzinfo)}
    for flow in flows:
        flow(**window)
        flow()


@pytest.fixture
def synced(sandbox) -> None:
    _synced(sandbox, sync_outbound, sync_returns)
    assert all(_watermarks().values())


@pytest.fixture
def outbound_synced(sandbox) -> None:
    _synced(sandbox, sync_outbound)


def test_sweep_catches_a_document_behind_the_watermark_once(sandbox, synced):
    planted = _plant(sandbox, days_back=2)
    incremental = sync_outbound()
    assert incremental["written"] == 0 and planted not in _saved(sandbox, "SAL_OUTSTOCK")
    marks = _watermarks()
    returns_before = _saved(sandbox, "SAL_RETURNSTOCK")

    swept = sync_sweep()

    assert swept["outbound"]["sweep_caught"] == swept["outbound"]["written"] == 1
    assert swept["returns"]["sweep_caught"] == swept["returns"]["written"] == 0  # nothing missed: 0, as normally
    assert _saved(sandbox, "SAL_OUTSTOCK").count(planted) == 1
    assert _saved(sandbox, "SAL_RETURNSTOCK") == returns_before
    assert "sweep: caught 1 documents missing from Kingdee" in _summary_md(sandbox, "outbound")
    assert "sweep: caught 0 documents missing from Kingdee" in _summary_md(sandbox, "returns")
    assert _watermarks() == marks  # a sweep never moves a watermark
    window = swept["outbound"]["window"]
    assert datetime.fromisoformat(window[1]) == datetime.fromisoformat(marks["outbound"])  # up to the watermark
    assert datetime.fromisoformat(window[1]) - datetime.fromisoformat(window[0]) == timedelta(days=3)

    again = sync_sweep()

    assert again["outbound"]["sweep_caught"] == again["outbound"]["written"] == 0
    assert again["outbound"]["skipped_existing"] > 0
    numbers = _saved(sandbox, "SAL_OUTSTOCK")
    assert numbers.count(planted) == 1 and len(numbers) == len(set(numbers))


def test_sweep_reads_only_sync_sweep_days_before_the_watermark(sandbox, outbound_synced, monkeypatch):
    monkeypatch.setenv("SYNC_SWEEP_DAYS", "1")
    planted = _plant(sandbox, days_back=2)
    assert sync_outbound(sweep=True)["sweep_caught"] == 0
    monkeypatch.setenv("SYNC_SWEEP_DAYS", "3")
    assert sync_outbound(sweep=True)["sweep_caught"] == 1
    assert _saved(sandbox, "SAL_OUTSTOCK").count(planted) == 1


def test_sync_command_sweep_flag(sandbox, outbound_synced):
    planted = _plant(sandbox, days_back=1)
    result = CliRunner().invoke(app, ["sync", "outbound", "--sweep"])
    assert result.exit_code == 0, result.output
    assert '"sweep_caught": 1' in result.output and planted in _saved(sandbox, "SAL_OUTSTOCK")
    refused = CliRunner().invoke(app, ["sync", "outbound", "--sweep", "--since", "2026-11-01"])
    assert refused.exit_code == 2 and "--sweep" in refused.output


def test_plant_knob_refuses_a_body_it_cannot_use(sandbox):
    admin = f"{sandbox.jst.url}/__admin/outbound/plant"
    assert httpx.post(admin, json={"days_back": 2}).status_code == 400
    assert httpx.post(admin, json={"like": 1, "days_back": 2}).status_code == 404


def test_the_sweep_deployment_runs_sync_sweep_nightly_in_shanghai_time_without_overlap():
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (deployment,) = [d for d in config["deployments"] if d["name"] == "nightly-sweep"]
    path, _, name = deployment["entrypoint"].partition(":")
    assert load_flow_from_entrypoint(f"{ROOT / path}:{name}").name == "sync-sweep"
    (schedule,) = deployment["schedules"]
    assert schedule["timezone"] == "Asia/Shanghai" and schedule["active"] is True
    minute, hour, *every_day = schedule["cron"].split()
    assert every_day == ["*", "*", "*"] and hour.isdigit()
    assert deployment["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
