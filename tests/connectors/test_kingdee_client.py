"""KingdeeClient unit tests over httpx.MockTransport: paging, error shapes, DIndex mapping, sessions,
retries and what a write does when it may have been committed."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from pydantic import SecretStr

from connectors.kingdee import (
    Filter,
    KingdeeAuthError,
    KingdeeBusinessError,
    KingdeeClient,
    KingdeeRateLimited,
    KingdeeSessionExpired,
    KingdeeTransportError,
    response_status,
)
from connectors.kingdee.auth import Session
from connectors.settings import KingdeeSettings
from transforms.mappings import SchemeConfig
from transforms.materials import material_schema

APP_SECRET = "unit-test-app-secret-0123456789"
PASSWORD = "unit-test-password-xyz"
SESSION_ID = "sess-0f9e8d7c6b5a"
Handler = Callable[[httpx.Request], httpx.Response]


def make_settings(**overrides: Any) -> KingdeeSettings:
    values: dict[str, Any] = {
        "server_url": "http://127.0.0.1:9/k3cloud",
        "app_secret": SecretStr(APP_SECRET),
        "password": SecretStr(PASSWORD),
        "retry_attempts": 3,
        "retry_base_seconds": 0.01,
        "retry_cap_seconds": 0.01,
        "batch_size": 100,
    }
    values.update(overrides)
    return KingdeeSettings(**values)


class Recorder:
    """Records requests and answers them with `handler`; sleeps are recorded, not slept."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.handler(request)

    def client(self, **overrides: Any) -> KingdeeClient:
        return KingdeeClient(
            make_settings(**overrides),
            transport=httpx.MockTransport(self),
            clock=lambda: 1764300000.0,
            sleep=self.sleeps.append,
        )

    def services(self) -> list[str]:
        return [r.url.path.split("ServicesStub.")[1].removesuffix(".common.kdsvc") for r in self.requests]


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def status(is_success: bool, *, msg_code: int = 0, errors=(), successes=()) -> dict[str, Any]:
    return {
        "Result": {
            "ResponseStatus": {
                "IsSuccess": is_success,
                "ErrorCode": 0 if is_success else 500,
                "MsgCode": msg_code,
                "Errors": list(errors),
                "SuccessEntitys": list(successes),
                "SuccessMessages": [],
            }
        }
    }


