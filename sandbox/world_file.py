"""A world file: a captured tenant the emulators serve instead of a generated world (`sandbox serve --world`).

This module owns the format; `jst-kingdee capture` (flows/capture.py) writes it, and a test proves the two
agree. The sandbox imports nothing of the product, so the spec is written out here:

- gzip-compressed UTF-8 JSON lines, one object a line (several gzip members one after another are one file);
- line 1, the header: {"kind": "header", "format": FORMAT, "version": VERSION,
  "window": {"since": ISO, "until": ISO}, "captured_at": ISO, "counts": {kind: n, ..., "kingdee": {FormId: n}}};
- then one line per record: {"kind": K, "record": {...}} with K one of DOCUMENT_KINDS (Jushuitan answers,
  as the platform sent them less what the capture leaves out), or {"kind": "kingdee", "form_id": F,
  "record": {...}} for a Kingdee base-data row keyed by its query field keys.

A document (outbound, refund, received) must carry a whole-number `ts`, the rowversion the emulator keeps
them in order by; the counts must match the records, so a file cut short is refused rather than served as a
smaller world. Kingdee starts with
these base data and no bill; Jushuitan with these documents and no item.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sandbox.data import SandboxWorld

FORMAT = "jst-kingdee-world"
VERSION = 1

# kind -> the SandboxWorld list it fills
DOCUMENT_KINDS = {
    "shop": "shops",
    "warehouse": "warehouses",
    "outbound": "outbound",
    "refund": "refunds",
    "received": "received",
}
KINGDEE = "kingdee"
ORDERED_BY_TS = frozenset({"outbound", "refund", "received"})


class WorldFileError(ValueError):
    """A file that is not a world file this sandbox can serve; the message names the line and what is wrong."""


def read_world(path: Path) -> SandboxWorld:
    """The world a capture holds. Raises WorldFileError naming the first problem."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            return _read(path, lines)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise WorldFileError(f"{path}: not a readable gzip file ({exc})") from None


def _read(path: Path, lines) -> SandboxWorld:
    header = _header(path, _json(path, 1, next(lines, "")))
    documents: dict[str, list[dict]] = {kind: [] for kind in DOCUMENT_KINDS}
    kingdee: dict[str, list[dict]] = {}
    for number, line in enumerate(lines, start=2):
        entry = _json(path, number, line)
        kind, record = entry.get("kind"), entry.get("record")
        if kind not in DOCUMENT_KINDS and kind != KINGDEE:
            raise WorldFileError(f"{path}: line {number}: unknown kind {kind!r}")
        if not isinstance(record, dict):
            raise WorldFileError(f"{path}: line {number}: a {kind} line needs a record object")
        if kind in ORDERED_BY_TS and not _whole(record.get("ts")):
            ts = record.get("ts")
            raise WorldFileError(f"{path}: line {number}: the {kind} record's ts {ts!r} is not a whole number")
        if kind == KINGDEE:
            form_id = entry.get("form_id")
            if not isinstance(form_id, str) or not form_id:
                raise WorldFileError(f"{path}: line {number}: a kingdee line needs its form_id")
            kingdee.setdefault(form_id, []).append(record)
        else:
            documents[kind].append(record)
    _check_counts(path, header["counts"], documents, kingdee)
    window = header["window"]
    return SandboxWorld(
        seed=0,
        start=_moment(path, window.get("since")),
        end=_moment(path, window.get("until")),
        shops=documents["shop"],
        warehouses=documents["warehouse"],
        outbound=documents["outbound"],
        refunds=documents["refund"],
        received=documents["received"],
        items={},
        kingdee=kingdee,
    )


def _json(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise WorldFileError(f"{path}: line {number}: not JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise WorldFileError(f"{path}: line {number}: not a JSON object")
    return value


def _header(path: Path, header: dict[str, Any]) -> dict[str, Any]:
    if header.get("kind") != "header" or header.get("format") != FORMAT:
        raise WorldFileError(f"{path}: line 1 is not a {FORMAT} header")
    if header.get("version") != VERSION:
        raise WorldFileError(f"{path}: format version {header.get('version')!r}; this sandbox reads {VERSION}")
    if not isinstance(header.get("window"), dict) or not isinstance(header.get("counts"), dict):
        raise WorldFileError(f"{path}: the header needs its window and counts")
    return header


def _check_counts(
    path: Path, counts: dict[str, Any], documents: dict[str, list[dict]], kingdee: dict[str, list[dict]]
) -> None:
    found: dict[str, Any] = {kind: len(rows) for kind, rows in documents.items()}
    found[KINGDEE] = {form_id: len(rows) for form_id, rows in kingdee.items()}
    said = {kind: counts.get(kind, 0) for kind in DOCUMENT_KINDS} | {KINGDEE: counts.get(KINGDEE, {})}
    if said != found:
        raise WorldFileError(f"{path}: the header counts {said} but the file holds {found} (a file cut short?)")


def _moment(path: Path, text: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        raise WorldFileError(f"{path}: the header's window has {text!r}, not an ISO time") from None
    if moment.tzinfo is None:
        raise WorldFileError(f"{path}: the header's window time {text!r} has no offset")
    return moment


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
