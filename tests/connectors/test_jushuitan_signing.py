"""The openweb v2 signature against the worked vectors of JUSHUITAN_API.md §2.4."""

from __future__ import annotations

import json

import pytest

from connectors.jushuitan.signing import encode_biz, sign

SYSTEM = {
    "app_key": "test-app",
    "access_token": "test-token",
    "timestamp": "1700000000",
    "charset": "utf-8",
    "version": "2",
}
ITEM_BIZ = {
    "items": [
        {
            "sku_id": "SKU-001",
            "i_id": "STYLE-01",
            "name": "测试商品",
            "properties_value": "红色;L",
            "s_price": 99.9,
            "unit": "件",
            "enabled": 1,
        }
    ]
}


def test_vector_1_token_style_params() -> None:
    params = {"app_key": "app", "charset": "utf-8", "timestamp": "100"}
    assert sign(params, "secret") == "706427ca94e342781ac36d501151cb10"


def test_vector_2_ignores_sign_and_empty_params() -> None:
    params = {
        "access_token": "token",
        "app_key": "app",
        "biz": '{"page_index":1,"page_size":50}',
        "charset": "utf-8",
        "timestamp": "1785312000",
        "version": "2",
        "sign": "whatever-was-there-before",
        "extra": "",
    }
    assert sign(params, "secret") == "63b407c8cb9317b230c24ec1536f4fa2"


def test_vector_3_business_call_with_window() -> None:
    biz = encode_biz(
        {
            "page_index": 1,
            "page_size": 50,
            "modified_begin": "2024-01-01 00:00:00",
            "modified_end": "2024-01-07 23:59:59",
        }
    )
    assert sign({**SYSTEM, "biz": biz}, "test-secret") == "b032a4af4efaa79a3b8f2356e3bc4d4a"


def test_vector_4_chinese_biz_signed_as_utf8_not_escaped() -> None:
    biz = encode_biz(ITEM_BIZ)
    assert "测试商品" in biz
    assert sign({**SYSTEM, "biz": biz}, "test-secret") == "745684067ddea5fcec11330aba8dfeb2"


def test_vector_4_escaped_serialisation_gives_the_other_documented_sign() -> None:
    escaped = json.dumps(ITEM_BIZ, separators=(",", ":"))
    assert sign({**SYSTEM, "biz": escaped}, "test-secret") == "664b1961ded9a1ef713d7a2b8873e113"


@pytest.mark.parametrize("changed", ["app_key", "access_token", "timestamp", "biz"])
def test_every_signed_parameter_changes_the_sign(changed: str) -> None:
    params = {**SYSTEM, "biz": "{}"}
    assert sign({**params, changed: params[changed] + "x"}, "s") != sign(params, "s")


def test_encode_biz_is_compact_json_that_round_trips() -> None:
    text = encode_biz({"a": [1, 2], "b": "退货", "price": 0.1})
    assert text == '{"a":[1,2],"b":"退货","price":0.1}'
    assert json.loads(text) == {"a": [1, 2], "b": "退货", "price": 0.1}
