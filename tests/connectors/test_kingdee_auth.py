"""Signature headers against the published worked vectors, and the session-login request shapes."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from connectors.kingdee.auth import check_login_result, decode_client_secret, login_request, signature_headers
from connectors.kingdee.errors import KingdeeAuthError
from connectors.settings import KingdeeSettings

QUERY_PATH = "/k3cloud/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery.common.kdsvc"


def test_spec_vector_300123_reproduces_every_header() -> None:
    settings = KingdeeSettings(
        app_id="300123_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY",
        app_secret=SecretStr("0123456789abcdef0123456789abcdef"),
        acct_id="S20240101",
        username="administrator",
        lcid=2052,
        org_num=0,
    )
    headers = signature_headers(settings, "http://127.0.0.1:8712" + QUERY_PATH, "1764300000", "1764300000")
    assert headers == {
        "X-Api-ClientID": "300123",
        "X-Api-Auth-Version": "2.0",
        "x-api-timestamp": "1764300000",
        "x-api-nonce": "1764300000",
        "x-api-signheaders": "x-api-timestamp,x-api-nonce",
        "X-Api-Signature": ("MmNkZjZkY2I2MzgzMDNlZDAzMjU5M2ZhZDQzZGM0MGMwZjU3MTQ1OTA5MWNlZjZhNDY0MTQ0Mjc2ZDFkM2JiMw=="),
        "X-Kd-Appkey": "300123_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY",
        "X-Kd-Appdata": "UzIwMjQwMTAxLGFkbWluaXN0cmF0b3IsMjA1Miww",
        "X-Kd-Signature": ("NGM0NWM2ZjhkNTYzNWIzNDNlODdmZmMwODliNTA1Nzg3YjA0Y2I2NDJiZmExMDgxMmI5MzQ3OGVmNGI2NThjZg=="),
    }


def test_notes_vector_204399_reproduces_the_sdk_sample() -> None:
    settings = KingdeeSettings(
        app_id="204399_72epSbtEQMC92Vwt2d3LRa9LRqSc1tqJ",
        app_secret=SecretStr("fb7d46647ac346dbb5fcd45b65512a45"),
        acct_id="5db25ac8d2b819",
        username="webapi",
    )
    headers = signature_headers(settings, "http://erp.example.com" + QUERY_PATH, "1700000000", "1700000000")
    assert headers["X-Api-ClientID"] == "204399"
    assert headers["X-Api-Signature"] == (
        "ZTJhY2RiZTYxNmFhZDMxN2MyZmU2ZTMxN2I0ZmFjZGE2ZGVlMTgyNTM4YzdkOTNlYzFlNzhmZGU1M2E4YTRmNg=="
    )
    assert headers["X-Kd-Appdata"] == "NWRiMjVhYzhkMmI4MTksd2ViYXBpLDIwNTIsMA=="
    assert headers["X-Kd-Signature"] == (
        "OWQ2YWVhM2JmOGVlYWEzYjVlZGI0NzM3MjlmYzA4NTkyYjhiMTAwNTgxODk5MmQ5NWIxMzBjZTQxNjk5ZWFiYg=="
    )


@pytest.mark.parametrize(
    ("app_id", "client_secret"),
    [
        ("300123_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY", "MTI2MGM1Pj9qPDk/OT04KHMiKnd0IXMr"),
        ("204399_72epSbtEQMC92Vwt2d3LRa9LRqSc1tqJ", "31ecfd13effe724e7e78fc17f8f94b66"),
        ("1_1ccC0/HFQmH/XUVET36Bzz8M1rWb0APu", "5fc355f2e1aca3d3e022910879b652fd"),
        ("1_47aD5+sL6kH8WV8u6eSASbzLTs7aRoLL", "04a2040403afb20d3de3cd77d627ceb4"),
    ],
)
def test_decode_client_secret_vectors(app_id: str, client_secret: str) -> None:
    assert decode_client_secret(app_id) == client_secret


def test_old_style_app_id_signs_with_an_empty_key_and_no_client_id() -> None:
    settings = KingdeeSettings(app_id="legacyappid")
    headers = signature_headers(settings, "http://127.0.0.1/k3cloud/x.common.kdsvc", "1", "1")
    assert decode_client_secret("legacyappid") == ""
    assert headers["X-Api-ClientID"] == ""
    assert headers["X-Kd-Appkey"] == "legacyappid"


def test_signature_depends_on_path_timestamp_and_nonce() -> None:
    settings = KingdeeSettings()
    base = signature_headers(settings, "http://127.0.0.1:1" + QUERY_PATH, "100", "n1")["X-Api-Signature"]
    other_path = QUERY_PATH.replace("ExecuteBillQuery", "BatchSave")
    assert signature_headers(settings, "http://127.0.0.1:1" + other_path, "100", "n1")["X-Api-Signature"] != base
    assert signature_headers(settings, "http://127.0.0.1:1" + QUERY_PATH, "101", "n1")["X-Api-Signature"] != base
    assert signature_headers(settings, "http://127.0.0.1:1" + QUERY_PATH, "100", "n2")["X-Api-Signature"] != base
    # The host is not signed: the same path on another port signs the same.
    assert signature_headers(settings, "http://127.0.0.1:2" + QUERY_PATH, "100", "n1")["X-Api-Signature"] == base


def test_login_requests_are_positional_per_auth_mode() -> None:
    by_secret = KingdeeSettings(auth_mode="app_secret", app_secret=SecretStr("s3cret"))
    service, body = login_request(by_secret)
    assert service == "AuthService.LoginByAppSecret"
    assert body == {"parameters": [by_secret.acct_id, by_secret.username, by_secret.app_id, "s3cret", 2052]}

    by_password = KingdeeSettings(auth_mode="password", password=SecretStr("pw"))
    service, body = login_request(by_password)
    assert service == "AuthService.ValidateUser"
    assert body == {"parameters": [by_password.acct_id, by_password.username, "pw", 2052]}

    with pytest.raises(KingdeeAuthError):
        login_request(KingdeeSettings(auth_mode="password"))


def test_a_login_succeeds_on_login_result_type_1_or_is_success_by_api() -> None:
    check_login_result({"LoginResultType": 1, "KDSVCSessionId": "abc"}, str)
    check_login_result({"LoginResultType": -5, "IsSuccessByAPI": True, "KDSVCSessionId": "abc"}, str)
    check_login_result({"LoginResultType": 2, "IsSuccessByAPI": True, "Message": "密码即将过期"}, str)
    for result in (
        {"LoginResultType": 0, "Message": "用户名或密码错误"},
        {"LoginResultType": -1},
        {"LoginResultType": -5},  # without the API's own verdict a -5 is not taken as a success
        {"LoginResultType": 0, "IsSuccessByAPI": False},
        {"LoginResultType": 0, "IsSuccessByAPI": "true"},  # only a JSON true counts
        [],
        None,
    ):
        with pytest.raises(KingdeeAuthError):
            check_login_result(result, str)


def test_login_failure_message_is_scrubbed() -> None:
    with pytest.raises(KingdeeAuthError) as caught:
        check_login_result({"LoginResultType": 0, "Message": "bad password pw123"}, lambda t: t.replace("pw123", "***"))
    assert "pw123" not in str(caught.value)
    assert "LoginResultType 0" in str(caught.value)
