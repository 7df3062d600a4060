"""`jst-kingdee capture` → `jst-kingdee sandbox serve --world FILE` → sync, over real HTTP: the capture gives
the same bills as the world it was taken from, holds no secret, token or personal data, and reads both
systems without writing to either."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from prefect.variables import Variable
from typer.testing import CliRunner

from cli import app
from sandbox import credentials
from sandbox.data import SHANGHAI, SandboxWorld, generate_world
from sandbox.world_file import FORMAT, VERSION, WorldFileError, read_world
from tests.conftest import TEST_SEED
from tests.servers import served

END = datetime.now(SHANGHAI).replace(second=0, microsecond=0)  # one end for every world of this module
# Personal data as Jushuitan sends it (JUSHUITAN_API.md §5.a, §5.b1); no sync needs any of it.
PERSONAL = {
    "receiver_name": "张三丰",
    "receiver_phone": "021-66668888",
    "receiver_mobile": "13800138000",
    "receiver_state": "江苏省",
    "receiver_city": "苏州市",
    "receiver_district": "工业园区",
    "receiver_address": "世纪大道100号8楼",
    "shop_buyer_id": "tb_buyer_8848",
    "open_id": "AAHk3fQ9openid",
    "buyer_message": "放门卫 13911112222",
    "remark": "联系李四 13733334444",
}
LINE_PERSONAL = {"outer_oi_id": "李四的礼物 13655556666"}


def planted(world: SandboxWorld) -> SandboxWorld:
    """`world` with a buyer on every document and a personal note on every line."""
    for document in [*world.outbound, *world.refunds]:
        document.update(PERSONAL)
        for line in document.get("items") or []:
            line.update(LINE_PERSONAL)
    return world


@pytest.fixture
def world() -> SandboxWorld:
    """The conftest's world, with a fixed end (both worlds of a test are the same) and its buyers planted."""
    return planted(generate_world(seed=TEST_SEED, days=10, orders_per_day=12, end=END))


def window(world: SandboxWorld) -> dict[str, datetime]:
    return {"since": world.start - timedelta(days=1), "until": world.end + timedelta(minutes=1)}


def point_at(monkeypatch, jst_url: str, kingdee_url: str, folder: Path) -> None:
    """The syncs' settings for one pair of emulators, with state of their own and no watermark yet."""
    monkeypatch.setenv("JST_BASE_URL", jst_url)
    monkeypatch.setenv("JST_TOKEN_STORE_PATH", str(folder / "token.json"))
    monkeypatch.setenv("KINGDEE_SERVER_URL", f"{kingdee_url}/k3cloud")
    monkeypatch.setenv("SYNC_REPORTS_DIR", str(folder / "reports"))
    monkeypatch.setenv("SYNC_STATE_DIR", str(folder / "state"))
    for sync in ("materials", "outbound", "returns"):
        Variable.unset(f"jst_kingdee_watermark_{sync}")


def stats(url: str) -> dict:
    return httpx.get(f"{url}/__admin/stats").json()


