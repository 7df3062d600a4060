"""Fetch and save at the same time, a page group at a time.

The Jushuitan side is bound by its per-token quota, the Kingdee side by save time; a run is as fast
as the slower of the two only if they overlap. The flow walks the pages lazily, maps each group of
pages as soon as it arrives, and hands its bills to a bounded set of concurrent BatchSave tasks;
when that set is full the walk waits, so memory stays bounded by a group plus the saves in flight,
whatever the length of the period.
"""

from __future__ import annotations

import contextvars
import threading
from collections import Counter, deque
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from queue import Empty, Full, Queue

import polars as pl
from prefect.futures import PrefectFuture
from prefect.utilities.annotations import quote

from basics.chunks import chunks
from connectors.kingdee import KingdeeClient
from flows.common import save_batch
from transforms.outcomes import HELD, OUTCOME_SCHEMA, final_outcomes
from transforms.validation import HELD_SCHEMA


def page_groups(pages: Iterable[list[dict]], size: int, most: int | None = None) -> Iterator[quote[list[list[dict]]]]:
    """Groups of pages as the flow can take them: `size` pages (fewer only at the end of the walk), plus
    those that arrived while the flow mapped the previous group, up to `most` (default `size`). The walk
    runs in a background thread, up to `most` pages ahead of the flow.

    The walk is bound by the Jushuitan quota: it must not stop while a group is mapped or while the
    flow waits for a free BatchSave slot, or the run takes fetch + save instead of the larger of the two.
    When the quota binds, groups stay at `size` pages, the first bills are saved early and the run ends
    soon after its last page. When mapping binds (a fast API, a backfill), pages queue up and groups grow
    towards `most`: mapping a group costs ~30 ms whatever its size, 250 groups of 20 pages per million
    lines. Each group comes `quote`d: as a plain task argument, Prefect would visit every dict of every
    page looking for futures (~10 s of a 33 s run at 10,000 documents). A walk that fails raises here, in
    the flow, after the pages it fetched before the failure; a flow that stops early has the walker close
    `pages`, which ends the page requests it has in flight.
    """
    most = max(most or size, size)
    queue: Queue[tuple[list[dict] | None, BaseException | None]] = Queue(maxsize=most)
    stop = threading.Event()

    def offer(item: tuple[list[dict] | None, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def walk() -> None:
        try:
            for page in pages:
                if not offer((page, None)):
                    return
            offer((None, None))
        except BaseException as exc:  # handed to the flow thread, which raises it
            offer((None, exc))
        finally:
            if isinstance(pages, Generator):
                pages.close()

    # In the flow's context: Prefect settings (API URL for a token block) and the run logger live in contextvars.
    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(walk,), name="jushuitan-pages", daemon=True).start()
    try:
        ended, failure = False, None
        while not ended:
            group: list[list[dict]] = []
            while len(group) < most:
                try:
                    page, error = queue.get(block=len(group) < size)
                except Empty:
                    break
                failure, ended = error, error is not None or page is None
                if ended:
                    break
                group.append(page)
            if group:
                yield quote(group)
        if failure is not None:
            raise failure
    finally:
        stop.set()  # the flow stopped early: the walker ends after its current call


class SavePipeline:
    """At most `concurrency` BatchSave tasks in flight; `submit` returns as soon as a slot is free."""

    def __init__(self, kingdee: KingdeeClient, form_id: str, batch_size: int, concurrency: int, dry_run: bool) -> None:
        self.kingdee = kingdee
        self.form_id = form_id
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.dry_run = dry_run
        self._in_flight: deque[PrefectFuture] = deque()
        self._done: list[pl.DataFrame] = []
        self.batches = 0

    def submit(self, bills: pl.DataFrame) -> None:
        for chunk in chunks(bills, self.batch_size):
            while len(self._in_flight) >= self.concurrency:
                self._done.append(self._in_flight.popleft().result())
            self._in_flight.append(save_batch.submit(self.kingdee, self.form_id, chunk, self.dry_run))
            self.batches += 1

    def finish(self) -> pl.DataFrame:
        while self._in_flight:
            self._done.append(self._in_flight.popleft().result())
        return pl.concat(self._done) if self._done else pl.DataFrame(schema=OUTCOME_SCHEMA)


@dataclass
class MappedGroup:
    """What mapping one group of pages produced (everything but the saves)."""

    bills: pl.DataFrame
    held_outcomes: pl.DataFrame
    held_rows: pl.DataFrame
    warnings: pl.DataFrame
    notes: dict[str, int] = field(default_factory=dict)
    attention: pl.DataFrame | None = None


@dataclass
class RunTotals:
    outcomes: pl.DataFrame
    held_rows: pl.DataFrame
    warnings: pl.DataFrame
    notes: dict[str, int]
    attention: pl.DataFrame | None
    groups: int
    batches: int


def run_groups(groups: Iterable[MappedGroup], pipeline: SavePipeline) -> RunTotals:
    """Drive the lazy `groups` (each maps one page group as it is fetched) into the save pipeline."""
    held_outcomes, held_rows, warnings, attention = [], [], [], []
    notes: Counter[str] = Counter()
    count = 0
    for group in groups:
        pipeline.submit(group.bills)
        held_outcomes.append(group.held_outcomes)
        held_rows.append(group.held_rows)
        warnings.append(group.warnings)
        notes.update(group.notes)
        if group.attention is not None:
            attention.append(group.attention)
        count += 1
    outcomes = final_outcomes(pl.concat([pipeline.finish(), *held_outcomes]))
    still_held = outcomes.filter(pl.col("outcome") == HELD)["document"].implode()
    held = pl.concat(held_rows, how="diagonal_relaxed") if held_rows else pl.DataFrame(schema=HELD_SCHEMA)
    return RunTotals(
        outcomes=outcomes,
        held_rows=held.filter(pl.col("document").is_in(still_held) | pl.col("document").is_null()).unique(
            maintain_order=True
        ),
        warnings=pl.concat(warnings, how="diagonal_relaxed").unique(maintain_order=True) if warnings else held.clear(),
        notes=dict(notes),
        attention=pl.concat(attention).unique(maintain_order=True) if attention else None,
        groups=count,
        batches=pipeline.batches,
    )
