"""The client over httpx.MockTransport: the signed form, error mapping, retry and back-off decisions,
the token lifecycle and per-row upload results. Time is fake, so nothing sleeps for real."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from connectors.jushuitan import (
    JushuitanAuthError,
    JushuitanClient,
    JushuitanError,
    JushuitanParamError,
    JushuitanPermissionError,
    JushuitanRateLimited,
    JushuitanSignError,
    JushuitanTimestampError,
    JushuitanTransportError,
    MemoryTokenStore,
    Token,
    page_body,
)
from connectors.jushuitan.signing import encode_biz, sign
from connectors.jushuitan.tokens import FileTokenStore
from connectors.settings import JushuitanSettings

SECRET = "unit-test-secret-value"
STORED = Token("stored-access-token", "stored-refresh-token", 2_000_000_000.0)
SHOPS = "/open/shops/query"


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


Handler = Callable[[str, dict[str, str]], httpx.Response | dict[str, Any]]


class FakePlatform:
    """Records every form it receives (checking its signature) and answers with `handler`."""

    def __init__(self, handler: Handler, time: FakeTime) -> None:
        self.handler = handler
        self.time = time
        self.requests: list[tuple[str, dict[str, str], float]] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
        form = dict(parse_qsl(request.content.decode("utf-8"), keep_blank_values=True))
        assert form["sign"] == sign(form, SECRET)
        with self._lock:
            self.requests.append((request.url.path, form, self.time.now))
        answer = self.handler(request.url.path, form)
        return answer if isinstance(answer, httpx.Response) else httpx.Response(200, json=answer)

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.requests]


def ok(data: Any) -> dict[str, Any]:
    return {"code": 0, "msg": "执行成功", "data": data}


def token_data(access: str, refresh: str = "new-refresh-token", expires_in: int = 2_592_000) -> dict[str, Any]:
    return ok({"access_token": access, "refresh_token": refresh, "expires_in": expires_in, "scope": "all"})


def settings(**overrides: Any) -> JushuitanSettings:
    values: dict[str, Any] = {
        "base_url": "http://127.0.0.1:9",
        "app_key": "unit-app",
        "app_secret": SECRET,
        "retry_attempts": 4,
        "retry_base_seconds": 0.5,
        "retry_cap_seconds": 8.0,
    }
    return JushuitanSettings(**{**values, **overrides})


def make_client(
    handler: Handler, *, store: Any = None, time: FakeTime | None = None, **overrides: Any
) -> tuple[JushuitanClient, FakePlatform, FakeTime]:
    time = time or FakeTime()
    platform = FakePlatform(handler, time)
    client = JushuitanClient(
        settings(**overrides),
        token_store=store if store is not None else MemoryTokenStore(STORED),
        transport=httpx.MockTransport(platform),
        clock=time.clock,
        sleep=time.sleep,
    )
    return client, platform, time


# --- the request ------------------------------------------------------------------------------


def test_call_posts_the_six_signed_system_params_and_a_fresh_timestamp_per_attempt() -> None:
    biz = {"page_index": 1, "page_size": 50, "nicks": ["老板"], "price": 9.9}
    answers = iter([httpx.Response(503, text="busy"), ok({"datas": []})])
    client, platform, time = make_client(lambda path, form: next(answers), retry_base_seconds=4.0)

    assert client.call(SHOPS, biz) == {"datas": []}

    assert platform.paths() == [SHOPS, SHOPS]
    forms = [form for _, form, _ in platform.requests]
    for form in forms:
        assert set(form) == {"app_key", "access_token", "timestamp", "charset", "version", "biz", "sign"}
        assert form["app_key"] == "unit-app" and form["access_token"] == STORED.access_token
        assert form["charset"] == "utf-8" and form["version"] == "2"
        assert form["biz"] == encode_biz(biz) == '{"page_index":1,"page_size":50,"nicks":["老板"],"price":9.9}'
    assert forms[0]["timestamp"] == "1700000000"
    assert time.sleeps[0] >= 2
    assert forms[1]["timestamp"] == str(int(1_700_000_000 + time.sleeps[0]))


def test_call_returns_numbers_as_json_gives_them() -> None:
    body = '{"code":0,"msg":"ok","data":{"datas":[{"sale_price":99.9,"qty":3,"ts":98765432109876543210}]}}'
    client, _, _ = make_client(lambda path, form: httpx.Response(200, text=body))
    row = client.call(SHOPS, {})["datas"][0]
    assert row == {"sale_price": 99.9, "qty": 3, "ts": 98765432109876543210}
    assert repr(row["sale_price"]) == "99.9" and isinstance(row["qty"], int)


def test_pages_come_with_the_bytes_they_arrived_in() -> None:
    body = '{"code":0,"msg":"ok","data":{"has_next":false,"datas":[{"io_id":1,"ts":5,"qty":2.50}]}}'
    client, _, _ = make_client(lambda path, form: httpx.Response(200, text=body))
    start = datetime(2026, 11, 20, 10)
    (page,) = client.outbound_pages(modified_begin=start, modified_end=start + timedelta(hours=1))
    assert page == [{"io_id": 1, "ts": 5, "qty": 2.5}]
    assert page_body(page) == body.encode()


def _answers(*bodies: str) -> Handler:
    """Page n of every walk answers bodies[n - 1]."""
    return lambda path, form: httpx.Response(200, text=bodies[json.loads(form["biz"])["page_index"] - 1])


def _no_json_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a list answer was decoded into Python objects")

    monkeypatch.setattr("connectors.jushuitan.paging.json", SimpleNamespace(loads=refuse, dumps=json.dumps))
    monkeypatch.setattr(httpx.Response, "json", refuse)


def test_list_answers_are_handed_on_without_decoding_their_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The flows give the bytes to Polars: the client reads the paging fields and row ids, not the rows."""
    first = '{"code":0,"data":{"data_count":"3","has_next":true,"datas":[{"io_id":1,"ts":5},{"io_id":2.0,"ts":6}]}}'
    last = '{"code":0,"msg":"ok","data":{"data_count":3,"has_next":false,"datas":[{"io_id":"3","ts":"7","qty":1}]}}'
    client, platform, _ = make_client(_answers(first, last))
    start = datetime(2026, 11, 20, 10)
    with monkeypatch.context() as patched:
        _no_json_loads(patched)
        pages = list(client.outbound_pages(modified_begin=start, modified_end=start + timedelta(hours=1)))
        assert [page_body(page) for page in pages] == [first.encode(), last.encode()]
        assert [len(page) for page in pages] == [2, 1]
    assert len(platform.requests) == 2
    assert pages == [[{"io_id": 1, "ts": 5}, {"io_id": 2.0, "ts": 6}], [{"io_id": "3", "ts": "7", "qty": 1}]]


