"""How Jushuitan hands out lists: ≤ 7-day Beijing-time windows, ≤ 50 ids per call, page_index pages and
the start_ts (rowversion) cursor. Pagers yield pages of raw rows so callers can build frames page by page."""

from __future__ import annotations

import contextvars
import json
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from connectors.jushuitan.errors import JushuitanCursorError, JushuitanTransportError

log = logging.getLogger("connectors.jushuitan")

T = TypeVar("T")
Call = Callable[[str, dict[str, Any]], dict[str, Any]]
"""`JushuitanClient.call`: (API path, biz) -> the envelope's `data`."""

SHANGHAI = ZoneInfo("Asia/Shanghai")
WIRE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_WINDOW = timedelta(days=7)
MAX_IDS = 50
_ONE_SECOND = timedelta(seconds=1)


def shanghai_windows(start: datetime, end: datetime, max_span: timedelta = MAX_WINDOW) -> list[tuple[str, str]]:
    """Split [start, end] (both inclusive) into consecutive windows as Beijing wall-clock strings.

    The API compares whole-second strings with inclusive ends, so each window ends one second before
    the next begins: at second resolution no instant is in two windows and none falls between them.
    A window spans at most `max_span` minus that second, so it never touches the server's 7-day limit.
    Naive datetimes are read as Beijing time; sub-second parts are dropped.
    """
    begin, finish = _beijing(start), _beijing(end)
    if finish < begin:
        raise ValueError(f"window end {finish} is before its start {begin}")
    if max_span < _ONE_SECOND:
        raise ValueError("max_span must be at least one second")
    windows: list[tuple[str, str]] = []
    while True:
        window_end = min(begin + max_span - _ONE_SECOND, finish)
        windows.append((begin.strftime(WIRE_TIME_FORMAT), window_end.strftime(WIRE_TIME_FORMAT)))
        if window_end >= finish:
            return windows
        begin = window_end + _ONE_SECOND


def _beijing(moment: datetime) -> datetime:
    local = moment.replace(tzinfo=SHANGHAI) if moment.tzinfo is None else moment.astimezone(SHANGHAI)
    return local.replace(microsecond=0)


def chunks(ids: Iterable[T], size: int = MAX_IDS) -> Iterator[list[T]]:
    """Consecutive lists of at most `size` ids: every id list in a request is capped (50; l_ids 20)."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    remaining = iter(ids)
    while batch := list(islice(remaining, size)):
        yield batch


def rows_of(data: Mapping[str, Any] | None, api: str) -> list[dict[str, Any]]:
    """The rows of a list response: `datas`, else the first list-valued key (peers saw `shops`, `orders`)."""
    if not data:
        return []
    rows = data.get("datas")
    if isinstance(rows, list):
        return rows
    if "datas" not in data:
        for key, value in data.items():
            if isinstance(value, list):
                log.debug("%s: rows under %r instead of 'datas'", api, key)
                return value
    return []


class Rows(list):
    """The rows of one answer's `data.datas`, with the answer's bytes as they arrived (`body`)."""

    def __init__(self, rows: Iterable[dict[str, Any]], body: bytes) -> None:
        super().__init__(rows)
        self.body = body


def page_body(page: list[dict[str, Any]]) -> bytes:
    """A page as JSON bytes whose `data.datas` are exactly its rows, for a reader that decodes JSON itself
    (Polars): the answer as it arrived when the page is all of its rows, as it nearly always is, else the
    rows encoded again (some were dropped as repeats, or they came under another key than `datas`)."""
    if isinstance(page, Rows):
        return page.body
    return json.dumps({"data": {"datas": page}}, ensure_ascii=False).encode()


def as_bool(value: Any) -> bool:
    """Flags arrive as JSON booleans, 0/1 or the strings "true"/"false" depending on the API."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def _has_next(data: Mapping[str, Any], rows: int, page_size: int) -> bool:
    flag = data.get("has_next")
    return rows >= page_size if flag is None else as_bool(flag)


def _count(data: Mapping[str, Any] | None) -> int | None:
    count = (data or {}).get("data_count")
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _promised(data: Mapping[str, Any] | None, page_index: int, page_size: int) -> bool:
    """Whether the answer's own data_count puts rows on or after this page. (A bare has_next on an
    empty page is only a stale flag: the walk ends there, as it always has.)"""
    count = _count(data)
    return count is not None and count > (page_index - 1) * page_size


def _ts(row: Mapping[str, Any]) -> int | None:
    value = row.get("ts")
    return None if value is None or value == "" else int(value)


