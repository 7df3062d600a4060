"""Transform throughput (issue 5, benchmark 1): the project's Polars path against a per-record baseline.

Generates N outbound lines and N return lines as Jushuitan answers (JSON bytes), then times answers →
frames → validation (pandera) → mapping → Kingdee models → BatchSave bodies, and the same with
bench/baseline.py. JSON decoding is timed and printed apart, as the issue asks: for the project, what the
flow does — the connector reads each answer's code, paging fields and row ids (`read_list_answer`, or
json.loads for an answer Polars will not read) and Polars reads the rows from the same bytes
(`decode_pages`); for the baseline, json.loads of each answer. Both must produce the same bodies and hold
and warn the same lines for the same rules, or the script fails (run_sync). Pages are mapped in groups of
the flows' max_pages_per_group, as the flows map them when mapping binds (the baseline goes over the same
groups), each side over all its groups in turn; each body is built, digested and dropped, as the flows
drop it once sent. Polars runs with the flows' allocator setting (bench/__init__.py imports flows first).

    .venv/bin/python -m bench.transform [--lines 1000000]

Ends with `RESULT transform speedup=<x> seconds=<s> baseline_seconds=<s> lines=<n>`: both syncs, JSON
decoding excluded on both sides; the ratio with decoding included on both sides is printed above it.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import polars as pl

from basics.chunks import chunks
from bench import baseline
from bench.baseline import Output
from bench.generate import BenchData, decode, generate
from connectors.jushuitan.documents import OUTBOUND, RECEIVED, REFUNDS
from connectors.jushuitan.paging import page_body, read_list_answer
from connectors.kingdee.saving import batch_save_body
from state.settings import SyncSettings
from transforms import outbound, returns
from transforms.frames import (
    OUTBOUND_PAGE,
    RECEIVED_PAGE,
    REFUND_PAGE,
    decode_pages,
    outbound_lines,
    received_dates,
    refund_lines,
)
from transforms.mappings import SchemeConfig
from transforms.validation import Split

BATCH_SIZE = 100  # bills per BatchSave body, KINGDEE_BATCH_SIZE's default
T = TypeVar("T")
READING = "connector reading"  # JSON decoding, apart
DECODING = "Polars decoding"  # JSON decoding, apart


def batch_bodies(form_id: str, bills: pl.DataFrame, batch_size: int = BATCH_SIZE) -> Iterator[bytes]:
    """The BatchSave request bodies the flows send for these bills, one at a time as the flows write each
    in the task that sends it: `batch_size` bills a chunk (flows.streaming.SavePipeline), their models as
    bytes (flows.streaming.save_batch) spliced into the body KingdeeClient.batch_save sends."""
    for chunk in chunks(bills, batch_size):
        yield batch_save_body(form_id, chunk["model"].cast(pl.Binary).to_list())


def reasons(split: Split) -> tuple[set[baseline.Reason], set[baseline.Reason]]:
    return (
        set(split.held.select("document", "line", "rule_id").iter_rows()),
        set(split.warnings.select("document", "line", "rule_id").iter_rows()),
    )


@dataclass
class Timings:
    steps: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.steps[name] = self.steps.get(name, 0.0) + time.perf_counter() - start

    def each(self, name: str, items: Iterator[T]) -> Iterator[T]:
        """`items`, the time spent making each one counted under `name` (not the time spent using it)."""
        while True:
            with self.step(name):
                item = next(items, None)
            if item is None:
                return
            yield item

    @property
    def decoding(self) -> float:
        return self.steps.get(READING, 0.0) + self.steps.get(DECODING, 0.0)

    @property
    def total(self) -> float:
        """Every step but the JSON decoding."""
        return sum(self.steps.values()) - self.decoding


Sent = Callable[[Iterator[bytes]], list[bytes]]  # what becomes of the bodies: kept (list) or digested


def connector_read(answers: list[bytes], id_key: str) -> list[bytes]:
    """What JushuitanClient does with each list answer before the flow sees it (its HTTP aside): Polars
    reads the code, paging fields and row ids; an answer it will not read (NaN as a bare word) is decoded
    whole with json.loads. The flow then hands each page's bytes on (page_body)."""
    pages = []
    for answer in answers:
        data = read_list_answer(answer, id_key)
        if data is None:
            json.loads(answer)  # the client's fallback; the page is then that answer, as it arrived
            pages.append(answer)
        else:
            pages.append(page_body(data["datas"]))
    return pages


def project_outbound(
    answers: list[bytes], data: BenchData, config: SchemeConfig, clock: Timings, sent: Sent = list
) -> Output:
    with clock.step(READING):
        pages = connector_read(answers, OUTBOUND.id_key)
    with clock.step(DECODING):
        decoded = decode_pages(pages, OUTBOUND_PAGE)
    with clock.step("frames"):
        lines = outbound_lines(decoded)
    with clock.step("validate+map"):
        mapping = outbound.map_outbound(lines, data.master, config)
    bodies = sent(clock.each("bodies", batch_bodies(outbound.FORM_ID, mapping.bills)))
    return Output(bodies, *reasons(mapping.split))


