from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from datetime import timedelta

import httpx
from typer.testing import CliRunner

from cli import app
from tests.flows.oracle import Scheme


def test_sync_command_dry_run_reports_and_writes_nothing(sandbox):
    since = (sandbox.world.start - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    until = (sandbox.world.end + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    result = CliRunner().invoke(app, ["sync", "outbound", "--since", since, "--until", until, "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    summary = json.loads("\n".join(lines[lines.index("{") : lines.index("}") + 1]))
    assert summary["would_create"] == len(Scheme(sandbox.world).outbound_bookable())
    assert sandbox.bills("SAL_OUTSTOCK") == {}


def test_sandbox_serve_prints_urls_and_credentials_and_stops_on_interrupt():
    command = [sys.executable, "-m", "cli", "sandbox", "serve", "--jst-port", "0", "--kingdee-port", "0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as server:
        try:
            banner = "".join(server.stdout.readline() for _ in range(4))
            jst_url = re.search(r"Jushuitan emulator: (http://127\.0\.0\.1:\d+)", banner).group(1)
            kingdee_url = re.search(r"Kingdee emulator:\s+(http://127\.0\.0\.1:\d+)/k3cloud", banner).group(1)
            assert "app_key=jst-sandbox-app" in banner and "acct_id=S20240101" in banner
            assert httpx.get(f"{jst_url}/__admin/stats").status_code == 200
            assert httpx.get(f"{kingdee_url}/__admin/stats").status_code == 200
        finally:
            server.send_signal(signal.SIGINT)
            assert server.wait(timeout=20) == 0


def test_a_production_url_without_credentials_fails_the_command_with_their_names(sandbox, egress, monkeypatch):
    monkeypatch.setenv("JST_BASE_URL", "https://openapi.jushuitan.invalid")
    monkeypatch.setenv("JST_RETRY_ATTEMPTS", "1")
    since = (sandbox.world.start - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    result = CliRunner().invoke(app, ["sync", "materials", "--since", since])
    assert result.exit_code != 0
    assert "JST_APP_KEY is not set; JST_APP_SECRET is not set" in result.output
    assert "Traceback" not in result.output  # a message for the user, not a crash
    assert egress == []
