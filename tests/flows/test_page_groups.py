"""page_groups: the Jushuitan walk runs ahead of the flow in a thread of its own."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator

import pytest
from prefect.utilities.annotations import quote

from flows.streaming import page_groups


def pages(count: int, produced: list[int] | None = None) -> Iterator[list[dict]]:
    for n in range(count):
        if produced is not None:
            produced.append(n)
        yield [{"io_id": n}]


def test_groups_come_in_order_with_the_short_tail_and_quoted_for_prefect():
    groups = list(page_groups(pages(5), 2))
    assert all(isinstance(group, quote) for group in groups)
    assert [[page[0]["io_id"] for page in group.unquote()] for group in groups] == [[0, 1], [2, 3], [4]]


def test_the_walk_fetches_the_next_group_while_the_flow_works_on_this_one():
    next_group_fetched = threading.Event()

    def walk() -> Iterator[list[dict]]:
        for n, page in enumerate(pages(6)):
            if n == 3:  # the last page of the second group has been fetched
                next_group_fetched.set()
            yield page

    groups = page_groups(walk(), 2)
    next(groups)
    # The flow has not asked for the second group yet; a lazy walk would still be at page 2.
    assert next_group_fetched.wait(timeout=5)
    assert len(list(groups)) == 2


def test_a_failing_walk_raises_in_the_flow_after_the_groups_before_it():
    def walk() -> Iterator[list[dict]]:
        yield from pages(2)
        raise RuntimeError("page 3 failed")

    groups = page_groups(walk(), 2)
    assert [page[0]["io_id"] for page in next(groups).unquote()] == [0, 1]
    with pytest.raises(RuntimeError, match="page 3 failed"):
        next(groups)


def test_a_flow_that_stops_early_stops_the_walk():
    walk_ended = threading.Event()

    def endless() -> Iterator[list[dict]]:
        try:
            n = 0
            while True:
                yield [{"io_id": n}]
                n += 1
        finally:
            walk_ended.set()

    walk = endless()  # still referenced here: only an explicit close ends it
    groups = page_groups(walk, 2)
    next(groups)
    groups.close()
    assert walk_ended.wait(timeout=5)


def test_the_walk_sees_the_flows_context_variables():
    """Prefect's settings (the API a token block is saved to) are context variables of the flow's thread."""
    setting: contextvars.ContextVar[str] = contextvars.ContextVar("setting", default="default profile")

    def pages():
        yield [{"seen": setting.get()}]

    setting.set("this run's API")
    (group,) = page_groups(pages(), size=1)
    assert group.unquote() == [[{"seen": "this run's API"}]]


def _ids(group: quote) -> list[int]:
    return [page[0]["io_id"] for page in group.unquote()]


def test_pages_that_arrived_while_a_group_was_mapped_join_the_next_group_up_to_most():
    first_taken, all_queued = threading.Event(), threading.Event()

    def walk() -> Iterator[list[dict]]:
        yield from pages(2)
        first_taken.wait(timeout=5)  # the rest arrives while the flow maps the first group
        yield from ([{"io_id": n}] for n in range(2, 12))
        all_queued.set()  # runs once page 11 is in the queue, when the walker asks for more

    groups = page_groups(walk(), 2, most=20)
    first = _ids(next(groups))
    first_taken.set()
    assert all_queued.wait(timeout=5)
    rest = [_ids(group) for group in groups]
    assert first == [0, 1]
    assert rest == [list(range(2, 12))], "the pages queued meanwhile come as one group"


def test_groups_never_exceed_most_and_keep_the_page_order():
    produced: list[int] = []
    groups = page_groups(pages(30, produced), 2, most=5)
    taken = [_ids(next(groups))]
    deadline = time.monotonic() + 5
    while len(produced) < 6 and time.monotonic() < deadline:  # the walk is ahead by a full queue
        time.sleep(0.01)
    taken += [_ids(group) for group in groups]
    assert max(map(len, taken)) == 5
    assert all(len(group) >= 2 for group in taken[:-1])
    assert [n for group in taken for n in group] == list(range(30))


def test_the_pages_fetched_before_a_failure_are_handed_over_before_it_is_raised():
    def walk() -> Iterator[list[dict]]:
        yield from pages(3)
        raise RuntimeError("page 4 failed")

    groups = page_groups(walk(), 2, most=4)
    delivered: list[int] = []
    with pytest.raises(RuntimeError, match="page 4 failed"):
        for group in groups:
            delivered += _ids(group)
    assert delivered == [0, 1, 2]
