"""The Kingdee K3Cloud emulator over real HTTP: authentication, queries, saves, bill operations, faults.

Signed requests are signed by the official SDK's own header builder (used here only as a test
client), so the emulator's verification is checked against Kingdee's code, not against itself.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from k3cloud_webapi_sdk.main import K3CloudApiSdk

from sandbox.kingdee import Account, api_signature, client_secret, create_app, kd_signature
from sandbox.server import BackgroundServer
from tests.servers import served

FORM_SERVICE = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService"
AUTH_SERVICE = "Kingdee.BOS.WebApi.ServicesStub.AuthService"
ACCOUNT = Account()
SESSION_LOST = "会话信息已丢失，请重新登录"


def material(number: str, *, batch: bool, unit: str = "Pcs", status: str = "C", forbid: str = "A",
             online: bool = True) -> dict[str, Any]:  # fmt: skip
    return {
        "FMaterialId": 1000 + sum(map(ord, number)),
        "FNumber": number,
        "FName": f"物料{number}",
        "FSpecification": "500g/袋",
        "FBaseUnitId.FNumber": unit,
        "FDocumentStatus": status,
        "FForbidStatus": forbid,
        "FIsBatchManage": batch,
        "FModifyDate": "2025-11-01T08:00:00",
        "FUseOrgId.FNumber": "100",
        "F_PAEZ_SellOnline": online,
    }


def make_base_data(extra_materials: int = 20) -> dict[str, list[dict[str, Any]]]:
    """A small hand-made Kingdee: the cases the validation rules need, plus plain materials to page over."""
    materials = [
        material("A1001-01", batch=True, unit="bao"),
        material("G2001-01", batch=False),
        material("T4001-01", batch=False, online=False),
        material("A1002-01", batch=True, status="A"),
        material("G2002-01", batch=False, forbid="B"),
        *(material(f"P{n:04d}", batch=False) for n in range(extra_materials)),
    ]
    audited = {"FDocumentStatus": "C", "FForbidStatus": "A"}
    return {
        "BD_MATERIAL": materials,
        "BD_Customer": [
            {"FCUSTID": 11, "FNumber": "CUST001", "FName": "天猫旗舰店", "FUseOrgId.FNumber": "100", **audited},
            {
                "FCUSTID": 19,
                "FNumber": "CUST009",
                "FName": "停用客户",
                "FUseOrgId.FNumber": "100",
                "FDocumentStatus": "C",
                "FForbidStatus": "B",
            },
        ],  # fmt: skip
        "BD_STOCK": [
            {"FStockId": 21, "FNumber": "CK001", "FName": "上海主仓", "FUseOrgId.FNumber": "100", **audited},
            {"FStockId": 22, "FNumber": "CK002", "FName": "广州分仓", "FUseOrgId.FNumber": "100", **audited},
        ],
        "BD_UNIT": [
            {"FUNITID": 31, "FNumber": "Pcs", "FName": "个", **audited},
            {"FUNITID": 32, "FNumber": "bao", "FName": "包", **audited},
        ],
        "ORG_Organizations": [{"FOrgID": 1, "FNumber": "100", "FName": "沙箱公司"}],
        "BD_Currency": [{"FCURRENCYID": 1, "FNumber": "PRE001", "FName": "人民币", "FCode": "CNY"}],
    }


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_764_300_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def serve() -> Iterator[Callable[..., BackgroundServer]]:
    """Start an emulator with the given create_app options (and optionally other base data)."""
    with ExitStack() as stack:

        def start(base_data: dict | None = None, **options: Any) -> BackgroundServer:
            app = create_app(base_data if base_data is not None else make_base_data(), **options)
            return stack.enter_context(served(app))

        yield start


@pytest.fixture
def server(serve: Callable[..., BackgroundServer]) -> BackgroundServer:
    return serve()


def service_path(service: str, prefix: str = "/k3cloud") -> str:
    return f"{prefix}/{service}.common.kdsvc"


def sdk_headers(url: str, account: Account = ACCOUNT) -> dict[str, str]:
    """The headers the official SDK would send to `url`."""
    sdk = K3CloudApiSdk(url)
    sdk.InitConfig(
        account.acct_id, account.username, account.app_id, account.app_secret, server_url=url, lcid=account.lcid
    )
    return sdk.BuildHeader(url)


def signed_post(server: BackgroundServer, service: str, body: dict, *, account: Account = ACCOUNT,
                prefix: str = "/k3cloud", client: httpx.Client | None = None) -> httpx.Response:  # fmt: skip
    path = service_path(service, prefix)
    headers = sdk_headers(server.url + path, account)
    if client is not None:
        return client.post(path, content=json.dumps(body), headers=headers)
    return httpx.post(server.url + path, content=json.dumps(body), headers=headers, timeout=10)


def query(server: BackgroundServer, **data: Any) -> Any:
    return signed_post(server, f"{FORM_SERVICE}.ExecuteBillQuery", {"data": data}).json()


def save(server: BackgroundServer, form_id: str, models: list[dict], **options: Any) -> dict:
    body = {"formid": form_id, "data": {"Model": models, **options}}
    return signed_post(server, f"{FORM_SERVICE}.BatchSave", body).json()["Result"]["ResponseStatus"]


def operate(server: BackgroundServer, operation: str, form_id: str, **data: Any) -> dict:
    body = {"formid": form_id, "data": data}
    return signed_post(server, f"{FORM_SERVICE}.{operation}", body).json()["Result"]["ResponseStatus"]


def query_error(answer: Any) -> dict:
    """ExecuteBillQuery answers errors as [[{"Result": {"ResponseStatus": ...}}]]."""
    assert isinstance(answer, list) and isinstance(answer[0], list), answer
    return answer[0][0]["Result"]["ResponseStatus"]


def outstock_line(material: str = "A1001-01", *, lot: str | None = "0", qty: Any = 2, unit: str = "bao",
                  stock: str = "CK001", **extra: Any) -> dict[str, Any]:  # fmt: skip
    line = {"FMaterialID": {"FNumber": material}, "FUnitID": {"FNumber": unit}, "FRealQty": qty,
            "FStockID": {"FNumber": stock}, "FTaxPrice": 9.9, **extra}  # fmt: skip
    if lot is not None:
        line["FLot"] = {"FNumber": lot}
    return line


def outstock(bill_no: str | None, *lines: dict, customer: str = "CUST001", **extra: Any) -> dict[str, Any]:
    bill = {
        "FBillTypeID": {"FNUMBER": "XSCKD01_SYS"},
        "FDate": "2025-11-02 10:30:00",
        "FSaleOrgId": {"FNumber": "100"},
        "FStockOrgId": {"FNumber": "100"},
        "FCustomerID": {"FNumber": customer},
        "SubHeadEntity": {"FSettleCurrID": {"FNumber": "PRE001"}},
        "FEntity": list(lines) or [outstock_line()],
        **extra,
    }
    if bill_no is not None:
        bill["FBillNo"] = bill_no
    return bill


def bill_numbers(server: BackgroundServer, form_id: str = "SAL_OUTSTOCK") -> list[str]:
    return [row[0] for row in query(server, FormId=form_id, FieldKeys="FBillNo", OrderString="FBillNo")]


# --- signatures and sessions ------------------------------------------------------------------------

VECTOR_APP_SECRET = "0123456789abcdef0123456789abcdef"
VECTOR_PATH = service_path(f"{FORM_SERVICE}.ExecuteBillQuery")
VECTOR_HEADERS = {
    "X-Api-ClientID": "300123",
    "X-Api-Auth-Version": "2.0",
    "x-api-timestamp": "1764300000",
    "x-api-nonce": "1764300000",
    "x-api-signheaders": "x-api-timestamp,x-api-nonce",
    "X-Api-Signature": "MmNkZjZkY2I2MzgzMDNlZDAzMjU5M2ZhZDQzZGM0MGMwZjU3MTQ1OTA5MWNlZjZhNDY0MTQ0Mjc2ZDFkM2JiMw==",
    "X-Kd-Appkey": "300123_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY",
    "X-Kd-Appdata": "UzIwMjQwMTAxLGFkbWluaXN0cmF0b3IsMjA1Miww",
    "X-Kd-Signature": "NGM0NWM2ZjhkNTYzNWIzNDNlODdmZmMwODliNTA1Nzg3YjA0Y2I2NDJiZmExMDgxMmI5MzQ3OGVmNGI2NThjZg==",
}
CURRENCY_QUERY = {"data": {"FormId": "BD_Currency", "FieldKeys": "FNumber,FCode"}}


def test_signature_primitives_reproduce_the_published_vectors() -> None:
    app_id = VECTOR_HEADERS["X-Kd-Appkey"]
    assert client_secret(app_id) == "MTI2MGM1Pj9qPDk/OT04KHMiKnd0IXMr"
    assert api_signature(app_id, VECTOR_PATH, "1764300000", "1764300000") == VECTOR_HEADERS["X-Api-Signature"]
    assert kd_signature(app_id, VECTOR_APP_SECRET, "S20240101,administrator,2052,0") == VECTOR_HEADERS["X-Kd-Signature"]
    # the notes' second example, a different app id, app secret and path
    assert client_secret("204399_72epSbtEQMC92Vwt2d3LRa9LRqSc1tqJ") == "31ecfd13effe724e7e78fc17f8f94b66"


def test_request_carrying_the_published_vector_headers_is_answered(serve: Callable[..., BackgroundServer]) -> None:
    server = serve(account=Account(app_secret=VECTOR_APP_SECRET))
    response = httpx.post(server.url + VECTOR_PATH, json=CURRENCY_QUERY, headers=VECTOR_HEADERS)
    assert response.json() == [["PRE001", "CNY"]]
    assert response.cookies.get("kdservice-sessionid")
    assert response.cookies.get("ASP.NET_SessionId")


@pytest.mark.parametrize(
    "tamper",
    [
        {"X-Api-Signature": VECTOR_HEADERS["X-Api-Signature"].replace("Mm", "Mn", 1)},
        {"X-Kd-Signature": VECTOR_HEADERS["X-Kd-Signature"].replace("NG", "NH", 1)},
        {"x-api-timestamp": "1764300001"},  # the signature no longer covers the timestamp sent
        {"X-Kd-Appkey": "300124_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY"},
        {"X-Api-ClientID": "300124"},
    ],
    ids=["api-signature", "kd-signature", "timestamp", "app-id", "client-id"],
)
def test_a_tampered_signature_answers_session_lost(serve: Callable[..., BackgroundServer], tamper: dict) -> None:
    server = serve(account=Account(app_secret=VECTOR_APP_SECRET))
    response = httpx.post(server.url + VECTOR_PATH, json=CURRENCY_QUERY, headers={**VECTOR_HEADERS, **tamper})
    status = query_error(response.json())
    assert (status["MsgCode"], status["Errors"][0]["Message"]) == (1, SESSION_LOST)
    assert "kdservice-sessionid" not in response.cookies


def test_wrong_app_secret_or_user_answers_session_lost_and_wrong_acct_fails_the_passport(
    server: BackgroundServer,
) -> None:
    for account in (Account(app_secret="not-the-secret"), Account(username="someone"), Account(lcid=9999)):
        answer = signed_post(server, f"{FORM_SERVICE}.ExecuteBillQuery", CURRENCY_QUERY, account=account).json()
        assert query_error(answer)["MsgCode"] == 1
    response = signed_post(server, f"{FORM_SERVICE}.ExecuteBillQuery", CURRENCY_QUERY,
                           account=Account(acct_id="S20249999"))  # fmt: skip
    assert (response.status_code, response.text) == (500, "Fail to verify thirty passport")


def test_no_credentials_at_all_answers_session_lost_in_the_services_own_shape(server: BackgroundServer) -> None:
    answer = httpx.post(server.url + service_path(f"{FORM_SERVICE}.ExecuteBillQuery"), json=CURRENCY_QUERY).json()
    assert query_error(answer)["MsgCode"] == 1
    body = {"formid": "SAL_OUTSTOCK", "data": {"Model": [outstock("N1")]}}
    answer = httpx.post(server.url + service_path(f"{FORM_SERVICE}.BatchSave"), json=body).json()
    assert answer["Result"]["ResponseStatus"]["MsgCode"] == 1
    assert bill_numbers(server) == []


def test_signed_call_opens_a_session_whose_cookie_alone_then_authenticates(server: BackgroundServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        assert signed_post(server, f"{FORM_SERVICE}.ExecuteBillQuery", CURRENCY_QUERY, client=client).json() == [
            ["PRE001", "CNY"]
        ]
        assert client.cookies.get("kdservice-sessionid") and client.cookies.get("ASP.NET_SessionId")
        unsigned = client.post(service_path(f"{FORM_SERVICE}.ExecuteBillQuery"), json=CURRENCY_QUERY)
        assert unsigned.json() == [["PRE001", "CNY"]]
        session_id = client.cookies.get("kdservice-sessionid")
    by_header = httpx.post(server.url + service_path(f"{FORM_SERVICE}.ExecuteBillQuery"), json=CURRENCY_QUERY,
                           headers={"kdservice-sessionid": session_id})  # fmt: skip
    assert by_header.json() == [["PRE001", "CNY"]]
    forged = httpx.post(server.url + service_path(f"{FORM_SERVICE}.ExecuteBillQuery"), json=CURRENCY_QUERY,
                        cookies={"kdservice-sessionid": "0" * 32})  # fmt: skip
    assert query_error(forged.json())["MsgCode"] == 1
    assert httpx.get(server.url + "/__admin/stats").json()["sessions_created"] == 1


def login_sign(timestamp: str) -> str:
    """LoginBySign's sign as KINGDEE_API.md §2.1 defines it."""
    parts = [ACCOUNT.acct_id, ACCOUNT.username, ACCOUNT.app_id, ACCOUNT.app_secret, timestamp]
    return hashlib.sha256("".join(sorted(parts)).encode()).hexdigest()


