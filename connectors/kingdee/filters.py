"""Build Kingdee FilterStrings from typed values, never by pasting user data into SQL-like text.

A FilterString is evaluated by the server as SQL, so every value goes through `quote()` (strings
single-quoted with `'` doubled) and every field key must look like a key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from basics.shanghai import beijing_wall_clock

FIELD_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")

Value = str | bool | int | float | Decimal | date


def check_key(key: str) -> str:
    """A field key is code, not data: anything that is not key-shaped is refused."""
    if not isinstance(key, str) or not FIELD_KEY.match(key):
        raise ValueError(f"not a Kingdee field key: {key!r}")
    return key


def quote(value: Value) -> str:
    """Render one value as a FilterString literal.

    Booleans become '1'/'0' because Kingdee checkboxes are stored as chars; dates use the ISO form
    SQL Server reads unambiguously. Aware datetimes are refused: the server compares its own local time.
    """
    if isinstance(value, bool):
        return "'1'" if value else "'0'"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        number = Decimal(repr(value)) if isinstance(value, float) else value
        if not number.is_finite():
            raise ValueError("a filter value must be a finite number")
        return format(number, "f")  # plain digits: no exponent for a parser to trip on
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise ValueError("convert datetimes to the server's local time and drop tzinfo first")
        return f"'{value.strftime('%Y-%m-%dT%H:%M:%S')}'"
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"unsupported filter value type: {type(value).__name__}")


class Filter:
    """An immutable FilterString condition; combine with `&` / `|`, render with `str()`."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        # Private by convention: build conditions with the class methods, which quote every value.
        self._text = text

    @classmethod
    def _compare(cls, key: str, operator: str, value: Value) -> Filter:
        return cls(f"{check_key(key)}{operator}{quote(value)}")

    @classmethod
    def eq(cls, key: str, value: Value) -> Filter:
        return cls._compare(key, "=", value)

    @classmethod
    def ne(cls, key: str, value: Value) -> Filter:
        return cls._compare(key, "<>", value)

    @classmethod
    def ge(cls, key: str, value: Value) -> Filter:
        return cls._compare(key, ">=", value)

    @classmethod
    def gt(cls, key: str, value: Value) -> Filter:
        return cls._compare(key, ">", value)

    @classmethod
    def le(cls, key: str, value: Value) -> Filter:
        return cls._compare(key, "<=", value)

    @classmethod
    def lt(cls, key: str, value: Value) -> Filter:
        return cls._compare(key, "<", value)

    @classmethod
    def between(cls, key: str, start: datetime, end: datetime) -> Filter:
        """`start <= key <= end`, in the server's Beijing wall-clock time whatever zone the bounds are in."""
        return cls.ge(key, beijing_wall_clock(start)) & cls.le(key, beijing_wall_clock(end))

    @classmethod
    def like(cls, key: str, pattern: str) -> Filter:
        """`%` and `_` in `pattern` stay wildcards; quotes are escaped like any other value."""
        if not isinstance(pattern, str):
            raise TypeError("a like pattern must be a string")
        return cls._compare(key, " like ", pattern)

    @classmethod
    def in_(cls, key: str, values: Iterable[Value]) -> Filter:
        literals = [quote(v) for v in values]
        if not literals:
            raise ValueError("`in` needs at least one value (an empty list matches nothing)")
        return cls(f"{check_key(key)} in ({','.join(literals)})")

    @classmethod
    def is_null(cls, key: str) -> Filter:
        return cls(f"{check_key(key)} is null")

    def __and__(self, other: Filter) -> Filter:
        return self._join("and", other)

    def __or__(self, other: Filter) -> Filter:
        return self._join("or", other)

    def _join(self, logic: str, other: Filter) -> Filter:
        if not isinstance(other, Filter):
            return NotImplemented
        return Filter(f"({self._text}) {logic} ({other._text})")

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Filter({self._text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filter) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)


# Base data a bill may point at: audited (FDocumentStatus C, 已审核) and enabled (FForbidStatus A, 启用),
# KINGDEE_API_NOTES.md §5.1. The same condition on a query's rows: transforms.documents.USABLE_IN_KINGDEE.
USABLE = Filter.eq("FDocumentStatus", "C") & Filter.eq("FForbidStatus", "A")
