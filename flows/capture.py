"""The capture flow (`jst-kingdee capture`): a tenant's window, read-only, as one world file that the sandbox
serves (`jst-kingdee sandbox serve --world FILE`), so the syncs can be rehearsed offline on the customer's
own data before go-live.

It reads what the syncs read, through their own reads: the outbound and returns specs' window walks, the
warehouse receipts of the after-sales the returns sync would date by them, and the Kingdee base data the
bills are checked against and refer to (materials, customers, stocks, units, the organisation and the
currency). Of each Jushuitan record it keeps only what the transforms read (transforms/frames.py), what
check-mappings lists, and the keys the platform finds and pages documents by: buyers, receivers, phones,
mobiles, addresses, remarks and shop sessions are never written. Kingdee rows hold only the field keys asked.
No token or secret is written: the records are whitelisted, the header holds the window and the counts.
Neither system is written to (the token the Jushuitan client obtains is kept, as on every run).

The format is sandbox/world_file.py's (the sandbox imports nothing of the product, so it owns the spec);
this writer follows it and tests/flows/test_capture.py proves that the sandbox reads what it writes.
"""

from __future__ import annotations

import process_settings  # noqa: F401  first: its defaults must be set before Prefect or Polars load

import gzip
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from basics.shanghai import in_shanghai, now_shanghai
from connectors.jushuitan import JushuitanClient, page_body
from connectors.kingdee import Filter, KingdeeClient
from connectors.kingdee.filters import USABLE
from deploy.blocks import open_clients
from flows.master_data import USE_ORG, in_org
from flows.outbound import OUTBOUND
from flows.returns import RETURNS
from state.settings import SyncSettings
from state.watermarks import RunWindow
from transforms.documents import NUMBER_FIELDS
from transforms.frames import (
    OUTBOUND_DOC_FIELDS,
    OUTBOUND_LINE_FIELDS,
    RECEIVED_DOC_FIELDS,
    REFUND_DOC_FIELDS,
    REFUND_LINE_FIELDS,
    REFUND_PAGE,
    decode_pages,
    refund_lines,
)
from transforms.materials import material_schema
from transforms.returns import undated

FORMAT, VERSION = "jst-kingdee-world", 1  # sandbox/world_file.py: FORMAT, VERSION

# The keys the platform finds and pages documents by (id lists, the modified window, the rowversion).
PLATFORM_KEYS = ("io_id", "o_id", "modified", "ts")
# kind -> (document fields, line fields) a capture keeps; every other field is left out.
KEPT: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "shop": (frozenset({"shop_id", "shop_name"}), frozenset()),  # check-mappings' shop list
    "warehouse": (frozenset({"wms_co_id", "name"}), frozenset()),  # and its warehouse list
    "outbound": (frozenset({*OUTBOUND_DOC_FIELDS, *PLATFORM_KEYS}), frozenset(OUTBOUND_LINE_FIELDS)),
    "refund": (frozenset({*REFUND_DOC_FIELDS, *PLATFORM_KEYS}), frozenset(REFUND_LINE_FIELDS)),
    "received": (frozenset({*RECEIVED_DOC_FIELDS, *PLATFORM_KEYS}), frozenset()),
}
STATUS_KEYS = ("FDocumentStatus", "FForbidStatus")  # what USABLE filters on: the emulator must find them


class CaptureRefused(ValueError):
    """A capture that cannot start as asked (a window ending before it starts, a file already there): nothing
    was read or written."""