@pytest.mark.parametrize(
    ("service", "body"),
    [
        ("ValidateUser", {"parameters": [ACCOUNT.acct_id, ACCOUNT.username, ACCOUNT.password, 2052]}),
        ("LoginByAppSecret", {"parameters": json.dumps([ACCOUNT.acct_id, ACCOUNT.username, ACCOUNT.app_id,
                                                        ACCOUNT.app_secret, 2052])}),
        ("LoginByAppSecret", {"acctID": ACCOUNT.acct_id, "username": ACCOUNT.username, "appId": ACCOUNT.app_id,
                              "appSecret": ACCOUNT.app_secret, "lcid": 2052}),
        ("LoginBySign", {"parameters": [ACCOUNT.acct_id, ACCOUNT.username, ACCOUNT.app_id, "1764300000",
                                        login_sign("1764300000"), 2052]}),
    ],
    ids=["validate-user", "app-secret-json-string", "app-secret-named", "login-by-sign"],
)  # fmt: skip
def test_login_returns_a_session_reused_by_cookie(server: BackgroundServer, service: str, body: dict) -> None:
    with httpx.Client(base_url=server.url) as client:
        result = client.post(service_path(f"{AUTH_SERVICE}.{service}"), json=body).json()
        assert result["LoginResultType"] == 1
        assert result["KDSVCSessionId"] == client.cookies.get("kdservice-sessionid")
        assert result["Context"]["SessionId"] == client.cookies.get("ASP.NET_SessionId")
        rows = client.post(service_path(f"{FORM_SERVICE}.ExecuteBillQuery"), json=CURRENCY_QUERY).json()
        assert rows == [["PRE001", "CNY"]]