def test_an_answer_polars_will_not_read_is_decoded_whole_and_repeats_meet_across_both_readings() -> None:
    """NaN as a bare word (json.loads reads it, Polars does not) and an object where a value belongs: those
    answers are decoded with json.loads, and a document id read either way is one document to the dedup."""
    first = '{"code":0,"data":{"has_next":true,"datas":[{"io_id":1,"ts":5},{"io_id":2,"ts":6}]}}'
    second = '{"code":0,"data":{"has_next":true,"datas":[{"io_id":2,"ts":6,"qty":NaN},{"io_id":4,"ts":1}]}}'
    last = '{"code":0,"data":{"has_next":false,"datas":[{"io_id":"1","ts":"5"},{"io_id":{"x":5},"ts":8}]}}'
    client, _, _ = make_client(_answers(first, second, last))
    start = datetime(2026, 11, 20, 10)
    pages = list(client.outbound_pages(modified_begin=start, modified_end=start + timedelta(hours=1)))
    assert [[row["io_id"] for row in page] for page in pages] == [[1, 2], [4], [{"x": 5}]]
    assert page_body(pages[0]) == first.encode()
    assert json.loads(page_body(pages[1])) == {"data": {"datas": [{"io_id": 4, "ts": 1}]}}


def test_an_error_answer_of_a_list_api_still_raises_its_error() -> None:
    client, _, _ = make_client(
        lambda path, form: httpx.Response(200, text='{"code":110,"msg":"no rights","data":null}')
    )
    start = datetime(2026, 11, 20, 10)
    with pytest.raises(JushuitanPermissionError):
        list(client.outbound_pages(modified_begin=start, modified_end=start + timedelta(hours=1)))


