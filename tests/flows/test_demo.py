"""`jst-kingdee demo` on either state database, by one setting (SYNC_DATABASE_URL): the same bills (issue 15)."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from cli import app
from tests.state.postgres import postgres, state_database  # noqa: F401  fixtures for pytest

# The demo's sandbox (seed 7, 14 days, 40 documents a day), as README's `make demo` shows it.
IN_THE_EMULATORS = "23 Jushuitan items, 428 SAL_OUTSTOCK and 50 SAL_RETURNSTOCK bills in Kingdee"


@pytest.mark.slow
def test_the_demo_books_the_same_bills_on_sqlite_and_on_postgresql(state_database, tmp_path, monkeypatch):  # noqa: F811
    for name in ("PREFECT_HOME", "JST_BASE_URL", "KINGDEE_SERVER_URL", "JST_TOKEN_STORE_PATH"):
        monkeypatch.setenv(name, "")  # the demo sets them; the test's end puts them back
    monkeypatch.setenv("SYNC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SYNC_REPORTS_DIR", str(tmp_path / "reports"))

    result = CliRunner().invoke(app, ["demo", "--state-dir", str(tmp_path / "demo")])

    assert result.exit_code == 0, result.output
    assert IN_THE_EMULATORS in result.output
    assert len(re.findall(r"\(adds up\)", result.output)) == 3 and "MISMATCH" not in result.output
    store = "postgresql+psycopg://postgres@127.0.0.1" if state_database else f"sqlite:///{tmp_path}/state/"
    assert f"State database: {store}" in result.output