@pytest.mark.parametrize(
    ("service", "body"),
    [
        ("ValidateUser", {"parameters": [ACCOUNT.acct_id, ACCOUNT.username, "wrong-password", 2052]}),
        ("ValidateUser", {"parameters": ["S20249999", ACCOUNT.username, ACCOUNT.password, 2052]}),
        ("LoginByAppSecret", {"parameters": [ACCOUNT.acct_id, ACCOUNT.username, ACCOUNT.app_id, "wrong", 2052]}),
        ("LoginBySign", {"parameters": [ACCOUNT.acct_id, ACCOUNT.username, ACCOUNT.app_id, "1764300001",
                                        login_sign("1764300000"), 2052]}),
    ],
    ids=["password", "acct-id", "app-secret", "sign"],
)  # fmt: skip
def test_failed_login_answers_result_type_zero_without_a_session(
    server: BackgroundServer, service: str, body: dict
) -> None:
    response = httpx.post(server.url + service_path(f"{AUTH_SERVICE}.{service}"), json=body)
    result = response.json()
    assert result["LoginResultType"] == 0 and result["Message"]
    assert "kdservice-sessionid" not in response.cookies
    for secret in (ACCOUNT.password, ACCOUNT.app_secret, "wrong-password"):
        assert secret not in response.text


def test_sessions_slide_and_expire_after_the_idle_time(serve: Callable[..., BackgroundServer]) -> None:
    clock = FakeClock()
    server = serve(clock=clock, session_ttl_seconds=1200)
    login = [ACCOUNT.acct_id, ACCOUNT.username, ACCOUNT.password, 2052]
    with httpx.Client(base_url=server.url) as client:
        client.post(service_path(f"{AUTH_SERVICE}.ValidateUser"), json={"parameters": login})
        path = service_path(f"{FORM_SERVICE}.ExecuteBillQuery")
        for _ in range(3):  # each use renews the session: 3 x 1100 s is longer than the time-out
            clock.now += 1100
            assert client.post(path, json=CURRENCY_QUERY).json() == [["PRE001", "CNY"]]
        clock.now += 1201
        status = query_error(client.post(path, json=CURRENCY_QUERY).json())
        assert (status["MsgCode"], status["Errors"][0]["Message"]) == (1, SESSION_LOST)
        # signature headers still open a fresh session once the old one is gone
        assert signed_post(server, f"{FORM_SERVICE}.ExecuteBillQuery", CURRENCY_QUERY, client=client).json() == [
            ["PRE001", "CNY"]
        ]


