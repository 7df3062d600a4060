"""The deployment path as users run it: a real Prefect server on a free 127.0.0.1 port with its own PREFECT_HOME
in tmp, the process work pool, `prefect deploy --all`, credential blocks, a worker, and flow runs in separate
processes against the emulators; plus the shared Jushuitan budget across processes.

Every process is started through flows.serve.Processes and stopped by its process-group id at the end of the
test or module, also on failure.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterParentFlowRunId,
)
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings
from pydantic import SecretStr

from connectors.jushuitan.tokens import Token
from connectors.settings import JushuitanSettings, KingdeeSettings
from flows.blocks import (
    BLOCK_NAME,
    BlockTokenStore,
    SharedRateLimiter,
    connector_settings,
    register_blocks,
)
from flows.common import SHANGHAI
from flows.serve import (
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


# --- one budget for every process -------------------------------------------------------------


def test_shared_limiters_count_each_others_calls_per_key(tmp_path: Path) -> None:
    now, sleeps = [1000.0], []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    def limiter() -> SharedRateLimiter:  # as in two processes: nothing shared but the file
        return SharedRateLimiter(
            limits=((2, 1.0), (3, 60.0)),
            clock=lambda: now[0],
            sleep=sleep,
            path=tmp_path / "limits.json",
            margin_seconds=0.1,
        )

    first, second = limiter(), limiter()
    first.acquire(("token", "/a"))
    second.acquire(("token", "/a"))
    second.acquire(("token", "/b"))  # another API has its own budget
    assert sleeps == []
    first.acquire(("token", "/a"))  # the second's call counts: the second is full
    assert sleeps == [pytest.approx(1.1)]
    second.acquire(("token", "/a"))  # and the minute (3) is full until the first call is 60.1 s old
    assert sleeps[1] == pytest.approx(1060.1 - 1001.1)


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
            {**sandbox_env(jst_url, kingdee_url, tmp_path / "state"), "SYNC_REPORTS_DIR": str(tmp_path / "reports")},
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


def _counts(markdown: str) -> tuple[int, ...]:
    """The counts row of a summary artifact: fetched, written, skipped, held, failed."""
    (row,) = re.findall(r"^\| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$", markdown, flags=re.MULTILINE)
    return tuple(map(int, row))


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]
