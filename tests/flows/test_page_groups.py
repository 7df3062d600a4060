"""page_groups: the Jushuitan walk runs ahead of the flow in a thread of its own."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator

import pytest
from prefect.utilities.annotations import quote

from flows.pipeline import page_groups


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