class Deduplicator:
    """Drops rows whose document id was already yielded with an equal or larger `ts`.

    Time-window paging shifts while data changes and start_ts may compare with ≥, so the same document
    can come twice. Within a page the largest ts wins; a document modified *during* a walk comes again
    later with its larger ts, so across pages the last occurrence of an id is its current version.
    """

    def __init__(self, id_key: str) -> None:
        self.id_key = id_key
        self._latest: dict[Any, int | None] = {}

    def fresh(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept: list[dict[str, Any]] = []
        position: dict[Any, int] = {}
        for row in rows:
            doc_id = row.get(self.id_key)
            if doc_id is None or isinstance(doc_id, list | dict):  # no usable id: the rules hold the row
                kept.append(row)
                continue
            ts = _ts(row)
            if doc_id in self._latest:
                previous = self._latest[doc_id]
                if ts is None or previous is None or ts <= previous:
                    continue
            self._latest[doc_id] = ts
            if doc_id in position:
                kept[position[doc_id]] = row
            else:
                position[doc_id] = len(kept)
                kept.append(row)
        return rows if len(kept) == len(rows) else kept  # all kept, in order: the page itself (its Rows body)


def page_index_pages(
    call: Call,
    api: str,
    biz: Mapping[str, Any],
    *,
    page_size: int,
    dedup: Deduplicator | None = None,
    in_flight: int = 1,
) -> Iterator[list[dict[str, Any]]]:
    """Pages 1, 2, … while the server says `has_next` (or, without it, while pages come back full).

    Up to `in_flight` page requests at once, each within the caller's rate limits: once an answer's
    data_count says how many pages there are, the pages up to there are requested ahead (never beyond,
    so a list that holds still costs no extra call). Answers are still read strictly in page order, one
    by one, as a walk with one request would read them: the same end, the same dedup, the same failure
    on an empty page the count promised rows for. Requests ahead of the page that ends the walk (or of
    a failure, or of the caller closing the iterator early) are cancelled or their answers dropped; the
    iterator ends only once no request of its own is still running.
    """
    if in_flight < 1:
        raise ValueError("in_flight must be at least 1")
    pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="jushuitan-page")
    ahead: deque[Future[dict[str, Any]]] = deque()
    requested = 0

    def request_up_to(last_page: int) -> None:
        nonlocal requested
        while len(ahead) < in_flight and requested < last_page:
            requested += 1
            # In the caller's context, as if called inline: Prefect keeps its settings (which API, so where
            # a token block is saved) and run context in contextvars, which a pool thread does not inherit.
            page_biz = {**biz, "page_index": requested, "page_size": page_size}
            ahead.append(pool.submit(contextvars.copy_context().run, call, api, page_biz))

    try:
        request_up_to(1)
        page_index = 1
        while True:
            data = ahead.popleft().result()
            rows = rows_of(data, api)
            if not rows and _promised(data, page_index, page_size):
                # Ending the walk here would pass over documents the server says exist (and a watermark
                # would then move past them): fail the run instead, the next one reads the window again.
                raise JushuitanTransportError(f"page {page_index} has no rows although the answer counts more", api)
            more = bool(rows) and _has_next(data, len(rows), page_size)
            if more:  # the next page at least; as many as this answer counts
                request_up_to(max(page_index + 1, math.ceil((_count(data) or 0) / page_size)))
            fresh = dedup.fresh(rows) if dedup else rows
            if fresh:
                yield fresh
            if not more:
                return
            page_index += 1
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def start_ts_pages(
    call: Call,
    api: str,
    biz: Mapping[str, Any],
    *,
    start_ts: int,
    id_key: str,
    page_size: int,
) -> Iterator[list[dict[str, Any]]]:
    """Walk the rowversion cursor: always page 1, `start_ts` moved to the largest ts seen, until no rows.

    The platform recommends this over time windows, which can miss rows that change while paging.
    One request at a time by nature: each request's cursor is the largest ts of the answer before it.
    Raises JushuitanCursorError if the server reports more rows but the cursor cannot advance.
    """
    cursor = start_ts
    dedup = Deduplicator(id_key)
    while True:
        data = call(api, {**biz, "start_ts": cursor, "is_get_total": False, "page_index": 1, "page_size": page_size})
        rows = rows_of(data, api)
        if not rows:
            return
        fresh = dedup.fresh(rows)
        if fresh:
            yield fresh
        if not _has_next(data, len(rows), page_size):
            return
        top = max((ts for ts in map(_ts, rows) if ts is not None), default=cursor)
        if top <= cursor:
            raise JushuitanCursorError(None, f"start_ts cursor stuck at {cursor} while has_next is true", api)
        cursor = top
