"""The client against the Jushuitan emulator over real sockets on 127.0.0.1: tokens, paging, rate limits,
5xx bursts and item upload, as a sync run would meet them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.jushuitan import (
    FileTokenStore,
    JushuitanClient,
    JushuitanSignError,
    MemoryTokenStore,
)
from connectors.settings import JushuitanSettings
from sandbox.credentials import JST_APP_KEY, JST_APP_SECRET
from sandbox.data import JST_TIME, SandboxWorld
from sandbox.faults import Faults
from sandbox.jushuitan import create_app
from sandbox.server import BackgroundServer, serve_in_thread

OUTBOUND = "/open/orders/out/simple/query"


class SharedClock:
    """One fake clock for client and emulator: client back-off moves the emulator's time as well."""

    def __init__(self) -> None:
        self.now = 1_750_000_000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def jst_settings(url: str, **overrides: Any) -> JushuitanSettings:
    values: dict[str, Any] = {
        "base_url": url,
        "app_key": JST_APP_KEY,
        "app_secret": JST_APP_SECRET,
        "calls_per_second": 100,
        "calls_per_minute": 10_000,
        "timeout_seconds": 5.0,
        "retry_base_seconds": 0.01,
        "retry_cap_seconds": 0.05,
    }
    return JushuitanSettings(**{**values, **overrides})


@pytest.fixture
def admin(jst_server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=jst_server.url, trust_env=False, timeout=5.0) as client:
        yield client


@pytest.fixture
def client(jst_server: BackgroundServer, admin: httpx.Client) -> Iterator[JushuitanClient]:
    """A client for paging tests: the limits are raised on both sides (the limit tests below keep them)."""
    limits = {"calls_per_second": 100, "calls_per_minute": 10_000}
    assert admin.post("/__admin/limits", json=limits).status_code == 200
    with JushuitanClient(jst_settings(jst_server.url), token_store=MemoryTokenStore()) as jst:
        yield jst


def _ids(pages: Iterator[list[dict[str, Any]]], key: str) -> list[Any]:
    return [row[key] for page in pages for row in page]


def _span(world: SandboxWorld, rows: list[dict[str, Any]]) -> tuple[datetime, datetime]:
    """From the world's start to the last modification (naive: Beijing wall clock)."""
    moments = [datetime.strptime(row["modified"][:19], JST_TIME) for row in rows]
    return min(*moments, world.start.replace(tzinfo=None)), max(moments)


def test_get_init_token_then_shops_and_warehouses(
    jst_server: BackgroundServer, world: SandboxWorld, tmp_path: Path
) -> None:
    store = FileTokenStore(tmp_path / "token.json")
    with JushuitanClient(jst_settings(jst_server.url), token_store=store) as jst:
        assert sorted(_ids(jst.shops(), "shop_id")) == [10086, 10087, 10088, 10089, 10090]
        assert sorted(_ids(jst.warehouses(), "wms_co_id")) == [10001, 10002, 10003]
    token = store.load()
    assert token is not None and token.expires_at is not None
    # A second client (the next run) reuses the stored token instead of asking for a new one.
    with JushuitanClient(jst_settings(jst_server.url), token_store=store) as jst:
        assert len(_ids(jst.shops(), "shop_id")) == 5
    assert store.load() == token


def test_expired_token_is_refreshed_after_code_100(client: JushuitanClient, admin: httpx.Client) -> None:
    assert len(_ids(client.shops(), "shop_id")) == 5
    assert admin.post("/__admin/expire_tokens").json()["expired"] == 1

    assert len(_ids(client.shops(), "shop_id")) == 5
    stats = admin.get("/__admin/stats").json()
    assert stats["rejected"]["/open/shops/query"] == {"100": 1}
    assert stats["calls"]["/openWeb/auth/refreshToken"] == 1


def test_a_token_renewed_by_another_worker_is_taken_from_the_shared_store(
    jst_server: BackgroundServer, admin: httpx.Client
) -> None:
    """Two workers, one store (a Prefect block in deployments): the second must not spend the refresh token."""
    store = MemoryTokenStore()
    with (
        JushuitanClient(jst_settings(jst_server.url), token_store=store) as first,
        JushuitanClient(jst_settings(jst_server.url), token_store=store) as second,
    ):
        assert len(_ids(first.shops(), "shop_id")) == len(_ids(second.shops(), "shop_id")) == 5
        issued = store.load()
        assert admin.post("/__admin/expire_tokens").json()["expired"] >= 1
        assert len(_ids(first.shops(), "shop_id")) == 5  # refreshes and saves
        assert len(_ids(second.shops(), "shop_id")) == 5  # refused, then finds the first one's token
    stats = admin.get("/__admin/stats").json()
    assert stats["calls"]["/openWeb/auth/refreshToken"] == 1
    assert store.load() != issued
    assert stats["rejected"]["/open/shops/query"] == {"100": 2}