def paged_rows(rows: list[list[Any]]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        data = body(request)["data"]
        start, limit = data["StartRow"], data["Limit"]
        return httpx.Response(200, json=rows[start : start + limit])

    return handler


# --- queries -------------------------------------------------------------------------------------------


def test_execute_bill_query_pages_until_a_short_page() -> None:
    rows = [[i, f"M{i:03d}", i % 2 == 0] for i in range(7)]
    recorder = Recorder(paged_rows(rows))
    with recorder.client() as client:
        frame = client.execute_bill_query(
            "BD_MATERIAL",
            ["FMaterialId", "FNumber", "FIsBatchManage"],
            Filter.eq("FDocumentStatus", "C"),
            order_by="FMaterialId ASC",
            page_size=3,
        )
    expected = pl.DataFrame(rows, schema=["FMaterialId", "FNumber", "FIsBatchManage"], orient="row")
    assert_frame_equal(frame, expected)
    sent = [body(r)["data"] for r in recorder.requests]
    assert [(d["StartRow"], d["Limit"]) for d in sent] == [(0, 3), (3, 3), (6, 3)]
    assert sent[0]["FieldKeys"] == "FMaterialId,FNumber,FIsBatchManage"
    assert sent[0]["FilterString"] == "FDocumentStatus='C'"
    assert sent[0]["OrderString"] == "FMaterialId ASC"
    assert sent[0]["TopRowCount"] == 0
    assert sent[0]["FormId"] == "BD_MATERIAL"


def test_exact_multiple_of_page_size_asks_one_more_empty_page() -> None:
    rows = [[i] for i in range(4)]
    recorder = Recorder(paged_rows(rows))
    with recorder.client() as client:
        frame = client.execute_bill_query("BD_UNIT", ["FUNITID"], order_by="FUNITID", page_size=2)
    assert frame["FUNITID"].to_list() == [0, 1, 2, 3]
    assert len(recorder.requests) == 3


def test_empty_result_has_the_columns_and_schema_casts() -> None:
    with Recorder(paged_rows([])).client() as client:
        empty = client.execute_bill_query("BD_STOCK", ["FStockId", "FNumber"], schema={"FNumber": pl.String})
    assert empty.columns == ["FStockId", "FNumber"]
    assert empty.height == 0
    assert empty.schema["FNumber"] == pl.String

    with Recorder(paged_rows([[1, "2025-01-02T03:04:05"]])).client() as client:
        typed = client.execute_bill_query(
            "BD_MATERIAL",
            ["FMaterialId", "FModifyDate"],
            schema={"FMaterialId": pl.Int32, "FModifyDate": pl.Datetime},
        )
    assert typed.schema == pl.Schema({"FMaterialId": pl.Int32, "FModifyDate": pl.Datetime("us")})
    with pytest.raises(ValueError):
        client.execute_bill_query("BD_MATERIAL", ["FNumber"], schema={"FName": pl.String})


def test_a_declared_schema_types_a_field_kingdee_left_null_on_every_row() -> None:
    """Without `schema=` an all-null field infers as Null (issue 19): the material query declares its types.
    Flags and barcodes arrive as JSON booleans or numbers and are kept as text, dates with or without
    fractions of a second."""
    schema = material_schema(SchemeConfig())
    nulls = [["X-01", *[None] * (len(schema) - 1)]]
    with Recorder(paged_rows(nulls)).client() as client:
        assert client.execute_bill_query("BD_MATERIAL", list(schema)).schema["FName"] == pl.Null
        typed = client.execute_bill_query("BD_MATERIAL", list(schema), schema=schema)
    assert typed.schema == pl.Schema(schema)
    values = {"FBARCODE": 6901234567892, "FIsBatchManage": True, "FModifyDate": "2024-12-04T10:11:12.37"}
    row = [[values.get(key, "1" if key == "F_PAEZ_SellOnline" else key) for key in schema]]
    with Recorder(paged_rows(row)).client() as client:
        sent = client.execute_bill_query("BD_MATERIAL", list(schema), schema=schema).row(0, named=True)
    assert (sent["FBARCODE"], sent["FIsBatchManage"], sent["F_PAEZ_SellOnline"]) == ("6901234567892", "true", "1")
    assert sent["FModifyDate"] == datetime(2024, 12, 4, 10, 11, 12, 370000)


QUERY_ERROR = {
    "ErrorCode": 500,
    "IsSuccess": False,
    "MsgCode": 9,
    "Errors": [{"FieldName": "FNoSuchKey", "Message": "元数据中标识为FNoSuchKey的字段不存在", "DIndex": 0}],
}


@pytest.mark.parametrize(
    "payload",
    [
        [[{"Result": {"ResponseStatus": QUERY_ERROR}}]],
        {"Result": {"ResponseStatus": QUERY_ERROR}},
        {"ResponseStatus": QUERY_ERROR},
        QUERY_ERROR,
    ],
    ids=["nested-lists", "result-dict", "bare-response-status", "bare-status"],
)
def test_every_error_shape_becomes_a_business_error(payload: Any) -> None:
    assert response_status(payload) == QUERY_ERROR
    with Recorder(lambda r: httpx.Response(200, json=payload)).client() as client:
        with pytest.raises(KingdeeBusinessError) as caught:
            client.execute_bill_query("BD_MATERIAL", ["FNoSuchKey"])
    assert caught.value.msg_code == 9
    assert [(e.field_name, e.dindex) for e in caught.value.errors] == [("FNoSuchKey", 0)]
    assert "FNoSuchKey" in str(caught.value)


@pytest.mark.parametrize("payload", [[], [[1, "a"]], [{"FNumber": "a"}], [[None]]])
def test_plain_rows_are_not_mistaken_for_a_status(payload: Any) -> None:
    assert response_status(payload) is None


def test_query_refuses_keys_and_order_that_are_not_keys() -> None:
    with Recorder(paged_rows([])).client() as client:
        for keys, order in (
            (["FNumber;drop"], ""),
            (["FNumber", "FNumber"], ""),
            (["FNumber"], "FNumber; x"),
        ):
            with pytest.raises(ValueError):
                client.execute_bill_query("BD_MATERIAL", keys, order_by=order)


def test_existing_bill_numbers_chunks_the_in_list() -> None:
    saved = {"XS'1", "XS3", "XS5"}

    def handler(request: httpx.Request) -> httpx.Response:
        in_list = body(request)["data"]["FilterString"]
        return httpx.Response(200, json=[[n] for n in sorted(saved) if "'" + n.replace("'", "''") + "'" in in_list])

    recorder = Recorder(handler)
    with recorder.client() as client:
        found = client.existing_bill_numbers("SAL_OUTSTOCK", ["XS'1", "XS2", "XS3", "XS4", "XS5", "XS3"], chunk_size=2)
    assert found == saved
    filters = [body(r)["data"]["FilterString"] for r in recorder.requests]
    assert filters == ["FBillNo in ('XS''1','XS2')", "FBillNo in ('XS3','XS4')", "FBillNo in ('XS5')"]


# --- batch save ----------------------------------------------------------------------------------------


def save_handler(fail_bills: set[str]) -> Handler:
    """Saves every model except those whose FBillNo is in `fail_bills`; answers entities out of order."""

    def handler(request: httpx.Request) -> httpx.Response:
        models = body(request)["data"]["Model"]
        ok = [(i, m) for i, m in enumerate(models) if m["FBillNo"] not in fail_bills]
        bad = [(i, m) for i, m in enumerate(models) if m["FBillNo"] in fail_bills]
        return httpx.Response(
            200,
            json=status(
                not bad,
                msg_code=11 if bad else 0,
                errors=[
                    {"FieldName": "FCustomerID", "Message": f"客户不存在 {m['FBillNo']}", "DIndex": i} for i, m in bad
                ],
                successes=[{"Id": 1000 + i, "Number": m["FBillNo"], "DIndex": i} for i, m in reversed(ok)],
            ),
        )

    return handler


def test_batch_save_maps_results_back_by_dindex_across_batches() -> None:
    recorder = Recorder(save_handler({"B3"}))
    models = [{"FBillNo": f"B{i}", "FEntity": [{"FRealQty": i}]} for i in range(5)]
    with recorder.client() as client:
        results = client.batch_save("SAL_OUTSTOCK", models, batch_size=2)
    assert [(r.index, r.bill_no, r.ok) for r in results] == [
        (0, "B0", True),
        (1, "B1", True),
        (2, "B2", True),
        (3, "B3", False),
        (4, "B4", True),
    ]
    assert (results[2].fid, results[2].number) == (1000, "B2")  # DIndex 0 of the second batch
    assert results[3].errors == ["FCustomerID: 客户不存在 B3"] and results[3].fid is None
    assert [len(body(r)["data"]["Model"]) for r in recorder.requests] == [2, 2, 1]


def test_batch_save_reads_successes_of_a_failed_call_and_a_failed_row_in_the_middle() -> None:
    recorder = Recorder(save_handler({"B1"}))
    with recorder.client() as client:
        results = client.batch_save("SAL_OUTSTOCK", [{"FBillNo": "B0"}, {"FBillNo": "B1"}, {"FBillNo": "B2"}])
    assert [r.ok for r in results] == [True, False, True]
    assert [r.fid for r in results] == [1000, None, 1002]


def test_batch_save_sends_default_options_and_overrides() -> None:
    recorder = Recorder(save_handler(set()))
    with recorder.client() as client:
        client.batch_save("SAL_RETURNSTOCK", [{"FBillNo": "R1"}], options={"IsVerifyBaseDataField": "false"})
    sent = body(recorder.requests[0])
    assert sent["formid"] == "SAL_RETURNSTOCK"
    data = sent["data"]
    assert data["NumberSearch"] == "true" and data["ValidateFlag"] == "true" and data["IsDeleteEntry"] == "true"
    assert data["IsAutoSubmitAndAudit"] == "false" and data["InterationFlags"] == "STK_InvCheckResult"
    assert data["IsVerifyBaseDataField"] == "false"
    with pytest.raises(ValueError):
        client.batch_save("SAL_RETURNSTOCK", [{"FBillNo": "R1"}], options={"Model": []})


def test_batch_save_splices_preserialized_models_unchanged() -> None:
    recorder = Recorder(save_handler(set()))
    raw = [
        b'{"FBillNo":"P1","FNote":"\xe8\x81\x9a\xe6\xb0\xb4\xe6\xbd\xad","FRealQty":1.50}',
        b'{"FBillNo": "P2"}',
    ]
    with recorder.client() as client:
        results = client.batch_save("SAL_OUTSTOCK", raw)
    content = recorder.requests[0].content
    assert raw[0] in content and raw[1] in content  # 1.50 kept as sent: not re-serialized
    assert [(r.bill_no, r.ok) for r in results] == [("P1", True), ("P2", True)]


def test_batch_save_takes_the_bill_numbers_of_preserialized_models_from_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = Recorder(save_handler({"P2"}))
    raw = [b'{"FBillNo":"P1","FEntity":[]}', b'{"FBillNo":"P2","FEntity":[]}']
    parsed: list[object] = []
    loads = json.loads
    monkeypatch.setattr(
        json, "loads", lambda text, *args, **kwargs: parsed.append(text) or loads(text, *args, **kwargs)
    )
    with recorder.client() as client:
        results = client.batch_save("SAL_OUTSTOCK", raw, bill_nos=["P1", "P2"])
    assert not set(raw) & set(parsed)  # the client read the answers, never the models
    assert [(r.bill_no, r.ok) for r in results] == [("P1", True), ("P2", False)]
    assert recorder.requests[0].content.endswith(b'"Model":[' + b",".join(raw) + b"]}}")
    with pytest.raises(ValueError, match="bill numbers"):
        client.batch_save("SAL_OUTSTOCK", raw, bill_nos=["P1"])


def test_rows_the_server_did_not_report_are_failures_to_check() -> None:
    payload = status(False, msg_code=4, errors=[{"FieldName": None, "Message": "服务器异常", "DIndex": None}])
    with Recorder(lambda r: httpx.Response(200, json=payload)).client() as client:
        results = client.batch_save("SAL_OUTSTOCK", [{"FBillNo": "A"}, {"FBillNo": "B"}])
    assert [(r.ok, r.errors) for r in results] == [(False, ["服务器异常"]), (False, ["服务器异常"])]


# --- retries and writes that may have been committed ---------------------------------------------------


def failing_then(failures: list[Callable[[], httpx.Response]], then: Handler) -> Handler:
    pending = list(failures)

    def handler(request: httpx.Request) -> httpx.Response:
        if pending:
            return pending.pop(0)()
        return then(request)

    return handler


def read_timeout() -> httpx.Response:
    raise httpx.ReadTimeout("timed out")


def test_write_timeout_is_not_replayed_and_may_be_committed() -> None:
    recorder = Recorder(failing_then([read_timeout], save_handler(set())))
    with recorder.client() as client:
        with pytest.raises(KingdeeTransportError) as caught:
            client.batch_save("SAL_OUTSTOCK", [{"FBillNo": "B0"}])
    assert caught.value.maybe_committed is True
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("status_code", [500, 502, 504])
def test_write_meeting_a_server_error_is_not_replayed(status_code: int) -> None:
    recorder = Recorder(failing_then([lambda: httpx.Response(status_code, text="boom")], save_handler(set())))
    with recorder.client() as client:
        with pytest.raises(KingdeeTransportError) as caught:
            client.audit("SAL_OUTSTOCK", ["B0"])
    assert caught.value.maybe_committed is True and caught.value.status_code == status_code
    assert len(recorder.requests) == 1


def test_write_turned_away_or_unsent_is_sent_again() -> None:
    def connect_error() -> httpx.Response:
        raise httpx.ConnectError("refused")

    failures = [lambda: httpx.Response(503, text="<html>503</html>"), connect_error]
    recorder = Recorder(failing_then(failures, save_handler(set())))
    with recorder.client() as client:
        results = client.batch_save("SAL_OUTSTOCK", [{"FBillNo": "B0"}])
    assert results[0].ok
    assert len(recorder.requests) == 3 and len(recorder.sleeps) == 2


def test_reads_retry_transport_errors_and_5xx_then_give_up() -> None:
    recorder = Recorder(failing_then([read_timeout, lambda: httpx.Response(502)], paged_rows([[1]])))
    with recorder.client() as client:
        assert client.execute_bill_query("BD_UNIT", ["FUNITID"])["FUNITID"].to_list() == [1]
    assert len(recorder.requests) == 3

    always = Recorder(lambda r: httpx.Response(500, text="down"))
    with always.client(retry_attempts=2) as client:
        with pytest.raises(KingdeeTransportError) as caught:
            client.execute_bill_query("BD_UNIT", ["FUNITID"])
    assert caught.value.maybe_committed is False and len(always.requests) == 2


def test_call_limit_backs_off_and_gives_up_as_rate_limited() -> None:
    limited = [lambda: httpx.Response(200, json=status(False, msg_code=14))] * 2
    recorder = Recorder(failing_then(list(limited), save_handler(set())))
    with recorder.client() as client:
        assert client.batch_save("SAL_OUTSTOCK", [{"FBillNo": "B0"}])[0].ok
    assert len(recorder.requests) == 3 and len(recorder.sleeps) == 2

    always = Recorder(
        lambda r: httpx.Response(200, json=[[{"Result": {"ResponseStatus": {"IsSuccess": False, "MsgCode": 14}}}]])
    )
    with always.client() as client:
        with pytest.raises(KingdeeRateLimited):
            client.execute_bill_query("BD_UNIT", ["FUNITID"])


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(200, text="response_error: gateway"), KingdeeTransportError),
        (httpx.Response(200, text="<html>not json</html>"), KingdeeTransportError),
        (httpx.Response(404, text="not found"), KingdeeTransportError),
        (httpx.Response(500, text="Fail to verify thirty passport"), KingdeeAuthError),
    ],
)
def test_unusable_answers_are_typed(response: httpx.Response, error: type[Exception]) -> None:
    recorder = Recorder(lambda r: response)
    with recorder.client() as client:
        with pytest.raises(error):
            client.execute_bill_query("BD_UNIT", ["FUNITID"])
    assert len(recorder.requests) == 1  # none of these is worth another try


