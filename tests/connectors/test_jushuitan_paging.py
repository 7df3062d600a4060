"""Windows, id chunks, list-key tolerance, de-duplication and the page_index pager, driven by scripted answers."""

from __future__ import annotations

import contextvars
import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from basics.shanghai import SHANGHAI
from connectors.jushuitan.errors import JushuitanTransportError
from connectors.jushuitan.paging import (
    WIRE_TIME_FORMAT,
    Deduplicator,
    Rows,
    as_bool,
    id_chunks,
    page_body,
    page_index_pages,
    rows_of,
    shanghai_windows,
)


def _parse(text: str) -> datetime:
    return datetime.strptime(text, WIRE_TIME_FORMAT)


@pytest.mark.parametrize(
    "span",
    [
        timedelta(0),
        timedelta(hours=5),
        timedelta(days=7) - timedelta(seconds=1),
        timedelta(days=7),
        timedelta(days=7, seconds=1),
        timedelta(days=16, hours=3, minutes=7),
        timedelta(days=35),
    ],
)
def test_windows_tile_the_range_without_gaps_or_overlaps(span: timedelta) -> None:
    start = datetime(2024, 1, 1, 8, 30, 15, tzinfo=SHANGHAI)
    windows = shanghai_windows(start, start + span)

    assert _parse(windows[0][0]) == start.replace(tzinfo=None)
    assert _parse(windows[-1][1]) == (start + span).replace(tzinfo=None)
    for begin, end in windows:
        assert timedelta(0) <= _parse(end) - _parse(begin) < timedelta(days=7)
    for (_, end), (next_begin, _) in zip(windows, windows[1:], strict=False):
        assert _parse(next_begin) - _parse(end) == timedelta(seconds=1)
    # Inclusive ends: the range holds span + 1 s of whole seconds, each window at most 7 days of them.
    assert len(windows) == -(-(span + timedelta(seconds=1)) // timedelta(days=7))


def test_windows_are_beijing_wall_clock_for_aware_and_naive_inputs() -> None:
    utc_start = datetime(2024, 3, 1, 16, 0, tzinfo=UTC)  # midnight in Beijing
    assert shanghai_windows(utc_start, utc_start + timedelta(hours=1)) == [
        ("2024-03-02 00:00:00", "2024-03-02 01:00:00")
    ]
    naive = datetime(2024, 3, 2, 0, 0)
    assert shanghai_windows(naive, naive + timedelta(hours=1)) == [("2024-03-02 00:00:00", "2024-03-02 01:00:00")]


def test_windows_drop_sub_second_parts() -> None:
    start = datetime(2024, 3, 2, 10, 0, 0, 900_000, tzinfo=SHANGHAI)
    assert shanghai_windows(start, start + timedelta(seconds=2)) == [("2024-03-02 10:00:00", "2024-03-02 10:00:02")]


def test_windows_respect_a_shorter_max_span() -> None:
    start = datetime(2024, 3, 2, tzinfo=SHANGHAI)
    windows = shanghai_windows(start, start + timedelta(days=3), max_span=timedelta(days=1))
    assert windows[1] == ("2024-03-03 00:00:00", "2024-03-03 23:59:59")
    assert len(windows) == 4


def test_windows_reject_an_end_before_the_start() -> None:
    start = datetime(2024, 3, 2, tzinfo=SHANGHAI)
    with pytest.raises(ValueError):
        shanghai_windows(start, start - timedelta(seconds=1))


def test_chunks_cap_every_list() -> None:
    assert [len(chunk) for chunk in id_chunks(range(120))] == [50, 50, 20]
    assert list(id_chunks([], 50)) == []
    assert list(id_chunks("abcde", 2)) == [["a", "b"], ["c", "d"], ["e"]]
    with pytest.raises(ValueError):
        list(id_chunks([1], 0))


def test_rows_of_prefers_datas_then_the_first_list() -> None:
    assert rows_of({"datas": [{"a": 1}], "shops": [{"b": 2}]}, "/p") == [{"a": 1}]
    assert rows_of({"page_index": 1, "shops": [{"b": 2}]}, "/p") == [{"b": 2}]
    assert rows_of({"datas": None, "shops": [{"b": 2}]}, "/p") == []
    assert rows_of(None, "/p") == []
    assert rows_of({"has_next": False}, "/p") == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("true", True),
        ("True", True),
        ("1", True),
        (1, True),
        (False, False),
        ("false", False),
        (0, False),
        (None, False),
        ("", False),
    ],
)
def test_as_bool_reads_every_flag_spelling(value: Any, expected: bool) -> None:
    assert as_bool(value) is expected