def project_returns(
    answers: list[bytes],
    receipt_answers: list[bytes],
    data: BenchData,
    config: SchemeConfig,
    clock: Timings,
    sent: Sent = list,
) -> Output:
    with clock.step(READING):
        pages = connector_read(answers, REFUNDS.id_key)
        receipts = connector_read(receipt_answers, RECEIVED.id_key)
    with clock.step(DECODING):
        decoded = decode_pages(pages, REFUND_PAGE)
        decoded_receipts = decode_pages(receipts, RECEIVED_PAGE)
    with clock.step("frames"):
        lines = refund_lines(decoded)
        stock_in = received_dates(decoded_receipts)
    with clock.step("validate+map"):
        mapping = returns.map_returns(lines, stock_in, data.master, config)
    bodies = sent(clock.each("bodies", batch_bodies(returns.FORM_ID, mapping.bills)))
    return Output(bodies, *reasons(mapping.split))


def in_groups(pages: list, size: int) -> list[list]:
    """The pages as the flows map them when mapping binds: groups of max_pages_per_group pages
    (flows.streaming.page_groups), each mapped and batched on its own."""
    return list(chunks(pages, size))


def differences(project: Output, reference: Output, limit: int = 5) -> list[str]:
    """Where two outputs disagree: bills (as parsed JSON, in order), then held and warned lines."""
    found: list[str] = []
    ours = [bill for body in project.bodies for bill in json.loads(body)["data"]["Model"]]
    theirs = [bill for body in reference.bodies for bill in json.loads(body)["data"]["Model"]]
    if len(ours) != len(theirs):
        found.append(f"{len(ours)} bills against {len(theirs)} in the baseline")
    for mine, other in zip(ours, theirs, strict=False):
        if mine != other and len(found) < limit:
            found.append(f"bill {mine.get('FBillNo')}: {json.dumps(mine, ensure_ascii=False)[:300]}")
            found.append(f"baseline {other.get('FBillNo')}: {json.dumps(other, ensure_ascii=False)[:300]}")
    if [json.loads(b)["data"] | {"Model": None} for b in project.bodies] != [
        json.loads(b)["data"] | {"Model": None} for b in reference.bodies
    ]:
        found.append("the BatchSave options or the batching differ")
    for name, mine_set, other_set in (
        ("held", project.held, reference.held),
        ("warned", project.warnings, reference.warnings),
    ):
        only_ours, only_theirs = sorted(mine_set - other_set, key=str), sorted(other_set - mine_set, key=str)
        if only_ours:
            found.append(f"{name} only by the project ({len(only_ours)}): {only_ours[:limit]}")
        if only_theirs:
            found.append(f"{name} only by the baseline ({len(only_theirs)}): {only_theirs[:limit]}")
    return found


@dataclass
class SyncRun:
    name: str
    lines: int
    decode_seconds: float
    project: Timings
    baseline_seconds: float
    groups: int
    bills: int
    held_documents: int
    identical_bytes: bool


def digests(bodies: Iterable[bytes]) -> list[bytes]:
    """What is kept of each body once it is dropped: its SHA-256."""
    return [hashlib.sha256(body).digest() for body in bodies]


@dataclass
class Produced:
    """What one implementation produced for one group, kept once its bodies are dropped: the bodies'
    digests and the held and warned lines."""

    digests: list[bytes]
    held: set[baseline.Reason]
    warnings: set[baseline.Reason]


