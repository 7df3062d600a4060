"""How Jushuitan hands out lists: ≤ 7-day Beijing-time windows, ≤ 50 ids per call, page_index pages.
Pagers yield pages of raw rows so callers can build frames page by page."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar, cast

import polars as pl

from basics.chunks import chunks
from basics.shanghai import in_shanghai
from connectors.jushuitan.errors import JushuitanTransportError

log = logging.getLogger("connectors.jushuitan")

T = TypeVar("T")
Call = Callable[[str, dict[str, Any]], dict[str, Any]]
"""`JushuitanClient.call`: (API path, biz) -> the envelope's `data`."""

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
    begin, finish = (in_shanghai(moment).replace(microsecond=0) for moment in (start, end))
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


def id_chunks(ids: Iterable[T], size: int = MAX_IDS) -> Iterator[list[T]]:
    """Consecutive lists of at most `size` ids: every id list in a request is capped (50; l_ids 20)."""
    return chunks(ids, size)


def rows_of(data: Mapping[str, Any] | None, api: str) -> Sequence[dict[str, Any]]:
    """The rows of a list response: `datas`, else the first list-valued key (peers saw `shops`, `orders`)."""
    if not data:
        return []
    rows = data.get("datas")
    if isinstance(rows, Rows | list):
        return rows
    if "datas" not in data:
        for key, value in data.items():
            if isinstance(value, list):
                log.debug("%s: rows under %r instead of 'datas'", api, key)
                return value
    return []


class Rows(Sequence[dict[str, Any]]):
    """The rows of one answer's `data.datas`, with the answer's bytes as they arrived (`body`).

    The client reads a list answer without decoding its rows (`read_list_answer`): the flows hand the
    bytes to Polars, so the dicts are decoded only if something asks for them (a caller reading rows,
    a dedup that drops a repeat). Compares equal to a list of the same rows.
    """

    def __init__(self, rows: list[dict[str, Any]] | None, body: bytes | None = None) -> None:
        self._rows = rows
        self.body = body
        self._keys: tuple[str, list[Key]] | None = None

    @classmethod
    def unread(cls, body: bytes, id_key: str, keys: list[Key]) -> Rows:
        """Rows known by their (document id, ts) only; the dicts are in `body`, a whole answer."""
        rows = cls(None, body)
        rows._keys = (id_key, keys)
        return rows

    def keys(self, id_key: str) -> list[Key]:
        """(document id, ts) of each row, the id as text: see `doc_key`."""
        if self._keys is None or self._keys[0] != id_key:
            self._keys = (id_key, row_keys(self.dicts(), id_key))
        return self._keys[1]

    def dicts(self) -> list[dict[str, Any]]:
        if self._rows is None:  # unread: the body is the whole answer
            self._rows = json.loads(cast(bytes, self.body))["data"]["datas"]
        return self._rows

    def __len__(self) -> int:
        return len(self.dicts()) if self._keys is None else len(self._keys[1])  # keys, once known, count the rows

    def __getitem__(self, index: Any) -> Any:
        return self.dicts()[index]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.dicts())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Rows | list):
            return self.dicts() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Rows({self.dicts()!r})"


Key = tuple[str | None, int | None]


def doc_key(value: Any) -> str | None:
    """A document id as text, the way Polars reads it from the JSON (30000000, 30000000.0 and "30000000"
    alike), so rows read either way meet in one dedup; None for no usable id (missing, a list, an object)."""
    if value is None or isinstance(value, list | dict):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def row_keys(rows: Iterable[Mapping[str, Any]], id_key: str) -> list[Key]:
    return [(doc_key(row.get(id_key)), _ts(row.get("ts"))) for row in rows]


@lru_cache
def _list_answer(id_key: str) -> pl.Schema:
    """What is read of a list answer without its rows: the code, the paging fields, each row's id and ts."""
    rows = pl.List(pl.Struct({id_key: pl.String, "ts": pl.String}))
    paging = {"has_next": pl.String, "data_count": pl.String, "page_count": pl.String, "datas": rows}
    return pl.Schema({"code": pl.String, "data": pl.Struct(paging)})