# --- authentication ------------------------------------------------------------------------------------


def test_signature_mode_signs_every_call() -> None:
    recorder = Recorder(paged_rows([[1]]))
    with recorder.client() as client:
        client.execute_bill_query("BD_UNIT", ["FUNITID"])
        client.execute_bill_query("BD_UNIT", ["FUNITID"])
    for request in recorder.requests:
        assert request.headers["x-api-timestamp"] == "1764300000"
        assert request.headers["x-kd-appkey"] == client.settings.app_id
        assert len(request.headers["x-api-signature"]) == 88
    nonces = {r.headers["x-api-nonce"] for r in recorder.requests}
    assert len(nonces) == 2


class FakeSessionServer:
    """Session-mode server: a login hands out a cookie; `lose()` forgets every session."""

    def __init__(self, login_result_type: int = 1) -> None:
        self.login_result_type = login_result_type
        self.sessions: set[str] = set()
        self.logins = 0
        self.lose_once_after_login = False

    def lose(self) -> None:
        self.sessions.clear()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if "AuthService" in path:
            self.logins += 1
            if self.login_result_type != 1:
                return httpx.Response(
                    200, json={"LoginResultType": self.login_result_type, "Message": "用户名或密码错误"}
                )
            sid = f"{SESSION_ID}-{self.logins}"
            self.sessions.add(sid)
            return httpx.Response(
                200,
                json={"LoginResultType": 1, "KDSVCSessionId": sid},
                headers=[
                    ("set-cookie", f"kdservice-sessionid={sid}; path=/"),
                    ("set-cookie", "ASP.NET_SessionId=x; path=/"),
                ],
            )
        cookie = request.headers.get("cookie", "")
        if not any(f"kdservice-sessionid={sid}" in cookie for sid in self.sessions):
            return httpx.Response(
                200,
                json=[
                    [
                        {
                            "Result": {
                                "ResponseStatus": {
                                    "IsSuccess": False,
                                    "MsgCode": 1,
                                    "Errors": [{"Message": "会话信息已丢失，请重新登录"}],
                                }
                            }
                        }
                    ]
                ],
            )
        if "BatchSave" in path:
            return save_handler(set())(request)
        return httpx.Response(200, json=[[1]])


