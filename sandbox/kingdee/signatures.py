"""The API-signature mode, verified from the spec (KINGDEE_API.md), never from client code: the accepted
account, the two header signatures (X-Api-Signature, X-Kd-Signature) and LoginBySign's `sign`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from starlette.requests import Request

from sandbox import credentials

_XOR_KEY = b"0054f397c6234378b09ca7d3e5debce7"
SUPPORTED_LCIDS = {"2052", "1033", "3076"}


@dataclass(frozen=True)
class Account:
    """The data centre and integration user the emulator accepts (defaults: sandbox/credentials.py)."""

    acct_id: str = credentials.KINGDEE_ACCT_ID
    username: str = credentials.KINGDEE_USERNAME
    app_id: str = credentials.KINGDEE_APP_ID
    app_secret: str = field(default=credentials.KINGDEE_APP_SECRET, repr=False)
    password: str = field(default=credentials.KINGDEE_PASSWORD, repr=False)
    lcid: int = credentials.KINGDEE_LCID


def client_secret(app_id: str) -> str:
    """The X-Api-Signature key: the 32-char code after `_` in the app id, base64-decoded, XORed with
    Kingdee's fixed key and re-encoded. Anything else yields '' (the SDK then signs with an empty key)."""
    _, _, code = app_id.partition("_")
    if len(code) != 32:
        return ""
    try:
        scrambled = base64.b64decode(code, validate=True)
    except binascii.Error:
        return ""
    return base64.b64encode(bytes(b ^ k for b, k in zip(scrambled, _XOR_KEY, strict=False))).decode()


def _hmac_hex_base64(key: str, message: str) -> str:
    """Kingdee's primitive: base64 of the lower-case *hex string* of HMAC-SHA256."""
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def api_signature(app_id: str, path: str, nonce: str, timestamp: str) -> str:
    """Expected X-Api-Signature for a POST to `path` (as sent, from the first `/` after the host)."""
    string_to_sign = f"POST\n{quote(path, safe='')}\n\nx-api-nonce:{nonce}\nx-api-timestamp:{timestamp}\n"
    return _hmac_hex_base64(client_secret(app_id), string_to_sign)


def kd_signature(app_id: str, app_secret: str, app_data: str) -> str:
    """Expected X-Kd-Signature over the app id followed by the plain `acct,user,lcid,org` app data."""
    return _hmac_hex_base64(app_secret, app_id + app_data)


def login_sign(acct_id: str, username: str, app_id: str, app_secret: str, timestamp: str) -> str:
    """LoginBySign's `sign`: SHA-256 hex of the five strings sorted and concatenated."""
    return hashlib.sha256("".join(sorted([acct_id, username, app_id, app_secret, timestamp])).encode()).hexdigest()


def verify_signatures(account: Account, request: Request) -> str:
    """'ok' | 'denied' | 'passport' (an unknown data centre) for the signed headers of one request."""
    headers = request.headers
    needed = [
        "x-kd-appkey",
        "x-kd-appdata",
        "x-kd-signature",
        "x-api-signature",
        "x-api-timestamp",
        "x-api-nonce",
    ]
    if any(not headers.get(name) for name in needed):
        return "denied"
    try:
        app_data = base64.b64decode(headers["x-kd-appdata"], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "denied"
    acct_id, username, lcid, *_ = [*app_data.split(","), "", "", ""]
    if acct_id != account.acct_id:
        return "passport"
    app_id = headers["x-kd-appkey"]
    if (
        username != account.username
        or lcid not in SUPPORTED_LCIDS
        or app_id != account.app_id
        or headers.get("x-api-clientid", "") != app_id.partition("_")[0]
    ):
        return "denied"
    path = unquote(request.scope.get("raw_path", b"").decode("latin-1")) or request.url.path
    if request.url.query:
        path = f"{path}?{request.url.query}"
    expected_api = api_signature(app_id, path, headers["x-api-nonce"], headers["x-api-timestamp"])
    expected_kd = kd_signature(account.app_id, account.app_secret, app_data)
    api_ok = hmac.compare_digest(expected_api, headers["x-api-signature"])
    kd_ok = hmac.compare_digest(expected_kd, headers["x-kd-signature"])
    return "ok" if api_ok and kd_ok else "denied"
