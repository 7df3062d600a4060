"""The platform's wire: a form-encoded request body, and business errors answered as HTTP 200 with
`{code, msg, data}` (the envelope itself is written by the app's endpoint wrapper)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

from starlette.requests import Request

SUCCESS = "执行成功"


class Rejected(Exception):
    """A business error: answered as HTTP 200 with this code and message."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


async def read_form(request: Request) -> dict[str, str]:
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(130, "传输数据不能为空：请求体不是 UTF-8 表单") from None
    return dict(parse_qsl(text, keep_blank_values=True))


def require(params: Mapping[str, str], names: tuple[str, ...]) -> None:
    missing = [name for name in names if not params.get(name)]
    if missing:
        raise Rejected(130, f"传输数据不能为空：缺少参数 {', '.join(missing)}")
    if params["charset"] != "utf-8":
        raise Rejected(130, "charset 只能传 utf-8")
