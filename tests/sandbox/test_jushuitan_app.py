"""The Jushuitan emulator over real HTTP on 127.0.0.1, driven by a tiny independent client.

The signing helper below is written from JUSHUITAN_API.md §2.3 and checked against the §2.4 vectors, so
the emulator is never tested against its own signing code. A fake clock drives timestamps, token expiry
and the rate limiter, so limit tests need no waiting.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest

from sandbox.credentials import JST_APP_KEY, JST_APP_SECRET
from sandbox.data import SandboxWorld, generate_world
from sandbox.jushuitan import create_app, verify_sign
from tests.servers import served

OUTBOUND = "/open/orders/out/simple/query"
REFUNDS = "/open/refund/single/query"
RECEIVED = "/open/aftersale/received/query"
SHOPS = "/open/shops/query"
UPLOAD = "/open/jushuitan/itemsku/upload"
FMT = "%Y-%m-%d %H:%M:%S"


def md5_sign(secret: str, params: dict[str, str]) -> str:
    """The docId=70 rule, written independently of the emulator."""
    text = secret + "".join(k + params[k] for k in sorted(params) if k != "sign" and params[k])
    return hashlib.md5(text.encode("utf-8")).hexdigest()


SYSTEM_3 = {
    "app_key": "test-app",
    "access_token": "test-token",
    "timestamp": "1700000000",
    "charset": "utf-8",
    "version": "2",
}
ITEMS_BIZ = (
    '{"items":[{"sku_id":"SKU-001","i_id":"STYLE-01","name":"测试商品","properties_value":"红色;L",'
    '"s_price":99.9,"unit":"件","enabled":1}]}'
)
VECTORS = [  # JUSHUITAN_API.md §2.4, vectors 1-4 (4 in both encodings)
    (
        "secret",
        {"app_key": "app", "charset": "utf-8", "timestamp": "100"},
        "706427ca94e342781ac36d501151cb10",
    ),
    (
        "secret",
        {
            "access_token": "token",
            "app_key": "app",
            "biz": '{"page_index":1,"page_size":50}',
            "charset": "utf-8",
            "timestamp": "1785312000",
            "version": "2",
            "extra": "",
        },
        "63b407c8cb9317b230c24ec1536f4fa2",
    ),
    (
        "test-secret",
        {
            **SYSTEM_3,
            "biz": '{"page_index":1,"page_size":50,"modified_begin":"2024-01-01 00:00:00",'
            '"modified_end":"2024-01-07 23:59:59"}',
        },
        "b032a4af4efaa79a3b8f2356e3bc4d4a",
    ),
    ("test-secret", {**SYSTEM_3, "biz": ITEMS_BIZ}, "745684067ddea5fcec11330aba8dfeb2"),
    (
        "test-secret",
        {**SYSTEM_3, "biz": json.dumps(json.loads(ITEMS_BIZ), separators=(",", ":"))},
        "664b1961ded9a1ef713d7a2b8873e113",
    ),
]


@pytest.mark.parametrize(("secret", "params", "expected"), VECTORS)
def test_signature_vectors_are_accepted_by_the_emulator(secret: str, params: dict[str, str], expected: str) -> None:
    assert md5_sign(secret, params) == expected
    assert verify_sign(secret, {**params, "sign": expected})
    assert not verify_sign(secret, {**params, "timestamp": "1", "sign": expected})
    assert not verify_sign(secret + "x", {**params, "sign": expected})


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Jst:
    """A minimal client: signs with md5_sign, posts the form, returns the JSON envelope."""

    http: httpx.Client
    clock: FakeClock
    world: SandboxWorld
    token: str = ""
    refresh: str = ""
    pace: float = 0.7  # fake seconds between business calls: under 5/s and 100/min unless a test says

    def post(self, path: str, params: dict[str, str]) -> dict:
        response = self.http.post(path, data=params)
        assert response.status_code == 200
        return response.json()

    def signed(self, path: str, params: dict[str, str], secret: str = JST_APP_SECRET) -> dict:
        base = {"app_key": JST_APP_KEY, "timestamp": str(int(self.clock())), "charset": "utf-8", **params}
        return self.post(path, {**base, "sign": md5_sign(secret, base)})

    def init_token(self) -> dict:
        answer = self.signed("/openWeb/auth/getInitToken", {"grant_type": "authorization_code", "code": "a1b2c3"})
        self.token, self.refresh = answer["data"]["access_token"], answer["data"]["refresh_token"]
        return answer

    def call(self, path: str, biz: dict, **overrides: str) -> dict:
        self.clock.now += self.pace
        params = {"access_token": self.token, "version": "2", "biz": json.dumps(biz, ensure_ascii=False)}
        return self.signed(path, {**params, **overrides})

    def admin(self, method: str, path: str, body: object = None) -> httpx.Response:
        return self.http.request(method, f"/__admin/{path}", json=body)


def make_jst(world: SandboxWorld, **options: object) -> Iterator[Jst]:
    clock = FakeClock(world.end.timestamp() + 3600)
    with served(create_app(world, clock=clock, **options)) as server:
        with httpx.Client(base_url=server.url, trust_env=False, timeout=10) as http:
            jst = Jst(http, clock, world)
            jst.init_token()
            yield jst


@pytest.fixture
def jst(world: SandboxWorld) -> Iterator[Jst]:
    yield from make_jst(world)


def window(world: SandboxWorld, days: float = 7) -> dict:
    end = world.end - timedelta(days=1)
    return {"modified_begin": (end - timedelta(days=days)).strftime(FMT), "modified_end": end.strftime(FMT)}


# --- authentication ------------------------------------------------------------------------------


def test_an_init_token_opens_the_business_endpoints(jst: Jst) -> None:
    answer = jst.call(SHOPS, {"page_index": 1, "page_size": 100})
    assert answer["code"] == 0
    assert [shop["shop_id"] for shop in answer["data"]["datas"]] == [10086, 10087, 10088, 10089, 10090]
    token = jst.init_token()["data"]
    assert token["expires_in"] == 30 * 24 * 3600 and token["scope"] == "all"


def test_a_wrong_sign_answers_120(jst: Jst) -> None:
    assert jst.signed(SHOPS, {"access_token": jst.token, "version": "2", "biz": "{}"}, secret="nope")["code"] == 120


def test_a_timestamp_more_than_ten_minutes_off_answers_180(jst: Jst) -> None:
    assert jst.call(SHOPS, {}, timestamp=str(int(jst.clock()) - 601))["code"] == 180
    assert jst.call(SHOPS, {}, timestamp=str(int(jst.clock()) - 590))["code"] == 0


def test_system_parameters_and_the_app_key_are_checked_before_the_sign(jst: Jst) -> None:
    assert jst.call(SHOPS, {}, version="")["code"] == 130
    assert jst.call(SHOPS, {}, charset="gbk")["code"] == 130
    assert jst.call(SHOPS, {}, app_key="someone-else")["code"] == 10
    assert jst.call(SHOPS, {}, access_token="not-a-token")["code"] == 100


def test_biz_must_be_a_json_object(jst: Jst) -> None:
    params = {"access_token": jst.token, "version": "2", "biz": "[1, 2]"}
    assert jst.signed(SHOPS, params)["code"] == 140


def test_refresh_replaces_both_tokens(jst: Jst) -> None:
    old_token, old_refresh = jst.token, jst.refresh
    answer = jst.signed(
        "/openWeb/auth/refreshToken",
        {"grant_type": "refresh_token", "scope": "all", "refresh_token": old_refresh},
    )
    assert answer["code"] == 0
    new_token = answer["data"]["access_token"]
    assert new_token != old_token
    assert jst.call(SHOPS, {})["code"] == 100  # jst still holds the old token
    jst.token = new_token
    assert jst.call(SHOPS, {})["code"] == 0
    again = jst.signed(
        "/openWeb/auth/refreshToken",
        {"grant_type": "refresh_token", "scope": "all", "refresh_token": old_refresh},
    )
    assert again["code"] == 100


def test_expired_tokens_answer_100_until_refreshed(jst: Jst) -> None:
    assert jst.admin("POST", "expire_tokens").json() == {"expired": 1}
    assert jst.call(SHOPS, {})["code"] == 100
    answer = jst.signed(
        "/openWeb/auth/refreshToken",
        {"grant_type": "refresh_token", "scope": "all", "refresh_token": jst.refresh},
    )
    jst.token = answer["data"]["access_token"]
    assert jst.call(SHOPS, {})["code"] == 0


def test_tokens_expire_after_their_ttl(world: SandboxWorld) -> None:
    for jst in make_jst(world, token_ttl_seconds=100):
        assert jst.call(SHOPS, {})["code"] == 0
        jst.clock.now += 100
        assert jst.call(SHOPS, {})["code"] == 100


# --- queries -------------------------------------------------------------------------------------


def test_window_paging_returns_every_matching_document_once_in_modified_order(jst: Jst) -> None:
    biz = {**window(jst.world), "status": "Confirmed", "page_size": 7}
    begin, end = biz["modified_begin"], biz["modified_end"]
    expected = sorted(
        ((d["modified"], d["io_id"]) for d in jst.world.outbound if d["status"] == "Confirmed"),
    )
    expected = [io_id for modified, io_id in expected if begin <= modified <= end]
    assert len(expected) > 14  # more than two pages
    seen, page_index = [], 1
    while True:
        data = jst.call(OUTBOUND, {**biz, "page_index": page_index})["data"]
        assert data["data_count"] == len(expected)
        assert data["page_count"] == -(-len(expected) // 7)
        seen += [doc["io_id"] for doc in data["datas"]]
        if not data["has_next"]:
            break
        page_index += 1
    assert seen == expected


def test_date_type_2_windows_the_outbound_by_io_date(jst: Jst) -> None:
    biz = {**window(jst.world, days=2), "date_type": 2, "page_size": 50}
    begin, end = biz["modified_begin"], biz["modified_end"]
    expected = {d["io_id"] for d in jst.world.outbound if begin <= d["io_date"] <= end}
    data = jst.call(OUTBOUND, biz)["data"]
    assert data["data_count"] == len(expected) and not data["has_next"]
    assert {doc["io_id"] for doc in data["datas"]} == expected


def test_start_ts_mode_walks_every_row_in_ts_order(jst: Jst) -> None:
    cursor, walked = 0, []
    while True:
        data = jst.call(OUTBOUND, {"start_ts": cursor, "page_size": 50, "is_get_total": False})["data"]
        assert (data["page_index"], data["data_count"], data["page_count"]) == (1, 0, 0)
        walked += data["datas"]
        if not data["has_next"]:
            break
        cursor = data["datas"][-1]["ts"]
    stamps = [doc["ts"] for doc in walked]
    assert stamps == sorted(stamps) and len(stamps) == len(set(stamps))
    assert sorted(doc["io_id"] for doc in walked) == sorted(doc["io_id"] for doc in jst.world.outbound)


def test_start_ts_combines_with_filters_and_counts_when_asked(jst: Jst) -> None:
    world = jst.world
    cursor = sorted(doc["ts"] for doc in world.refunds)[len(world.refunds) // 3]
    biz = {"start_ts": cursor, "status": "Confirmed", "good_status": "SELLER_RECEIVED", "page_size": 50}
    expected = sorted(
        r["ts"]
        for r in world.refunds
        if r["ts"] > cursor and (r["status"], r["good_status"]) == ("Confirmed", "SELLER_RECEIVED")
    )
    data = jst.call(REFUNDS, biz)["data"]
    assert [r["ts"] for r in data["datas"]] == expected
    assert data["data_count"] == len(expected) and data["has_next"] is False


def test_id_lists_select_documents(jst: Jst) -> None:
    wanted = [doc["so_id"] for doc in jst.world.outbound[:3]]
    data = jst.call(OUTBOUND, {"so_ids": wanted})["data"]
    assert sorted(doc["so_id"] for doc in data["datas"]) == sorted(wanted)


@pytest.mark.parametrize(
    ("path", "biz"),
    [
        (OUTBOUND, {"modified_begin": "2025-01-01 00:00:00", "modified_end": "2025-01-08 00:00:01"}),
        (OUTBOUND, {"modified_begin": "2025-01-01 00:00:00"}),
        (OUTBOUND, {"modified_end": "2025-01-01 00:00:00"}),
        (OUTBOUND, {"modified_begin": "2025/01/01 00:00:00", "modified_end": "2025-01-02 00:00:00"}),
        (OUTBOUND, {"page_size": 50}),
        (OUTBOUND, {"start_ts": 0, "page_size": 51}),
        (REFUNDS, {"start_ts": 0, "page_size": 51}),
        (RECEIVED, {"start_ts": 0, "page_size": 51}),
        (OUTBOUND, {"io_ids": list(range(51))}),
        (RECEIVED, {"start_ts": 0, "date_type": 3}),
        (OUTBOUND, {"start_ts": 0, "date_type": 1}),
        (SHOPS, {"page_size": 101}),
    ],
    ids=[
        "window-over-7-days",
        "begin-only",
        "end-only",
        "bad-date-format",
        "no-window-ids-or-cursor",
        "outbound-page-size-51",
        "refund-page-size-51",
        "received-page-size-51",
        "io-ids-51",
        "received-date-type-3",
        "outbound-date-type-1",
        "shops-page-size-101",
    ],
)
def test_invalid_business_parameters_answer_140(jst: Jst, path: str, biz: dict) -> None:
    answer = jst.call(path, biz)
    assert answer["code"] == 140 and answer["msg"] and answer["data"] is None


def test_a_window_of_exactly_seven_days_is_allowed(jst: Jst) -> None:
    biz = {"modified_begin": "2025-01-01 00:00:00", "modified_end": "2025-01-08 00:00:00"}
    assert jst.call(OUTBOUND, biz)["code"] == 0


# --- rate limits ---------------------------------------------------------------------------------


def test_a_sixth_call_in_one_second_answers_199_and_does_not_count(jst: Jst) -> None:
    jst.pace = 0
    codes = [jst.call(SHOPS, {})["code"] for _ in range(6)]
    assert codes == [0, 0, 0, 0, 0, 199]
    assert jst.call("/open/wms/partner/query", {})["code"] == 0  # limits are per API
    jst.clock.now += 1.01
    assert [jst.call(SHOPS, {})["code"] for _ in range(5)] == [0] * 5
    stats = jst.admin("GET", "stats").json()
    assert stats["calls"][SHOPS] == 11 and stats["rejected"][SHOPS] == {"199": 1}
    peak = next(p for p in stats["peaks"] if p["path"] == SHOPS)
    assert (peak["max_calls_per_second"], peak["max_calls_per_minute"]) == (6, 11)
    assert jst.token not in json.dumps(stats)


def test_the_101st_call_in_one_minute_answers_200(jst: Jst) -> None:
    jst.pace = 0.25  # four a second: under the per-second limit
    codes = [jst.call(SHOPS, {})["code"] for _ in range(101)]
    assert codes == [0] * 100 + [200]
    jst.clock.now += 35  # the first calls leave the minute
    assert jst.call(SHOPS, {})["code"] == 0


def test_limits_can_be_changed_while_running(jst: Jst) -> None:
    jst.pace = 0
    assert jst.admin("POST", "limits", {"calls_per_second": 2}).json() == {
        "calls_per_second": 2,
        "calls_per_minute": 100,
    }
    assert [jst.call(SHOPS, {})["code"] for _ in range(3)] == [0, 0, 199]


# --- item upload ---------------------------------------------------------------------------------


def test_item_upload_reports_failures_per_row_and_stores_the_rest(jst: Jst) -> None:
    good = {
        "sku_id": "A1001-01",
        "i_id": "A1001-01",
        "name": "每日坚果",
        "properties_value": "500g/袋",
        "enabled": 1,
    }
    rows = [
        good,
        {**good, "sku_id": ""},
        {**good, "sku_id": "X-2", "i_id": None},
        {**good, "sku_id": "X-3", "name": ""},
        {**good, "sku_id": "X-4", "properties_value": "长" * 101},
        {**good, "sku_id": "X-5", "enabled": 2},
        {**good, "sku_id": "G2001-01", "enabled": -1},
    ]
    answer = jst.call(UPLOAD, {"items": rows})
    assert answer["code"] == 0
    results = answer["data"]["datas"]
    assert [r["is_success"] for r in results] == [True, False, False, False, False, False, True]
    assert all(r["msg"] for r in results)
    assert [r["sku_id"] for r in results] == ["A1001-01", "", "X-2", "X-3", "X-4", "X-5", "G2001-01"]
    assert sorted(jst.world.items) == ["A1001-01", "G2001-01"]
    first = jst.world.items["A1001-01"]
    assert first["ts"] > max(doc["ts"] for doc in jst.world.outbound + jst.world.refunds + jst.world.received)

    jst.clock.now += 60
    assert jst.call(UPLOAD, {"items": [{**good, "name": "每日坚果（新）"}]})["data"]["datas"][0]["is_success"]
    stored = jst.admin("GET", "items").json()["A1001-01"]
    assert stored["name"] == "每日坚果（新）" and stored["ts"] > first["ts"]
    assert stored["created"] == first["created"] < stored["modified"]


def test_item_upload_refuses_too_many_items(world: SandboxWorld) -> None:
    for jst in make_jst(world, max_upload_items=2):
        item = {"sku_id": "A", "i_id": "A", "name": "A"}
        assert jst.call(UPLOAD, {"items": [item] * 3})["code"] == 140
        assert jst.call(UPLOAD, {"items": [item] * 2})["code"] == 0


# --- admin changes -------------------------------------------------------------------------------


def test_receiving_a_refund_makes_it_seller_received_with_a_receipt(jst: Jst) -> None:
    world = jst.world
    refund = next(
        r
        for r in world.refunds
        if (r["status"], r["good_status"]) == ("Confirmed", "BUYER_RETURNED_GOODS") and r["items"]
    )
    as_id, first_line = refund["as_id"], refund["items"][0]
    received_query = {"status": "Confirmed", "good_status": "SELLER_RECEIVED", "as_ids": [as_id]}
    assert jst.call(REFUNDS, received_query)["data"]["datas"] == []
    cursor = max(doc["ts"] for doc in world.outbound + world.refunds + world.received)

    answer = jst.admin("POST", f"refunds/{as_id}/receive", {"r_qty": {str(first_line["asi_id"]): 0}})
    assert answer.status_code == 200
    now = datetime.fromtimestamp(jst.clock(), world.end.tzinfo).strftime(FMT)
    [found] = jst.call(REFUNDS, received_query)["data"]["datas"]
    assert [line["r_qty"] for line in found["items"]] == [0] + [line["qty"] for line in found["items"][1:]]
    assert {line["receive_date"] for line in found["items"]} == {now}
    assert found["ts"] > cursor and found["modified"] == now

    [receipt] = jst.call(RECEIVED, {"as_ids": [as_id]})["data"]["datas"]
    assert receipt["io_date"] == now and receipt["ts"] > cursor
    assert [i["qty"] for i in receipt["items"]] == [i["r_qty"] for i in found["items"]]
    changed = jst.call(REFUNDS, {"start_ts": cursor})["data"]["datas"]
    assert [r["as_id"] for r in changed] == [as_id]
    assert jst.admin("POST", f"refunds/{as_id}/receive").status_code == 409


def test_an_admin_update_bumps_ts_and_modified(jst: Jst) -> None:
    doc = jst.world.outbound[0]
    cursor = max(d["ts"] for d in jst.world.outbound)
    answer = jst.admin("POST", f"outbound/{doc['io_id']}", {"status": "Cancelled"})
    assert answer.status_code == 200
    [changed] = jst.call(OUTBOUND, {"start_ts": cursor})["data"]["datas"]
    assert (changed["io_id"], changed["status"]) == (doc["io_id"], "Cancelled")
    assert changed["ts"] > cursor and changed["modified"] > doc["io_date"]
    assert jst.admin("POST", "outbound/1", {"status": "Cancelled"}).status_code == 404


def test_injected_raw_records_are_served_as_given(jst: Jst) -> None:
    cursor = max(d["ts"] for d in jst.world.outbound)
    dirty = {
        "io_id": 99,
        "status": "Confirmed",
        "modified": "2025-01-01 00:00:00",
        "items": [{"sku_id": "Z"}],
    }
    stamps = jst.admin("POST", "records/outbound", [dirty]).json()["ts"]
    [served] = jst.call(OUTBOUND, {"start_ts": cursor})["data"]["datas"]
    assert served == {**dirty, "ts": stamps[0]}
    assert jst.admin("POST", "records/nothing", []).status_code == 404


def test_faults_are_injected_in_front_of_the_platform(jst: Jst) -> None:
    assert jst.admin("POST", "faults", {"burst_5xx": 1}).status_code == 200
    assert jst.http.post(SHOPS, data={}).status_code == 503
    assert jst.call(SHOPS, {})["code"] == 0


def test_paging_ten_thousand_documents_stays_fast() -> None:
    big = generate_world(seed=5, days=14, orders_per_day=700)
    for jst in make_jst(big, calls_per_second=10_000, calls_per_minute=100_000):
        cursor, walked = 0, 0
        while True:
            data = jst.call(OUTBOUND, {"start_ts": cursor, "page_size": 50, "is_get_total": False})["data"]
            walked += len(data["datas"])
            if not data["has_next"]:
                break
            cursor = data["datas"][-1]["ts"]
        assert walked == len(big.outbound) == 9800