@pytest.mark.parametrize("mode", ["app_secret", "password"])
def test_session_mode_logs_in_once_lazily_and_sends_the_cookie(mode: str) -> None:
    server = FakeSessionServer()
    recorder = Recorder(server)
    with recorder.client(auth_mode=mode) as client:
        assert recorder.requests == []  # nothing before the first call
        client.execute_bill_query("BD_UNIT", ["FUNITID"])
        client.execute_bill_query("BD_UNIT", ["FUNITID"])
    assert server.logins == 1
    login = body(recorder.requests[0])["parameters"]
    assert login[-1] == 2052 and (APP_SECRET if mode == "app_secret" else PASSWORD) in login
    assert all("x-api-signature" not in r.headers for r in recorder.requests)


def test_lost_session_relogs_in_and_replays_a_read() -> None:
    server = FakeSessionServer()
    recorder = Recorder(server)
    with recorder.client(auth_mode="app_secret") as client:
        client.execute_bill_query("BD_UNIT", ["FUNITID"])
        server.lose()
        assert client.execute_bill_query("BD_UNIT", ["FUNITID"])["FUNITID"].to_list() == [1]
    assert server.logins == 2
    assert recorder.services()[-2:] == ["AuthService.LoginByAppSecret", "DynamicFormService.ExecuteBillQuery"]


