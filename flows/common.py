"""Tasks and helpers shared by the three syncs: documents asked for by number, master data, idempotent
chunked saves to Kingdee and the optional Submit / Audit after them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import polars as pl
from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from connectors.jushuitan import not_whole_numbers, page_ids
from connectors.kingdee import (
    Filter,
    KingdeeClient,
    KingdeeError,
    KingdeeSessionExpired,
    KingdeeTransportError,
    OperationResult,
)
from state.ledger import HeldLedger
from state.settings import SyncSettings
from state.tables import TableError, load_shop_customer_map, load_warehouse_stock_map
from transforms.documents import NUMBER_FIELDS, MasterData
from transforms.materials import MASTER_FIELDS, material_master
from transforms.outcomes import (
    AUDIT_FAILED,
    AUDITED,
    FAILED,
    NUMBERS,
    SKIPPED,
    SUBMIT_FAILED,
    SUBMITTED,
    WOULD_CREATE,
    WRITTEN,
    bill_outcomes,
)

log = logging.getLogger("flows")

# FDocumentStatus (KINGDEE_API_NOTES.md §5.1) of a bill saved and not submitted (创建), and submitted, not audited.
CREATED, IN_AUDIT = "A", "B"


# --- windows and watermarks ------------------------------------------------------------------


# --- one run at a time ---------------------------------------------------------------------


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


# --- master data -----------------------------------------------------------------------------

USABLE = Filter.eq("FDocumentStatus", "C") & Filter.eq("FForbidStatus", "A")


def _unless_a_table_error(task: Task, task_run: TaskRun, state: State) -> bool:
    """Retry Kingdee's transport errors; a wrong hand-kept table waits for a person, not for 35 s of retries."""
    try:
        state.result()
    except TableError:
        return False
    except Exception:
        return True
    return True


@task(
    name="load-master-data",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=_unless_a_table_error,
)
def load_master_data(kingdee: KingdeeClient, settings: SyncSettings) -> MasterData:
    """Hand-kept tables from disk; materials, customers and stocks as Kingdee has them now."""
    in_org = Filter.eq("FUseOrgId.FNumber", settings.org)
    materials = kingdee.execute_bill_query(
        "BD_MATERIAL", list(MASTER_FIELDS), USABLE & in_org, order_by="FNumber ASC", schema=MASTER_FIELDS
    )
    customers, stocks = (
        kingdee.execute_bill_query(form_id, list(NUMBER_FIELDS), USABLE, order_by="FNumber ASC", schema=NUMBER_FIELDS)
        for form_id in ("BD_Customer", "BD_STOCK")
    )
    return MasterData(
        shops=load_shop_customer_map(settings.shops_table),
        warehouses=load_warehouse_stock_map(settings.warehouses_table),
        materials=material_master(materials),
        customers=customers.select(pl.col("FNumber").alias("number")),
        stocks=stocks.select(pl.col("FNumber").alias("number")),
    )


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
