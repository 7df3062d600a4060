"""Logins and sessions: ValidateUser / LoginByAppSecret / LoginBySign, the sliding server-side session
that spares a signed call its signature check, and the session cookies both answer with."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.requests import Request

from sandbox.kingdee.signatures import SUPPORTED_LCIDS, Account, login_sign, verify_signatures
from sandbox.kingdee.wire import get_key

if TYPE_CHECKING:
    from sandbox.kingdee.state import Kingdee

SESSION_COOKIE = "kdservice-sessionid"
ASPNET_COOKIE = "ASP.NET_SessionId"


class Sessions:
    """Server-side sessions with a sliding idle time-out, read from an injectable clock."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._last_used: dict[str, float] = {}
        self.created = 0

    def open(self) -> str:
        session_id = secrets.token_hex(16)
        self._last_used[session_id] = self._clock()
        self.created += 1
        return session_id

    def touch(self, session_id: str | None) -> bool:
        """True (and renewed) when the session exists and has not idled out."""
        if not session_id or session_id not in self._last_used:
            return False
        now = self._clock()
        if now - self._last_used[session_id] > self._ttl:
            del self._last_used[session_id]
            return False
        self._last_used[session_id] = now
        return True

    def expire_all(self) -> int:
        count = len(self._last_used)
        self._last_used.clear()
        return count


def authenticate(kingdee: Kingdee, request: Request) -> tuple[str, str | None]:
    """('ok', new session id or None) | ('denied', None) | ('passport', None).

    A valid session skips the signature check (as observed on live servers); otherwise both
    signatures must verify and a new session is opened.
    """
    presented = request.headers.get(SESSION_COOKIE) or request.cookies.get(SESSION_COOKIE)
    if kingdee.sessions.touch(presented):
        return "ok", None
    verdict = verify_signatures(kingdee.account, request)
    return (verdict, kingdee.sessions.open()) if verdict == "ok" else (verdict, None)


def login(kingdee: Kingdee, short_name: str, body: dict) -> tuple[dict, str | None]:
    """ValidateUser / LoginByAppSecret / LoginBySign: (login result, new session id or None)."""
    names = {
        "ValidateUser": ["acctid", "username", "password", "lcid"],
        "LoginByAppSecret": ["acctid", "username", "appid", "appsecret", "lcid"],
        "LoginBySign": ["acctid", "username", "appid", "timestamp", "sign", "lcid"],
    }[short_name]
    params = _login_parameters(body, names)
    account = kingdee.account
    if params["acctid"] != account.acct_id:
        return _login_failure(f"数据中心“{params['acctid']}”不存在"), None
    if params["username"] != account.username:
        return _login_failure("用户名或密码错误！"), None
    if params["lcid"] not in SUPPORTED_LCIDS:
        return _login_failure("不支持的语言标识"), None
    if short_name == "ValidateUser":
        ok = hmac.compare_digest(params["password"], account.password)
    elif short_name == "LoginByAppSecret":
        ok = params["appid"] == account.app_id and hmac.compare_digest(params["appsecret"], account.app_secret)
    else:
        expected = login_sign(
            account.acct_id, account.username, account.app_id, account.app_secret, params["timestamp"]
        )
        ok = params["appid"] == account.app_id and hmac.compare_digest(params["sign"].lower(), expected)
    if not ok:
        message = "用户名或密码错误！" if short_name == "ValidateUser" else "应用ID、应用密钥或签名验证失败"
        return _login_failure(message), None
    kingdee.logins += 1
    session_id = kingdee.sessions.open()
    return _login_success(kingdee, session_id), session_id


def _login_success(kingdee: Kingdee, session_id: str) -> dict:
    org = kingdee.base.get("org_organizations")
    org_row = org.find("100") if org else None
    return {
        "Message": None,
        "MessageCode": "CheckPasswordPolicy",
        "LoginResultType": 1,
        "Context": {
            "UserLocale": "zh-CN",
            "LogLocale": "zh-CN",
            "DBid": kingdee.account.acct_id,
            "DatabaseType": 3,
            "SessionId": aspnet_session_id(session_id),
            "UserId": 100008,
            "UserName": kingdee.account.username,
            "DataCenterNumber": "SANDBOX",
            "DataCenterName": "沙箱数据中心",
            "UserToken": secrets.token_hex(16),
            "CurrentOrganizationInfo": {
                "ID": (org_row or {}).get("forgid", 1),
                "Name": (org_row or {}).get("fname", ""),
                "AcctOrgType": "1",
            },
        },
        "KDSVCSessionId": session_id,
        "FormId": None,
        "Lcid": kingdee.account.lcid,
        "IsSuccessByAPI": True,
        **kingdee.login_answer,
    }


def data_centers(account: Account) -> list[dict]:
    return [{"Id": account.acct_id, "Number": "SANDBOX", "Name": "沙箱数据中心", "DatabaseType": 3}]


def _login_parameters(body: dict, names: list[str]) -> dict[str, str]:
    """Positional `{"parameters": [...]}` (array or JSON string of one) or named keys (any case)."""
    positional = get_key(body, "parameters")
    if isinstance(positional, str):
        try:
            positional = json.loads(positional)
        except ValueError:
            positional = None
    if isinstance(positional, list):
        values = dict(zip(names, positional, strict=False))
    else:
        named = {k.lower(): v for k, v in body.items() if isinstance(k, str)}
        if "sign" not in named and "signeddata" in named:
            named["sign"] = named["signeddata"]
        values = {name: named.get(name) for name in names}
    return {name: "" if values.get(name) is None else str(values[name]) for name in names}


LOGIN_ANSWER_FIELDS = {"LoginResultType", "Message", "MessageCode"}


def _login_failure(message: str) -> dict:
    return {
        "Message": message,
        "MessageCode": None,
        "LoginResultType": 0,
        "Context": None,
        "KDSVCSessionId": None,
        "IsSuccessByAPI": False,
    }


def aspnet_session_id(session_id: str) -> str:
    """The companion ASP.NET_SessionId, derived so the cookie and the login Context agree."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:24]
