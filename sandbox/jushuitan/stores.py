"""The emulator's documents of one kind, kept in ts order (start_ts paging) with a cache of window queries."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

_CACHED_QUERIES = 64


def _id_key(value: Any) -> tuple[int, Any]:
    """Orders ids numerically when they are numbers, and never fails on dirty ids."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


class Store:
    """One kind of document, kept in ts order (for start_ts queries) with a cache of window queries.

    Rows live in the world's own list, so a test sees every change the emulator makes.
    """

    def __init__(self, rows: list[dict], id_field: str) -> None:
        self.rows = rows
        self.id_field = id_field
        self._by_id = {_id_key(row.get(id_field)): row for row in rows}
        self._ts_rows = sorted(rows, key=lambda row: row["ts"])
        self._ts = [row["ts"] for row in self._ts_rows]
        self._matches: dict[str, list[dict]] = {}

    def get(self, doc_id: Any) -> dict | None:
        return self._by_id.get(_id_key(doc_id))

    def max_ts(self) -> int:
        return self._ts[-1] if self._ts else 0

    def touch(self, row: dict, ts: int) -> None:
        """Give a changed row its new ts (it moves to the end of the ts order)."""
        self._unindex(row)
        row["ts"] = ts
        self._ts.append(ts)
        self._ts_rows.append(row)
        self._matches.clear()

    def put(self, row: dict, ts: int) -> None:
        """Store a row as given; one with the id of a stored row replaces it."""
        old = self._by_id.get(_id_key(row.get(self.id_field)))
        if old is not None:
            self._unindex(old)
            self.rows.remove(old)
        self.rows.append(row)
        self._by_id[_id_key(row.get(self.id_field))] = row
        row["ts"] = ts
        self._ts.append(ts)
        self._ts_rows.append(row)
        self._matches.clear()

    def _unindex(self, row: dict) -> None:
        at = bisect.bisect_left(self._ts, row["ts"])
        while self._ts_rows[at] is not row:  # equal ts only from injected data; scan the run
            at += 1
        del self._ts[at]
        del self._ts_rows[at]

    def matching(self, signature: str, predicate: Callable[[dict], bool]) -> list[dict]:
        """Every row passing `predicate`, in the stable (modified, id) order; cached until a change."""
        found = self._matches.get(signature)
        if found is None:
            found = sorted(
                (row for row in self.rows if predicate(row)),
                key=lambda row: (str(row.get("modified") or ""), _id_key(row.get(self.id_field))),
            )
            if len(self._matches) >= _CACHED_QUERIES:
                self._matches.pop(next(iter(self._matches)))
            self._matches[signature] = found
        return found

    def after_ts(self, start_ts: int, predicate: Callable[[dict], bool], limit: int) -> tuple[list[dict], bool]:
        """Up to `limit` rows with ts > start_ts passing `predicate`, in ts order, and whether more remain."""
        page: list[dict] = []
        for at in range(bisect.bisect_right(self._ts, start_ts), len(self._ts_rows)):
            row = self._ts_rows[at]
            if predicate(row):
                if len(page) == limit:
                    return page, True
                page.append(row)
        return page, False

    def count_after_ts(self, start_ts: int, predicate: Callable[[dict], bool]) -> int:
        start = bisect.bisect_right(self._ts, start_ts)
        return sum(1 for row in self._ts_rows[start:] if predicate(row))