def test_admin_can_expire_every_session(server: BackgroundServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        signed_post(server, f"{FORM_SERVICE}.ExecuteBillQuery", CURRENCY_QUERY, client=client)
        assert httpx.post(server.url + "/__admin/expire_sessions").json() == {"expired": 1}
        answer = client.post(service_path(f"{FORM_SERVICE}.ExecuteBillQuery"), json=CURRENCY_QUERY).json()
        assert query_error(answer)["MsgCode"] == 1


def test_data_center_list_needs_no_authentication(server: BackgroundServer) -> None:
    path = service_path("Kingdee.BOS.ServiceFacade.ServicesStub.Account.AccountService.GetDataCenterList")
    centres = httpx.post(server.url + path, json={}).json()
    assert [centre["Id"] for centre in centres] == [ACCOUNT.acct_id]


def test_account_repr_hides_secrets() -> None:
    shown = repr(ACCOUNT)
    assert ACCOUNT.app_secret not in shown and ACCOUNT.password not in shown and ACCOUNT.acct_id in shown


# --- queries ----------------------------------------------------------------------------------------


def test_paging_with_start_row_and_limit_returns_every_row_once(server: BackgroundServer) -> None:
    expected = sorted(m["FNumber"] for m in make_base_data()["BD_MATERIAL"])
    seen: list[str] = []
    pages = 0
    while True:
        page = query(server, FormId="BD_MATERIAL", FieldKeys="FNumber", OrderString="FNumber ASC",
                     StartRow=len(seen), Limit=7, TopRowCount=0)  # fmt: skip
        pages += 1
        seen.extend(row[0] for row in page)
        if len(page) < 7:
            break
    assert seen == expected
    assert pages == len(expected) // 7 + 1


def test_limit_defaults_to_2000_and_is_capped_at_10000(serve: Callable[..., BackgroundServer]) -> None:
    server = serve(make_base_data(extra_materials=10_050))
    assert len(query(server, FormId="BD_MATERIAL", FieldKeys="FNumber")) == 2000
    assert len(query(server, FormId="BD_MATERIAL", FieldKeys="FNumber", Limit=50_000)) == 10_000
    assert len(query(server, FormId="BD_MATERIAL", FieldKeys="FNumber", StartRow=10_000, Limit=10_000)) == 55


def test_top_row_count_ends_the_result_before_start_row_applies(server: BackgroundServer) -> None:
    rows = query(server, FormId="BD_MATERIAL", FieldKeys="FNumber", OrderString="FNumber",
                 TopRowCount=5, StartRow=3, Limit=10)  # fmt: skip
    assert rows == [[n] for n in sorted(m["FNumber"] for m in make_base_data()["BD_MATERIAL"])[3:5]]


def test_filter_and_order_select_sold_online_audited_materials(server: BackgroundServer) -> None:
    rows = query(
        server,
        FormId="BD_MATERIAL",
        FieldKeys="FNumber,FIsBatchManage,FModifyDate",
        FilterString="FDocumentStatus = 'C' and f_paez_sellonline = '1' and FForbidStatus = 'A' "
        "and FNumber not like 'P%' and FUseOrgId.FNumber = '100'",
        OrderString="FIsBatchManage DESC, FNumber",
    )
    assert rows == [["A1001-01", True, "2025-11-01T08:00:00"], ["G2001-01", False, "2025-11-01T08:00:00"]]


def test_a_quote_injection_in_a_properly_escaped_value_matches_nothing(server: BackgroundServer) -> None:
    rows = query(server, FormId="BD_MATERIAL", FieldKeys="FNumber", FilterString="FNumber = 'x'' or ''1''=''1'")
    assert rows == []


def test_bill_query_answers_objects_keyed_as_requested_and_accepts_data_as_a_string(
    server: BackgroundServer,
) -> None:
    data = json.dumps({"FormId": "bd_unit", "FieldKeys": "fnumber, FName", "OrderString": "FNumber DESC"})
    answer = signed_post(server, f"{FORM_SERVICE}.BillQuery", {"data": data}).json()
    assert answer == [{"fnumber": "Pcs", "FName": "个"}, {"fnumber": "bao", "FName": "包"}]  # case-insensitive order


@pytest.mark.parametrize(
    ("data", "msg_code", "message"),
    [
        ({"FormId": "BD_MATERIAL", "FieldKeys": "FNumber,FNoSuchField"}, 9, "元数据中标识为FNoSuchField的字段不存在"),
        ({"FormId": "STK_OutStock", "FieldKeys": "FBillNo"}, 4, "业务对象不存在"),
        ({"FormId": "BD_MATERIAL", "FieldKeys": "FNumber", "FilterString": "FNumber = 'a"}, 4, "FNumber = 'a"),
        ({"FormId": "BD_MATERIAL", "FieldKeys": "FNumber", "OrderString": "FNumber UP"}, 4, "FNumber UP"),
        ({"FormId": "BD_MATERIAL", "FieldKeys": ""}, 8, "FieldKeys"),
    ],
    ids=["unknown-field", "unknown-form", "malformed-filter", "malformed-order", "no-field-keys"],
)  # fmt: skip
def test_query_errors_come_back_wrapped_in_two_lists(
    server: BackgroundServer, data: dict, msg_code: int, message: str
) -> None:
    status = query_error(query(server, **data))
    assert status["IsSuccess"] is False and status["MsgCode"] == msg_code
    assert message in status["Errors"][0]["Message"]


# --- saves ------------------------------------------------------------------------------------------


def test_batch_save_commits_valid_bills_and_reports_the_failing_one_by_dindex(server: BackgroundServer) -> None:
    bad = outstock("B2", outstock_line(stock=""), outstock_line("G2001-01", lot=None, qty=0, unit="Pcs"),
                   customer="CUST404")  # fmt: skip
    status = save(server, "SAL_OUTSTOCK", [outstock("B1"), bad, outstock("B3")])
    assert status["IsSuccess"] is False and status["ErrorCode"] == 500
    assert [(s["Number"], s["DIndex"]) for s in status["SuccessEntitys"]] == [("B1", 0), ("B3", 2)]
    assert all(isinstance(s["Id"], int) for s in status["SuccessEntitys"])
    assert {e["DIndex"] for e in status["Errors"]} == {1}
    assert {(e["FieldName"], e["Message"]) for e in status["Errors"]} == {
        ("FCustomerID", "字段“客户”的值“CUST404”在系统中不存在"),
        ("FStockID", "单据体实体【明细信息】第【1】行分录，【仓库】字段必录"),
        ("FRealQty", "单据体实体【明细信息】第【2】行分录，【实发数量】必须大于0"),
    }
    assert bill_numbers(server) == ["B1", "B3"]


def test_every_missing_required_header_field_is_reported(server: BackgroundServer) -> None:
    status = save(server, "SAL_OUTSTOCK", [{"FBillNo": "R1", "FEntity": []}])
    fields = {e["FieldName"] for e in status["Errors"]}
    assert fields == {"FBillTypeID", "FDate", "FSaleOrgId", "FStockOrgId", "FCustomerID", "FSettleCurrID", "FEntity"}
    assert status["SuccessEntitys"] == []


def test_base_data_must_be_audited_and_enabled(server: BackgroundServer) -> None:
    status = save(server, "SAL_OUTSTOCK", [
        outstock("S1", outstock_line("A1002-01")),  # material created, not audited
        outstock("S2", outstock_line("G2002-01", lot=None, unit="Pcs")),  # material forbidden
        outstock("S3", customer="CUST009"),  # customer forbidden
        outstock("S4", outstock_line(stock="CK777")),
    ])  # fmt: skip
    messages = {e["DIndex"]: e["Message"] for e in status["Errors"]}
    assert messages == {
        0: "单据体实体【明细信息】第【1】行分录，字段“物料编码”的值“A1002-01”在系统中不存在",
        1: "单据体实体【明细信息】第【1】行分录，字段“物料编码”的值“G2002-01”在系统中不存在",
        2: "字段“客户”的值“CUST009”在系统中不存在",
        3: "单据体实体【明细信息】第【1】行分录，字段“仓库”的值“CK777”在系统中不存在",
    }


def test_bill_numbers_are_unique_per_form_against_the_store_and_inside_a_batch(server: BackgroundServer) -> None:
    assert save(server, "SAL_OUTSTOCK", [outstock("D1")])["IsSuccess"] is True
    status = save(server, "SAL_OUTSTOCK", [outstock("D1"), outstock("D2"), outstock("D2")])
    assert [(e["DIndex"], e["FieldName"], e["Message"]) for e in status["Errors"]] == [
        (0, "FBillNo", "单据编号“D1”已经存在"),
        (2, "FBillNo", "单据编号“D2”已经存在"),
    ]
    assert [s["DIndex"] for s in status["SuccessEntitys"]] == [1]
    assert bill_numbers(server) == ["D1", "D2"]
    # another form keeps its own numbers
    returned = returnstock("D1")
    assert save(server, "SAL_RETURNSTOCK", [returned])["IsSuccess"] is True


def test_bills_without_a_number_are_auto_numbered_per_form(server: BackgroundServer) -> None:
    status = save(server, "SAL_OUTSTOCK", [outstock(None), outstock(None)])
    assert [s["Number"] for s in status["SuccessEntitys"]] == ["XSCKD000001", "XSCKD000002"]
    status = save(server, "SAL_RETURNSTOCK", [returnstock(None)])
    assert [s["Number"] for s in status["SuccessEntitys"]] == ["XSTHD000001"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (outstock_line("A1001-01", lot=None), "物料“A1001-01”启用了批号管理，【批号】字段必录"),
        (outstock_line("A1001-01", lot=""), "物料“A1001-01”启用了批号管理，【批号】字段必录"),
        (outstock_line("G2001-01", lot="0", unit="Pcs"), "物料“G2001-01”未启用批号管理，【批号】不允许录入"),
        (outstock_line("A1001-01", lot="0"), None),
        (outstock_line("G2001-01", lot=None, unit="Pcs"), None),
        (outstock_line("G2001-01", lot="", unit="Pcs"), None),
    ],
    ids=["batch-no-lot", "batch-empty-lot", "no-batch-with-lot", "batch-with-lot", "no-batch-no-lot",
         "no-batch-empty-lot"],
)  # fmt: skip
def test_lot_is_required_exactly_on_batch_managed_materials(
    server: BackgroundServer, line: dict, message: str | None
) -> None:
    status = save(server, "SAL_OUTSTOCK", [outstock("L1", line)])
    if message is None:
        assert status["IsSuccess"] is True, status["Errors"]
    else:
        assert [e["Message"] for e in status["Errors"]] == [f"单据体实体【明细信息】第【1】行分录，{message}"]
        assert status["Errors"][0]["FieldName"] == "FLot"


