"""The open platform's APIs the sync uses: shops and warehouses, outbound and after-sale documents (by time
window or by id), return stock-ins by id, and the item upload. Each knows its path, the document id it
de-duplicates by and its page limit; signing and sending a call is the client's (client.py)."""

from __future__ import annotations

import itertools
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from basics.chunks import chunks
from connectors.jushuitan.paging import Deduplicator, as_bool, id_chunks, page_index_pages, rows_of, shanghai_windows
from connectors.jushuitan.qimen import QimenRoute
from connectors.settings import JushuitanSettings

log = logging.getLogger("connectors.jushuitan")

Page = Sequence[dict[str, Any]]

ITEM_UPLOAD_PATH = "/open/jushuitan/itemsku/upload"


@dataclass(frozen=True)
class Endpoint:
    path: str
    id_key: str  # the document id used to drop repeated rows
    max_page_size: int


SHOPS = Endpoint("/open/shops/query", "shop_id", 100)
# The maximum page size for warehouses is undocumented; 30 is the documented default, so always accepted.
WAREHOUSES = Endpoint("/open/wms/partner/query", "wms_co_id", 30)
OUTBOUND = Endpoint("/open/orders/out/simple/query", "io_id", 50)
REFUNDS = Endpoint("/open/refund/single/query", "as_id", 50)
RECEIVED = Endpoint("/open/aftersale/received/query", "io_id", 50)
LIST_ID_KEYS = {endpoint.path: endpoint.id_key for endpoint in (SHOPS, WAREHOUSES, OUTBOUND, REFUNDS, RECEIVED)}
"""The list APIs by path, with the id their answers are read by without decoding rows (read_list_answer)."""


@dataclass(frozen=True)
class ItemUploadResult:
    """The platform's verdict on one uploaded SKU: the call succeeds even when rows fail."""

    sku_id: str
    is_success: bool
    msg: str


