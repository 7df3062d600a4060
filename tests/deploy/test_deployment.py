"""The deployment path as users run it: a real Prefect server on a free 127.0.0.1 port with its own PREFECT_HOME
in tmp, the process work pool, `prefect deploy --all`, credential blocks, a worker, and flow runs in separate
processes against the emulators; plus the shared Jushuitan budget across processes.

Every process is started through deploy.serve.Processes and stopped by its process-group id at the end of the
test or module, also on failure.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterParentFlowRunId,
    FlowRunFilterStartTime,
)
from prefect.deployments import run_deployment
from prefect.events import Event
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, temporary_settings
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from typer.testing import CliRunner

from basics.shanghai import SHANGHAI
from cli import app as cli_app
from connectors.jushuitan.tokens import Token
from connectors.settings import JushuitanSettings, KingdeeSettings
from deploy.blocks import BLOCK_NAME, connector_settings, jushuitan_client, register_blocks
from deploy.serve import (
    ROOT,
    Processes,
    deploy,
    free_port,
    prefect_env,
    sandbox_env,
    start_emulators,
    start_prefect_server,
    worker_args,
)
from reporting.reports import HELD_ALERT_EVENT
from sandbox.data import generate_world
from sandbox.jushuitan import create_app as jushuitan_app
from sandbox.kingdee import create_app as kingdee_app
from sandbox.server import serve_in_thread
from state.tokens import BlockTokenStore

OUTBOUND_QUERY = "/open/orders/out/simple/query"
RUN_TIMEOUT = 240.0


@dataclass
class LocalServer:
    api_url: str
    env: dict[str, str]
    home: Path

    def processes(self, logs: Path, **extra_env: str) -> Processes:
        """Children of one test, stopped when it ends."""
        return Processes({**self.env, **extra_env}, logs)


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    # PYTHONPATH: children import this checkout's code whatever is installed in the venv.
    env = {**prefect_env(home, api_url), "PYTHONPATH": str(ROOT)}
    with Processes(env, home / "logs") as processes:
        start_prefect_server(processes, port, schedules=False)  # only the runs a test asks for
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            yield LocalServer(api_url, env, home)
            # This process sent events (block loads) to this server: flush them while it is up, or the next
            # test harness's drain_all waits on a stopped server for ever.
            EventsWorker.drain_all(timeout=30)
            APILogWorker.drain_all(timeout=30)


# --- credentials and token as blocks ----------------------------------------------------------


def test_registered_blocks_supply_credentials_and_mask_their_secrets(
    prefect_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    jst_secret, kingdee_secret = "jst-secret-4a7f9c", "kingdee-secret-93be01"
    jst = JushuitanSettings(base_url="https://openapi.example", app_key="prod-app", app_secret=SecretStr(jst_secret))
    kingdee = KingdeeSettings(
        server_url="https://tenant.example/k3cloud",
        acct_id="A1",
        username="sync",
        app_id="app-1",
        app_secret=SecretStr(kingdee_secret),
        auth_mode="app_secret",
    )
    assert register_blocks("blocks-test", jst, kingdee) == [
        "jushuitan-credentials/blocks-test",
        "kingdee-credentials/blocks-test",
    ]
    monkeypatch.setenv("JST_CALLS_PER_SECOND", "2")  # not a credential: still from the environment

    got_jst, got_kingdee = connector_settings("blocks-test")

    assert (got_jst.base_url, got_jst.app_key, got_jst.app_secret.get_secret_value()) == (
        "https://openapi.example",
        "prod-app",
        jst_secret,
    )
    assert (got_jst.token_block, got_jst.calls_per_second) == ("blocks-test-token", 2)
    assert (got_kingdee.server_url, got_kingdee.acct_id, got_kingdee.auth_mode) == (
        "https://tenant.example/k3cloud",
        "A1",
        "app_secret",
    )
    assert got_kingdee.app_secret.get_secret_value() == kingdee_secret
    with get_client(sync_client=True) as client:
        documents = [
            client.read_block_document_by_name("blocks-test", slug, include_secrets=False).data
            for slug in ("jushuitan-credentials", "kingdee-credentials")
        ]
    shown = json.dumps(documents)
    assert "prod-app" in shown and jst_secret not in shown and kingdee_secret not in shown


def test_blocks_register_command_saves_the_environment_without_echoing_secrets(
    prefect_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JST_APP_KEY", "cli-app")
    monkeypatch.setenv("JST_APP_SECRET", "cli-secret-77d1")
    monkeypatch.setenv("KINGDEE_APP_SECRET", "cli-kingdee-secret-5e2a")
    result = CliRunner().invoke(cli_app, ["blocks", "register", "--name", "cli-test"])
    assert result.exit_code == 0, result.output
    assert "jushuitan-credentials/cli-test" in result.output and "secret-" not in result.output
    jst, kingdee = connector_settings("cli-test")
    assert (jst.app_key, jst.app_secret.get_secret_value()) == ("cli-app", "cli-secret-77d1")
    assert kingdee.app_secret.get_secret_value() == "cli-kingdee-secret-5e2a"


def test_without_blocks_credentials_come_from_the_environment(
    prefect_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JST_APP_KEY", "env-app")
    jst, kingdee = connector_settings("never-registered")
    assert (jst.app_key, jst.token_block) == ("env-app", None)
    assert kingdee == KingdeeSettings()


def test_block_token_store_gives_every_reader_the_last_saved_token(prefect_server: LocalServer) -> None:
    writer, reader = BlockTokenStore("store-test-token"), BlockTokenStore("store-test-token")
    assert reader.load() is None
    writer.save(Token("access-1", "refresh-1", 100.0))
    writer.save(Token("access-2", None, 200.0))
    assert reader.load() == Token("access-2", None, 200.0)
    with get_client(sync_client=True) as client:
        stored = client.read_block_document_by_name("store-test-token", "jushuitan-token-state", include_secrets=False)
    assert "access-2" not in json.dumps(stored.data)


# --- end to end ----------------------------------------------------------------------------------


def _flow_runs(**filters) -> list:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(**filters)


@pytest.mark.slow
def test_on_demand_deployment_runs_on_a_worker_and_reports_through_the_api(
    prefect_server: LocalServer, tmp_path: Path
) -> None:
    with prefect_server.processes(tmp_path / "logs") as processes:
        deploy(processes)
        jst_url, kingdee_url = start_emulators(processes, free_port(), free_port(), days=3, orders_per_day=10)
        register_blocks(BLOCK_NAME, JushuitanSettings(base_url=jst_url), KingdeeSettings(server_url=kingdee_url))
        now = datetime.now(SHANGHAI)
        requested = run_deployment(
            "sync-all/on-demand",
            parameters={"since": now - timedelta(days=4), "until": now + timedelta(minutes=1)},
            timeout=0,
        )
        worker = processes.start(
            "worker",
            worker_args(run_once=True),
            {
                **sandbox_env(jst_url, kingdee_url, tmp_path / "state"),
                "SYNC_REPORTS_DIR": str(tmp_path / "reports"),
                "SYNC_HELD_ALERT_THRESHOLD": "0",  # any held document raises the alert event
            },
        )
        assert worker.wait(timeout=RUN_TIMEOUT) == 0, processes.log_tail("worker")

        with get_client(sync_client=True) as client:
            run = client.read_flow_run(requested.id)
            children = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[requested.id]))
            )
            artifacts = client.read_artifacts(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[child.id for child in children]))
            )
        bills = httpx.get(f"{kingdee_url.removesuffix('/k3cloud')}/__admin/bills/SAL_OUTSTOCK").json()

    assert run.state is not None and run.state.is_completed(), processes.log_tail("worker")
    assert (run.work_pool_name, run.work_queue_name) == ("jst-kingdee", "on-demand")
    assert sorted(child.state_name for child in children) == ["Completed"] * 3
    summaries = {a.key: a.data for a in artifacts if a.key and a.key.endswith("-summary")}
    assert set(summaries) == {"materials-summary", "outbound-summary", "returns-summary"}
    fetched, written, skipped, held, failed = _counts(summaries["outbound-summary"])
    assert fetched == written + skipped + held + failed and written > 0
    assert len(bills) == written  # what the artifact reports is what Kingdee received
    assert len(list((tmp_path / "reports").glob("*-outbound-*/summary.json"))) == 1
    assert held > 0
    held_by_sync = {key.removesuffix("-summary"): _counts(markdown)[3] for key, markdown in summaries.items()}
    alerting = {f"jst-kingdee.sync.{sync}": count for sync, count in held_by_sync.items() if count > 0}
    alerts = _held_alerts({f"prefect.flow-run.{child.id}" for child in children}, len(alerting))
    assert {event.resource.id: event.payload["held"] for event in alerts} == alerting
    # An automation matches on the resource (jst-kingdee.sync.*); the notification links the run.
    assert all(any(r.id.startswith("prefect.flow-run.") for r in event.related) for event in alerts)


def _held_alerts(runs: set[str], expected: int, timeout: float = 30.0) -> list[Event]:
    """The held-documents alert events related to `runs`, once the server has stored `expected` of them."""
    deadline = time.monotonic() + timeout
    event_filter = EventFilter(
        occurred=EventOccurredFilter(since=datetime.now(SHANGHAI) - timedelta(hours=1)),
        event=EventNameFilter(name=[HELD_ALERT_EVENT]),
    )
    while True:
        with get_client(sync_client=True) as client:
            events = client.read_events(event_filter, limit=50).events
        found = [event for event in events if runs & {resource.id for resource in event.related}]
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def _counts(markdown: str) -> tuple[int, ...]:
    """The counts row of a summary artifact: fetched, written, skipped, held, failed."""
    (row,) = re.findall(r"^\| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$", markdown, flags=re.MULTILINE)
    return tuple(map(int, row))


@pytest.mark.slow
def test_two_runs_at_once_stay_within_one_jushuitan_budget(
    prefect_server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reconcile of the period while sync-outbound runs: both page the outbound API with the one token."""
    monkeypatch.setenv("SYNC_STATE_DIR", str(tmp_path / "state"))  # the budget's store, shared with both runs
    per_second = 3
    world = generate_world(seed=11, days=5, orders_per_day=150)
    with serve_in_thread(jushuitan_app(world)) as jst, serve_in_thread(kingdee_app(world.kingdee)) as kingdee:
        admin = httpx.Client(base_url=jst.url, trust_env=False)
        assert admin.post("/__admin/limits", json={"calls_per_second": per_second}).status_code == 200
        register_blocks(
            BLOCK_NAME, JushuitanSettings(base_url=jst.url), KingdeeSettings(server_url=f"{kingdee.url}/k3cloud")
        )
        with jushuitan_client(connector_settings()[0]) as client:  # the token every run will load from its block
            list(client.shops())
        env = {
            **sandbox_env(jst.url, f"{kingdee.url}/k3cloud", tmp_path / "state"),
            "SYNC_REPORTS_DIR": str(tmp_path / "reports"),
            "JST_CALLS_PER_SECOND": str(per_second),
        }
        since, until = world.start.isoformat(), (world.end + timedelta(minutes=1)).isoformat()
        started = datetime.now(SHANGHAI)
        with prefect_server.processes(tmp_path / "logs", **env) as processes:
            runs = {
                "sync": processes.start(
                    "sync", _python(f"from flows.outbound import sync_outbound; sync_outbound({since=}, {until=})")
                ),
                "reconcile": processes.start(
                    "reconcile",
                    _python(
                        f"from flows.reconcile import reconcile; reconcile({since=}, {until=}, kinds=['outbound'])"
                    ),
                ),
            }
            for name, process in runs.items():
                assert process.wait(timeout=RUN_TIMEOUT) == 0, processes.log_tail(name)
        stats = admin.get("/__admin/stats").json()

    flow_runs = _flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=["sync-outbound", "reconcile"])),
        flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=started)),
    )
    assert len(flow_runs) == 2
    assert max(r.start_time for r in flow_runs) < min(r.end_time for r in flow_runs)  # they did run at once
    peaks = {(p["token"], p["path"]): p for p in stats["peaks"]}
    (shops_token,) = {token for token, path in peaks if path == "/open/shops/query"}
    assert {token for token, path in peaks if path == OUTBOUND_QUERY} == {shops_token}  # one token for all
    assert stats["calls"][OUTBOUND_QUERY] > 6 * per_second  # enough calls for the budget to matter
    assert max(p["max_calls_per_second"] for p in peaks.values()) <= per_second
    assert max(p["max_calls_per_minute"] for p in peaks.values()) <= 100
    # Refusals for the limits, none (a stale token from an earlier test may have been refused: code 100).
    assert not any({"199", "200"} & set(codes) for codes in stats["rejected"].values())


