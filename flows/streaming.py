"""Jushuitan documents into Kingdee bills, streamed: fetch and save at the same time, a page group at a time.

The Jushuitan side is bound by its per-token quota, the Kingdee side by save time; a run is as fast
as the slower of the two only if they overlap. The flow walks the pages lazily, maps each group of
pages as soon as it arrives, and hands its bills to a bounded set of concurrent BatchSave tasks;
when that set is full the walk waits, so memory stays bounded by a group plus the saves in flight,
whatever the length of the period. Each save is idempotent (by FBillNo); the optional Submit / Audit
follow when the last save is done; a limited run (DraftLimit) saves at most N new bills and leaves them
drafts. KingdeeBills is this engine as the transfer of a SyncSpec (outbound, returns).
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field, replace
from queue import Empty, Full, Queue

import polars as pl
from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.utilities.annotations import quote

from basics.chunks import chunks
from connectors.jushuitan import JushuitanClient
from connectors.kingdee import (
    KingdeeClient,
    KingdeeError,
    KingdeeSessionExpired,
    KingdeeTransportError,
    OperationResult,
)
from flows.progress import RunProgress
from flows.sync import SyncRun, Transferred
from state.settings import SyncSettings
from state.watermarks import RunWindow
from transforms.documents import MasterData
from transforms.mappings import SchemeConfig
from transforms.outcomes import (
    AUDIT_FAILED,
    AUDITED,
    FAILED,
    HELD,
    OUTCOME_SCHEMA,
    SKIPPED,
    SUBMIT_FAILED,
    SUBMITTED,
    WOULD_CREATE,
    WRITTEN,
    bill_outcomes,
    final_outcomes,
)
from transforms.validation import HELD_SCHEMA

log = logging.getLogger("flows")

# FDocumentStatus (KINGDEE_API_NOTES.md §5.1) of a bill saved and not submitted (创建), and submitted, not audited.
CREATED, IN_AUDIT = "A", "B"


# --- pages in groups -------------------------------------------------------------------------


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


# --- saving bills ----------------------------------------------------------------------------


@task(name="save-batch", cache_policy=NO_CACHE)
def save_batch(kingdee: KingdeeClient, form_id: str, chunk: pl.DataFrame, dry_run: bool) -> pl.DataFrame:
    """Write one chunk of bills exactly once.

    Bills already in Kingdee (by FBillNo) are skipped, checked before the save. If the save times out
    or the session drops mid-write, Kingdee may have committed it: look again by FBillNo and only
    re-send what is really missing. A duplicate-number error at save time (a concurrent writer) is
    confirmed the same way and counted as skipped.
    """
    existing = kingdee.existing_bill_numbers(form_id, chunk["bill_no"].to_list())
    skipped = chunk.filter(pl.col("bill_no").is_in(list(existing)))
    todo = chunk.filter(~pl.col("bill_no").is_in(list(existing)))
    parts = [bill_outcomes(skipped, SKIPPED)]
    if dry_run:
        return pl.concat([*parts, bill_outcomes(todo, WOULD_CREATE)])
    for attempt in range(2):
        if todo.is_empty():
            break
        try:
            results = kingdee.batch_save(
                form_id,
                todo["model"].cast(pl.Binary).to_list(),
                bill_nos=todo["bill_no"].to_list(),
                batch_size=todo.height,
            )
        except (KingdeeTransportError, KingdeeSessionExpired) as exc:
            log.warning(
                "save of %d %s bills interrupted (%s); checking what was committed",
                todo.height,
                form_id,
                type(exc).__name__,
            )
            committed = kingdee.existing_bill_numbers(form_id, todo["bill_no"].to_list())
            parts.append(bill_outcomes(todo.filter(pl.col("bill_no").is_in(list(committed))), WRITTEN))
            todo = todo.filter(~pl.col("bill_no").is_in(list(committed)))
            if attempt == 1:
                raise
            continue
        saved = {r.bill_no: (r.number or r.bill_no) for r in results if r.ok}
        failed = {r.bill_no: "; ".join(r.errors) for r in results if not r.ok}
        duplicates = [r.bill_no for r in results if r.duplicate_number]
        confirmed = kingdee.existing_bill_numbers(form_id, duplicates) if duplicates else set()
        parts.append(bill_outcomes(todo.filter(pl.col("bill_no").is_in(list(saved))), WRITTEN, numbers=saved))
        parts.append(bill_outcomes(todo.filter(pl.col("bill_no").is_in(list(confirmed))), SKIPPED))
        really_failed = {b: m for b, m in failed.items() if b not in confirmed}
        parts.append(
            bill_outcomes(todo.filter(pl.col("bill_no").is_in(list(really_failed))), FAILED, messages=really_failed)
        )
        break
    return pl.concat(parts)


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
        self.written = 0  # bills written by the saves done so far (the progress reports it)

    def submit(self, bills: pl.DataFrame) -> None:
        for chunk in chunks(bills, self.batch_size):
            while len(self._in_flight) >= self.concurrency:
                self._collect()
            self._in_flight.append(save_batch.submit(self.kingdee, self.form_id, chunk, self.dry_run))

    def finish(self) -> pl.DataFrame:
        while self._in_flight:
            self._collect()
        return pl.concat(self._done) if self._done else pl.DataFrame(schema=OUTCOME_SCHEMA)

    def _collect(self) -> None:
        done = self._in_flight.popleft().result()
        self.written += done.filter(pl.col("outcome") == WRITTEN).height
        self._done.append(done)


def follow_up(kingdee: KingdeeClient, form_id: str, outcomes: pl.DataFrame, settings: SyncSettings) -> pl.DataFrame:
    """Optional Submit (and Audit) after the save; off by default (the customer reviews first).

    Submits what this run wrote and the bills it found already saved but still 创建 (A): a run that
    stopped between save and submit, or whose Submit failed, left them so, and its window or the ledger
    brings them back. Audits only what Submit accepted, and bills found 审核中 (B: submitted, not yet
    audited, as a run that stopped or failed after Submit leaves them). Bills a person moved on (Z, C, D)
    are left alone. Returns `outcomes`
    with each bill's `follow_up` state; a failure's reason goes to `message`.
    """
    if not settings.submit_after_save:
        return outcomes
    bills = outcomes.filter(pl.col("outcome").is_in([WRITTEN, SKIPPED]) & pl.col("document").is_not_null())
    skipped = bills.filter(pl.col("outcome") == SKIPPED)["document"].to_list()
    statuses = kingdee.bill_statuses(form_id, skipped) if skipped else {}
    written = bills.filter(pl.col("outcome") == WRITTEN)
    to_submit = dict(zip(written["kingdee_number"].fill_null(written["document"]), written["document"], strict=True))
    to_submit.update({d: d for d in skipped if statuses.get(d) == CREATED})
    states = _operate(kingdee.submit, form_id, to_submit, SUBMITTED, SUBMIT_FAILED)
    if settings.audit_after_submit:
        to_audit = {n: d for n, d in to_submit.items() if states[d][0] == SUBMITTED}
        to_audit.update({d: d for d in skipped if statuses.get(d) == IN_AUDIT})
        states.update(_operate(kingdee.audit, form_id, to_audit, AUDITED, AUDIT_FAILED))
    state = {d: s for d, (s, _) in states.items()}
    reason = {d: m for d, (_, m) in states.items() if m}
    document = pl.col("document")
    return outcomes.with_columns(
        document.replace_strict(state, default=None, return_dtype=pl.String).alias("follow_up"),
        pl.coalesce(document.replace_strict(reason, default=None, return_dtype=pl.String), "message").alias("message"),
    )


def _operate(
    operation: Callable[[str, list[str]], list[OperationResult]],
    form_id: str,
    documents: dict[str, str],
    done: str,
    failed: str,
) -> dict[str, tuple[str, str | None]]:
    """(state, reason) per document of one Submit or Audit of `documents` (Kingdee number -> document).
    A call without a usable answer may or may not have acted: every bill of it counts as failed, and the next
    run, which reads the bill's status again, takes each on from where it really is."""
    if not documents:
        return {}
    try:
        results = operation(form_id, list(documents))
    except KingdeeError as exc:
        name = getattr(operation, "__name__", "operation")
        log.warning("%s of %d %s bills got no answer (%s)", name, len(documents), form_id, type(exc).__name__)
        reason = f"没有收到金蝶的答复, 下次运行重新检查 / no answer, checked again next run ({exc})"
        return {document: (failed, reason) for document in documents.values()}
    return {documents[r.number]: (done, None) if r.ok else (failed, "; ".join(r.errors)) for r in results}


