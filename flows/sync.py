"""The sync template: what every sync does, in the same order, around what it moves.

A SyncSpec names the sync and its transfer (fetch, map, write); run_sync does the rest. It refuses numbers
that cannot be document numbers, checks the report folder, takes the sync's lock, loads the master data the
documents are checked against (flows/master_data.py), resolves the window, hands the transfer the held
ledger's pending numbers (or a replay's) to fetch first, then records the outcomes in the ledger, publishes
the report, records the run (state/runs.py) and moves the watermark on after a complete incremental run. A
limited run (`limit`: a first run on a real tenant) leaves it where it is; so does a sweep (`sweep`: the
omission sweep, the last SYNC_SWEEP_DAYS before the watermark read again). Outbound and returns move
Jushuitan documents into Kingdee bills (flows.streaming.KingdeeBills); materials moves Kingdee materials
into Jushuitan items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from uuid import uuid4

import polars as pl
from prefect.runtime import flow_run

from basics.shanghai import now_shanghai
from connectors.jushuitan import JushuitanClient, not_whole_numbers, page_ids
from connectors.kingdee import KingdeeClient
from deploy.blocks import open_clients
from flows.master_data import load_master_data
from reporting.location import located
from reporting.reports import SyncReport, check_reports_dir, publish
from state.ledger import HeldLedger
from state.run_lock import run_lock
from state.runs import RunRecord, record_run
from state.settings import SyncSettings
from state.watermarks import RunWindow, advance_watermark, resolve_window, sweep_window
from transforms.documents import MasterData
from transforms.outcomes import NUMBERS, WOULD_CREATE, WRITTEN, needing_attention

# --- documents fetched by number -------------------------------------------------------------


class InvalidDocumentNumbers(ValueError):
    """Numbers given to replay that cannot be document numbers: refused before any request."""


def check_documents(sync: str, documents: list[str] | None) -> list[str] | None:
    """The numbers of a replay as the source system writes them; a value that cannot be one (an io_id or
    as_id is an integer, so "3000%" is a typo) is refused with every bad value named, nothing fetched."""
    if not documents:
        return None
    key, source = NUMBERS[sync]
    jushuitan = source == "Jushuitan"
    if bad := not_whole_numbers(documents) if jushuitan else [d for d in documents if not d.strip()]:
        rule = "a whole number" if jushuitan else "never blank"
        raise InvalidDocumentNumbers(
            f"not a valid {key} ({source}'s {key} is {rule}): {', '.join(map(repr, bad))}; "
            "nothing was fetched or written"
        )
    return [str(int(d)) for d in documents] if jushuitan else documents


@dataclass(frozen=True)
class ByNumber:
    """What a run fetches by number before its window: a replay's numbers, or the ledger's pending ones.

    Counted apart, so a replay never reads as "held earlier", and the numbers the source system does not
    know are named (they would otherwise vanish: nothing comes back for them)."""

    sync: str
    numbers: list[str]
    replay: bool
    seen: set[str]  # numbers the source returned (filled while the pages pass, see `noting`)
    # Pending ledger rows whose number cannot be fetched by id (Jushuitan sent a malformed io_id/as_id): they
    # stay pending, counted, until their document comes back in a window.
    unfetchable: int = 0

    @classmethod
    def of(cls, sync: str, documents: list[str] | None, ledger: HeldLedger) -> ByNumber:
        if documents:
            return cls(sync, documents, True, set())
        pending = ledger.pending(sync)
        bad = set(not_whole_numbers(pending)) if NUMBERS[sync][1] == "Jushuitan" else set()
        return cls(sync, [n for n in pending if n not in bad], False, set(), len(bad))

    def noting(self, pages: Iterable[list[dict]]) -> Iterator[list[dict]]:
        """The pages, unchanged, noting which document numbers came back."""
        key = NUMBERS[self.sync][0]
        for page in pages:
            self.seen.update(page_ids(page, key))
            yield page

    def not_found(self) -> list[str]:
        return [number for number in self.numbers if number not in self.seen]

    def notes(self, closed: int) -> dict[str, int]:
        """`closed`: pending ledger rows the run closed because they no longer came back in scope."""
        asked = {"replayed": len(self.numbers)} if self.replay else {"held earlier, retried": len(self.numbers)}
        return {
            **asked,
            **({"held earlier, no number to fetch it by": self.unfetchable} if self.unfetchable else {}),
            "held earlier, no longer in scope": closed,
            f"not found in {NUMBERS[self.sync][1]}": len(self.not_found()),
        }


# --- the template ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncRun:
    """What a transfer works with, as run_sync resolved it."""

    settings: SyncSettings
    jst: JushuitanClient
    kingdee: KingdeeClient
    master: MasterData | None  # None unless the spec asks for master data
    window: RunWindow | None  # None: a replay, by number only
    by_number: ByNumber  # fetched first; the transfer notes which numbers came back
    dry_run: bool
    batch_size: int  # bills per BatchSave (the documents syncs)
    limit: int | None = None  # at most this many new bills, saved as drafts (the documents syncs)


@dataclass(frozen=True)
class Transferred:
    """What a transfer leaves for the ledger and the report."""

    outcomes: pl.DataFrame  # transforms.outcomes.OUTCOME_SCHEMA, one row per document
    held_rows: pl.DataFrame  # transforms.validation.HELD_SCHEMA, one row per (line, reason)
    warnings: pl.DataFrame
    notes: dict[str, int]  # out-of-scope counts and other facts
    attention: pl.DataFrame | None = None  # documents a human must look at: document, message
    # Documents a limited run did not write (document, shop_id, shop_name): the next run's, not held.
    limited: pl.DataFrame | None = None


@dataclass(frozen=True)
class SyncSpec:
    """One sync, as the template takes it. `name` keys its lock, watermark, held-ledger rows, report and
    replay numbers (transforms.outcomes.NUMBERS)."""

    name: str
    transfer: Callable[[SyncRun], Transferred]  # fetch (by number first, then the window), map, write
    master_data: bool = True  # check the documents against Kingdee's materials, customers and stocks
    full_first_run: bool = False  # no watermark yet: load everything, not initial_lookback_days


def run_sync(
    spec: SyncSpec,
    since: datetime | None,
    until: datetime | None,
    dry_run: bool,
    batch_size: int | None,
    documents: list[str] | None,
    limit: int | None = None,
    sweep: bool = False,
) -> dict:
    """One run of `spec`, its parameters as the flows take them; returns the report's summary."""
    started = now_shanghai()
    settings = SyncSettings()
    documents = check_documents(spec.name, documents)
    check_scope(limit, sweep, since, until, documents)
    check_reports_dir(settings)
    with run_lock(spec.name, settings):
        ledger = HeldLedger(settings)
        with open_clients() as (jst, kingdee):
            master = load_master_data(kingdee, settings) if spec.master_data else None
            if documents:
                window = None
            elif sweep:
                window = sweep_window(spec.name, settings)
            else:
                window = resolve_window(spec.name, since, until, settings, spec.full_first_run)
            by_number = ByNumber.of(spec.name, documents, ledger)
            size = batch_size or settings.batch_size
            run = SyncRun(settings, jst, kingdee, master, window, by_number, dry_run, size, limit)
            done = spec.transfer(run)
        limited = set() if done.limited is None else set(done.limited["document"])
        # A retried document the limit left out is still pending: not "no longer in scope".
        retried = [number for number in by_number.numbers if number not in limited]
        closed = 0 if dry_run else ledger.record(spec.name, done.outcomes, retried, now_shanghai())
        report = SyncReport(
            sync=spec.name,
            dry_run=dry_run,
            window=window,
            outcomes=done.outcomes,
            held_rows=done.held_rows,
            warnings=done.warnings,
            notes={**done.notes, **by_number.notes(closed)},
            not_found=by_number.not_found(),
            attention=needing_attention(done.attention, done.outcomes),
            limit=limit,
            limited=done.limited,
            caught=caught(done.outcomes, by_number, dry_run) if sweep else None,
        )
        folder = publish(report, settings)
        record = RunRecord(
            run_id=str(flow_run.id or uuid4()),
            sync=spec.name,
            window_start=window.start if window else None,
            window_end=window.end if window else None,
            dry_run=dry_run,
            counts=report.counts(),
            report_dir=located(folder, settings),
            started=started,
            finished=now_shanghai(),
        )
        record_run(settings, record)
        if window and window.incremental and not dry_run and limit is None:
            advance_watermark(spec.name, window)
        return report.summary()


def check_scope(
    limit: int | None, sweep: bool, since: datetime | None, until: datetime | None, documents: list[str] | None
) -> None:
    """A limit counts bills, so it is at least 1; a sweep's window is SYNC_SWEEP_DAYS before the watermark,
    so it takes no other window and no numbers. Refused before anything is read or written."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 (got {limit}); nothing was fetched or written")
    if sweep and (since or until or documents):
        raise ValueError(
            "a sweep reads the SYNC_SWEEP_DAYS before the watermark: give it no since, until or documents; "
            "nothing was fetched or written"
        )


def caught(outcomes: pl.DataFrame, by_number: ByNumber, dry_run: bool) -> int:
    """What a sweep caught: documents of its window it wrote (would write, dry) because Kingdee lacked them.
    Held documents the ledger had it retry are counted as retried, not as caught."""
    written = WOULD_CREATE if dry_run else WRITTEN
    return outcomes.filter(
        (pl.col("outcome") == written)
        & ~pl.col("document").is_in(pl.Series(by_number.numbers, dtype=pl.String).implode())
    ).height