class Documents(ABC):
    """The reads and writes of JushuitanClient, over its `call`."""

    _settings: JushuitanSettings
    qimen: QimenRoute  # the after-sales route of the shops set to it

    @abstractmethod
    def call(self, path: str, biz: Mapping[str, Any]) -> dict[str, Any]:
        """POST one business API and return the envelope's `data`."""

    # --- reads ---------------------------------------------------------------------------------

    def shops(self) -> Iterator[Page]:
        """Every shop of the company (the platform lists enabled shops only)."""
        return self._pages(SHOPS, {}, SHOPS.max_page_size)

    def warehouses(self) -> Iterator[Page]:
        """Every enabled warehouse (分仓), de-duplicated by wms_co_id."""
        return self._pages(WAREHOUSES, {}, WAREHOUSES.max_page_size)

    def outbound_pages(
        self,
        *,
        modified_begin: datetime,
        modified_end: datetime,
        status: str | None = None,
        shop_id: int | None = None,
        date_type: int = 0,
        page_size: int = 50,
    ) -> Iterator[Page]:
        """Sales outbound documents in a time window (date_type 0: modified, 2: io_date), any length."""
        filters = _given(status=status, shop_id=shop_id, date_type=date_type)
        return self._windowed(OUTBOUND, modified_begin, modified_end, filters, page_size)

    def refund_pages(
        self,
        *,
        modified_begin: datetime,
        modified_end: datetime,
        status: str | None = None,
        good_status: str | None = None,
        page_size: int = 50,
    ) -> Iterator[Page]:
        """After-sale documents modified in a window of any length, each shop's from its route: the standard
        query, then the Qimen route for each shop set to it (JST_QIMEN_SHOP_IDS, qimen.py). A document both
        routes return comes once."""
        filters = _given(status=status, good_status=good_status)
        dedup = Deduplicator(REFUNDS.id_key)
        qimen = (
            self.qimen.refund_pages(
                shop_id=shop_id, modified_begin=modified_begin, modified_end=modified_end, filters=filters, dedup=dedup
            )
            for shop_id in self.qimen.shop_ids
        )
        return _one_after_another(
            itertools.chain([self._windowed(REFUNDS, modified_begin, modified_end, filters, page_size, dedup)], qimen)
        )

    def outbound_by_ids(self, *, io_ids: Iterable[int | str] = (), so_ids: Iterable[str] = ()) -> Iterator[Page]:
        """Outbound documents matching any of the given outbound or platform order numbers.

        Both lists are [string] in the API (unlike the after-sale as_ids, which are [int]), but an io_id is an
        integer: anything else is refused here, before a request.
        """
        numbers = list(map(str, whole_numbers("io_ids", io_ids)))
        return self._by_ids(OUTBOUND, {"io_ids": numbers, "so_ids": list(map(str, so_ids))})

    def refunds_by_ids(self, as_ids: Iterable[int | str]) -> Iterator[Page]:
        """After-sale documents by as_id: the standard query's, then (with Qimen shops set) the Qimen route's."""
        numbers = whole_numbers("as_ids", as_ids)
        dedup = Deduplicator(REFUNDS.id_key)
        walks = [self._by_ids(REFUNDS, {"as_ids": numbers}, dedup)]
        if self.qimen.shop_ids:
            walks.append(self.qimen.refunds_by_ids(numbers, dedup))
        return _one_after_another(walks)

    def received_by_ids(self, as_ids: Iterable[int | str]) -> Iterator[Page]:
        """Return-warehousing records of the given after-sales."""
        return self._by_ids(RECEIVED, {"as_ids": whole_numbers("as_ids", as_ids)})

    def _pages(
        self, endpoint: Endpoint, biz: Mapping[str, Any], page_size: int, dedup: Deduplicator | None = None
    ) -> Iterator[Page]:
        _check_page_size(endpoint, page_size)
        return page_index_pages(
            self.call,
            endpoint.path,
            biz,
            page_size=page_size,
            dedup=dedup or Deduplicator(endpoint.id_key),
            in_flight=self._settings.pages_in_flight,
        )

    def _windowed(
        self,
        endpoint: Endpoint,
        begin: datetime,
        end: datetime,
        filters: Mapping[str, Any],
        page_size: int,
        dedup: Deduplicator | None = None,
    ) -> Iterator[Page]:
        """One page run per ≤ 7-day window; a document that moved between windows while paging comes once."""
        _check_page_size(endpoint, page_size)
        dedup = dedup or Deduplicator(endpoint.id_key)
        return _one_after_another(
            self._pages(endpoint, {**filters, "modified_begin": start, "modified_end": stop}, page_size, dedup)
            for start, stop in shanghai_windows(begin, end)
        )

    def _by_ids(
        self, endpoint: Endpoint, id_lists: Mapping[str, list[Any]], dedup: Deduplicator | None = None
    ) -> Iterator[Page]:
        dedup = dedup or Deduplicator(endpoint.id_key)
        return _one_after_another(
            self._pages(endpoint, {key: chunk}, endpoint.max_page_size, dedup)
            for key, ids in id_lists.items()
            for chunk in id_chunks(ids)
        )

    # --- writes --------------------------------------------------------------------------------

    def upload_items(self, items: list[dict[str, Any]], chunk_size: int = 50) -> list[ItemUploadResult]:
        """Create or update SKUs (keyed by sku_id, so a retried chunk is harmless); one result per item.

        The call answers code 0 even when rows fail, so each listed row's is_success is read. Answers come
        in two shapes (docs/wire_facts.md, "Item upload answers"): every SKU listed, or only the refused
        ones (`datas` empty or absent when none was). An answer that lists no success is of the second
        shape, so a SKU it leaves out was accepted; one that lists successes but leaves a SKU out has lost
        that SKU's verdict, and it counts as failed: it is sent again next run, which cannot duplicate it
        (create-or-update by sku_id, JUSHUITAN_API.md §5.c), while a false success would drop it silently.
        """
        results: list[ItemUploadResult] = []
        for chunk in chunks(items, chunk_size):
            rows = rows_of(self.call(ITEM_UPLOAD_PATH, {"items": chunk}), ITEM_UPLOAD_PATH)
            verdicts = {_sku(row.get("sku_id")): row for row in rows}
            lists_successes = any(as_bool(row.get("is_success")) for row in rows)
            for item in chunk:
                sku_id = _sku(item.get("sku_id"))
                verdict = verdicts.get(sku_id)
                if verdict is not None:
                    success, msg = as_bool(verdict.get("is_success")), str(verdict.get("msg") or "")
                    result = ItemUploadResult(sku_id, success, msg)
                elif lists_successes:
                    result = ItemUploadResult(sku_id, False, "no result for this sku_id in the answer")
                else:
                    result = ItemUploadResult(sku_id, True, "not listed in an answer that lists only refusals")
                if not result.is_success:
                    log.warning("item upload refused sku_id=%s: %s", result.sku_id, result.msg)
                results.append(result)
        return results


def _one_after_another(walks: Iterable[Iterator[Page]]) -> Iterator[Page]:
    """The walks' pages in turn; unlike itertools.chain it can be closed, which closes the walk under way
    (and so ends its page requests in flight)."""
    for walk in walks:
        yield from walk


def not_whole_numbers(ids: Iterable[int | str]) -> list[int | str]:
    """The values that cannot be a document id (io_id, as_id: integers): anything but digits, e.g. "3000%"."""
    return [
        i
        for i in ids
        if isinstance(i, bool) or not (i >= 0 if isinstance(i, int) else str(i).isascii() and str(i).isdigit())
    ]


def whole_numbers(name: str, ids: Iterable[int | str]) -> list[int]:
    """`ids` as integers, checked before any request: a typo is refused with the values named, not sent."""
    ids = list(ids)
    if bad := not_whole_numbers(ids):
        raise ValueError(f"{name} must be whole numbers (Jushuitan ids); not ids: {', '.join(map(repr, bad))}")
    return [int(i) for i in ids]


def _given(**params: Any) -> dict[str, Any]:
    """Only the filters the caller set: the platform reads an empty value as a filter, not as 'any'."""
    return {key: value for key, value in params.items() if value is not None}


def _sku(value: Any) -> str:
    return "" if value is None else str(value)


def _check_page_size(endpoint: Endpoint, page_size: int) -> None:
    if not 1 <= page_size <= endpoint.max_page_size:
        raise ValueError(f"{endpoint.path}: page_size must be 1..{endpoint.max_page_size}, got {page_size}")