# --- error mapping ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (10, JushuitanSignError),
        (120, JushuitanSignError),
        (180, JushuitanTimestampError),
        (110, JushuitanPermissionError),
        (190, JushuitanPermissionError),
        (130, JushuitanParamError),
        (140, JushuitanParamError),
        (160, JushuitanParamError),
        (170, JushuitanParamError),
        (150, JushuitanError),
    ],
)
def test_business_codes_raise_their_typed_error_at_once(code: int, error_type: type[JushuitanError]) -> None:
    client, platform, time = make_client(lambda path, form: {"code": code, "msg": f"错误{code}", "data": None})
    with pytest.raises(error_type) as caught:
        client.call(SHOPS, {})
    assert type(caught.value) is error_type
    assert (caught.value.code, caught.value.msg, caught.value.api) == (code, f"错误{code}", SHOPS)
    assert str(code) in str(caught.value) and f"错误{code}" in str(caught.value) and SHOPS in str(caught.value)
    assert len(platform.requests) == 1 and time.sleeps == []


def test_error_messages_never_carry_secrets_echoed_by_the_server() -> None:
    def echo(path: str, form: dict[str, str]) -> dict[str, Any]:
        return {"code": 130, "msg": f"bad {form['access_token']} {form['sign']} {SECRET}", "data": None}

    client, platform, _ = make_client(echo)
    with pytest.raises(JushuitanParamError) as caught:
        client.call(SHOPS, {})
    text = str(caught.value) + repr(caught.value) + caught.value.msg
    assert STORED.access_token not in text and SECRET not in text
    assert platform.requests[0][1]["sign"] not in text
    assert text.count("***") >= 3


def test_persistent_5xx_gives_a_transport_error_after_every_attempt() -> None:
    client, platform, time = make_client(lambda path, form: httpx.Response(502, text="<html>bad gateway</html>"))
    with pytest.raises(JushuitanTransportError) as caught:
        client.call(SHOPS, {})
    assert caught.value.status_code == 502 and SHOPS in str(caught.value)
    assert len(platform.requests) == 4
    assert len(time.sleeps) == 3
    assert all(0 < delay <= 8.0 for delay in time.sleeps)


def test_transport_failures_are_retried_with_growing_jittered_backoff() -> None:
    failures = iter([httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("reset")])

    def flaky(path: str, form: dict[str, str]) -> dict[str, Any]:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return ok({"datas": [{"shop_id": 1}]})

    client, platform, time = make_client(flaky)
    assert client.call(SHOPS, {}) == {"datas": [{"shop_id": 1}]}
    assert len(platform.requests) == 4
    # Full jitter in [ceiling/2, ceiling] with ceilings 0.5, 1, 2.
    for attempt, delay in enumerate(time.sleeps):
        ceiling = 0.5 * 2**attempt
        assert ceiling / 2 <= delay <= ceiling


@pytest.mark.parametrize(
    "body", ['{"code":0,"msg":"执行成功","data":{"datas":[{"shop_id":1', "<html>502 Bad Gateway</html>"]
)
def test_a_body_that_is_not_json_is_retried_like_a_transport_failure(body: str) -> None:
    answers = iter([httpx.Response(200, text=body), httpx.Response(200, json=ok({"datas": []}))])
    client, platform, time = make_client(lambda path, form: next(answers))
    assert client.call(SHOPS, {}) == {"datas": []}
    assert len(platform.requests) == 2 and len(time.sleeps) == 1


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json=["not", "an", "envelope"]),
        httpx.Response(200, json={"code": 0, "msg": "ok", "data": [1, 2]}),
        httpx.Response(404, text="no such path"),
    ],
)
def test_unusable_answers_raise_a_transport_error_without_retry(answer: httpx.Response) -> None:
    client, platform, time = make_client(lambda path, form: answer)
    with pytest.raises(JushuitanTransportError):
        client.call(SHOPS, {})
    assert len(platform.requests) == 1 and time.sleeps == []


