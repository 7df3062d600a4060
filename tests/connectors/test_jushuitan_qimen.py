"""The Qimen after-sales route (jushuitan.refund.list.query): its TOP signature, its answer shapes, and the
client against the emulator over real HTTP with a shop set to the route."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.http import Backoff
from connectors.jushuitan import JushuitanClient, MemoryTokenStore
from connectors.jushuitan.paging import Deduplicator
from connectors.jushuitan.qimen import QimenError, QimenRoute, qimen_sign
from connectors.settings import QimenSettings
from sandbox.data import SandboxWorld
from sandbox.jushuitan.qimen import TAOBAO_SITES
from sandbox.server import BackgroundServer
from tests.connectors.test_jushuitan_sandbox import jst_settings

TMALL_SHOP = 10086  # the sandbox's 天猫旗舰店


def test_signature_is_upper_md5_with_the_secret_on_both_ends() -> None:
    params = {
        "method": "jushuitan.refund.list.query",
        "app_key": "app",
        "timestamp": "2026-08-22 12:00:00",
        "shop_id": "10086",
        "page_index": "1",
        "customer_id": "",  # empty: left out
        "sign": "ignored",
    }
    # Re-computed outside Python: printf '%s' 'secretapp_keyapp' 'methodjushuitan.refund.list.query' \
    #   'page_index1shop_id10086timestamp2026-08-22 12:00:00secret' | md5sum
    assert qimen_sign(params, "secret") == "F1D5A04430D08B063EBD419CF4AB8E64"


def _route(answer: dict[str, Any], seen: list[dict[str, str]] | None = None) -> QimenRoute:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(dict(httpx.QueryParams(request.content.decode())))
        return httpx.Response(200, json=answer)

    settings = QimenSettings(shop_ids=[TMALL_SHOP], router_url="http://127.0.0.1:9/router/qm")
    return QimenRoute(
        settings,
        router_url=settings.router_url,
        backoff=Backoff(attempts=1),
        clock=lambda: 1_750_000_000.0,
        sleep=lambda _s: None,
        transport=httpx.MockTransport(handler),
    )


@pytest.mark.parametrize(
    "answer",
    [
        {"jushuitan_refund_list_query_response": {"result": {"code": 0, "datas": [{"as_id": 1}], "has_next": False}}},
        {"code": 0, "datas": [{"as_id": 1}], "has_next": False},
    ],
    ids=["wrapped", "bare"],
)
def test_both_public_answer_shapes_read(answer: dict[str, Any]) -> None:
    seen: list[dict[str, str]] = []
    pages = list(_route(answer, seen).refunds_by_ids([1, 2], Deduplicator("as_id")))
    assert pages == [[{"as_id": 1}]]
    sent = seen[0]
    assert sent["method"] == "jushuitan.refund.list.query"
    assert sent["target_app_key"] == "23060081" and sent["customer_id"] == "10012345"
    assert sent["as_ids"] == "1,2" and sent["timestamp"] == "2025-06-15 23:06:40"  # Beijing time
    assert sent["sign"] == qimen_sign(sent, "qimen-sandbox-secret")


@pytest.mark.parametrize(
    "answer",
    [
        {"response": {"flag": "failure", "code": 25, "message": "Invalid signature"}},
        {"error_response": {"code": 25, "msg": "Invalid signature", "sub_msg": "qimen-sandbox-secret"}},
    ],
    ids=["qimen-failure", "top-error-response"],
)
def test_refusals_raise_with_the_secret_masked(answer: dict[str, Any]) -> None:
    with pytest.raises(QimenError) as refused:
        list(_route(answer).refunds_by_ids([1], Deduplicator("as_id")))
    assert refused.value.code == 25 and "Invalid signature" in str(refused.value)
    assert "qimen-sandbox-secret" not in str(refused.value)


# --- against the emulator -------------------------------------------------------------------------------


@pytest.fixture
def admin(jst_server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=jst_server.url, trust_env=False, timeout=5.0) as client:
        assert client.post("/__admin/limits", json={"calls_per_second": 100, "calls_per_minute": 10_000}).is_success
        yield client


def _client(url: str, **qimen: Any) -> JushuitanClient:
    settings = QimenSettings(**{"router_url": f"{url}/router/qm", "page_size": 5, **qimen})
    return JushuitanClient(jst_settings(url), token_store=MemoryTokenStore(), qimen=settings)


def _as_ids(pages: Iterator[list[dict[str, Any]]]) -> list[int]:
    return [row["as_id"] for page in pages for row in page]


def _window(world: SandboxWorld) -> dict[str, datetime]:
    return {"modified_begin": world.start - timedelta(days=1), "modified_end": world.end + timedelta(days=30)}


def test_a_shop_set_to_the_qimen_route_gets_its_after_sales_from_it_once(
    jst_server: BackgroundServer, world: SandboxWorld, admin: httpx.Client
) -> None:
    tmall = {refund["as_id"] for refund in world.refunds if refund["shop_id"] == TMALL_SHOP}
    assert tmall and {s["shop_site"] for s in world.shops if s["shop_id"] == TMALL_SHOP} <= TAOBAO_SITES
    everything = {refund["as_id"] for refund in world.refunds}
    admin.post("/__admin/after_sales_routes", json={"qimen_only": [TMALL_SHOP]}).raise_for_status()

    with _client(jst_server.url) as standard_only:
        assert set(_as_ids(standard_only.refund_pages(**_window(world)))) == everything - tmall
    with _client(jst_server.url, shop_ids=[TMALL_SHOP]) as routed:
        found = _as_ids(routed.refund_pages(**_window(world)))
        assert sorted(found) == sorted(everything)  # each once
        assert sorted(_as_ids(routed.refunds_by_ids(sorted(tmall)))) == sorted(tmall)
    calls = admin.get("/__admin/stats").json()["calls"]
    assert calls["/router/qm"] >= 2 and admin.get("/__admin/stats").json()["writes"] == 0


def test_both_routes_returning_a_shop_still_give_each_after_sale_once(
    jst_server: BackgroundServer, world: SandboxWorld, admin: httpx.Client
) -> None:
    with _client(jst_server.url, shop_ids=[TMALL_SHOP]) as routed:
        found = _as_ids(routed.refund_pages(**_window(world)))
    assert sorted(found) == sorted(refund["as_id"] for refund in world.refunds)


def test_a_wrong_secret_or_customer_key_is_refused_by_the_router(jst_server: BackgroundServer, world) -> None:
    with _client(jst_server.url, shop_ids=[TMALL_SHOP], app_secret="not-the-qimen-secret") as wrong:
        with pytest.raises(QimenError) as refused:
            list(wrong.refund_pages(**_window(world)))
    assert refused.value.code == 25 and "not-the-qimen-secret" not in json.dumps(str(refused.value))
    with _client(jst_server.url, shop_ids=[TMALL_SHOP], customer_id_key="customerid") as misnamed:
        with pytest.raises(QimenError) as refused:
            list(misnamed.refund_pages(**_window(world)))
    assert refused.value.code == 50 and "customer_id" in refused.value.msg


def test_qimen_shops_off_this_machine_need_the_router_and_the_qimen_app(monkeypatch) -> None:
    from connectors.settings import MissingCredentials

    with pytest.raises(MissingCredentials) as missing:
        QimenSettings(shop_ids=[TMALL_SHOP], router_url="https://example.api.taobao.com/router/qm")
    assert "JST_QIMEN_APP_SECRET is not set" in str(missing.value)
    production = jst_settings("https://openapi.jushuitan.com", app_key="app", app_secret="not-a-real-secret")
    with pytest.raises(MissingCredentials, match="JST_QIMEN_ROUTER_URL is not set"):
        JushuitanClient(production, token_store=MemoryTokenStore(), qimen=QimenSettings(shop_ids=[TMALL_SHOP]))
    monkeypatch.setenv("JST_QIMEN_SHOP_IDS", "[10086, 10087]")
    assert QimenSettings().shop_ids == [10086, 10087]
    with JushuitanClient(production, token_store=MemoryTokenStore(), qimen=QimenSettings(shop_ids=[])) as jst:
        assert not jst.qimen.shop_ids and not jst.qimen.configured  # no router: the doctor cannot ask it
