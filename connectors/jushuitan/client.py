"""The Jushuitan openweb v2 client: signed form POSTs, the token lifecycle, per-token-and-API rate
limits and retries. The APIs it calls, and how their lists are paged, are in documents.py.

It knows the protocol only; which shops, warehouses or SKUs matter is the flows' business.
"""

from __future__ import annotations

import logging
import random
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import httpx

from connectors.http import RETRYABLE_STATUS, Backoff, CallLimiter, RateLimiter, RetryableError, retry
from connectors.jushuitan.documents import LIST_ID_KEYS, Documents
from connectors.jushuitan.errors import (
    JushuitanAuthError,
    JushuitanError,
    JushuitanRateLimited,
    JushuitanTransportError,
    error_for,
)
from connectors.jushuitan.paging import Rows, read_list_answer
from connectors.jushuitan.qimen import QimenRoute
from connectors.jushuitan.signing import encode_biz, sign
from connectors.jushuitan.tokens import FileTokenStore, Token, TokenStore
from connectors.settings import JushuitanSettings, MissingCredentials, QimenSettings, is_loopback_url

log = logging.getLogger("connectors.jushuitan")

INIT_TOKEN_PATH = "/openWeb/auth/getInitToken"
REFRESH_TOKEN_PATH = "/openWeb/auth/refreshToken"

# Code 199 is the per-second limit: a second clears it. Code 200 is the per-minute limit: the server's
# sliding minute has certainly cleared 60 s after the refusal. Jitter keeps parallel workers apart.
_PER_SECOND_WAIT = (1.0, 1.5)
_PER_MINUTE_WAIT = (60.0, 63.0)


def call_limits(settings: JushuitanSettings) -> tuple[tuple[int, float], ...]:
    """The (max_calls, window_seconds) limits every call to one API with one token must fit.

    A little wider than the platform's windows: measured on the emulator, windows of exactly 1 s / 60 s let
    timing jitter through (11 refusals in 203 calls at 10/s, each costing a back-off)."""
    return ((settings.calls_per_second, 1.05), (settings.calls_per_minute, 60.5))


