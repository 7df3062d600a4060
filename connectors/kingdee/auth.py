"""Kingdee authentication: the per-request signature headers of third-party app authorisation
(KINGDEE_API.md §2.1) and the login of session mode (§2.2).

Nothing here logs or returns a secret in a message; the derived client secret and the signatures are
only ever written into request headers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from connectors.kingdee.errors import KingdeeAuthError
from connectors.settings import KingdeeSettings

log = logging.getLogger("connectors.kingdee")

# Key of the XOR scramble that turns the code inside the app id into the client secret; the official
# SDK assembles the same bytes from obfuscated chunks (KINGDEE_API_NOTES.md §1.1).
CLIENT_SECRET_XOR_KEY = b"0054f397c6234378b09ca7d3e5debce7"
SIGNED_HEADERS = "x-api-timestamp,x-api-nonce"
# Header names whose values are credentials: never log them.
SENSITIVE_HEADERS = frozenset({"x-api-signature", "x-kd-signature", "cookie", "kdservice-sessionid"})

LOGIN_SUCCESS = 1
LOGIN_SERVICES = {
    "app_secret": "AuthService.LoginByAppSecret",
    "password": "AuthService.ValidateUser",
}


def decode_client_secret(app_id: str) -> str:
    """The client secret hidden in the 32-char code after `_` in the app id.

    An old-style app id without that code yields "" (the SDK then signs with an empty key).
    """
    code = app_id.partition("_")[2]
    if len(code) != 32:
        return ""
    scrambled = base64.b64decode(code)
    return base64.b64encode(bytes(b ^ k for b, k in zip(scrambled, CLIENT_SECRET_XOR_KEY, strict=False))).decode()


def hmac_signature(key: str, message: str) -> str:
    """Kingdee's signature primitive: base64 of the *lower-case hex string* of HMAC-SHA256."""
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def string_to_sign(url: str, timestamp: str, nonce: str) -> str:
    """Method, percent-encoded path (every `/` as %2F), empty query slot, then the two signed headers."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return f"POST\n{quote(path, safe='')}\n\nx-api-nonce:{nonce}\nx-api-timestamp:{timestamp}\n"


def signature_headers(settings: KingdeeSettings, url: str, timestamp: str, nonce: str) -> dict[str, str]:
    """All headers of API-signature mode for one POST to `url`."""
    app_data = f"{settings.acct_id},{settings.username},{settings.lcid},{settings.org_num}"
    app_secret = settings.app_secret.get_secret_value()
    return {
        "X-Api-ClientID": settings.app_id.partition("_")[0] if "_" in settings.app_id else "",
        "X-Api-Auth-Version": "2.0",
        "x-api-timestamp": timestamp,
        "x-api-nonce": nonce,
        "x-api-signheaders": SIGNED_HEADERS,
        "X-Api-Signature": hmac_signature(decode_client_secret(settings.app_id), string_to_sign(url, timestamp, nonce)),
        "X-Kd-Appkey": settings.app_id,
        "X-Kd-Appdata": base64.b64encode(app_data.encode()).decode(),
        "X-Kd-Signature": hmac_signature(app_secret, settings.app_id + app_data),
    }


def login_request(settings: KingdeeSettings) -> tuple[str, dict[str, list[Any]]]:
    """(service, body) of the session login for `settings.auth_mode`, with positional parameters."""
    if settings.auth_mode == "app_secret":
        secret = settings.app_secret.get_secret_value()
        parameters: list[Any] = [settings.acct_id, settings.username, settings.app_id, secret, settings.lcid]
    elif settings.auth_mode == "password":
        if settings.password is None:
            raise KingdeeAuthError("auth_mode 'password' needs a password (KINGDEE_PASSWORD)")
        password = settings.password.get_secret_value()
        parameters = [settings.acct_id, settings.username, password, settings.lcid]
    else:
        raise ValueError(f"auth_mode {settings.auth_mode!r} does not log in")
    return LOGIN_SERVICES[settings.auth_mode], {"parameters": parameters}


def check_login_result(result: Any, scrub: Callable[[str], str]) -> None:
    """Raise KingdeeAuthError unless the login succeeded; `scrub` cleans server text.

    Success is LoginResultType 1 or `IsSuccessByAPI` true: servers accept some logins with a notice and
    another LoginResultType (an administrator's -5, a password-policy warning), and public clients take
    the API's own verdict (docs/wire_facts.md, "Kingdee login answers"). The notice is logged.
    """
    if not isinstance(result, dict):
        raise KingdeeAuthError("Kingdee login answered something that is not a login result")
    # The server's Message names the reason (wrong password, user disabled, a notice): keep it, scrubbed.
    reason = scrub(str(result.get("Message") or "no reason given"))
    if result.get("LoginResultType") == LOGIN_SUCCESS:
        return
    if result.get("IsSuccessByAPI") is True:
        log.warning("Kingdee login accepted with LoginResultType %s: %s", result.get("LoginResultType"), reason)
        return
    raise KingdeeAuthError(f"Kingdee login refused (LoginResultType {result.get('LoginResultType')}): {reason}")


class Session:
    """Logs in once, lazily, and again only when a call reports the session lost.

    `generation` counts logins, so when several threads see the same lost session only the first one
    logs in again; the others find a newer generation and simply reuse it.
    """

    def __init__(self, login: Callable[[], None]) -> None:
        self._login = login
        self._lock = threading.Lock()
        self.generation = 0

    def ensure(self) -> int:
        """Log in if nobody has yet; return the generation the caller's request will run under."""
        with self._lock:
            if self.generation == 0:
                self._login()
                self.generation = 1
            return self.generation

    def renew(self, seen_generation: int) -> None:
        """Log in again after a request of `seen_generation` met a lost session."""
        with self._lock:
            if self.generation == seen_generation:
                self._login()
                self.generation += 1
