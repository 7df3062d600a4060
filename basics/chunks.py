"""One way to cut work into pieces of at most n: id lists in a request, bills in a BatchSave, pages in
one decoding call. Every layer needs it, so it lives below them all."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar, overload

import polars as pl

T = TypeVar("T")


@overload
def chunks(items: pl.DataFrame, size: int) -> Iterator[pl.DataFrame]: ...


@overload
def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]: ...


def chunks(items: pl.DataFrame | Iterable[T], size: int) -> Iterator[pl.DataFrame] | Iterator[list[T]]:
    """Consecutive pieces of at most `size`, in order: slices of a frame (views, not copies), or lists of
    an iterable's items (read lazily, so a generator is never held whole)."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    if isinstance(items, pl.DataFrame):
        return (items.slice(offset, size) for offset in range(0, items.height, size))
    return _lists(iter(items), size)


def _lists(remaining: Iterator[T], size: int) -> Iterator[list[T]]:
    while batch := list(islice(remaining, size)):
        yield batch