def captured(world: SandboxWorld, folder: Path, monkeypatch) -> Path:
    """A capture of `world`'s window, taken through the CLI from emulators serving it; neither is written to."""
    from sandbox.jushuitan import create_app as jst_app
    from sandbox.kingdee import create_app as kingdee_app

    out = folder / "capture.jsonl.gz"
    with served(jst_app(world)) as jst, served(kingdee_app(world.kingdee)) as kingdee:
        point_at(monkeypatch, jst.url, kingdee.url, folder)
        since, until = (moment.isoformat(timespec="seconds") for moment in window(world).values())
        result = CliRunner().invoke(app, ["capture", "--since", since, "--until", until, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert stats(jst.url)["writes"] == 0 and stats(kingdee.url)["writes"] == 0
        calls = stats(kingdee.url)["calls"]
        assert calls["ExecuteBillQuery"] > 0 and set(calls) <= {"ExecuteBillQuery", "LoginBySign", "LoginByAppSecret"}
    return out


def bills(kingdee_url: str) -> dict[str, dict[str, dict]]:
    """Both bill forms by FBillNo, each bill as saved less what the emulator assigns (ids, its clock)."""
    assigned = {"FID", "FEntryID", "FEntity_FEntryID", "FCreateDate", "FModifyDate", "FApproveDate"}

    def mine(node):
        if isinstance(node, dict):
            return {key: mine(value) for key, value in node.items() if key not in assigned}
        return [mine(value) for value in node] if isinstance(node, list) else node

    return {
        form: {bill["FBillNo"]: mine(bill) for bill in httpx.get(f"{kingdee_url}/__admin/bills/{form}").json()}
        for form in ("SAL_OUTSTOCK", "SAL_RETURNSTOCK")
    }


def held(reports: Path) -> dict[str, str]:
    """Each sync's held.csv (one row per held line and reason) of the one run under `reports`."""
    return {sync: next(reports.glob(f"*-{sync}-*/held.csv")).read_text() for sync in ("outbound", "returns")}


def counts(summary: dict[str, dict]) -> dict[str, dict]:
    """Each sync's counts (its outcomes, held and why), without what names the run."""
    return {name: {k: v for k, v in s.items() if isinstance(v, int | dict)} for name, s in summary.items()}


@pytest.fixture
def served_capture(tmp_path: Path) -> Iterator:
    """`jst-kingdee sandbox serve --world FILE` in a process of its own: (start(file) -> urls)."""
    servers: list[subprocess.Popen] = []

    def start(file: Path) -> tuple[str, str, str]:
        command = [sys.executable, "-m", "cli", "sandbox", "serve", "--jst-port", "0", "--kingdee-port", "0"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        server = subprocess.Popen([*command, "--world", str(file)], stdout=subprocess.PIPE, text=True, env=env)
        servers.append(server)
        banner = "".join(server.stdout.readline() for _ in range(4))
        jst_url = re.search(r"Jushuitan emulator: (http://127\.0\.0\.1:\d+)", banner).group(1)
        kingdee_url = re.search(r"Kingdee emulator:\s+(http://127\.0\.0\.1:\d+)/k3cloud", banner).group(1)
        return jst_url, kingdee_url, banner

    yield start
    for server in servers:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=20) == 0


def test_serving_a_capture_gives_the_same_bills_as_the_world_it_was_taken_from(
    sandbox, tmp_path, monkeypatch, served_capture
):
    from flows.all import sync_all

    original = sync_all(**window(sandbox.world))
    bills_a, items_a = bills(sandbox.kingdee.url), sandbox.items()

    fresh = planted(generate_world(seed=TEST_SEED, days=10, orders_per_day=12, end=END))
    file = captured(fresh, tmp_path / "capture", monkeypatch)
    jst_url, kingdee_url, banner = served_capture(file)
    assert f"{len(fresh.outbound)} outbound" in banner
    assert bills(kingdee_url) == {"SAL_OUTSTOCK": {}, "SAL_RETURNSTOCK": {}}  # Kingdee starts without bills
    point_at(monkeypatch, jst_url, kingdee_url, tmp_path / "dry-run")
    dry_run = sync_all(**window(sandbox.world), dry_run=True)
    assert bills(kingdee_url) == {"SAL_OUTSTOCK": {}, "SAL_RETURNSTOCK": {}}
    for sync in ("outbound", "returns"):
        assert dry_run[sync]["would_create"] == original[sync]["written"] > 0
        assert dry_run[sync]["held"] == original[sync]["held"]
    assert held(tmp_path / "dry-run" / "reports") == held(sandbox.reports)  # what would be held, and why
    point_at(monkeypatch, jst_url, kingdee_url, tmp_path / "rehearsal")
    rehearsal = sync_all(**window(sandbox.world))

    assert bills(kingdee_url) == bills_a
    assert len(bills_a["SAL_OUTSTOCK"]) > 0 and len(bills_a["SAL_RETURNSTOCK"]) > 0
    assert counts(rehearsal) == counts(original)
    assert original["outbound"]["held"] > 0  # the rehearsal shows the same held documents, for the same reasons
    items_b = httpx.get(f"{jst_url}/__admin/items").json()
    assert {sku: item["name"] for sku, item in items_b.items()} == {sku: item["name"] for sku, item in items_a.items()}


def test_a_capture_holds_no_secret_token_or_personal_data(world, tmp_path, monkeypatch):
    file = captured(world, tmp_path, monkeypatch)
    text = gzip.decompress(file.read_bytes()).decode()
    token = json.loads((tmp_path / "token.json").read_text())
    secrets = [
        credentials.JST_APP_SECRET,
        credentials.KINGDEE_APP_SECRET,
        credentials.KINGDEE_PASSWORD,
        credentials.KINGDEE_APP_ID,
        token["access_token"],
        token["refresh_token"],
        *(shop["session_uid"] for shop in world.shops),  # the shops' platform sessions
        *(shop["nick"] for shop in world.shops),
    ]
    personal = [*PERSONAL.values(), *LINE_PERSONAL.values(), "1380013", "13911112222"]
    assert [value for value in [*secrets, *personal] if value in text] == []
    for name in [*PERSONAL, *LINE_PERSONAL, "session_uid", "nick", "access_token", "app_secret", "sign"]:
        assert f'"{name}"' not in text
    # What the syncs read is all there: the documents of the window, with their lines.
    served_world = read_world(file)
    assert len(served_world.outbound) == len(world.outbound)
    assert {r["as_id"] for r in served_world.refunds} == {
        r["as_id"] for r in world.refunds if (r["status"], r["good_status"]) == ("Confirmed", "SELLER_RECEIVED")
    }
    assert served_world.outbound[0]["items"] and "sku_id" in served_world.outbound[0]["items"][0]


def test_the_writer_follows_the_format_the_sandbox_reads(world, tmp_path, monkeypatch):
    from flows import capture

    assert (capture.FORMAT, capture.VERSION) == (FORMAT, VERSION)
    file = captured(world, tmp_path, monkeypatch)
    lines = gzip.decompress(file.read_bytes()).decode().splitlines()
    header = json.loads(lines[0])
    assert header["window"] == {k: v.isoformat() for k, v in window(world).items()}
    served_world = read_world(file)
    assert header["counts"]["outbound"] == len(served_world.outbound)
    assert set(served_world.kingdee) == {
        "BD_MATERIAL",
        "BD_Customer",
        "BD_STOCK",
        "BD_UNIT",
        "ORG_Organizations",
        "BD_Currency",
    }
    usable = [m for m in world.kingdee["BD_MATERIAL"] if (m["FDocumentStatus"], m["FForbidStatus"]) == ("C", "A")]
    assert sorted(m["FNumber"] for m in served_world.kingdee["BD_MATERIAL"]) == sorted(m["FNumber"] for m in usable)
    assert served_world.items == {}


def test_the_sandbox_refuses_a_file_cut_short_or_of_another_version(world, tmp_path, monkeypatch):
    file = captured(world, tmp_path, monkeypatch)
    lines = gzip.decompress(file.read_bytes()).decode().splitlines()
    short = tmp_path / "short.jsonl.gz"
    short.write_bytes(gzip.compress("\n".join(lines[:-3]).encode()))
    with pytest.raises(WorldFileError, match="cut short"):
        read_world(short)
    header = json.loads(lines[0]) | {"version": VERSION + 1}
    newer = tmp_path / "newer.jsonl.gz"
    newer.write_bytes(gzip.compress("\n".join([json.dumps(header), *lines[1:]]).encode()))
    with pytest.raises(WorldFileError, match="format version"):
        read_world(newer)
    plain = tmp_path / "plain.jsonl"
    plain.write_text("\n".join(lines))
    with pytest.raises(WorldFileError, match="not a readable gzip file"):
        read_world(plain)
    result = CliRunner().invoke(app, ["sandbox", "serve", "--world", str(short)])
    assert result.exit_code == 2 and "cut short" in result.output


def test_capture_exit_codes(sandbox, tmp_path, monkeypatch):
    since, until = (moment.isoformat(timespec="seconds") for moment in window(sandbox.world).values())
    out = tmp_path / "capture.jsonl.gz"
    out.write_text("an earlier capture")
    refused = CliRunner().invoke(app, ["capture", "--since", since, "--until", until, "--out", str(out)])
    assert refused.exit_code == 2 and "never overwrites" in refused.output
    assert out.read_text() == "an earlier capture"
    backwards = CliRunner().invoke(app, ["capture", "--since", until, "--until", since, "--out", str(out)])
    assert backwards.exit_code == 2 and "is before since" in backwards.output

    failed = tmp_path / "failed.jsonl.gz"
    for refusing, variable in (("Jushuitan", "JST_APP_SECRET"), ("Kingdee", "KINGDEE_APP_SECRET")):
        wrong_secret = f"wrong-{uuid4().hex}"  # made at run time: in the output only if the run leaks it
        monkeypatch.setenv(variable, wrong_secret)
        result = CliRunner().invoke(app, ["capture", "--since", since, "--until", until, "--out", str(failed)])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output  # not a crash
        assert "No file was written" in result.output and wrong_secret not in result.output
        assert not failed.exists() and list(tmp_path.glob(".failed*")) == [], refusing
        monkeypatch.delenv(variable)
    assert "Kingdee refused the credentials" in result.output