def test_deduplicator_keeps_the_largest_ts_per_document() -> None:
    dedup = Deduplicator("io_id")
    first = dedup.fresh([{"io_id": 1, "ts": 5}, {"io_id": 2, "ts": 6}, {"io_id": 1, "ts": 9}, {"io_id": 3, "ts": 2}])
    assert first == [{"io_id": 1, "ts": 9}, {"io_id": 2, "ts": 6}, {"io_id": 3, "ts": 2}]
    again = dedup.fresh([{"io_id": 2, "ts": 6}, {"io_id": 3, "ts": "7"}, {"io_id": 1, "ts": 8}, {"x": 1}])
    assert again == [{"io_id": 3, "ts": "7"}, {"x": 1}]


def test_deduplicator_without_ts_keeps_the_first_sighting() -> None:
    dedup = Deduplicator("wms_co_id")
    assert dedup.fresh([{"wms_co_id": 1, "name": "a"}, {"wms_co_id": 1, "name": "b"}]) == [
        {"wms_co_id": 1, "name": "a"}
    ]


class Script:
    """A scripted API: answers in order and records every biz it was called with."""

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.answers = answers
        self.calls: list[dict[str, Any]] = []

    def __call__(self, path: str, biz: dict[str, Any]) -> dict[str, Any]:
        assert path == "/open/x"
        self.calls.append(biz)
        return self.answers[len(self.calls) - 1]


def _rows(*ids: int) -> list[dict[str, Any]]:
    return [{"io_id": i, "ts": i * 10} for i in ids]


def test_page_index_pager_follows_has_next() -> None:
    script = Script(
        [
            {"has_next": True, "datas": _rows(1, 2)},
            {"has_next": "true", "datas": _rows(3, 4)},
            {"has_next": False, "datas": _rows(5)},
        ]
    )
    pages = list(page_index_pages(script, "/open/x", {"status": "Confirmed"}, page_size=2))
    assert pages == [_rows(1, 2), _rows(3, 4), _rows(5)]
    assert [c["page_index"] for c in script.calls] == [1, 2, 3]
    assert all(c["page_size"] == 2 and c["status"] == "Confirmed" for c in script.calls)


def test_page_index_pager_without_has_next_stops_on_a_short_page() -> None:
    script = Script([{"orders": _rows(1, 2)}, {"orders": _rows(3)}])
    assert list(page_index_pages(script, "/open/x", {}, page_size=2)) == [_rows(1, 2), _rows(3)]
    assert len(script.calls) == 2


def test_page_index_pager_stops_on_an_empty_page_despite_has_next() -> None:
    script = Script([{"has_next": True, "datas": _rows(1)}, {"has_next": True, "datas": []}])
    assert list(page_index_pages(script, "/open/x", {}, page_size=1)) == [_rows(1)]
    assert len(script.calls) == 2


def test_page_index_pager_drops_rows_that_shifted_into_the_next_page() -> None:
    script = Script([{"has_next": True, "datas": _rows(1, 2)}, {"has_next": False, "datas": _rows(2, 3)}])
    pages = list(page_index_pages(script, "/open/x", {}, page_size=2, dedup=Deduplicator("io_id")))
    assert pages == [_rows(1, 2), _rows(3)]