# --- rate limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "low", "high"), [(199, 1.0, 1.5), (200, 60.0, 63.0)])
def test_rate_limit_codes_wait_their_window_then_retry(code: int, low: float, high: float) -> None:
    answers = iter([{"code": code, "msg": "调用太频繁", "data": None}, ok({"datas": []})])
    client, platform, time = make_client(lambda path, form: next(answers))
    assert client.call(SHOPS, {}) == {"datas": []}
    assert len(platform.requests) == 2
    assert len(time.sleeps) == 1 and low <= time.sleeps[0] <= high


def test_rate_limited_on_every_attempt_raises_rate_limited() -> None:
    client, platform, _ = make_client(lambda path, form: {"code": 199, "msg": "too often", "data": None})
    with pytest.raises(JushuitanRateLimited) as caught:
        client.call(SHOPS, {})
    assert caught.value.code == 199
    assert len(platform.requests) == 4


def test_limiter_spaces_calls_per_token_and_per_api() -> None:
    client, platform, _ = make_client(lambda path, form: ok({"datas": []}), calls_per_second=2, calls_per_minute=5)
    for _ in range(6):
        client.call(SHOPS, {})
    client.call("/open/wms/partner/query", {})

    shop_times = [moment for path, _, moment in platform.requests if path == SHOPS]
    for at in shop_times:
        assert sum(1 for t in shop_times if at - 1 < t <= at) <= 2
        assert sum(1 for t in shop_times if at - 60 < t <= at) <= 5
    assert shop_times[-1] - shop_times[0] >= 60  # the sixth call waited for the minute window
    # Another API has its own budget: it went out without waiting behind the shops calls.
    assert platform.requests[-1][2] == shop_times[-1]


# --- tokens -----------------------------------------------------------------------------------


def _token_platform(business: Handler, tokens: dict[str, Any] | None = None) -> Handler:
    """Answers the token endpoints from `tokens` (path -> answer) and business calls with `business`."""
    tokens = tokens or {}

    def handler(path: str, form: dict[str, str]) -> httpx.Response | dict[str, Any]:
        if path.startswith("/openWeb/auth/"):
            return tokens[path]
        return business(path, form)

    return handler


def test_first_call_without_any_token_uses_get_init_token_and_stores_it(tmp_path: Any) -> None:
    store = FileTokenStore(tmp_path / "token.json")
    handler = _token_platform(
        lambda path, form: ok({"token": form["access_token"]}),
        {"/openWeb/auth/getInitToken": token_data("init-access", "init-refresh", 3600)},
    )
    client, platform, time = make_client(handler, store=store)

    assert client.call(SHOPS, {}) == {"token": "init-access"}

    path, form, _ = platform.requests[0]
    assert path == "/openWeb/auth/getInitToken"
    assert set(form) == {"app_key", "timestamp", "grant_type", "charset", "code", "sign"}
    assert form["grant_type"] == "authorization_code" and form["charset"] == "utf-8"
    assert len(form["code"]) == 6 and form["code"].isalnum()
    assert store.load() == Token("init-access", "init-refresh", time.now + 3600)


def test_token_from_settings_is_used_when_the_store_is_empty() -> None:
    client, platform, _ = make_client(
        lambda path, form: ok({"token": form["access_token"]}),
        store=MemoryTokenStore(),
        access_token="console-token",
        refresh_token="console-refresh",
    )
    assert client.call(SHOPS, {}) == {"token": "console-token"}
    assert platform.paths() == [SHOPS]


def test_stored_token_wins_over_settings() -> None:
    client, _, _ = make_client(lambda path, form: ok({"token": form["access_token"]}), access_token="console-token")
    assert client.call(SHOPS, {}) == {"token": STORED.access_token}