def returnstock(bill_no: str | None, **extra: Any) -> dict[str, Any]:
    """A return bill spelled in upper case: field keys are case-insensitive on the server."""
    bill = {
        "FBILLTYPEID": {"FNUMBER": "XSTHD01_SYS"},
        "FDATE": "2025-11-05",
        "FSALEORGID": {"FNUMBER": "100"},
        "FSTOCKORGID": {"FNUMBER": "100"},
        "FRETCUSTID": {"FNUMBER": "CUST001"},
        "FHeadNote": "聚水潭售后",
        "SUBHEADENTITY": {"FSETTLECURRID": {"FNUMBER": "PRE001"}},
        "FENTITY": [
            {"FMATERIALID": {"FNUMBER": "A1001-01"}, "FUNITID": {"FNUMBER": "bao"}, "FSTOCKID": {"FNUMBER": "CK002"},
             "FREALQTY": 1, "FMUSTQTY": 2, "FLOT": {"FNUMBER": "0"}, "FReturnType": {"FNumber": "THLX01_SYS"}},
        ],
        **extra,
    }  # fmt: skip
    if bill_no is not None:
        bill["FBillNo"] = bill_no
    return bill


def test_return_bills_keep_their_own_key_spelling_whatever_the_case(server: BackgroundServer) -> None:
    assert save(server, "SAL_RETURNSTOCK", [returnstock("900001")])["IsSuccess"] is True
    rows = query(server, FormId="SAL_RETURNSTOCK",
                 FieldKeys="FBillNo,FDate,FRetcustId.FNumber,FMaterialId.FNumber,FStockId.FNumber,FRealQty,"
                           "FMustQty,FLot.FNumber,FHeadNote,FSettleCurrId.FNumber,FDocumentStatus")  # fmt: skip
    assert rows == [["900001", "2025-11-05T00:00:00", "CUST001", "A1001-01", "CK002", 1, 2, "0", "聚水潭售后",
                     "PRE001", "A"]]  # fmt: skip


