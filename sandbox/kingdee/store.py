"""The saved bills of each bill form, indexed for the queries that read them."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from sandbox.kingdee.wire import bill_lines


class BillStore:
    """The saved bills of one form by number, in saving order, indexed the way queries need them.

    A query may name any key a stored bill was saved with, so the roots of those keys are counted as bills
    come, change and go. `FBillNo in (...)`, the sync's check before every save, looks up the bills it names
    through an index of their FBillNo text, as the server does, instead of flattening every stored bill per
    call (which made long runs quadratic in the emulator). Whoever edits a stored bill in place calls `changed`.
    """

    def __init__(self, flatten: Callable[[dict], dict[str, Any]]) -> None:
        self._flatten = flatten
        self._bills: dict[str, dict] = {}
        self._saved_as: dict[str, int] = {}  # number -> position in saving order
        self._positions = itertools.count()
        self._indexed: dict[str, tuple[str | None, frozenset[str], frozenset[str]]] = {}
        self._shapes: dict[frozenset[str], frozenset[str]] = {}  # bills share key sets: keep one copy
        self._by_text: defaultdict[str | None, list[str]] = defaultdict(list)  # None: FBillNo is not text
        self.header_roots: Counter[str] = Counter()
        self.entry_roots: Counter[str] = Counter()

    def __contains__(self, number: str) -> bool:
        return number in self._bills

    def get(self, number: str) -> dict | None:
        return self._bills.get(number)

    def values(self) -> Iterable[dict]:
        return self._bills.values()

    def put(self, number: str, bill: dict) -> None:
        self.pop(number)
        self._bills[number] = bill
        self._saved_as[number] = next(self._positions)
        self._index(number)

    def pop(self, number: str) -> dict | None:
        bill = self._bills.pop(number, None)
        if bill is not None:
            self._unindex(number)
            del self._saved_as[number]
        return bill

    def changed(self, number: str) -> None:
        self._unindex(number)
        self._index(number)

    def flattened(self, texts: frozenset[str] | None) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """(header, lines) as query keys, in saving order: every bill, or when `texts` pins FBillNo only
        the bills whose FBillNo text is one of them (and any whose FBillNo is not text: the filter decides)."""
        if texts is None:
            numbers: Iterable[str] = self._bills
        else:
            named = set(self._by_text.get(None, ()))
            for text in texts:
                named.update(self._by_text.get(text, ()))
            numbers = sorted(named, key=self._saved_as.__getitem__)
        return [
            (self._flatten(bill), [self._flatten(line) for line in bill_lines(bill)])
            for bill in map(self._bills.__getitem__, numbers)
        ]

    def _index(self, number: str) -> None:
        bill = self._bills[number]
        header = self._flatten(bill)
        entry: set[str] = set().union(*(self._flatten(line) for line in bill_lines(bill)))
        header_roots = self._shape({root_key(key) for key in header})
        entry_roots = self._shape({root_key(key) for key in entry})
        text = header.get("fbillno")
        text = text.casefold() if isinstance(text, str) else None
        self._indexed[number] = (text, header_roots, entry_roots)
        self._by_text[text].append(number)
        self.header_roots.update(header_roots)
        self.entry_roots.update(entry_roots)

    def _unindex(self, number: str) -> None:
        text, header_roots, entry_roots = self._indexed.pop(number)
        self._by_text[text].remove(number)
        if not self._by_text[text]:
            del self._by_text[text]
        self.header_roots -= Counter(header_roots)
        self.entry_roots -= Counter(entry_roots)

    def _shape(self, keys: set[str]) -> frozenset[str]:
        shape = frozenset(keys)
        return self._shapes.setdefault(shape, shape)


def root_key(key: str) -> str:
    return key.split(".", 1)[0]
