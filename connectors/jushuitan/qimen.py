"""The Qimen (奇门) after-sales route: `jushuitan.refund.list.query` through the Taobao open platform's Qimen
router, for Taobao/Tmall-family shops whose after-sales the standard /open/refund/single/query may not return
(JUSHUITAN_API.md §5.b1 caveat). Evidence and confidence: docs/wire_facts.md, "Qimen after-sales route".

The wire is Taobao TOP's, not openweb v2's: system and business parameters side by side in one form, signed
with an upper-case MD5 of secret + k1v1k2v2… + secret, answered wrapped in `<method>_response`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import httpx

from basics.shanghai import SHANGHAI
from connectors.http import RETRYABLE_STATUS, Backoff, RetryableError, retry
from connectors.jushuitan.errors import JushuitanError, JushuitanTransportError
from connectors.jushuitan.paging import WIRE_TIME_FORMAT, Deduplicator, id_chunks, page_index_pages, shanghai_windows
from connectors.settings import QimenSettings

log = logging.getLogger("connectors.jushuitan")

REFUND_LIST = "jushuitan.refund.list.query"
ROUTE_NAME = f"Qimen {REFUND_LIST}"


def qimen_sign(params: Mapping[str, str], app_secret: str) -> str:
    """TOP's md5 signature: upper-case MD5 hex of secret + key+value of every non-empty parameter except
    `sign`, keys in ascending order, + secret."""
    body = "".join(f"{key}{params[key]}" for key in sorted(params) if key != "sign" and params[key] != "")
    return hashlib.md5(f"{app_secret}{body}{app_secret}".encode()).hexdigest().upper()


def _wire(value: Any) -> str:
    """A business parameter as its form value: lists comma-joined (public Qimen callers send so_ids so)."""
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


class QimenError(JushuitanError):
    """The router or Jushuitan behind it refused a Qimen call (`code` as answered, text or number)."""


class QimenRoute:
    """Calls `jushuitan.refund.list.query` through the Qimen router; its HTTP client opens on first use,
    so a configuration without Qimen shops never connects."""

    def __init__(
        self,
        settings: QimenSettings,
        *,
        router_url: str,
        backoff: Backoff,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.router_url = router_url
        self._secret = settings.app_secret.get_secret_value()
        self._backoff, self._clock, self._sleep, self._transport = backoff, clock, sleep, transport
        self._http: httpx.Client | None = None

    @property
    def shop_ids(self) -> list[int]:
        return list(self.settings.shop_ids)

    @property
    def configured(self) -> bool:
        """Whether the route can be asked at all: a router and the Qimen app's credentials."""
        settings = self.settings
        return bool(self.router_url and settings.app_key and self._secret and settings.customer_id)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def call(self, method: str, biz: Mapping[str, Any]) -> dict[str, Any]:
        """One signed POST of `method` with `biz`; the answer's result object (its `datas` the rows)."""
        return retry(lambda: self._post(method, biz), self._backoff, self._sleep)

    def refund_pages(
        self,
        *,
        shop_id: int,
        modified_begin: datetime,
        modified_end: datetime,
        filters: Mapping[str, Any],
        dedup: Deduplicator,
    ) -> Iterator[list[dict[str, Any]]]:
        """One shop's after-sales modified in a window of any length, in ≤ 7-day windows as the standard query."""
        for start, stop in shanghai_windows(modified_begin, modified_end):
            biz = {**filters, "shop_id": shop_id, "modified_begin": start, "modified_end": stop}
            yield from page_index_pages(self.call, REFUND_LIST, biz, page_size=self.settings.page_size, dedup=dedup)

    def refunds_by_ids(self, as_ids: Iterable[int], dedup: Deduplicator) -> Iterator[list[dict[str, Any]]]:
        for chunk in id_chunks(as_ids):
            yield from page_index_pages(
                self.call, REFUND_LIST, {"as_ids": chunk}, page_size=self.settings.page_size, dedup=dedup
            )

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                transport=self._transport,
                timeout=self.settings.timeout_seconds,
                verify=self.settings.verify_tls,
                trust_env=False,
            )
        return self._http

    def _post(self, method: str, biz: Mapping[str, Any]) -> dict[str, Any]:
        settings = self.settings
        params = {
            "method": method,
            "app_key": settings.app_key,
            "target_app_key": settings.target_app_key,
            settings.customer_id_key: settings.customer_id,
            "timestamp": datetime.fromtimestamp(self._clock(), SHANGHAI).strftime(WIRE_TIME_FORMAT),
            "format": "json",
            "v": "2.0",
            "sign_method": "md5",
            **{key: _wire(value) for key, value in biz.items() if value is not None},
        }
        form = {**params, "sign": qimen_sign(params, self._secret)}
        try:
            response = self._client().post(self.router_url, data=form)
        except httpx.TransportError as exc:
            failure = f"{type(exc).__name__}: {str(exc).replace(self._secret, '***')}"
            log.warning("%s: transport failure (%s), retrying", method, failure)
            raise RetryableError(JushuitanTransportError(failure, method)) from None
        if response.status_code != 200:
            failed = JushuitanTransportError(f"HTTP {response.status_code}", method, status_code=response.status_code)
            if response.status_code in RETRYABLE_STATUS:
                raise RetryableError(failed)
            raise failed
        try:
            answer = response.json()
        except ValueError:
            raise RetryableError(JushuitanTransportError("answer is not JSON", method)) from None
        return self._result(method, answer, form["sign"])

    def _result(self, method: str, answer: Any, signature: str) -> dict[str, Any]:
        """The result object inside the TOP wrapper, or QimenError for a refusal. Public answers come as
        `{<method>_response: {result: {code, datas…}}}` and bare `{code, datas…}`; refusals as
        `{error_response: {code, msg, sub_msg}}` or `{response: {flag: failure, code, message}}`."""
        if not isinstance(answer, dict):
            raise JushuitanTransportError("answer is not a JSON object", method)
        refusal = answer.get("error_response")
        wrapped = answer.get("response")
        if refusal is None and isinstance(wrapped, dict) and wrapped.get("flag") == "failure":
            refusal = wrapped
        if isinstance(refusal, dict):
            raise self._refused(method, refusal, signature)
        body = answer.get(method.replace(".", "_") + "_response", answer)
        result = body.get("result", body) if isinstance(body, dict) else None
        if isinstance(result, str):  # some TOP answers carry the result as a JSON string
            result = json.loads(result)
        if not isinstance(result, dict):
            raise JushuitanTransportError("answer has no result object", method)
        code = result.get("code", 0)
        if str(code) not in ("0", "", "None"):
            raise self._refused(method, result, signature)
        return result

    def _refused(self, method: str, refusal: Mapping[str, Any], signature: str) -> QimenError:
        text = " ".join(
            str(refusal[key]) for key in ("msg", "message", "sub_code", "sub_msg") if refusal.get(key) not in (None, "")
        )
        for secret in (self._secret, signature):
            text = text.replace(secret, "***")
        code = refusal.get("code")
        return QimenError(int(code) if str(code).isdigit() else -1, text, method)
