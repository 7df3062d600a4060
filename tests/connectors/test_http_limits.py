"""The sliding windows every limiter keeps (connectors.http.window_wait), and a client counting its calls in
the limiter it is given (the state database's, in deployments: tests/state/test_budget.py)."""

from __future__ import annotations

from collections.abc import Hashable

import httpx
import pytest

from connectors.http import window_wait
from connectors.jushuitan import JushuitanClient, MemoryTokenStore, Token
from connectors.settings import JushuitanSettings

LIMITS = ((2, 1.0), (3, 60.0))


def test_a_call_fits_while_every_window_has_room() -> None:
    assert window_wait(LIMITS, [], 100.0) == 0.0
    assert window_wait(LIMITS, [99.5], 100.0) == 0.0
    assert window_wait(LIMITS, [50.0, 98.0, 99.5], 100.0) == pytest.approx(10.0)  # the minute holds 3


def test_the_wait_is_the_longest_any_window_asks() -> None:
    # The second holds 2 (free at 100.6) and the minute 3 (free at 101.0, when 41.0 is 60 s old).
    assert window_wait(LIMITS, [41.0, 99.6, 99.7], 100.0) == pytest.approx(1.0)
    assert window_wait(LIMITS, [39.0, 99.6, 99.7], 100.0) == pytest.approx(0.6)  # 39.0 has left the minute


class Recorded:
    def __init__(self) -> None:
        self.keys: list[Hashable] = []

    def acquire(self, key: Hashable) -> None:
        self.keys.append(key)


def test_the_client_takes_a_turn_from_the_limiter_it_is_given_per_token_and_api() -> None:
    token = Token("access", "refresh", 2_000_000_000.0)
    answer = httpx.Response(200, json={"code": 0, "msg": "ok", "data": {"datas": []}})
    limiter = Recorded()
    settings = JushuitanSettings(base_url="http://127.0.0.1:9", app_key="key", app_secret="secret")
    transport = httpx.MockTransport(lambda request: answer)
    with JushuitanClient(settings, token_store=MemoryTokenStore(token), transport=transport, limiter=limiter) as client:
        client.call("/open/shops/query", {})
        client.call("/open/wms/partner/query", {})
    assert limiter.keys == [(token.fingerprint, "/open/shops/query"), (token.fingerprint, "/open/wms/partner/query")]
