"""Jushuitan failures as a short hierarchy keyed by the platform's business `code`, so callers act on *what*
went wrong: renew a token, wait, fix a parameter, ask for a permission. Messages never carry secrets."""

from __future__ import annotations


class JushuitanError(Exception):
    """Base of every error the Jushuitan connector raises: the business code, the server's msg, the path."""

    def __init__(self, code: int | None, msg: str, api: str) -> None:
        super().__init__(f"{api}: code {code}: {msg}")
        self.code = code
        self.msg = msg
        self.api = api


class JushuitanAuthError(JushuitanError):
    """Code 100: the access_token is invalid or expired (the client renews it and retries once)."""


class JushuitanRateLimited(JushuitanError):
    """Code 199 (per-second / concurrency limit) or 200 (per-minute limit), per token and per API."""


class JushuitanSignError(JushuitanError):
    """Code 10 or 120: the signature was refused (a wrong app_secret, or a biz sent unlike it was signed)."""


class JushuitanTimestampError(JushuitanError):
    """Code 180: the timestamp is outside the server's ±10 min window; the local clock needs NTP."""


class JushuitanPermissionError(JushuitanError):
    """Code 110 (egress IP not whitelisted) or 190 (API permission not granted in the console)."""


class JushuitanParamError(JushuitanError):
    """Codes 130/140/160/170: the request is wrong (missing or malformed biz, unknown shop, failed save)."""


class JushuitanTransportError(JushuitanError):
    """No usable answer: connection failure, timeout, an HTTP error status after retries, a non-JSON body."""

    def __init__(self, msg: str, api: str, *, status_code: int | None = None) -> None:
        super().__init__(None, msg, api)
        self.status_code = status_code


_BY_CODE: dict[int, type[JushuitanError]] = {
    100: JushuitanAuthError,
    199: JushuitanRateLimited,
    200: JushuitanRateLimited,
    10: JushuitanSignError,
    120: JushuitanSignError,
    180: JushuitanTimestampError,
    110: JushuitanPermissionError,
    190: JushuitanPermissionError,
    130: JushuitanParamError,
    140: JushuitanParamError,
    160: JushuitanParamError,
    170: JushuitanParamError,
}


def error_for(code: int, msg: str, api: str) -> JushuitanError:
    """The typed error for a non-zero business code; unknown codes get the base class."""
    return _BY_CODE.get(code, JushuitanError)(code, msg, api)