def test_lost_session_on_a_write_relogs_in_without_replaying() -> None:
    server = FakeSessionServer()
    recorder = Recorder(server)
    with recorder.client(auth_mode="password") as client:
        client.execute_bill_query("BD_UNIT", ["FUNITID"])
        server.lose()
        with pytest.raises(KingdeeSessionExpired):
            client.batch_save("SAL_OUTSTOCK", [{"FBillNo": "B0"}])
        assert server.logins == 2
        assert recorder.services().count("DynamicFormService.BatchSave") == 1
        assert client.batch_save("SAL_OUTSTOCK", [{"FBillNo": "B0"}])[0].ok  # the new session works


def test_refused_login_is_an_auth_error() -> None:
    recorder = Recorder(FakeSessionServer(login_result_type=0))
    with recorder.client(auth_mode="app_secret") as client:
        with pytest.raises(KingdeeAuthError, match="LoginResultType 0"):
            client.execute_bill_query("BD_UNIT", ["FUNITID"])


def test_msg_code_1_after_a_fresh_signature_is_an_auth_error() -> None:
    lost = [[{"Result": {"ResponseStatus": {"IsSuccess": False, "MsgCode": 1}}}]]
    recorder = Recorder(lambda r: httpx.Response(200, json=lost))
    with recorder.client() as client:
        with pytest.raises(KingdeeAuthError):
            client.execute_bill_query("BD_UNIT", ["FUNITID"])
    assert len(recorder.requests) == 2  # one replay with the cookies dropped, then give up


