"""Flows run under the session's Prefect test server (tests/conftest.py) against both emulators over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prefect.variables import Variable

from sandbox.data import SandboxWorld
from sandbox.server import BackgroundServer
from tests.servers import point_at_sandbox

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def prefect_harness(prefect_api: str) -> None:
    """Every flow test records into the session's Prefect test server."""


@dataclass
class Sandbox:
    world: SandboxWorld
    jst: BackgroundServer
    kingdee: BackgroundServer
    reports: Path

    def bills(self, form: str) -> dict[str, dict]:
        rows = httpx.get(f"{self.kingdee.url}/__admin/bills/{form}").json()
        return {bill["FBillNo"]: bill for bill in rows}

    def items(self) -> dict:
        return httpx.get(f"{self.jst.url}/__admin/items").json()

    def receive_return(self, as_id: int) -> None:
        httpx.post(f"{self.jst.url}/__admin/refunds/{as_id}/receive", json={}).raise_for_status()


@pytest.fixture
def sandbox(world, jst_server, kingdee_server, tmp_path, monkeypatch) -> Iterator[Sandbox]:
    point_at_sandbox(monkeypatch, jst_server.url, kingdee_server.url, tmp_path)
    for sync in ("materials", "outbound", "returns"):
        Variable.unset(f"jst_kingdee_watermark_{sync}")
    yield Sandbox(world=world, jst=jst_server, kingdee=kingdee_server, reports=tmp_path / "reports")