# --- mapped groups ---------------------------------------------------------------------------


@dataclass
class MappedGroup:
    """What mapping one group of pages produced (everything but the saves)."""

    bills: pl.DataFrame
    held_outcomes: pl.DataFrame
    held_rows: pl.DataFrame
    warnings: pl.DataFrame
    notes: dict[str, int] = field(default_factory=dict)
    attention: pl.DataFrame | None = None


def run_groups(groups: Iterable[MappedGroup], pipeline: SavePipeline, progress: RunProgress) -> Transferred:
    """Drive the lazy `groups` (each maps one page group as it is fetched) into the save pipeline."""
    held_outcomes, held_rows, warnings, attention = [], [], [], []
    notes: Counter[str] = Counter()
    held = 0
    for group in groups:
        pipeline.submit(group.bills)
        held += group.held_outcomes.height
        progress.group_done(saved=pipeline.written, held=held)
        held_outcomes.append(group.held_outcomes)
        held_rows.append(group.held_rows)
        warnings.append(group.warnings)
        notes.update(group.notes)
        if group.attention is not None:
            attention.append(group.attention)
    outcomes = final_outcomes(pl.concat([pipeline.finish(), *held_outcomes]))
    progress.finish(saved=pipeline.written, held=outcomes.filter(pl.col("outcome") == HELD).height)
    still_held = outcomes.filter(pl.col("outcome") == HELD)["document"].implode()
    held = pl.concat(held_rows, how="diagonal_relaxed") if held_rows else pl.DataFrame(schema=HELD_SCHEMA)
    return Transferred(
        outcomes=outcomes,
        held_rows=held.filter(pl.col("document").is_in(still_held) | pl.col("document").is_null()).unique(
            maintain_order=True
        ),
        warnings=pl.concat(warnings, how="diagonal_relaxed").unique(maintain_order=True) if warnings else held.clear(),
        notes=dict(notes),
        attention=pl.concat(attention).unique(maintain_order=True) if attention else None,
    )