class JushuitanClient(Documents):
    """Calls the Jushuitan open platform; use as a context manager so the connection pool is closed.

    `clock` and `sleep` drive timestamps, token expiry, rate limiting and back-off, so tests can run
    the whole lifecycle without waiting. `limiter` is the call budget the client counts in; without one, a
    budget of this process alone (deploy/blocks.py gives every worker the state database's).
    """

    def __init__(
        self,
        settings: JushuitanSettings,
        *,
        token_store: TokenStore | None = None,
        transport: httpx.BaseTransport | None = None,
        limiter: CallLimiter | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        qimen: QimenSettings | None = None,
    ) -> None:
        """`qimen`: the Qimen after-sales route's settings (default: from the environment, JST_QIMEN_*)."""
        self._settings = settings
        self._app_secret = settings.app_secret.get_secret_value()
        self._store = token_store if token_store is not None else FileTokenStore(settings.token_store_path)
        self._clock = clock
        self._sleep = sleep
        # trust_env=False: a system proxy would change the egress IP the merchant whitelisted (code 110).
        self._http = httpx.Client(
            base_url=settings.base_url,
            transport=transport,
            timeout=settings.timeout_seconds,
            verify=settings.verify_tls,
            trust_env=False,
        )
        self._backoff = Backoff(
            attempts=settings.retry_attempts,
            base_seconds=settings.retry_base_seconds,
            cap_seconds=settings.retry_cap_seconds,
        )
        self._limiter = limiter if limiter is not None else RateLimiter(call_limits(settings), clock, sleep)
        self._token: Token | None = None
        self._token_lock = threading.Lock()
        qimen = qimen if qimen is not None else QimenSettings()
        router = qimen.router_url or (
            f"{settings.base_url.rstrip('/')}/router/qm" if is_loopback_url(settings.base_url) else ""
        )
        if qimen.shop_ids and not router:
            raise MissingCredentials(
                "JST_QIMEN_ROUTER_URL is not set (JST_QIMEN_SHOP_IDS names shops whose after-sales come from the Qimen "
                "route, and JST_BASE_URL is not this machine's sandbox)"
            )
        self.qimen = QimenRoute(
            qimen,
            router_url=router,
            backoff=self._backoff,
            clock=clock,
            sleep=sleep,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"JushuitanClient(base_url={self._settings.base_url!r}, app_key={self._settings.app_key!r})"

    def __enter__(self) -> JushuitanClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()
        self.qimen.close()

    # --- the business call ---------------------------------------------------------------------

    def call(self, path: str, biz: Mapping[str, Any]) -> dict[str, Any]:
        """POST one business API and return the envelope's `data`; raises a JushuitanError subclass.

        Rate limits (199/200), transport failures and 5xx are retried with back-off; an expired token
        (100) is renewed once and the call repeated; every other code raises at once.
        """
        biz_json = encode_biz(biz)
        started = time.perf_counter()
        token = self._current_token()
        try:
            data = self._call_with(token, path, biz_json)
        except JushuitanAuthError:
            log.info("%s: access token %s refused (code 100); renewing it once", path, token.fingerprint)
            data = self._call_with(self._renew(token), path, biz_json)
        log.debug("%s page=%s elapsed=%.3fs", path, biz.get("page_index"), time.perf_counter() - started)
        return data

    def _call_with(self, token: Token, path: str, biz_json: str) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            self._limiter.acquire((token.fingerprint, path))
            return self._post(
                path,
                {
                    "access_token": token.access_token,
                    "app_key": self._settings.app_key,
                    "biz": biz_json,
                    "charset": "utf-8",
                    "timestamp": self._timestamp(),
                    "version": "2",
                },
            )

        return retry(attempt, self._backoff, self._sleep)

    def _timestamp(self) -> str:
        return str(int(self._clock()))

    def _post(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        """One signed POST; RetryableError for what another attempt may cure, typed errors otherwise."""
        form = {**params, "sign": sign(params, self._app_secret)}
        try:
            response = self._http.post(path, data=form)
        except httpx.TransportError as exc:
            failure = f"{type(exc).__name__}: {self._redact(str(exc), form['sign'])}"
            log.warning("%s: transport failure (%s), retrying", path, failure)
            raise RetryableError(JushuitanTransportError(failure, path)) from None
        status = response.status_code
        if status != 200:
            failed = JushuitanTransportError(f"HTTP {status}", path, status_code=status)
            if status in RETRYABLE_STATUS:
                log.warning("%s: HTTP %s, retrying", path, status)
                raise RetryableError(failed)
            raise failed
        if (id_key := LIST_ID_KEYS.get(path)) and (listed := read_list_answer(response.content, id_key)) is not None:
            return listed
        try:
            envelope = response.json()
        except ValueError:
            # A body cut short or a proxy's HTML page under HTTP 200: the platform did not answer this
            # attempt. Every call here is a read or an idempotent upsert, so asking again is safe.
            log.warning("%s: answer is not JSON (HTTP 200, %d bytes), retrying", path, len(response.content))
            raise RetryableError(JushuitanTransportError("answer is not JSON", path)) from None
        try:
            code = int(envelope["code"])
        except (ValueError, KeyError, TypeError):
            raise JushuitanTransportError("answer is not a {code, msg, data} JSON envelope", path) from None
        if code == 0:
            data = envelope.get("data")
            if data is None:  # some APIs answer an empty result with data: null
                return {}
            if not isinstance(data, dict):
                raise JushuitanTransportError("envelope data is not a JSON object", path)
            if isinstance(data.get("datas"), list):  # kept with its bytes: see paging.page_body
                data["datas"] = Rows(data["datas"], response.content)
            return data
        error = error_for(code, self._redact(str(envelope.get("msg") or ""), form["sign"]), path)
        if isinstance(error, JushuitanRateLimited):
            wait = random.uniform(*(_PER_SECOND_WAIT if code == 199 else _PER_MINUTE_WAIT))
            log.warning("%s: rate limited (code %s), waiting %.1fs", path, code, wait)
            raise RetryableError(error, delay=wait)
        raise error

    def _redact(self, text: str, signature: str) -> str:
        """Servers and proxies sometimes echo parameters back; never let a secret reach a message."""
        known = [self._app_secret, signature]
        if self._token is not None:
            known += [self._token.access_token, self._token.refresh_token or ""]
        for value in (self._settings.access_token, self._settings.refresh_token):
            if value is not None:
                known.append(value.get_secret_value())
        for value in filter(None, known):
            text = text.replace(value, "***")
        return text

    # --- tokens --------------------------------------------------------------------------------

    def _current_token(self) -> Token:
        """The stored token, else the one in settings, else a new one; refreshed when close to expiry."""
        with self._token_lock:
            if self._token is None:
                self._token = self._store.load() or self._settings_token()
            if self._token is None:
                self._token = self._new_token(None)
            elif self._token.expires_within(self._settings.refresh_margin_seconds, self._clock()):
                stored = self._store.load()
                if stored is not None and not stored.expires_within(
                    self._settings.refresh_margin_seconds, self._clock()
                ):
                    self._token = stored  # another worker refreshed it already
                else:
                    log.info("access token %s expires soon; refreshing it", self._token.fingerprint)
                    self._token = self._new_token(self._token)
            return self._token

    def _renew(self, refused: Token) -> Token:
        """Replace a token the server refused, unless another thread or another worker already did.

        Refreshing consumes the refresh token: a worker that refreshed after another one would fail and
        fall back to getInitToken, so the shared store is read first.
        """
        with self._token_lock:
            if self._token is None or self._token.access_token == refused.access_token:
                stored = self._store.load()
                if stored is not None and stored.access_token != refused.access_token:
                    log.info("access token %s was renewed elsewhere; using %s", refused.fingerprint, stored.fingerprint)
                    self._token = stored
                else:
                    self._token = self._new_token(refused)
            return self._token

    def _settings_token(self) -> Token | None:
        access, refresh = self._settings.access_token, self._settings.refresh_token
        if access is None:
            return None
        return Token(access.get_secret_value(), refresh.get_secret_value() if refresh else None, None)

    def _new_token(self, current: Token | None) -> Token:
        """Refresh `current` if it has a refresh token; self-developed apps fall back to getInitToken."""
        token: Token | None = None
        if current is not None and current.refresh_token:
            try:
                token = self._request_token(
                    REFRESH_TOKEN_PATH,
                    {"grant_type": "refresh_token", "refresh_token": current.refresh_token, "scope": "all"},
                    fallback_refresh=current.refresh_token,
                )
            except JushuitanError as exc:
                log.warning("token refresh failed (%s); requesting a new token with getInitToken", exc)
        if token is None:
            code = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(6))
            token = self._request_token(INIT_TOKEN_PATH, {"grant_type": "authorization_code", "code": code})
        self._store.save(token)
        log.info("obtained access token %s", token.fingerprint)
        return token

    def _request_token(self, path: str, grant: dict[str, str], fallback_refresh: str | None = None) -> Token:
        def attempt() -> dict[str, Any]:
            system = {"app_key": self._settings.app_key, "charset": "utf-8", "timestamp": self._timestamp()}
            return self._post(path, {**system, **grant})

        data = retry(attempt, self._backoff, self._sleep)
        # A refresh that does not rotate the refresh token leaves the old one valid.
        refresh = data.get("refresh_token") or fallback_refresh
        try:
            return Token(
                access_token=str(data["access_token"]),
                refresh_token=str(refresh) if refresh else None,
                expires_at=self._clock() + float(data["expires_in"]),
            )
        except (KeyError, TypeError, ValueError):
            raise JushuitanTransportError("token answer lacks access_token or expires_in", path) from None