def _answer(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the client returns: `data`, its rows kept with the bytes they arrived in."""
    body = json.dumps({"code": 0, "msg": "执行成功", "data": {"has_next": False, "datas": rows}}).encode()
    return {"has_next": False, "datas": Rows(json.loads(body)["data"]["datas"], body)}


def test_a_page_that_is_a_whole_answer_is_handed_on_as_the_bytes_it_arrived_in() -> None:
    answer = _answer(_rows(1, 2))
    (page,) = page_index_pages(Script([answer]), "/open/x", {}, page_size=5, dedup=Deduplicator("io_id"))
    assert page_body(page) is answer["datas"].body


def test_a_page_with_repeats_dropped_is_encoded_again_with_only_its_fresh_rows() -> None:
    dedup = Deduplicator("io_id")
    dedup.fresh(_rows(1))
    (page,) = page_index_pages(Script([_answer(_rows(1, 2))]), "/open/x", {}, page_size=5, dedup=dedup)
    assert json.loads(page_body(page))["data"]["datas"] == _rows(2)


def test_rows_under_another_key_are_encoded_under_datas() -> None:
    (page,) = page_index_pages(Script([{"orders": _rows(4)}]), "/open/x", {}, page_size=5)
    assert json.loads(page_body(page)) == {"data": {"datas": _rows(4)}}


# --- several page requests in flight ------------------------------------------------------------


class Catalogue:
    """A thread-safe API answering page_index pages of `count` rows, `size` a page, with data_count.

    Records the pages asked for and answered and how many calls ran at once. `hold` keeps a page's answer
    until an event is set (`done[n]` is set once page n is answered); `answers` replaces a page's whole
    answer, or raises when it is a callable.
    """

    def __init__(self, count: int, size: int, answers: dict[int, Any] | None = None) -> None:
        self.count, self.size = count, size
        self.answers = answers or {}
        self.hold: dict[int, threading.Event] = {}
        self.done: defaultdict[int, threading.Event] = defaultdict(threading.Event)
        self.asked: list[int] = []
        self.running = self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, path: str, biz: dict[str, Any]) -> dict[str, Any]:
        page = biz["page_index"]
        with self._lock:
            self.asked.append(page)
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            if page in self.hold:
                assert self.hold[page].wait(timeout=10), f"page {page} was held for good"
            answer = self.answers.get(page)
            if callable(answer):
                answer()
            if answer is not None:
                return answer
            first = (page - 1) * self.size + 1
            rows = _rows(*range(first, min(first + self.size, self.count + 1)))
            return {"data_count": self.count, "has_next": page * self.size < self.count, "datas": rows}
        finally:
            with self._lock:
                self.running -= 1
            self.done[page].set()

    def answered(self) -> list[int]:
        return sorted(page for page, event in self.done.items() if event.is_set())


def _walk(api: Catalogue, in_flight: int) -> Iterator[list[dict[str, Any]]]:
    return page_index_pages(api, "/open/x", {}, page_size=api.size, in_flight=in_flight)


def test_pages_requested_ahead_come_in_page_order_each_once() -> None:
    api = Catalogue(10, 2)
    api.hold[2] = api.done[3]  # page 2 answers only after page 3: both were in flight at once
    assert list(_walk(api, 2)) == [_rows(1, 2), _rows(3, 4), _rows(5, 6), _rows(7, 8), _rows(9, 10)]
    assert sorted(api.asked) == [1, 2, 3, 4, 5] and api.peak == 2


def test_no_page_is_requested_beyond_the_count_and_never_more_than_in_flight_at_once() -> None:
    api = Catalogue(30, 3)
    rows = [row["io_id"] for page in _walk(api, 4) for row in page]
    assert rows == list(range(1, 31))
    assert sorted(api.asked) == list(range(1, 11)) and api.peak <= 4


def test_one_request_in_flight_walks_page_after_page() -> None:
    api = Catalogue(9, 2)
    assert len(list(_walk(api, 1))) == 5
    assert api.asked == [1, 2, 3, 4, 5] and api.peak == 1


def test_a_page_that_ends_the_walk_drops_the_pages_asked_for_ahead() -> None:
    # Page 1 counts five pages; page 2 says it is the last (the list shrank while it was paged).
    api = Catalogue(10, 2, answers={2: {"data_count": 4, "has_next": False, "datas": _rows(3, 4)}})
    assert list(_walk(api, 3)) == [_rows(1, 2), _rows(3, 4)]
    assert api.running == 0 and max(api.asked) <= 4


def test_an_empty_page_the_count_promised_fails_after_the_pages_before_it() -> None:
    api = Catalogue(10, 2, answers={3: {"data_count": 10, "has_next": True, "datas": []}})
    pages = _walk(api, 3)
    assert [next(pages), next(pages)] == [_rows(1, 2), _rows(3, 4)]
    with pytest.raises(JushuitanTransportError, match="page 3 has no rows"):
        next(pages)
    assert api.running == 0


def test_a_failing_page_raises_in_order_once_the_request_beside_it_has_ended() -> None:
    def fail() -> None:
        raise JushuitanTransportError("HTTP 502", "/open/x")

    api = Catalogue(20, 2, answers={3: fail})
    api.hold[3] = api.done[4]  # page 4 is asked for, and answered, while page 3 is still in flight
    pages = _walk(api, 2)
    assert [next(pages), next(pages)] == [_rows(1, 2), _rows(3, 4)]
    with pytest.raises(JushuitanTransportError, match="HTTP 502"):
        next(pages)
    assert api.running == 0 and sorted(api.asked) == [1, 2, 3, 4]


def test_closing_the_walk_early_asks_for_nothing_more_and_waits_for_what_runs() -> None:
    api = Catalogue(1000, 2)
    release = threading.Event()
    api.hold[3] = release
    pages = _walk(api, 2)
    assert next(pages) == _rows(1, 2)
    threading.Timer(0.05, release.set).start()  # page 3 is most likely still held when the walk is closed
    pages.close()
    assert api.running == 0
    assert sorted(api.asked) == api.answered() == [1, 2, 3]


def test_pages_asked_for_ahead_run_in_the_callers_context() -> None:
    """Prefect keeps its settings (which API a token block is saved to) in contextvars."""
    api_url: contextvars.ContextVar[str] = contextvars.ContextVar("api_url", default="the default profile's")
    seen: list[str] = []
    api = Catalogue(6, 2)

    def call(path: str, biz: dict[str, Any]) -> dict[str, Any]:
        seen.append(api_url.get())
        return api(path, biz)

    api_url.set("the caller's")
    assert len(list(page_index_pages(call, "/open/x", {}, page_size=2, in_flight=2))) == 3
    assert seen == ["the caller's"] * 3