def test_code_100_refreshes_the_token_and_retries_once() -> None:
    store = MemoryTokenStore(STORED)

    def business(path: str, form: dict[str, str]) -> dict[str, Any]:
        if form["access_token"] == STORED.access_token:
            return {"code": 100, "msg": "access_token已过期", "data": None}
        return ok({"token": form["access_token"]})

    handler = _token_platform(business, {"/openWeb/auth/refreshToken": token_data("refreshed-access")})
    client, platform, time = make_client(handler, store=store)

    assert client.call(SHOPS, {}) == {"token": "refreshed-access"}
    assert platform.paths() == [SHOPS, "/openWeb/auth/refreshToken", SHOPS]
    refresh_form = platform.requests[1][1]
    assert set(refresh_form) == {
        "app_key",
        "timestamp",
        "grant_type",
        "charset",
        "refresh_token",
        "scope",
        "sign",
    }
    assert refresh_form["grant_type"] == "refresh_token" and refresh_form["scope"] == "all"
    assert refresh_form["refresh_token"] == STORED.refresh_token
    assert store.load() == Token("refreshed-access", "new-refresh-token", time.now + 2_592_000)


def test_a_refresh_answer_without_refresh_token_keeps_the_old_one() -> None:
    store = MemoryTokenStore(Token("old-access", "kept-refresh", 1_700_000_100.0))
    answer = ok({"access_token": "fresh-access", "expires_in": 3600})
    handler = _token_platform(lambda path, form: ok({}), {"/openWeb/auth/refreshToken": answer})
    client, _, time = make_client(handler, store=store)
    client.call(SHOPS, {})
    assert store.load() == Token("fresh-access", "kept-refresh", time.now + 3600)


def test_a_failed_refresh_falls_back_to_get_init_token() -> None:
    def business(path: str, form: dict[str, str]) -> dict[str, Any]:
        if form["access_token"] == STORED.access_token:
            return {"code": 100, "msg": "expired", "data": None}
        return ok({"token": form["access_token"]})

    handler = _token_platform(
        business,
        {
            "/openWeb/auth/refreshToken": {"code": 100, "msg": "无效的refresh_token", "data": None},
            "/openWeb/auth/getInitToken": token_data("init-access"),
        },
    )
    client, platform, _ = make_client(handler)
    assert client.call(SHOPS, {}) == {"token": "init-access"}
    assert platform.paths() == [SHOPS, "/openWeb/auth/refreshToken", "/openWeb/auth/getInitToken", SHOPS]


def test_code_100_with_the_new_token_too_raises_auth_error() -> None:
    handler = _token_platform(
        lambda path, form: {"code": 100, "msg": "expired", "data": None},
        {"/openWeb/auth/refreshToken": token_data("refreshed-access")},
    )
    client, platform, _ = make_client(handler)
    with pytest.raises(JushuitanAuthError):
        client.call(SHOPS, {})
    assert platform.paths() == [SHOPS, "/openWeb/auth/refreshToken", SHOPS]


def test_token_is_refreshed_ahead_of_expiry() -> None:
    time = FakeTime()
    soon = Token("old-access", "old-refresh", time.now + 3600)  # margin is 24 h
    handler = _token_platform(
        lambda path, form: ok({"token": form["access_token"]}),
        {"/openWeb/auth/refreshToken": token_data("fresh-access")},
    )
    client, platform, _ = make_client(handler, store=MemoryTokenStore(soon), time=time)
    assert client.call(SHOPS, {}) == {"token": "fresh-access"}
    assert platform.paths() == ["/openWeb/auth/refreshToken", SHOPS]


def test_a_token_close_to_expiry_that_another_worker_refreshed_is_reused() -> None:
    time = FakeTime()
    store = MemoryTokenStore(Token("old-access", "old-refresh", time.now + 3600))  # margin is 24 h
    handler = _token_platform(
        lambda path, form: ok({"token": form["access_token"]}),
        {"/openWeb/auth/refreshToken": token_data("fresh-access")},
    )
    client, platform, _ = make_client(handler, store=store, time=time)
    assert client.call(SHOPS, {}) == {"token": "fresh-access"}  # the store had nothing better: refreshed
    time.now += 29.5 * 24 * 3600  # close to expiry again, and another worker has refreshed meanwhile
    store.save(Token("other-worker-access", "other-refresh", time.now + 30 * 24 * 3600))
    assert client.call(SHOPS, {}) == {"token": "other-worker-access"}
    assert platform.paths().count("/openWeb/auth/refreshToken") == 1