def read_list_answer(body: bytes, id_key: str) -> dict[str, Any] | None:
    """A successful list answer's `data` read by Polars without decoding its rows into dicts (json.loads
    of every answer cost ~3.7 s per million lines, and the flows then read the same bytes with Polars).

    None when it is anything else — an error code, rows not under `datas`, a value that is not text or a
    number (an object where the id belongs, NaN as a bare word), not JSON at all: the caller decodes it
    whole with json.loads.
    """
    try:
        answer = pl.read_json(io.BytesIO(body), schema=_list_answer(id_key))
    except pl.exceptions.PolarsError:
        return None
    if answer.height != 1:
        return None
    code, data = answer.row(0)
    if code != "0" or data is None or data["datas"] is None:
        return None
    try:
        keys = [(None, None) if row is None else (row[id_key], _ts(row["ts"])) for row in data["datas"]]
    except ValueError:  # a ts such as 1.5, which json.loads reads as a number
        return None
    paging = {name: value for name, value in data.items() if name != "datas" and value is not None}
    return {**paging, "datas": Rows.unread(body, id_key, keys)}


def page_body(page: Sequence[dict[str, Any]]) -> bytes:
    """A page as JSON bytes whose `data.datas` are exactly its rows, for a reader that decodes JSON itself
    (Polars): the answer as it arrived when the page is all of its rows, as it nearly always is, else the
    rows encoded again (some were dropped as repeats, or they came under another key than `datas`)."""
    if isinstance(page, Rows) and page.body is not None:
        return page.body
    return json.dumps({"data": {"datas": list(page)}}, ensure_ascii=False).encode()


def page_ids(page: Sequence[dict[str, Any]], id_key: str) -> list[str | None]:
    """The document ids of a page as text (see `doc_key`), without decoding rows that arrived unread."""
    return [key for key, _ts in (page.keys(id_key) if isinstance(page, Rows) else row_keys(page, id_key))]


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
    if isinstance(count, str) and count.isdigit():  # as Polars reads it (read_list_answer)
        return int(count)
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _promised(data: Mapping[str, Any] | None, page_index: int, page_size: int) -> bool:
    """Whether the answer's own data_count puts rows on or after this page. (A bare has_next on an
    empty page is only a stale flag: the walk ends there, as it always has.)"""
    count = _count(data)
    return count is not None and count > (page_index - 1) * page_size


def _ts(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _keys(rows: Sequence[Mapping[str, Any]], id_key: str) -> list[Key]:
    return rows.keys(id_key) if isinstance(rows, Rows) else row_keys(rows, id_key)


class Deduplicator:
    """Drops rows whose document id was already yielded with an equal or larger `ts`.

    Time-window paging shifts while data changes, so the same document can come twice. Within a page
    the largest ts wins; a document modified *during* a walk comes again later with its larger ts, so
    across pages the last occurrence of an id is its current version.
    """

    def __init__(self, id_key: str) -> None:
        self.id_key = id_key
        self._latest: dict[str, int | None] = {}

    def fresh(self, rows: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
        kept: list[int] = []
        position: dict[str, int] = {}
        for index, (doc_id, ts) in enumerate(_keys(rows, self.id_key)):
            if doc_id is None:  # no usable id: the rules hold the row
                kept.append(index)
                continue
            if doc_id in self._latest:
                previous = self._latest[doc_id]
                if ts is None or previous is None or ts <= previous:
                    continue
            self._latest[doc_id] = ts
            if doc_id in position:
                kept[position[doc_id]] = index
            else:
                position[doc_id] = len(kept)
                kept.append(index)
        # All kept, in order: the page itself (its Rows body, its rows still undecoded).
        return rows if len(kept) == len(rows) else [rows[index] for index in kept]


def page_index_pages(
    call: Call,
    api: str,
    biz: Mapping[str, Any],
    *,
    page_size: int,
    dedup: Deduplicator | None = None,
    in_flight: int = 1,
) -> Iterator[Sequence[dict[str, Any]]]:
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