def test_every_field_sent_is_kept_and_queryable_per_entry_line(server: BackgroundServer) -> None:
    bill = outstock(
        "E1",
        outstock_line(FIsFree=False, FEntrynote="第一行", FMustQty=2),
        outstock_line("G2001-01", lot=None, unit="Pcs", qty=3, FIsFree=True, FTaxPrice=0),
        F_PAEZ_OnlineOrderNo="TB4021000001",
        FCarriageNO="SF1234567890",
        FNote="聚水潭TB4021000001",
    )
    assert save(server, "SAL_OUTSTOCK", [bill, outstock("E2")])["IsSuccess"] is True
    header_only = query(server, FormId="SAL_OUTSTOCK", FieldKeys="FBillNo,F_PAEZ_OnlineOrderNo,FCarriageNO,FNote,"
                        "FCustomerID.FNumber,FCustomerID.FName,FCustomerID", FilterString="FBillNo = 'E1'")  # fmt: skip
    assert header_only == [["E1", "TB4021000001", "SF1234567890", "聚水潭TB4021000001", "CUST001", "天猫旗舰店", 11]]
    lines = query(server, FormId="SAL_OUTSTOCK", FilterString="FBillNo = 'E1'",
                  FieldKeys="FBillNo,FEntity_FEntryID,FMaterialID.FNumber,FRealQty,FTaxPrice,FIsFree,FLot.FNumber,"
                            "FEntrynote,FMustQty,FDate")  # fmt: skip
    assert [row[0] for row in lines] == ["E1", "E1"]
    assert len({row[1] for row in lines}) == 2 and all(isinstance(row[1], int) for row in lines)
    assert [row[2:] for row in lines] == [
        ["A1001-01", 2, 9.9, False, "0", "第一行", 2, "2025-11-02T10:30:00"],
        ["G2001-01", 3, 0, True, None, None, None, "2025-11-02T10:30:00"],
    ]
    # a filter on an entry field selects the bill once per matching line, like the SQL join behind it
    assert query(server, FormId="SAL_OUTSTOCK", FieldKeys="FBillNo", FilterString="FMaterialID.FNumber = 'A1001-01'",
                 OrderString="FBillNo") == [["E1"], ["E2"]]  # fmt: skip
    stored = httpx.get(server.url + "/__admin/bills/SAL_OUTSTOCK").json()
    assert [b["FBillNo"] for b in stored] == ["E1", "E2"]
    assert stored[0]["F_PAEZ_OnlineOrderNo"] == "TB4021000001" and stored[0]["FDocumentStatus"] == "A"
    assert all(isinstance(line["FEntryID"], int) for line in stored[0]["FEntity"])


def test_save_of_one_model_answers_its_id_and_number(server: BackgroundServer) -> None:
    body = {"formid": "SAL_OUTSTOCK", "data": json.dumps({"Model": outstock("S1"), "NeedReturnFields": ["FBillNo"]})}
    result = signed_post(server, f"{FORM_SERVICE}.Save", body).json()["Result"]
    assert result["ResponseStatus"]["IsSuccess"] is True
    assert result["Number"] == "S1" and isinstance(result["Id"], int)
    assert result["NeedReturnData"] == [{"FBillNo": "S1"}]


@pytest.mark.parametrize(
    ("form_id", "msg_code"), [("STK_OutStock", 4), ("BD_MATERIAL", 12)], ids=["unknown-form", "base-data-form"]
)
def test_saving_to_a_form_the_emulator_does_not_keep_bills_for_fails(
    server: BackgroundServer, form_id: str, msg_code: int
) -> None:
    assert save(server, form_id, [outstock("X1")])["MsgCode"] == msg_code


# --- bill operations --------------------------------------------------------------------------------


def document_status(server: BackgroundServer, bill_no: str) -> list[list[str]]:
    return query(server, FormId="SAL_OUTSTOCK", FieldKeys="FDocumentStatus", FilterString=f"FBillNo = '{bill_no}'")