# --- a limited run ---------------------------------------------------------------------------


LEFT_OUT_SCHEMA = {"document": pl.String, "shop_id": pl.String, "shop_name": pl.String}


@dataclass
class DraftLimit:
    """A limited run (the first run on a real tenant): at most `most` new bills, in the order their documents
    arrive — the ledger's held documents retried by number first, then the window's pages in Jushuitan's order
    (by modified time). Bills Kingdee already has pass (the save skips them); the new ones beyond `most` are
    left for the next run, listed. No Submit or Audit follows: the bills stay drafts (创建) for review."""

    kingdee: KingdeeClient
    form_id: str
    most: int
    _new: set[str] = field(default_factory=set)  # the new bills admitted so far
    _left: list[pl.DataFrame] = field(default_factory=list)

    def admit(self, bills: pl.DataFrame) -> pl.DataFrame:
        """The bills of one group that may go to the save; keeps the rest aside."""
        if bills.is_empty():
            return bills
        known = self.kingdee.existing_bill_numbers(self.form_id, bills["bill_no"].to_list()) | self._new
        new = ~pl.col("bill_no").is_in(pl.Series(list(known), dtype=pl.String).implode())
        admitted = new.not_() | (new.cum_sum() <= self.most - len(self._new))
        marked = bills.with_columns(admitted.alias("__admitted"))
        kept = marked.filter("__admitted").drop("__admitted")
        self._new.update(kept.filter(new)["bill_no"].to_list())
        left = marked.filter(~pl.col("__admitted"))
        self._left.append(
            left.select(pl.col("bill_no").alias("document"), pl.col("shop_id").cast(pl.String), "shop_name").cast(
                LEFT_OUT_SCHEMA
            )
        )
        return kept

    def left_out(self, outcomes: pl.DataFrame) -> pl.DataFrame:
        """The documents not written because of the limit (document, shop_id, shop_name), in arrival order;
        one the run saw again and wrote is not among them."""
        left = pl.concat(self._left) if self._left else pl.DataFrame(schema=LEFT_OUT_SCHEMA)
        return left.filter(~pl.col("document").is_in(outcomes["document"].drop_nulls().implode())).unique(
            "document", maintain_order=True
        )


# --- the transfer ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KingdeeBills:
    """Jushuitan documents → Kingdee bills of `form_id`, as a SyncSpec's transfer.

    `by_number` and `in_window` fetch the documents' pages; `map_group` is the sync's task that maps one
    group of them. It is given both clients: outbound asks Kingdee about revoked documents, returns ask
    Jushuitan for receive dates."""

    form_id: str
    by_number: Callable[[JushuitanClient, list[str]], Iterable[list[dict]]]
    in_window: Callable[[JushuitanClient, RunWindow], Iterable[list[dict]]]
    map_group: Task[[list[list[dict]], MasterData, SchemeConfig, JushuitanClient, KingdeeClient], MappedGroup]

    def pages(self, run: SyncRun) -> Iterator[list[dict]]:
        """The documents, lazily: by number first (held documents retried, or a replay), then the window's
        pages."""
        numbers = run.by_number.numbers
        yield from run.by_number.noting(self.by_number(run.jst, numbers)) if numbers else ()
        yield from self.in_window(run.jst, run.window) if run.window else ()

    def __call__(self, run: SyncRun) -> Transferred:
        settings = run.settings
        pipeline = SavePipeline(run.kingdee, self.form_id, run.batch_size, settings.kingdee_concurrency, run.dry_run)
        progress = RunProgress(self.form_id)
        page_walk = page_groups(self.pages(run), settings.pages_per_group, settings.max_pages_per_group)
        groups = (
            self.map_group(pages, run.master, settings.scheme(), run.jst, run.kingdee)
            for pages in progress.counting(page_walk)
        )
        if run.limit is not None:
            limit = DraftLimit(run.kingdee, self.form_id, run.limit)
            done = run_groups((replace(group, bills=limit.admit(group.bills)) for group in groups), pipeline, progress)
            return replace(done, limited=limit.left_out(done.outcomes))  # drafts: no Submit / Audit
        done = run_groups(groups, pipeline, progress)
        if run.dry_run:
            return done
        return replace(done, outcomes=follow_up(run.kingdee, self.form_id, done.outcomes, settings))