def test_concurrent_callers_that_saw_the_same_lost_session_log_in_once() -> None:
    logins: list[int] = []
    session = Session(lambda: logins.append(1))
    generation = session.ensure()
    session.renew(generation)
    session.renew(generation)  # a second thread with the same stale generation
    assert len(logins) == 2 and session.ensure() == generation + 1


# --- operations ----------------------------------------------------------------------------------------


def test_submit_and_audit_report_per_number() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        numbers = body(request)["data"]["Numbers"]
        return httpx.Response(
            200,
            json=status(
                False,
                msg_code=11,
                errors=[{"FieldName": "", "Message": "单据已审核", "DIndex": numbers.index("B1")}],
                successes=[{"Id": 7, "Number": "B0"}, {"Id": 9, "Number": "B2", "DIndex": 2}],
            ),
        )

    recorder = Recorder(handler)
    with recorder.client() as client:
        results = client.submit("SAL_OUTSTOCK", ["B0", "B1", "B2"])
    assert [(r.number, r.ok, r.errors) for r in results] == [
        ("B0", True, []),
        ("B1", False, ["单据已审核"]),
        ("B2", True, []),
    ]
    sent = body(recorder.requests[0])
    assert sent == {
        "formid": "SAL_OUTSTOCK",
        "data": {"CreateOrgId": 0, "Ids": "", "IgnoreInterationFlag": "", "Numbers": ["B0", "B1", "B2"]},
    }


