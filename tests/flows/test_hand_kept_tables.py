"""A wrong hand-kept table fails the run at once with its own message; Kingdee outages are still retried
(issue 19, item 6c). load-master-data has retries=2 with 5 s and 30 s between attempts."""

from __future__ import annotations

import re

import pytest
from prefect import flow

import flows.master_data
from connectors.kingdee import KingdeeTransportError
from flows.master_data import load_master_data
from flows.outbound import sync_outbound
from state.settings import SyncSettings
from state.tables import TableError


def _count_calls(monkeypatch, name: str) -> list[int]:
    """Count calls of flows.master_data.<name> (looked up when the task runs), still calling it."""
    calls: list[int] = []
    original = getattr(flows.master_data, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(flows.master_data, name, counted)
    return calls


def test_a_wrong_shops_table_fails_the_sync_once_with_file_row_and_column(sandbox, monkeypatch, tmp_path):
    shops = tmp_path / "shops.csv"
    shops.write_text(
        "shop_id,shop_name,customer_number,customer_name\n10086 ,天猫旗舰店,CUST001,\nabc,京东自营店,CUST002,\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SYNC_SHOPS_TABLE", str(shops))
    loads = _count_calls(monkeypatch, "hand_kept_tables")

    with pytest.raises(TableError, match=re.escape(f"{shops}: row 3, column shop_id")):
        sync_outbound()

    assert len(loads) == 1  # no retry: the table is read once
    assert not sandbox.bills("SAL_OUTSTOCK")


class _KingdeeDown:
    """Kingdee unreachable on every query: what the task's retries are for."""

    def __init__(self) -> None:
        self.queries = 0

    def execute_bill_query(self, *args, **kwargs):
        self.queries += 1
        raise KingdeeTransportError("connection refused")


def test_a_kingdee_transport_error_in_load_master_data_is_still_retried(monkeypatch):
    kingdee = _KingdeeDown()

    @flow
    def load() -> None:
        load_master_data.with_options(retry_delay_seconds=0)(kingdee, SyncSettings())

    with pytest.raises(KingdeeTransportError):
        load()
    assert kingdee.queries == 1 + load_master_data.retries