def run_sync(
    name: str,
    lines: int,
    pages: list[bytes],
    group_size: int,
    project: Callable[[list[bytes], Timings, Sent], Output],
    reference: Callable[[list[list[dict]]], Output],
) -> SyncRun:
    """Each implementation maps every group in turn, as a flow maps them one after the other, and keeps
    only what it produced (`Produced`): the flows send and drop each body, so neither side holds two
    million lines of bodies. Groups whose bodies differ by a byte are then mapped again on both sides
    and compared bill by bill (parsed JSON); a difference there stops the run."""
    start = time.perf_counter()
    decoded = decode(pages)
    decode_seconds = time.perf_counter() - start
    groups = list(zip(in_groups(pages, group_size), in_groups(decoded, group_size), strict=True))
    clock, ours, theirs, bills = Timings(), [], [], 0
    # The decoded pages are millions of long-lived objects: keep the collector from rescanning them
    # in either implementation (both allocate, the baseline far more).
    gc.collect()
    gc.freeze()
    try:
        for our_pages, _ in groups:
            output = project(our_pages, clock, digests)
            ours.append(Produced(output.bodies, output.held, output.warnings))
        baseline_seconds = 0.0
        for _, their_pages in groups:
            start = time.perf_counter()
            output = reference(their_pages)
            baseline_seconds += time.perf_counter() - start
            theirs.append(Produced(digests(output.bodies), output.held, output.warnings))
            bills += sum(body.count(b'"FBillNo":') for body in output.bodies)  # a key: quotes in values are escaped
            del output
    finally:
        gc.unfreeze()
    identical_bytes = True
    for (our_pages, their_pages), mine, other in zip(groups, ours, theirs, strict=True):
        if mine == other:
            continue
        identical_bytes = False
        found = differences(project(our_pages, Timings(), list), reference(their_pages))
        if found:
            print(f"{name}: the project and the baseline disagree:", *found, sep="\n  ", file=sys.stderr)
            raise SystemExit(1)
    return SyncRun(
        name=name,
        lines=lines,
        decode_seconds=decode_seconds,
        project=clock,
        baseline_seconds=baseline_seconds,
        groups=len(groups),
        bills=bills,
        held_documents=len({document for produced in ours for document, _, _ in produced.held}),
        identical_bytes=identical_bytes,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines per sync (4 per document)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--pages-per-group",
        type=int,
        default=SyncSettings().max_pages_per_group,
        help="pages mapped together (default: the flows' max_pages_per_group, the group size when mapping binds)",
    )
    args = parser.parse_args(argv)

    start = time.perf_counter()
    data = generate(max(1, args.lines // 4), seed=args.seed)
    print(
        f"generated {data.outbound_lines:,} outbound and {data.refund_lines:,} return lines "
        f"({len(data.outbound_pages) + len(data.refund_pages):,} pages, "
        f"{sum(map(len, data.outbound_pages + data.refund_pages)) / 2**20:,.0f} MiB) "
        f"in {time.perf_counter() - start:.1f} s; planted: {sum(data.planted.values())} documents "
        f"in {len(data.planted)} kinds"
    )
    config = SchemeConfig()
    receipts = [record for page in decode(data.received_pages) for record in page]  # the baseline's
    runs = [
        run_sync(
            "outbound",
            data.outbound_lines,
            data.outbound_pages,
            args.pages_per_group,
            lambda pages, clock, sent: project_outbound(pages, data, config, clock, sent),
            lambda pages: baseline.outbound(pages, data.master, config),
        ),
        run_sync(
            "returns",
            data.refund_lines,
            data.refund_pages,
            args.pages_per_group,
            lambda pages, clock, sent: project_returns(pages, data.received_pages, data, config, clock, sent),
            lambda pages: baseline.returns(pages, receipts, data.master, config),
        ),
    ]
    polars_threads = pl.thread_pool_size()
    print(
        f"pages mapped {args.pages_per_group} at a time, as the flows map them when mapping binds: "
        + ", ".join(f"{run.groups} {run.name} groups" for run in runs)
    )
    for run in runs:
        steps = ", ".join(f"{name} {seconds:.2f}" for name, seconds in run.project.steps.items())
        print(
            f"{run.name}: {run.lines:,} lines, {run.bills:,} bills, {run.held_documents:,} documents held; "
            f"baseline's json.loads (apart) {run.decode_seconds:.2f} s; "
            f"project {run.project.total:.2f} s without decoding ({steps}); "
            f"baseline {run.baseline_seconds:.2f} s; {run.baseline_seconds / run.project.total:.1f}x; "
            f"identical bills: yes; identical bytes: {'yes' if run.identical_bytes else 'no'}"
        )
    seconds = sum(run.project.total for run in runs)
    baseline_seconds = sum(run.baseline_seconds for run in runs)
    lines = sum(run.lines for run in runs)
    loads, decoding = sum(r.decode_seconds for r in runs), sum(r.project.decoding for r in runs)
    print(
        f"polars threads: {polars_threads}; Polars allocator: _RJEM_MALLOC_CONF="
        f"{os.environ.get('_RJEM_MALLOC_CONF', '(default)')} (process_settings.py); "
        f"JSON decoding (apart): project {decoding:.2f} s "
        f"(connector reading {sum(r.project.steps[READING] for r in runs):.2f}, Polars decoding "
        f"{sum(r.project.steps[DECODING] for r in runs):.2f}), baseline json.loads {loads:.2f} s; "
        f"with decoding on both sides: project {seconds + decoding:.2f} s, baseline {baseline_seconds + loads:.2f} s, "
        f"{(baseline_seconds + loads) / (seconds + decoding):.1f}x"
    )
    print(
        f"RESULT transform speedup={baseline_seconds / seconds:.1f} seconds={seconds:.2f} "
        f"baseline_seconds={baseline_seconds:.2f} lines={lines}"
    )


if __name__ == "__main__":
    main()