def kept(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """`record` with only the fields the capture keeps. A kept field or line that holds an object or a list
    where a value belongs becomes null, as the frames read it (transforms.frames.decode_pages), so nothing
    nested reaches the file; missing fields stay missing, as the platform sent them."""
    fields, line_fields = KEPT[kind]
    out = _only(record, fields)
    if line_fields and "items" in record:
        lines = record["items"]
        out["items"] = (
            [_only(line, line_fields) if isinstance(line, dict) else None for line in lines]
            if isinstance(lines, list)
            else None
        )
    return out


def _only(record: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    return {name: None if isinstance(value, dict | list) else value for name, value in record.items() if name in names}


class WorldWriter:
    """Records into a world file. The records stream into a gzip member beside `out` while they are counted;
    closing writes the header's member, then the records', into `out` (gzip members one after another are
    one stream). A capture that fails leaves no file."""

    def __init__(self, out: Path, window: RunWindow) -> None:
        self.out = out
        self.window = window
        self.counts: Counter[str] = Counter()
        self.kingdee_counts: Counter[str] = Counter()
        self.skipped = 0  # page rows that are not objects: no record to keep
        self.written: dict[str, Any] | None = None  # the header, once the file is in place
        self._body_path = out.with_name(f".{out.name}.records")
        self._body: Any = None

    def __enter__(self) -> WorldWriter:
        if self.out.exists():
            raise CaptureRefused(f"{self.out} exists; a capture never overwrites one")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._body = gzip.open(self._body_path, "wt", encoding="utf-8")
        return self

    def pages(self, kind: str, pages: Iterable[Iterable[Any]]) -> None:
        for page in pages:
            self.page(kind, page)

    def page(self, kind: str, rows: Iterable[Any]) -> None:
        for row in rows:
            if isinstance(row, dict):
                self._line({"kind": kind, "record": kept(kind, row)})
                self.counts[kind] += 1
            else:
                self.skipped += 1

    def kingdee(self, form_id: str, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self._line({"kind": "kingdee", "form_id": form_id, "record": row})
            self.kingdee_counts[form_id] += 1

    def _header(self) -> dict[str, Any]:
        return {
            "kind": "header",
            "format": FORMAT,
            "version": VERSION,
            "window": {"since": self.window.start.isoformat(), "until": self.window.end.isoformat()},
            "captured_at": now_shanghai().isoformat(timespec="seconds"),
            "counts": {kind: self.counts[kind] for kind in KEPT} | {"kingdee": dict(self.kingdee_counts)},
        }

    def _line(self, entry: dict[str, Any]) -> None:
        self._body.write(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._body.close()
        try:
            if exc_type is None:
                header = self._header()
                partial = self.out.with_name(f".{self.out.name}.partial")
                with open(partial, "wb") as whole, open(self._body_path, "rb") as records:
                    whole.write(gzip.compress((json.dumps(header, ensure_ascii=False) + "\n").encode()))
                    shutil.copyfileobj(records, whole)
                os.replace(partial, self.out)
                self.written = header
        finally:
            self._body_path.unlink(missing_ok=True)


@task(name="capture-jushuitan", cache_policy=NO_CACHE)
def capture_jushuitan(jst: JushuitanClient, window: RunWindow, file: WorldWriter) -> None:
    """Shops, warehouses, and the window's documents as the outbound and returns syncs walk them, with the
    receipts the returns sync would ask for (after-sales with goods lines but no receive date)."""
    file.pages("shop", jst.shops())
    file.pages("warehouse", jst.warehouses())
    file.pages("outbound", OUTBOUND.transfer.in_window(jst, window))
    undated_ids: list[str] = []
    for page in RETURNS.transfer.in_window(jst, window):
        file.page("refund", page)
        undated_ids += undated(refund_lines(decode_pages([page_body(page)], REFUND_PAGE)))
    if undated_ids:
        file.pages("received", jst.received_by_ids(as_ids=dict.fromkeys(undated_ids)))


def master_data_queries(settings: SyncSettings) -> dict[str, tuple[list[str], Filter]]:
    """FormId -> (field keys, filter): the rows the syncs read (load_master_data, fetch_materials), with the
    fields their filters name, and the base data the bills refer to (units, organisation, currency)."""
    scheme = settings.scheme()
    numbers = [*NUMBER_FIELDS, *STATUS_KEYS, USE_ORG]
    return {
        "BD_MATERIAL": ([*material_schema(scheme), USE_ORG], USABLE & in_org(settings)),
        "BD_Customer": (numbers, USABLE),
        "BD_STOCK": (numbers, USABLE),
        "BD_UNIT": ([*NUMBER_FIELDS, "FName", *STATUS_KEYS], USABLE),
        "ORG_Organizations": (list(NUMBER_FIELDS), Filter.eq("FNumber", scheme.org)),
        "BD_Currency": (list(NUMBER_FIELDS), Filter.eq("FNumber", scheme.currency)),
    }


@task(name="capture-kingdee", cache_policy=NO_CACHE)
def capture_kingdee(kingdee: KingdeeClient, settings: SyncSettings, file: WorldWriter) -> None:
    """The base data, each row as Kingdee answered it: no schema, so values keep the JSON types Kingdee sent
    (a column of mixed types comes as text)."""
    for form_id, (keys, selection) in master_data_queries(settings).items():
        file.kingdee(form_id, kingdee.execute_bill_query(form_id, keys, selection, order_by="FNumber ASC").to_dicts())


@flow(name="capture")
def capture(since: datetime, until: datetime, out: str) -> dict:
    """Write the window's Jushuitan documents (modified in [since, until], Asia/Shanghai if naive) and the
    Kingdee base data to `out` (gzip JSON lines), reading both systems and writing neither."""
    window = RunWindow(start=in_shanghai(since), end=in_shanghai(until), incremental=False)
    if window.end < window.start:
        raise CaptureRefused(f"until ({window.end.isoformat()}) is before since ({window.start.isoformat()})")
    settings = SyncSettings()
    with WorldWriter(Path(out), window) as file, open_clients() as (jst, kingdee):
        capture_jushuitan(jst, window, file)
        capture_kingdee(kingdee, settings, file)
    header = file.written
    return {
        "file": str(Path(out).resolve()),
        "window": header["window"],
        "counts": header["counts"],
        "skipped_rows": file.skipped,
    }
