"""Access and refresh tokens (getInitToken / refreshToken), and the checks every call makes of its caller —
app key, clock skew, sign, then for business calls the token — in the platform's order."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sandbox.jushuitan.signing import verify_sign
from sandbox.jushuitan.wire import Rejected, require

BUSINESS_PARAMS = ("app_key", "access_token", "timestamp", "charset", "version", "biz", "sign")
INIT_TOKEN_PARAMS = ("app_key", "timestamp", "grant_type", "charset", "code", "sign")
REFRESH_TOKEN_PARAMS = ("app_key", "timestamp", "grant_type", "charset", "refresh_token", "scope", "sign")
MAX_CLOCK_SKEW_SECONDS = 600  # the platform allows ten minutes


@dataclass
class _Token:
    label: str  # what stats show instead of the token itself
    expires_at: float
    refresh_expires_at: float


class Tokens:
    """The tokens one app has been issued, drawn from a generator seeded by the world (reproducible runs)."""

    def __init__(
        self, *, app_key: str, app_secret: str, ttl_seconds: int, clock: Callable[[], float], seed: int
    ) -> None:
        self.app_key = app_key
        self._app_secret = app_secret
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._rng = random.Random(seed)
        self._tokens: dict[str, _Token] = {}
        self._refresh_index: dict[str, str] = {}  # refresh_token -> access_token
        self._issued = 0

    def _check_caller(self, params: Mapping[str, str]) -> None:
        """App key, clock skew and signature — the checks every endpoint makes, in this order."""
        if params["app_key"] != self.app_key:
            raise Rejected(10, "验证失败！无效的app_key")
        try:
            skew = abs(int(params["timestamp"]) - self.clock())
        except ValueError:
            skew = math.inf
        if skew > MAX_CLOCK_SKEW_SECONDS:
            raise Rejected(180, "timestamp 无效（与服务器时间相差超过10分钟）")
        if not verify_sign(self._app_secret, params):
            raise Rejected(120, "验证失败!无效签名")

    def _issue(self) -> dict:
        access, refresh = (f"{self._rng.getrandbits(128):032x}" for _ in range(2))
        expires_at = self.clock() + self.ttl_seconds
        self._issued += 1
        self._tokens[access] = _Token(f"token-{self._issued}", expires_at, expires_at)
        self._refresh_index[refresh] = access
        return {
            "access_token": access,
            "expires_in": self.ttl_seconds,
            "refresh_token": refresh,
            "scope": "all",
        }

    def init_token(self, params: dict[str, str]) -> dict:
        require(params, INIT_TOKEN_PARAMS)
        self._check_caller(params)
        if params["grant_type"] != "authorization_code":
            raise Rejected(140, "grant_type 只能为 authorization_code")
        if len(params["code"]) != 6:
            raise Rejected(140, "code 必须是6位随机码")
        return self._issue()

    def refresh_token(self, params: dict[str, str]) -> dict:
        require(params, REFRESH_TOKEN_PARAMS)
        self._check_caller(params)
        if params["grant_type"] != "refresh_token" or params["scope"] != "all":
            raise Rejected(140, "grant_type 只能为 refresh_token，scope 只能为 all")
        access = self._refresh_index.get(params["refresh_token"])
        token = self._tokens.get(access) if access else None
        if token is None or token.refresh_expires_at < self.clock():
            raise Rejected(100, "无效的refresh_token或refresh_token已过期")
        del self._tokens[access]  # the old access token and refresh token die with the refresh
        del self._refresh_index[params["refresh_token"]]
        return self._issue()

    def expire_all(self) -> int:
        """Every access token answers 100 from now on; refresh tokens stay valid, as after a real expiry."""
        for token in self._tokens.values():
            token.expires_at = -math.inf
        return len(self._tokens)

    def authorize(self, params: dict[str, str]) -> tuple[str, dict]:
        """Checks for business calls in the platform's order: (the token's label, the parsed biz object)."""
        require(params, BUSINESS_PARAMS)
        if params["version"] != "2":
            raise Rejected(130, "version 只能传 2")
        self._check_caller(params)
        token = self._tokens.get(params["access_token"])
        if token is None or token.expires_at < self.clock():
            raise Rejected(100, "无效的access_token或access_token已过期")
        try:
            biz = json.loads(params["biz"])
        except ValueError:
            biz = None
        if not isinstance(biz, dict):
            raise Rejected(140, "biz 必须是 JSON 对象")
        return token.label, biz
