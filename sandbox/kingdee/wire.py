"""The Kingdee WebAPI's wire shapes, server side: the error envelope, the case-insensitive access to the
models clients send (Kingdee accepts `FBillNo`, `fbillno`, ...), and the parameter and date formats."""

from __future__ import annotations

import json
import re
from typing import Any

DATE_FIELDS = {"fdate", "fcreatedate", "fmodifydate", "fapprovedate"}
DATE_VALUE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(:\d{2})?(?:\.\d+)?)?$")


class ServiceError(Exception):
    """A whole call fails: rendered in the service's own error shape."""

    def __init__(self, msg_code: int, message: str, field_name: str | None = None) -> None:
        super().__init__(message)
        self.msg_code = msg_code
        self.message = message
        self.field_name = field_name


def response_status(errors: list[dict], successes: list[dict], msg_code: int) -> dict:
    ok = not errors
    return {
        "IsSuccess": ok,
        "ErrorCode": 0 if ok else 500,
        "Errors": errors,
        "SuccessEntitys": successes,
        "SuccessMessages": [],
        "MsgCode": 0 if ok else msg_code,
    }


def error_payload(short_name: str, error: ServiceError) -> Any:
    """ExecuteBillQuery wraps errors in two lists; every other service answers the bare envelope."""
    status = response_status(
        [{"FieldName": error.field_name, "Message": error.message, "DIndex": 0}], [], error.msg_code
    )
    result = {"Result": {"ResponseStatus": status}}
    return [[result]] if short_name == "ExecuteBillQuery" else result


def _key(mapping: dict, name: str) -> str | None:
    lowered = name.lower()
    return next((k for k in mapping if isinstance(k, str) and k.lower() == lowered), None)


def get_key(mapping: Any, name: str) -> Any:
    if not isinstance(mapping, dict):
        return None
    key = _key(mapping, name)
    return None if key is None else mapping[key]


def set_key(mapping: dict, name: str, value: Any) -> None:
    """Overwrite whatever spelling of `name` the client used, so a model never holds two FBillNo keys."""
    mapping[_key(mapping, name) or name] = value


def number_of(reference: Any) -> str:
    """The number of a base-data reference `{"FNumber": x}` (any key case); a bare value is its own number."""
    value = get_key(reference, "FNumber") if isinstance(reference, dict) else reference
    return "" if value is None else str(value).strip()


def json_object(value: Any, what: str) -> dict:
    """`data` may come as an object or as a JSON string of one (older clients)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ServiceError(8, f"参数错误：{what}不是有效的JSON") from None
    if not isinstance(value, dict):
        raise ServiceError(8, f"参数错误：{what}必须是JSON对象")
    return value


def int_param(data: dict, name: str, default: int) -> int:
    value = get_key(data, name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ServiceError(8, f"参数错误：{name}必须是整数") from None


def kingdee_date(value: Any) -> Any:
    """Dates leave the server as 'YYYY-MM-DDTHH:MM:SS' whatever format they were saved in."""
    if not isinstance(value, str):
        return value
    match = DATE_VALUE.match(value.strip())
    if match is None:
        return value
    day, minutes, seconds = match.groups()
    return f"{day}T{minutes or '00:00'}{seconds or ':00'}"


def bill_lines(bill: dict) -> list[dict]:
    lines = get_key(bill, "FEntity")
    return [line for line in lines if isinstance(line, dict)] if isinstance(lines, list) else []


def is_date_key(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in DATE_FIELDS
