"""The returns sync with a shop set to the Qimen after-sales route, over real HTTP against both emulators:
the emulator's standard refund query leaves the Tmall shop out (as public code says the real one does), so
its returns are booked only once the shop is set to the route, and exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from flows.returns import sync_returns
from tests.flows.oracle import Scheme

TMALL_SHOP = 10086


def _window(world):
    return {"since": world.start - timedelta(days=1), "until": datetime.now(world.end.tzinfo)}


def test_a_shop_on_the_qimen_route_gets_its_returns_booked_from_it_exactly_once(sandbox, monkeypatch):
    expected = Scheme(sandbox.world).returns_bookable()
    tmall = {as_id for as_id, refund in expected.items() if refund["shop_id"] == TMALL_SHOP}
    assert tmall and set(expected) - tmall
    httpx.post(f"{sandbox.jst.url}/__admin/after_sales_routes", json={"qimen_only": [TMALL_SHOP]}).raise_for_status()

    standard_only = sync_returns(**_window(sandbox.world))
    assert set(sandbox.bills("SAL_RETURNSTOCK")) == set(expected) - tmall
    assert standard_only["written"] == len(expected) - len(tmall)

    monkeypatch.setenv("JST_QIMEN_SHOP_IDS", str(TMALL_SHOP))
    monkeypatch.setenv("JST_QIMEN_ROUTER_URL", f"{sandbox.jst.url}/router/qm")
    routed = sync_returns(**_window(sandbox.world))
    bills = sandbox.bills("SAL_RETURNSTOCK")
    assert set(bills) == set(expected)
    assert routed["written"] == len(tmall)
    assert {bills[as_id]["FRetcustId"]["FNumber"] for as_id in tmall} == {"CUST001"}

    again = sync_returns(**_window(sandbox.world))
    assert again["written"] == 0 and set(sandbox.bills("SAL_RETURNSTOCK")) == set(expected)
    assert httpx.get(f"{sandbox.jst.url}/__admin/stats").json()["calls"]["/router/qm"] >= 2