def test_wrong_app_secret_is_a_sign_error(jst_server: BackgroundServer) -> None:
    settings = jst_settings(jst_server.url, app_secret="not-the-secret")
    with (
        JushuitanClient(settings, token_store=MemoryTokenStore()) as jst,
        pytest.raises(JushuitanSignError) as caught,
    ):
        list(jst.shops())
    assert caught.value.code == 120 and "not-the-secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("method", "rows", "key"),
    [
        ("outbound_pages", "outbound", "io_id"),
        ("refund_pages", "refunds", "as_id"),
    ],
)
def test_window_paging_returns_every_document_once(
    client: JushuitanClient, admin: httpx.Client, world: SandboxWorld, method: str, rows: str, key: str
) -> None:
    documents = getattr(world, rows)
    begin, end = _span(world, documents)
    assert (end - begin).days >= 7  # the range needs more than one window

    page_size = max(2, len(documents) // 8)
    pages = list(getattr(client, method)(modified_begin=begin, modified_end=end, page_size=page_size))

    ids = [row[key] for page in pages for row in page]
    assert len(ids) == len(set(ids)) == len(documents)
    assert set(ids) == {doc[key] for doc in documents}
    assert len(pages) >= len(documents) // page_size > 5 and all(len(page) <= page_size for page in pages)


@pytest.fixture
def slow(world: SandboxWorld) -> Iterator[tuple[BackgroundServer, httpx.Client]]:
    """An emulator answering outbound pages after 60 ms, at most 5 calls a second per token and API."""
    app = create_app(world, faults=Faults(latency_ms=60, path_prefixes=[OUTBOUND]), calls_per_second=5)
    with (
        serve_in_thread(app) as server,
        httpx.Client(base_url=server.url, trust_env=False, timeout=5.0) as admin_client,
    ):
        yield server, admin_client


def test_pages_in_flight_come_in_order_once_each_within_the_limits(
    slow: tuple[BackgroundServer, httpx.Client], world: SandboxWorld
) -> None:
    server, admin_client = slow
    begin, end = _span(world, world.outbound)
    settings = jst_settings(server.url, calls_per_second=5, pages_in_flight=2)
    with JushuitanClient(settings, token_store=MemoryTokenStore()) as jst:
        ids = _ids(jst.outbound_pages(modified_begin=begin, modified_end=end, page_size=8), "io_id")
    in_order = sorted(world.outbound, key=lambda doc: (doc["modified"], doc["io_id"]))
    assert ids == [doc["io_id"] for doc in in_order]
    stats = admin_client.get("/__admin/stats").json()
    assert stats["rejected"] == {} and stats["calls"][OUTBOUND] > 10  # more than two seconds' budget
    assert _peaks(admin_client, OUTBOUND)[0] == 5
    assert stats["max_in_flight"][OUTBOUND] == 2


def test_closing_a_walk_early_sends_no_further_page_request(
    slow: tuple[BackgroundServer, httpx.Client], world: SandboxWorld
) -> None:
    server, admin_client = slow
    begin, end = _span(world, world.outbound)
    with JushuitanClient(jst_settings(server.url, pages_in_flight=2), token_store=MemoryTokenStore()) as jst:
        pages = jst.outbound_pages(modified_begin=begin, modified_end=end, page_size=5)
        assert len(next(pages)) == 5
        pages.close()  # returns once the requests in flight have ended: none is sent after it
        sent = admin_client.get("/__admin/stats").json()["calls"][OUTBOUND]
    assert sent <= 3  # the first page and at most the two asked for ahead of it


def test_filters_reach_the_server(client: JushuitanClient, world: SandboxWorld) -> None:
    begin, end = _span(world, world.outbound)
    pages = client.outbound_pages(modified_begin=begin, modified_end=end, status="Confirmed", shop_id=10090)
    expected = {d["io_id"] for d in world.outbound if d["status"] == "Confirmed" and d["shop_id"] == 10090}
    assert expected and set(_ids(pages, "io_id")) == expected


def test_id_queries_return_exactly_the_asked_documents(client: JushuitanClient, world: SandboxWorld) -> None:
    io_ids = [doc["io_id"] for doc in world.outbound[:60]]
    assert sorted(_ids(client.outbound_by_ids(io_ids=io_ids), "io_id")) == sorted(io_ids)

    received_as_ids = [doc["as_id"] for doc in world.received]
    assert sorted(_ids(client.refunds_by_ids(received_as_ids), "as_id")) == sorted(received_as_ids)
    assert sorted(_ids(client.received_by_ids(received_as_ids), "as_id")) == sorted(received_as_ids)


def test_5xx_burst_is_retried(client: JushuitanClient, admin: httpx.Client) -> None:
    assert admin.post("/__admin/faults", json={"burst_5xx": 2}).status_code == 200
    assert len(_ids(client.warehouses(), "wms_co_id")) == 3
    assert admin.get("/__admin/faults").json()["burst_5xx"] == 0


@pytest.mark.parametrize("datas", ["every", "failures", "absent"])
def test_upload_items_reports_per_row_results(client: JushuitanClient, admin: httpx.Client, datas: str) -> None:
    """Whichever shape the answer has (every SKU listed, or only the refused ones), no false failure and
    no false success: the second chunk's only SKU is accepted and, except in `every`, not listed."""
    assert admin.post("/__admin/upload_answer", json={"datas": datas}).status_code == 200
    items = [
        {
            "sku_id": "A1001-01",
            "i_id": "A1001",
            "name": "每日坚果",
            "properties_value": "500g/袋",
            "unit": "包",
        },
        {"sku_id": "A1001-02", "i_id": "A1001", "properties_value": "250g/袋"},  # no name: refused
        {"sku_id": "G2001-01", "i_id": "G2001", "name": "中性笔", "s_price": 3.5},
    ]
    results = client.upload_items(items, chunk_size=2)
    assert [(r.sku_id, r.is_success) for r in results] == [
        ("A1001-01", True),
        ("A1001-02", False),
        ("G2001-01", True),
    ]
    assert "name" in results[1].msg
    stored = admin.get("/__admin/items").json()
    assert set(stored) == {"A1001-01", "G2001-01"} and stored["G2001-01"]["s_price"] == 3.5


# --- rate limits, with one fake clock shared by client and emulator ---------------------------


@pytest.fixture
def timed(world: SandboxWorld) -> Iterator[tuple[BackgroundServer, httpx.Client, SharedClock]]:
    time = SharedClock()
    with (
        serve_in_thread(create_app(world, clock=time.clock)) as server,
        httpx.Client(base_url=server.url, trust_env=False, timeout=5.0) as admin_client,
    ):
        yield server, admin_client, time


def _timed_client(server: BackgroundServer, time: SharedClock, **limits: int) -> JushuitanClient:
    return JushuitanClient(
        jst_settings(server.url, **limits), token_store=MemoryTokenStore(), clock=time.clock, sleep=time.sleep
    )


def _peaks(admin_client: httpx.Client, path: str) -> tuple[int, int]:
    (peak,) = [p for p in admin_client.get("/__admin/stats").json()["peaks"] if p["path"] == path]
    return peak["max_calls_per_second"], peak["max_calls_per_minute"]


def _walk(jst: JushuitanClient, world: SandboxWorld, page_size: int) -> Iterator[list[dict[str, Any]]]:
    """Every outbound document. Give the client pages_in_flight=1: the client counts a call when it leaves,
    the emulator when it arrives, and with one fake clock another thread's sleep can move time in between."""
    begin, end = _span(world, world.outbound)
    return jst.outbound_pages(modified_begin=begin, modified_end=end, page_size=page_size)


def test_client_limits_keep_the_platform_from_refusing(
    timed: tuple[BackgroundServer, httpx.Client, SharedClock], world: SandboxWorld
) -> None:
    server, admin_client, time = timed
    assert admin_client.post("/__admin/limits", json={"calls_per_second": 3, "calls_per_minute": 10}).status_code == 200
    with _timed_client(server, time, calls_per_second=3, calls_per_minute=10, pages_in_flight=1) as jst:
        pages = list(_walk(jst, world, page_size=10))
    stats = admin_client.get("/__admin/stats").json()
    assert stats["rejected"] == {}
    assert len(pages) > 10  # enough calls to need both the second and the minute budget
    assert _peaks(admin_client, OUTBOUND) == (3, 10)
    assert time.now - 1_750_000_000.0 >= 60


@pytest.mark.parametrize(
    ("server_limits", "code", "least_wait"),
    [
        ({"calls_per_second": 2}, "199", 1.0),
        ({"calls_per_minute": 4}, "200", 60.0),
    ],
)
def test_rate_limit_codes_are_waited_out(
    timed: tuple[BackgroundServer, httpx.Client, SharedClock],
    world: SandboxWorld,
    server_limits: dict[str, int],
    code: str,
    least_wait: float,
) -> None:
    server, admin_client, time = timed
    assert admin_client.post("/__admin/limits", json=server_limits).status_code == 200
    with _timed_client(server, time, pages_in_flight=1) as jst:  # the client believes in the documented 5/s, 100/min
        rows = [row for page in _walk(jst, world, page_size=20) for row in page]
    assert len(rows) == len({row["io_id"] for row in rows}) > 100
    rejected = admin_client.get("/__admin/stats").json()["rejected"][OUTBOUND]
    assert set(rejected) == {code}
    assert max(time.sleeps) >= least_wait
