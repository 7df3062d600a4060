"""The emulator's HTTP face: `POST /k3cloud/{ServiceName}.common.kdsvc` routed to logins, queries, saves and
operations (after the session or signature check), and `create_app`, the emulator as an ASGI app."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from sandbox.faults import FaultMiddleware, Faults
from sandbox.kingdee.admin import admin_routes
from sandbox.kingdee.auth import ASPNET_COOKIE, SESSION_COOKIE, aspnet_session_id, authenticate, data_centers, login
from sandbox.kingdee.metadata import Metadata
from sandbox.kingdee.operations import operate
from sandbox.kingdee.query import query
from sandbox.kingdee.saves import save
from sandbox.kingdee.signatures import Account
from sandbox.kingdee.state import Kingdee
from sandbox.kingdee.wire import ServiceError, error_payload, get_key, json_object

SESSION_LOST = "会话信息已丢失，请重新登录"
BAD_PASSPORT = "Fail to verify thirty passport"
_SUFFIX = ".common.kdsvc"
_FORM_SERVICE = "kingdee.bos.webapi.servicesstub.dynamicformservice."
_AUTH_SERVICE = "kingdee.bos.webapi.servicesstub.authservice."
_DATA_CENTERS = "kingdee.bos.servicefacade.servicesstub.account.accountservice.getdatacenterlist"


_SHORT_NAMES = {
    name.lower(): name
    for name in (
        "ExecuteBillQuery",
        "BillQuery",
        "Save",
        "BatchSave",
        "Submit",
        "Audit",
        "UnAudit",
        "Delete",
        "ValidateUser",
        "LoginByAppSecret",
        "LoginBySign",
        "QueryBusinessInfo",
    )
}


def _service_name(service: str) -> tuple[str, str]:
    """('form' | 'auth' | 'datacenters' | 'unknown', short name) from `Kingdee....X.common.kdsvc`."""
    lowered = service.lower().removesuffix(_SUFFIX)
    if lowered == _DATA_CENTERS:
        return "datacenters", "GetDataCenterList"
    for family, prefix in (("form", _FORM_SERVICE), ("auth", _AUTH_SERVICE)):
        if lowered.startswith(prefix):
            method = lowered.removeprefix(prefix)
            return (family, _SHORT_NAMES[method]) if method in _SHORT_NAMES else ("unknown", service)
    return "unknown", service


def _with_session_cookies(response: Response, session_id: str | None) -> Response:
    if session_id:
        response.set_cookie(SESSION_COOKIE, session_id, httponly=True)
        response.set_cookie(ASPNET_COOKIE, aspnet_session_id(session_id), httponly=True)
    return response


async def _json_body(request: Request) -> dict:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise ServiceError(8, "参数错误：请求体不是有效的JSON") from None
    if not isinstance(body, dict):
        raise ServiceError(8, "参数错误：请求体必须是JSON对象")
    return body


def _form_call(body: dict, needs_form: bool) -> tuple[Any, dict]:
    """(formid, data) from `{"formid", "data"}`, or the legacy `{"parameters": [formid, data]}`."""
    if get_key(body, "data") is None and get_key(body, "parameters") is not None:
        params = get_key(body, "parameters")
        if isinstance(params, str):
            try:
                params = json.loads(params)
            except ValueError:
                raise ServiceError(8, "参数错误：parameters不是有效的JSON") from None
        if not isinstance(params, list) or len(params) < (2 if needs_form else 1):
            raise ServiceError(8, "参数错误：parameters不完整")
        return (params[0], json_object(params[1], "data")) if needs_form else (None, json_object(params[0], "data"))
    return get_key(body, "formid"), json_object(get_key(body, "data"), "data")


def _routes(kingdee: Kingdee) -> list[Route]:
    metadata = Metadata(kingdee.base)

    async def service(request: Request) -> Response:
        if request.path_params["prefix"].lower() != "k3cloud" or not request.path_params["service"].lower().endswith(
            _SUFFIX
        ):
            return PlainTextResponse("Not Found", status_code=404)
        family, short_name = _service_name(request.path_params["service"])
        kingdee.calls[short_name] += 1
        if family == "datacenters":
            return JSONResponse(data_centers(kingdee.account))
        if family == "auth":
            try:
                result, session_id = login(kingdee, short_name, await _json_body(request))
            except ServiceError as error:
                return JSONResponse(error_payload(short_name, error))
            return _with_session_cookies(JSONResponse(result), session_id)
        verdict, session_id = authenticate(kingdee, request)
        if verdict == "passport":
            return PlainTextResponse(BAD_PASSPORT, status_code=500)
        try:
            if verdict == "denied":
                raise ServiceError(1, SESSION_LOST)
            if family == "unknown":
                raise ServiceError(4, f"模拟器未实现服务“{short_name}”")
            if kingdee.save_faults.msgcode14_next > 0:
                kingdee.save_faults.msgcode14_next -= 1
                raise ServiceError(14, "调用限制：接口调用过于频繁，请稍后再试")
            body = await _json_body(request)
            if short_name == "QueryBusinessInfo":
                payload = metadata.business_info(_form_call(body, needs_form=False)[1])
            else:
                payload = await _dispatch(kingdee, short_name, body)
        except ServiceError as error:
            payload = error_payload(short_name, error)
        return _with_session_cookies(JSONResponse(payload), session_id)

    return [*admin_routes(kingdee), *metadata.routes(), Route("/{prefix}/{service}", service, methods=["POST"])]


async def _dispatch(kingdee: Kingdee, short_name: str, body: dict) -> Any:
    if short_name in {"ExecuteBillQuery", "BillQuery"}:
        _, data = _form_call(body, needs_form=False)
        keys, rows = query(kingdee.base, kingdee.bills, data, kingdee.query_row_cap)
        if short_name == "BillQuery":
            return [dict(zip(keys, row, strict=True)) for row in rows]
        return rows
    form_id, data = _form_call(body, needs_form=True)
    if short_name in {"Save", "BatchSave"}:
        return await save(kingdee, form_id, data, batch=short_name == "BatchSave")
    return operate(kingdee, form_id, data, short_name)


def create_app(
    base_data: dict[str, list[dict]],
    *,
    faults: Faults | None = None,
    session_ttl_seconds: float = 1200,
    save_latency_ms: float = 0,
    save_latency_per_bill_ms: float = 0,
    clock: Callable[[], float] = time.time,
    account: Account | None = None,
) -> ASGIApp:
    """The emulator as an ASGI app, behind `FaultMiddleware`.

    `base_data` maps FormId -> rows keyed by query field keys (copied: the app never changes it);
    `account` replaces the sandbox credentials (tests use it for the published signature vectors).
    """
    kingdee = Kingdee(
        base_data,
        account=account or Account(),
        session_ttl_seconds=session_ttl_seconds,
        save_latency_ms=save_latency_ms,
        save_latency_per_bill_ms=save_latency_per_bill_ms,
        clock=clock,
    )
    return FaultMiddleware(Starlette(routes=_routes(kingdee)), faults)
