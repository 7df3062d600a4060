"""One Kingdee K3Cloud WebAPI service call: a POST with JSON in and out (KINGDEE_API.md), signed or in a
session, retried, and never resent when a write may already have been committed.

The calls themselves (queries, saves, operations) are in their own modules; each is a KingdeeConnection.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, Self

import httpx

from connectors.http import RETRYABLE_STATUS, Backoff, RetryableError, retry
from connectors.kingdee.answers import failure_code
from connectors.kingdee.auth import (
    SENSITIVE_HEADERS,
    Session,
    check_login_result,
    decode_client_secret,
    login_request,
    signature_headers,
)
from connectors.kingdee.errors import (
    KingdeeAuthError,
    KingdeeRateLimited,
    KingdeeSessionExpired,
    KingdeeTransportError,
)
from connectors.settings import KingdeeSettings

log = logging.getLogger("connectors.kingdee")

SERVICE_PREFIX = "Kingdee.BOS.WebApi.ServicesStub."
MSG_SESSION_LOST = 1
MSG_CALL_LIMIT = 14
# 429 and 503 mean the request was turned away unprocessed, so even a write may be sent again.
REFUSED_STATUS = frozenset({429, 503})
# Raised before a byte of the request left this process: resending cannot duplicate anything.
UNSENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
MESSAGE_LIMIT = 300


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class KingdeeConnection:
    """One account's HTTP client and session, shared by every call; thread-safe."""

    def __init__(
        self,
        settings: KingdeeSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if settings.auth_mode == "password" and settings.password is None:
            raise ValueError("auth_mode 'password' needs a password (KINGDEE_PASSWORD)")
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self._backoff = Backoff(settings.retry_attempts, settings.retry_base_seconds, settings.retry_cap_seconds)
        self._http = httpx.Client(
            transport=transport,
            timeout=settings.timeout_seconds,
            verify=settings.verify_tls,
            headers={"Content-Type": "application/json", "Accept-Charset": "utf-8"},
        )
        self._session = None if settings.auth_mode == "signature" else Session(self._login)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, service: str, body: bytes, *, write: bool) -> Any:
        """Send one service call with retries; reads are retried freely, writes only while unsent."""

        def attempt() -> Any:
            try:
                return self._call_once(service, body, write=write)
            except RetryableError as exc:
                if exc.resend_safe:
                    log.warning("Kingdee %s: %s; retrying", service, exc.cause)
                raise
            except KingdeeRateLimited as exc:
                log.warning("Kingdee %s: call limit reached; backing off", service)
                raise RetryableError(exc) from None

        return retry(attempt, self._backoff, self._sleep)

    def _call_once(self, service: str, body: bytes, *, write: bool) -> Any:
        generation = self._session.ensure() if self._session else 0
        payload = self._exchange(service, body, write=write)
        if failure_code(payload) == MSG_SESSION_LOST:
            self._renew(generation)
            if write:
                raise KingdeeSessionExpired(
                    f"{service}: the Kingdee session was lost; logged in again but did not resend the write "
                    "- check by FBillNo what was saved"
                )
            payload = self._exchange(service, body, write=False)
            if failure_code(payload) == MSG_SESSION_LOST:
                raise KingdeeAuthError(f"{service}: Kingdee refused the credentials (MsgCode 1 after a fresh login)")
        if failure_code(payload) == MSG_CALL_LIMIT:
            raise KingdeeRateLimited(f"{service}: Kingdee call limit reached (MsgCode 14)")
        return payload

    def _renew(self, generation: int) -> None:
        """Drop a lost session: log in again (session mode) or let the next signed call open a new one."""
        if self._session:
            self._session.renew(generation)
        else:
            self._http.cookies.clear()

    def _login(self) -> None:
        service, parameters = login_request(self.settings)
        self._http.cookies.clear()
        result = self._exchange(service, json_bytes(parameters), write=False)
        check_login_result(result, self._scrub)
        log.info("Kingdee session opened with %s for user %s", service, self.settings.username)

    def _url(self, service: str) -> str:
        return f"{self.settings.server_url.rstrip('/')}/{SERVICE_PREFIX}{service}.common.kdsvc"

    def _exchange(self, service: str, body: bytes, *, write: bool) -> Any:
        """One HTTP POST and its JSON answer; classifies every failure for the retry loop."""
        url = self._url(service)
        headers = {}
        if self.settings.auth_mode == "signature":
            timestamp = str(int(self._clock()))
            headers = signature_headers(self.settings, url, timestamp, secrets.token_hex(16))
        started = time.monotonic()
        try:
            response = self._http.post(url, content=body, headers=headers)
        except UNSENT_ERRORS as exc:
            error = KingdeeTransportError(f"{service}: cannot connect to Kingdee ({type(exc).__name__})")
            raise RetryableError(error, resend_safe=True) from None
        except httpx.TransportError as exc:
            error = KingdeeTransportError(
                f"{service}: no answer from Kingdee ({type(exc).__name__}: {self._scrub(str(exc))})",
                maybe_committed=write,
            )
            raise RetryableError(error, resend_safe=not write) from None
        log.debug("%s: HTTP %d in %.0f ms", service, response.status_code, (time.monotonic() - started) * 1000)

        code = response.status_code
        text = response.text
        if code != 200:
            if "Fail to verify thirty passport" in text:
                raise KingdeeAuthError(f"{service}: Kingdee refused the account (Fail to verify thirty passport)")
            message = f"{service}: HTTP {code} from Kingdee: {self._scrub(text, response.request)}"
            if code in REFUSED_STATUS:
                raise RetryableError(KingdeeTransportError(message, status_code=code), resend_safe=True)
            if code in RETRYABLE_STATUS:
                error = KingdeeTransportError(message, status_code=code, maybe_committed=write)
                raise RetryableError(error, resend_safe=not write)
            raise KingdeeTransportError(message, status_code=code)
        if text.startswith("response_error:"):
            raise KingdeeTransportError(
                f"{service}: {self._scrub(text, response.request)}", status_code=code, maybe_committed=write
            )
        try:
            return json.loads(text)
        except ValueError:
            raise KingdeeTransportError(
                f"{service}: the answer is not JSON: {self._scrub(text, response.request)}",
                status_code=code,
                maybe_committed=write,
            ) from None

    def _scrub(self, text: str, request: httpx.Request | None = None) -> str:
        """Server text, cut short, with every credential we hold or sent blanked out."""
        known = [self.settings.app_secret.get_secret_value(), decode_client_secret(self.settings.app_id)]
        if self.settings.password is not None:
            known.append(self.settings.password.get_secret_value())
        known.extend(cookie.value or "" for cookie in self._http.cookies.jar)
        if request is not None:
            known.extend(value for name, value in request.headers.items() if name.lower() in SENSITIVE_HEADERS)
        for secret in sorted(filter(None, known), key=len, reverse=True):
            text = text.replace(secret, "***")
        return text[:MESSAGE_LIMIT]