def test_audit_pre_answers_the_stock_check_interaction() -> None:
    recorder = Recorder(lambda _request: httpx.Response(200, json=status(True, successes=[{"Number": "B0"}])))
    with recorder.client() as client:
        assert client.audit("SAL_OUTSTOCK", ["B0"])[0].ok
    assert recorder.services() == ["DynamicFormService.Audit"]
    assert body(recorder.requests[0])["data"]["InterationFlags"] == "STK_InvCheckResult"


# --- secrets -------------------------------------------------------------------------------------------


def test_no_secret_reaches_exception_text_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="connectors.kingdee")

    def echo(request: httpx.Request) -> httpx.Response:
        # A misbehaving gateway that echoes the request, headers and body included.
        if "AuthService" in request.url.path:
            cookie = {"set-cookie": f"kdservice-sessionid={SESSION_ID}; path=/"}
            return httpx.Response(200, json={"LoginResultType": 1}, headers=cookie)
        return httpx.Response(400, text=f"{dict(request.headers)} {request.content.decode()}")

    texts: list[str] = []
    signatures: list[str] = []
    for mode in ("signature", "app_secret", "password"):
        recorder = Recorder(echo)
        with recorder.client(auth_mode=mode) as client:
            with pytest.raises(KingdeeTransportError) as caught:
                client.execute_bill_query("BD_UNIT", ["FUNITID"])
            texts += [str(caught.value), repr(client), repr(client.settings)]
        signatures += [
            r.headers[h] for r in recorder.requests for h in ("x-api-signature", "x-kd-signature") if h in r.headers
        ]
        assert "HTTP 400" in texts[-3]  # the message still says what happened

    refusing = Recorder(lambda r: httpx.Response(200, json={"LoginResultType": 0, "Message": f"bad {PASSWORD}"}))
    with refusing.client(auth_mode="password") as client:
        with pytest.raises(KingdeeAuthError) as refused:
            client.execute_bill_query("BD_UNIT", ["FUNITID"])
    texts.append(str(refused.value))

    assert len(signatures) == 2
    everything = "\n".join([*texts, caplog.text])
    for secret in [APP_SECRET, PASSWORD, SESSION_ID, *signatures]:
        assert secret not in everything
