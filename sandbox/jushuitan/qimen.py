"""The Qimen router's side of `jushuitan.refund.list.query` (docs/wire_facts.md, "Qimen after-sales route"):
TOP system parameters and business parameters in one form, the upper-case MD5 signature with the secret on
both ends, Jushuitan's app as `target_app_key`, the merchant as `customer_id`; it serves the after-sales of
Taobao-family shops only, paged as the standard refund query, wrapped in `<method>_response.result`."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from sandbox.data import CO_ID, JST_TIME, SHANGHAI
from sandbox.jushuitan.emulator import REFUNDS_PATH, Emulator
from sandbox.jushuitan.queries import QUERIES, query
from sandbox.jushuitan.wire import SUCCESS, Rejected, read_form

QIMEN_ROUTER_PATH = "/router/qm"
QIMEN_APP_KEY = "qimen-sandbox-app"
QIMEN_APP_SECRET = "qimen-sandbox-secret"
TARGET_APP_KEY = "23060081"  # Jushuitan's app on Qimen
REFUND_LIST = "jushuitan.refund.list.query"
TAOBAO_SITES = frozenset({"淘宝", "天猫", "天猫商城"})
SYSTEM = ("method", "app_key", "target_app_key", "customer_id", "timestamp", "sign", "sign_method", "v", "format")
MAX_SKEW_SECONDS = 600
_INTEGERS = ("page_index", "page_size", "start_ts")
_LISTS = ("as_ids", "so_ids", "o_ids")


def top_sign(secret: str, params: Mapping[str, str]) -> str:
    """Upper-case MD5 hex of secret + key+value of each non-empty param but `sign`, keys sorted, + secret."""
    body = "".join(f"{key}{params[key]}" for key in sorted(params) if key != "sign" and params[key] != "")
    return hashlib.md5(f"{secret}{body}{secret}".encode()).hexdigest().upper()


def _failure(code: int, message: str) -> JSONResponse:
    """The router's refusal, as one public caller logged it: {"response": {"flag": "failure", …}}."""
    return JSONResponse({"response": {"flag": "failure", "code": code, "message": message}})


Refusal = tuple[int, str]


def _biz(params: Mapping[str, str]) -> dict[str, Any]:
    """The business parameters as the standard query reads them: integers parsed, id lists split at commas."""
    biz: dict[str, Any] = {key: value for key, value in params.items() if key not in SYSTEM and value != ""}
    for key in _INTEGERS:
        if key in biz:
            if not biz[key].isdigit():
                raise Rejected(140, f"参数 {key} 必须是整数")
            biz[key] = int(biz[key])
    for key in _LISTS:
        if key in biz:
            biz[key] = biz[key].split(",")
    return biz


def _refused(params: Mapping[str, str], now: float) -> Refusal | None:
    """The router's own checks, in the order a TOP gateway makes them."""
    if missing := [key for key in ("method", "app_key", "timestamp", "sign", "target_app_key") if not params.get(key)]:
        return (40, f"Missing required arguments:{missing[0]}")
    if params["app_key"] != QIMEN_APP_KEY:
        return (29, "Invalid app Key")
    if not hmac.compare_digest(params["sign"], top_sign(QIMEN_APP_SECRET, params)):
        return (25, "Invalid signature")
    try:
        sent = datetime.strptime(params["timestamp"], JST_TIME).replace(tzinfo=SHANGHAI).timestamp()
    except ValueError:
        return (41, "Invalid arguments:timestamp")
    if abs(sent - now) > MAX_SKEW_SECONDS:
        return (43, "Invalid timestamp")
    if params["target_app_key"] != TARGET_APP_KEY or params["method"] != REFUND_LIST:
        return (22, "Invalid method")
    if params.get("customer_id") != str(CO_ID):
        return (50, "customer_id 路由失败：不是已授权的商家")
    return None


def qimen_endpoint(emulator: Emulator) -> Callable[[Request], Any]:
    """POST /router/qm: the after-sales of Taobao-family shops (site 淘宝 / 天猫), whatever the standard query
    leaves out."""

    async def endpoint(request: Request) -> JSONResponse:
        emulator.traffic.calls[QIMEN_ROUTER_PATH] += 1
        try:
            params = await read_form(request)
        except Rejected:
            return _failure(41, "Invalid arguments: the body is not a UTF-8 form")
        if (refusal := _refused(params, emulator.clock())) is not None:
            emulator.traffic.rejected[QIMEN_ROUTER_PATH][refusal[0]] += 1
            return _failure(*refusal)
        taobao = frozenset(str(shop["shop_id"]) for shop in emulator.world.shops if shop["shop_site"] in TAOBAO_SITES)
        try:
            page = query(emulator.stores, QUERIES[REFUNDS_PATH], _biz(params), only_shops=taobao)
            result = {"code": 0, "msg": SUCCESS, **page}
        except Rejected as rejected:
            result = {"code": rejected.code, "msg": rejected.msg}
        return JSONResponse({"jushuitan_refund_list_query_response": {"result": result}})

    return endpoint