def test_submit_audit_unaudit_and_delete_walk_the_status_machine(server: BackgroundServer) -> None:
    ids = {s["Number"]: s["Id"] for s in save(server, "SAL_OUTSTOCK", [outstock("W1"), outstock("W2")])
           ["SuccessEntitys"]}  # fmt: skip
    assert document_status(server, "W1") == [["A"]]
    refused = operate(server, "Audit", "SAL_OUTSTOCK", Numbers=["W1"])
    assert refused["IsSuccess"] is False and "创建" in refused["Errors"][0]["Message"]
    submitted = operate(server, "Submit", "SAL_OUTSTOCK", Numbers=["W1"], Ids=str(ids["W2"]))
    assert [(s["Number"], s["DIndex"]) for s in submitted["SuccessEntitys"]] == [("W1", 0), ("W2", 1)]
    assert document_status(server, "W1") == [["B"]]
    assert operate(server, "Audit", "SAL_OUTSTOCK", Numbers=["W1", "W2"])["IsSuccess"] is True
    assert document_status(server, "W2") == [["C"]]
    assert operate(server, "Delete", "SAL_OUTSTOCK", Numbers=["W1"])["IsSuccess"] is False
    assert operate(server, "UnAudit", "SAL_OUTSTOCK", Numbers=["W1"])["IsSuccess"] is True
    assert document_status(server, "W1") == [["D"]]
    assert operate(server, "Delete", "SAL_OUTSTOCK", Numbers=["W1"])["IsSuccess"] is True
    assert bill_numbers(server) == ["W2"]


def test_operations_report_unknown_numbers_by_dindex_and_still_apply_to_the_rest(server: BackgroundServer) -> None:
    save(server, "SAL_OUTSTOCK", [outstock("K1")])
    status = operate(server, "Submit", "SAL_OUTSTOCK", Numbers=["NOPE", "K1"])
    assert status["IsSuccess"] is False and status["MsgCode"] == 10
    assert [(e["DIndex"], e["Message"]) for e in status["Errors"]] == [(0, "单据编号为“NOPE”的单据不存在")]
    assert [s["DIndex"] for s in status["SuccessEntitys"]] == [1]
    assert document_status(server, "K1") == [["B"]]


# --- faults, admin and statistics -------------------------------------------------------------------


def test_timeout_after_commit_leaves_the_bill_saved(server: BackgroundServer) -> None:
    httpx.post(server.url + "/__admin/save_faults", json={"timeout_after_commit_seconds": 0.8})
    path = service_path(f"{FORM_SERVICE}.BatchSave")
    body = json.dumps({"formid": "SAL_OUTSTOCK", "data": {"Model": [outstock("T1")]}})
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.url + path, content=body, headers=sdk_headers(server.url + path), timeout=0.3)
    httpx.post(server.url + "/__admin/save_faults", json={"timeout_after_commit_seconds": 0})
    assert bill_numbers(server) == ["T1"]


def test_listed_bill_numbers_fail_with_a_business_error(server: BackgroundServer) -> None:
    httpx.post(server.url + "/__admin/save_faults", json={"fail_bill_numbers": ["F2"]})
    status = save(server, "SAL_OUTSTOCK", [outstock("F1"), outstock("F2")])
    assert [(e["DIndex"], e["Message"]) for e in status["Errors"]] == [(1, "模拟业务校验失败")]
    assert bill_numbers(server) == ["F1"]


def test_msgcode14_answers_the_next_calls_then_recovers(server: BackgroundServer) -> None:
    httpx.post(server.url + "/__admin/save_faults", json={"msgcode14_next": 2})
    assert query_error(query(server, FormId="BD_UNIT", FieldKeys="FNumber"))["MsgCode"] == 14
    assert save(server, "SAL_OUTSTOCK", [outstock("M1")])["MsgCode"] == 14
    assert save(server, "SAL_OUTSTOCK", [outstock("M1")])["IsSuccess"] is True


def test_unknown_save_fault_knobs_are_refused(server: BackgroundServer) -> None:
    response = httpx.post(server.url + "/__admin/save_faults", json={"fail_everything": True})
    assert response.status_code == 400


def test_admin_edits_and_deletes_change_what_queries_show(server: BackgroundServer) -> None:
    save(server, "SAL_OUTSTOCK", [outstock("Q1", outstock_line(), outstock_line(qty=5)), outstock("Q2")])
    edited = httpx.post(server.url + "/__admin/bills/SAL_OUTSTOCK/Q1", json={"FEntity": [None, {"FRealQty": 4}],
                                                                              "FCarriageNO": "YT1"})  # fmt: skip
    assert edited.status_code == 200
    rows = query(server, FormId="SAL_OUTSTOCK", FieldKeys="FRealQty,FCarriageNO", FilterString="FBillNo='Q1'")
    assert rows == [[2, "YT1"], [4, "YT1"]]
    assert httpx.post(server.url + "/__admin/bills/SAL_OUTSTOCK/Q2/delete").status_code == 200
    assert bill_numbers(server) == ["Q1"]
    assert httpx.post(server.url + "/__admin/bills/SAL_OUTSTOCK/Q2/delete").status_code == 404


def test_a_query_by_numbers_answers_like_a_scan_of_every_bill(server: BackgroundServer) -> None:
    save(server, "SAL_OUTSTOCK", [outstock("N3"), outstock("n1", outstock_line(), outstock_line(qty=5)),
                                  outstock("N2", F_PAEZ_OnlineOrderNo="TB1"), outstock("7")])  # fmt: skip
    keys = "FBillNo,FRealQty,F_PAEZ_OnlineOrderNo"
    scanned = query(server, FormId="SAL_OUTSTOCK", FieldKeys=keys)
    # Saving order, not the order the numbers are listed in; text compares ignoring case.
    by_number = query(server, FormId="SAL_OUTSTOCK", FieldKeys=keys, FilterString="FBillNo in ('N2', 'N1', 'N3')")
    assert by_number == [row for row in scanned if row[0] != "7"]
    assert query(server, FormId="SAL_OUTSTOCK", FieldKeys="FBillNo", FilterString="FBillNo = 7") == [["7"]]
    assert query(server, FormId="SAL_OUTSTOCK", FieldKeys="FBillNo", FilterString="FBillNo in ('N9')") == []
    # A key only another bill was saved with is still a known field.
    assert query(server, FormId="SAL_OUTSTOCK", FieldKeys="F_PAEZ_OnlineOrderNo,FNote",
                 FilterString="FBillNo = 'N3'") == [[None, None]]  # fmt: skip