@pytest.mark.slow
def test_alerts_reach_the_notification_block(prefect_server: LocalServer, tmp_path: Path) -> None:
    """`jst-kingdee alerts register` against a webhook block on loopback: a failed run and a run over the
    held threshold each send one notification through the server's automations."""
    received: list[dict] = []

    async def webhook(request: Request) -> JSONResponse:
        received.append(await request.json())
        return JSONResponse({})

    receiver = Starlette(routes=[Route("/hook", webhook, methods=["POST"])])
    world = generate_world(seed=5, days=2, orders_per_day=60)
    with (
        serve_in_thread(receiver) as hook,
        serve_in_thread(jushuitan_app(world)) as jst,
        serve_in_thread(kingdee_app(world.kingdee)) as kingdee,
    ):
        CustomWebhookNotificationBlock(
            name="alerts-test", url=f"{hook.url}/hook", json_data={"text": "{{subject}}|{{body}}"}
        ).save("alerts-test", overwrite=True)
        register_blocks(  # the runs take their credentials from the blocks (earlier tests may have left some)
            BLOCK_NAME, JushuitanSettings(base_url=jst.url), KingdeeSettings(server_url=f"{kingdee.url}/k3cloud")
        )
        result = CliRunner().invoke(cli_app, ["alerts", "register", "--notify", "custom-webhook/alerts-test"])
        assert result.exit_code == 0, result.output
        env = {
            **sandbox_env(jst.url, f"{kingdee.url}/k3cloud", tmp_path / "state"),
            "SYNC_REPORTS_DIR": str(tmp_path / "reports"),
            "SYNC_HELD_ALERT_THRESHOLD": "3",
        }
        since, until = world.start.isoformat(), (world.end + timedelta(minutes=1)).isoformat()
        with prefect_server.processes(tmp_path / "logs", **env) as processes:
            sync = processes.start(
                "sync", _python(f"from flows.outbound import sync_outbound; sync_outbound({since=}, {until=})")
            )
            assert sync.wait(timeout=RUN_TIMEOUT) == 0, processes.log_tail("sync")
            failing = processes.start(  # until before since: the flow raises
                "reconcile",
                _python(f"from flows.reconcile import reconcile; reconcile(since={until!r}, until={since!r})"),
            )
            assert failing.wait(timeout=RUN_TIMEOUT) != 0
        held = json.loads(next((tmp_path / "reports").glob("*-outbound-*/summary.json")).read_text())["held"]
        assert held > 3
        deadline = time.monotonic() + 60
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)

    texts = sorted(message["text"] for message in received)
    assert len(texts) == 2, texts
    assert texts[0].startswith(f"jst-kingdee: outbound held {held} documents|")
    assert texts[1].startswith("jst-kingdee: reconcile / ") and " is Failed|" in texts[1]


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]