def test_parallel_calls_refused_with_code_100_refresh_only_once() -> None:
    both_refused = threading.Barrier(2, timeout=5)

    def business(path: str, form: dict[str, str]) -> dict[str, Any]:
        if form["access_token"] == STORED.access_token:
            both_refused.wait()
            return {"code": 100, "msg": "expired", "data": None}
        return ok({"token": form["access_token"]})

    handler = _token_platform(business, {"/openWeb/auth/refreshToken": token_data("refreshed-access")})
    client, platform, _ = make_client(handler)
    results: list[Any] = []
    workers = [threading.Thread(target=lambda: results.append(client.call(SHOPS, {}))) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
    assert results == [{"token": "refreshed-access"}] * 2
    assert platform.paths().count("/openWeb/auth/refreshToken") == 1


# --- endpoints --------------------------------------------------------------------------------


def _biz_log(platform: FakePlatform) -> list[dict[str, Any]]:
    return [json.loads(form["biz"]) for _, form, _ in platform.requests]


def test_long_windows_are_split_and_only_set_filters_are_sent() -> None:
    client, platform, _ = make_client(lambda path, form: ok({"has_next": False, "datas": []}))
    begin = datetime(2024, 1, 1)
    list(client.outbound_pages(modified_begin=begin, modified_end=begin + timedelta(days=16), status="Confirmed"))
    sent = _biz_log(platform)
    assert [(b["modified_begin"], b["modified_end"]) for b in sent] == [
        ("2024-01-01 00:00:00", "2024-01-07 23:59:59"),
        ("2024-01-08 00:00:00", "2024-01-14 23:59:59"),
        ("2024-01-15 00:00:00", "2024-01-17 00:00:00"),
    ]
    assert all(b["status"] == "Confirmed" and b["date_type"] == 0 and "shop_id" not in b for b in sent)
    assert platform.paths() == ["/open/orders/out/simple/query"] * 3


def test_a_document_that_moves_to_a_later_window_while_paging_comes_once() -> None:
    def answer(path: str, form: dict[str, str]) -> dict[str, Any]:
        moved = {"as_id": 7, "ts": 70}
        return ok({"has_next": False, "datas": [moved]})

    client, _, _ = make_client(answer)
    begin = datetime(2024, 1, 1)
    pages = list(client.refund_pages(modified_begin=begin, modified_end=begin + timedelta(days=10)))
    assert pages == [[{"as_id": 7, "ts": 70}]]


def test_id_lists_are_chunked_to_fifty_with_the_documented_types() -> None:
    client, platform, _ = make_client(lambda path, form: ok({"has_next": False, "datas": []}))
    list(client.outbound_by_ids(io_ids=range(1, 121), so_ids=["TB1"]))
    list(client.refunds_by_ids(["5", 6]))
    sent = _biz_log(platform)
    assert [len(b.get("io_ids", [])) for b in sent[:3]] == [50, 50, 20]
    assert sent[0]["io_ids"][:2] == ["1", "2"] and sent[3] == {
        "so_ids": ["TB1"],
        "page_index": 1,
        "page_size": 50,
    }
    assert sent[4]["as_ids"] == [5, 6]
    assert platform.paths()[-1] == "/open/refund/single/query"


@pytest.mark.parametrize(
    "walk",
    [
        lambda c, ids: c.outbound_by_ids(io_ids=ids),
        lambda c, ids: c.refunds_by_ids(ids),
        lambda c, ids: c.received_by_ids(ids),
    ],
    ids=["io_ids", "as_ids", "received as_ids"],
)
def test_ids_that_are_not_whole_numbers_are_refused_before_any_request(walk: Callable) -> None:
    client, platform, _ = make_client(lambda path, form: ok({"has_next": False, "datas": []}))
    with pytest.raises(ValueError, match=r"whole numbers.*'3000%'.*\"30000097'\".*' 12'") as refused:
        walk(client, ["1000123", "3000%", "30000097'", " 12", "١٢"])
    assert "'1000123'" not in str(refused.value)
    assert platform.requests == []


def test_page_size_above_the_api_maximum_is_refused_before_any_call() -> None:
    client, platform, _ = make_client(lambda path, form: ok({}))
    with pytest.raises(ValueError, match="page_size"):
        client.refund_pages(modified_begin=datetime(2024, 1, 1), modified_end=datetime(2024, 1, 2), page_size=51)
    assert platform.requests == []


def test_upload_items_returns_one_result_per_item_and_logs_refusals(caplog: pytest.LogCaptureFixture) -> None:
    verdicts = {
        "A-01": {"sku_id": "A-01", "is_success": "true", "msg": ""},
        "A-02": {"sku_id": "A-02", "is_success": "false", "msg": "分类不存在"},
        "A-03": {"sku_id": "A-03", "is_success": False, "msg": "款式编码不能为空"},
        "A-05": {"sku_id": "A-05", "is_success": True, "msg": "执行成功"},
    }

    def upload(path: str, form: dict[str, str]) -> dict[str, Any]:
        items = json.loads(form["biz"])["items"]
        return ok({"datas": [verdicts[item["sku_id"]] for item in items if item["sku_id"] in verdicts]})

    client, platform, _ = make_client(upload)
    items = [{"sku_id": f"A-0{n}", "name": "坚果"} for n in range(1, 6)]
    with caplog.at_level(logging.WARNING, logger="connectors.jushuitan"):
        # Chunks A-01..A-03 and: A-04 is left out of an answer that lists another SKU's success.
        results = client.upload_items(items, chunk_size=3)

    assert [(r.sku_id, r.is_success) for r in results] == [
        ("A-01", True),
        ("A-02", False),
        ("A-03", False),
        ("A-04", False),
        ("A-05", True),
    ]
    assert results[1].msg == "分类不存在"
    assert "no result" in results[3].msg
    assert platform.paths() == ["/open/jushuitan/itemsku/upload"] * 2
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("A-02" in m and "分类不存在" in m for m in warned)
    assert sum("A-0" in m for m in warned) == 3


@pytest.mark.parametrize(
    "data", [None, {}, {"datas": []}, {"datas": None}, {"datas": [{"sku_id": "B-02", "is_success": False, "msg": "x"}]}]
)
def test_upload_items_reads_an_answer_listing_only_failures(data: dict[str, Any] | None) -> None:
    """Code 0 with nothing, or only refusals, listed: every SKU not listed was accepted."""
    client, _, _ = make_client(lambda path, form: ok(data))
    with client:
        results = client.upload_items([{"sku_id": "B-01"}, {"sku_id": "B-02"}])
    listed = bool(data and data.get("datas"))
    assert [(r.sku_id, r.is_success) for r in results] == [("B-01", True), ("B-02", not listed)]


# --- logs and reprs ---------------------------------------------------------------------------


def test_debug_log_names_path_page_and_elapsed_but_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    handler = _token_platform(
        lambda path, form: ok({"has_next": False, "datas": [{"shop_id": 1}]}),
        {"/openWeb/auth/getInitToken": token_data("init-access-xyz", "init-refresh-xyz")},
    )
    client, platform, _ = make_client(handler, store=MemoryTokenStore())
    with caplog.at_level(logging.DEBUG):
        assert list(client.shops()) == [[{"shop_id": 1}]]
    messages = [record.getMessage() for record in caplog.records]
    assert any(SHOPS in m and "page=1" in m and "elapsed=" in m for m in messages)
    signatures = [form["sign"] for _, form, _ in platform.requests]
    for message in messages + [repr(client)]:
        for secret in (SECRET, "init-access-xyz", "init-refresh-xyz", *signatures):
            assert secret not in message