def test_queries_by_number_follow_edits_and_deletes(server: BackgroundServer) -> None:
    save(server, "SAL_OUTSTOCK", [outstock("R1", FCustomKey="x"), outstock("R2")])
    httpx.post(server.url + "/__admin/bills/SAL_OUTSTOCK/R2", json={"FBillNo": "R2-renamed"})
    assert query(server, FormId="SAL_OUTSTOCK", FieldKeys="FBillNo", FilterString="FBillNo = 'R2'") == []
    assert query(server, FormId="SAL_OUTSTOCK", FieldKeys="FBillNo", FilterString="FBillNo = 'r2-RENAMED'") == [
        ["R2-renamed"]
    ]
    assert query(server, FormId="SAL_OUTSTOCK", FieldKeys="FCustomKey", FilterString="FBillNo = 'R1'") == [["x"]]
    assert operate(server, "Delete", "SAL_OUTSTOCK", Numbers=["R1"])["IsSuccess"] is True
    # The only bill saved with FCustomKey is gone, and with it the field.
    assert query_error(query(server, FormId="SAL_OUTSTOCK", FieldKeys="FCustomKey"))["MsgCode"] == 9
    save(server, "SAL_OUTSTOCK", [outstock("R1")])
    assert query(server, FormId="SAL_OUTSTOCK", FieldKeys="FBillNo", FilterString="FBillNo in ('R1', 'R2-renamed')",
                 OrderString="") == [["R2-renamed"], ["R1"]]  # fmt: skip


def test_stats_count_calls_batch_sizes_and_overlapping_saves(serve: Callable[..., BackgroundServer]) -> None:
    server = serve(save_latency_ms=150, save_latency_per_bill_ms=50)
    batches = [[outstock("C1")], [outstock("C2"), outstock("C3")]]
    barrier = threading.Barrier(len(batches))
    results: list[dict] = []

    def send(models: list[dict]) -> None:
        barrier.wait()
        results.append(save(server, "SAL_OUTSTOCK", models))

    started = time.monotonic()
    threads = [threading.Thread(target=send, args=(models,)) for models in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert all(status["IsSuccess"] for status in results)
    assert elapsed >= 0.25  # the two-bill batch sleeps 150 + 2 x 50 ms
    query(server, FormId="BD_UNIT", FieldKeys="FNumber")
    stats = httpx.get(server.url + "/__admin/stats").json()
    assert stats["calls"] == {"BatchSave": 2, "ExecuteBillQuery": 1}
    assert sorted(stats["batch_sizes"]) == [1, 2]
    assert stats["max_concurrent_saves"] == 2


def test_paths_are_case_insensitive_and_other_prefixes_are_not_served(server: BackgroundServer) -> None:
    answer = signed_post(server, f"{FORM_SERVICE}.ExecuteBillQuery", CURRENCY_QUERY, prefix="/K3Cloud").json()
    assert answer == [["PRE001", "CNY"]]
    other = signed_post(server, f"{FORM_SERVICE}.ExecuteBillQuery", CURRENCY_QUERY, prefix="/erp")
    assert other.status_code == 404


def test_legacy_positional_parameters_body_is_understood(server: BackgroundServer) -> None:
    saved = signed_post(server, f"{FORM_SERVICE}.Save",
                        {"parameters": ["SAL_OUTSTOCK", json.dumps({"Model": outstock("P1")})]}).json()  # fmt: skip
    assert saved["Result"]["Number"] == "P1"
    data = json.dumps({"FormId": "SAL_OUTSTOCK", "FieldKeys": "FBillNo"})
    assert signed_post(server, f"{FORM_SERVICE}.ExecuteBillQuery", {"parameters": json.dumps([data])}).json() == [
        ["P1"]
    ]


def test_save_faults_make_submit_and_audit_refuse_chosen_bills(server: BackgroundServer) -> None:
    save(server, "SAL_OUTSTOCK", [outstock("F1"), outstock("F2"), outstock("F3")])
    faults = {"fail_submit_numbers": ["F1"], "fail_audit_numbers": ["F2"]}
    httpx.post(server.url + "/__admin/save_faults", json=faults).raise_for_status()
    submitted = operate(server, "Submit", "SAL_OUTSTOCK", Numbers=["F1", "F2", "F3"])
    assert submitted["IsSuccess"] is False and submitted["MsgCode"] == 11
    assert [(e["DIndex"], e["Message"]) for e in submitted["Errors"]] == [(0, "模拟提交失败")]
    audited = operate(server, "Audit", "SAL_OUTSTOCK", Numbers=["F2", "F3"])
    assert [(e["DIndex"], e["Message"]) for e in audited["Errors"]] == [(0, "模拟审核失败")]
    assert [document_status(server, n) for n in ("F1", "F2", "F3")] == [[["A"]], [["B"]], [["C"]]]


def test_audit_of_short_stock_stops_at_the_interaction_unless_pre_answered(server: BackgroundServer) -> None:
    save(server, "SAL_OUTSTOCK", [outstock("S1")])
    httpx.post(server.url + "/__admin/save_faults", json={"audit_stock_short": True}).raise_for_status()
    operate(server, "Submit", "SAL_OUTSTOCK", Numbers=["S1"])
    answer = signed_post(server, f"{FORM_SERVICE}.Audit", {"formid": "SAL_OUTSTOCK", "data": {"Numbers": ["S1"]}})
    result = answer.json()["Result"]
    assert result["ResponseStatus"]["IsSuccess"] is False
    assert result["ResponseStatus"]["Errors"][0]["Message"].startswith("STK_InvCheckResult")
    assert result["InteractionContext"]["InteractionFormId"] == "STK_InvCheckResult"
    assert document_status(server, "S1") == [["B"]]
    flagged = operate(server, "Audit", "SAL_OUTSTOCK", Numbers=["S1"], InterationFlags="STK_InvCheckResult")
    assert flagged["IsSuccess"] is True and document_status(server, "S1") == [["C"]]
    assert httpx.get(server.url + "/__admin/stats").json()["stock_check_interactions"] == 1
