"""Kingdee's SQL-like FilterString, parsed and evaluated for the K3Cloud emulator.

A real tokenizer and recursive-descent parser, not string matching: a client that builds filters by
pasting values instead of quoting them must be caught by the emulator the way SQL Server would catch
it, and a properly quoted value (`''` inside single quotes) must stay a literal whatever it contains.

Grammar (keywords and field keys case-insensitive)::

    filter     := [or_expr]
    or_expr    := and_expr (OR and_expr)*
    and_expr   := not_expr (AND not_expr)*
    not_expr   := NOT not_expr | '(' or_expr ')' | comparison
    comparison := operand ( cmp_op operand
                          | [NOT] LIKE operand
                          | [NOT] IN '(' operand (',' operand)* ')'
                          | IS [NOT] NULL )
    operand    := field_key | 'string' | number

Evaluation follows SQL's three-valued logic (a comparison with NULL is unknown, and NOT unknown is
still unknown), so `NOT (FLot.FNumber = '0')` does not match rows whose lot is NULL, as on the server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Row = Mapping[str, Any]  # lower-cased field key -> value
Truth = bool | None  # None = SQL's UNKNOWN
_Operand = Callable[[Row], Any]
_Predicate = Callable[[Row], Truth]


class FilterSyntaxError(ValueError):
    """The FilterString is not well formed (the server answers MsgCode 4)."""


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?(?:\d+(?:\.\d+)?|\.\d+))
  | (?P<op><>|!=|>=|<=|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "like", "in", "is", "null"}
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_BOOL_WORDS = {"true": 1, "false": 0}


@dataclass(frozen=True)
class _Token:
    kind: str  # string | number | op | punct | word | keyword | end
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos] == "'":
                raise FilterSyntaxError(f"unterminated string literal at position {pos}")
            raise FilterSyntaxError(f"unexpected character {text[pos]!r} at position {pos}")
        kind = match.lastgroup or ""
        if kind != "ws":
            word = match.group()
            if kind == "word" and word.lower() in _KEYWORDS:
                tokens.append(_Token("keyword", word.lower(), pos))
            else:
                tokens.append(_Token(kind, word, pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


@dataclass(frozen=True)
class Filter:
    """A parsed FilterString: call it with a row (lower-cased keys) to know whether the row matches."""

    text: str
    fields: frozenset[str]  # lower-cased field keys the filter reads (checked against the form's metadata)
    _predicate: _Predicate | None

    def __call__(self, row: Row) -> bool:
        return self._predicate is None or self._predicate(row) is True


def parse_filter(text: str | None) -> Filter:
    """Parse a FilterString; an empty or blank one matches every row."""
    source = text or ""
    parser = _Parser(_tokenize(source))
    predicate = None if parser.peek().kind == "end" else parser.or_expr()
    if parser.peek().kind != "end":
        token = parser.peek()
        raise FilterSyntaxError(f"unexpected {token.text!r} at position {token.pos}")
    return Filter(source, frozenset(parser.fields), predicate)


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._index = 0
        self.fields: set[str] = set()

    def peek(self, ahead: int = 0) -> _Token:
        return self._tokens[min(self._index + ahead, len(self._tokens) - 1)]

    def _next(self) -> _Token:
        token = self.peek()
        self._index += 1
        return token

    def _accept(self, kind: str, text: str) -> bool:
        token = self.peek()
        if token.kind == kind and token.text == text:
            self._index += 1
            return True
        return False

    def _expect(self, kind: str, text: str) -> None:
        if not self._accept(kind, text):
            token = self.peek()
            found = token.text or "end of filter"
            raise FilterSyntaxError(f"expected {text!r} at position {token.pos}, found {found!r}")

    def or_expr(self) -> _Predicate:
        terms = [self._and_expr()]
        while self._accept("keyword", "or"):
            terms.append(self._and_expr())
        return terms[0] if len(terms) == 1 else _any_of(terms)

    def _and_expr(self) -> _Predicate:
        terms = [self._not_expr()]
        while self._accept("keyword", "and"):
            terms.append(self._not_expr())
        return terms[0] if len(terms) == 1 else _all_of(terms)

    def _not_expr(self) -> _Predicate:
        if self._accept("keyword", "not"):
            return _negate(self._not_expr())
        if self.peek().kind == "punct" and self.peek().text == "(":
            self._next()
            inner = self.or_expr()
            self._expect("punct", ")")
            return inner
        return self._comparison()

    def _comparison(self) -> _Predicate:
        left = self._operand()
        token = self.peek()
        if token.kind == "op":
            self._next()
            return _compare(left, token.text, self._operand())
        negated = self._accept("keyword", "not")
        if self._accept("keyword", "like"):
            return _maybe_negate(_like(left, self._operand()), negated)
        if self._accept("keyword", "in"):
            self._expect("punct", "(")
            options = [self._operand()]
            while self._accept("punct", ","):
                options.append(self._operand())
            self._expect("punct", ")")
            return _maybe_negate(_in(left, options), negated)
        if not negated and self._accept("keyword", "is"):
            is_not = self._accept("keyword", "not")
            self._expect("keyword", "null")
            return _is_null(left, is_not)
        found = self.peek().text or "end of filter"
        raise FilterSyntaxError(f"expected a comparison at position {self.peek().pos}, found {found!r}")

    def _operand(self) -> _Operand:
        token = self._next()
        if token.kind == "string":
            value = token.text[1:-1].replace("''", "'")
            return lambda _row: value
        if token.kind == "number":
            number = float(token.text) if "." in token.text else int(token.text)
            return lambda _row: number
        if token.kind == "word":
            key = token.text.lower()
            self.fields.add(key)
            return lambda row: row.get(key)
        found = token.text or "end of filter"
        raise FilterSyntaxError(f"expected a field, string or number at position {token.pos}, found {found!r}")


# --- evaluation ---------------------------------------------------------------------------------


def _all_of(terms: list[_Predicate]) -> _Predicate:
    def predicate(row: Row) -> Truth:
        results = [term(row) for term in terms]
        if any(result is False for result in results):
            return False
        return None if any(result is None for result in results) else True

    return predicate


def _any_of(terms: list[_Predicate]) -> _Predicate:
    def predicate(row: Row) -> Truth:
        results = [term(row) for term in terms]
        if any(result is True for result in results):
            return True
        return None if any(result is None for result in results) else False

    return predicate


def _negate(term: _Predicate) -> _Predicate:
    def predicate(row: Row) -> Truth:
        result = term(row)
        return None if result is None else not result

    return predicate


def _maybe_negate(term: _Predicate, negated: bool) -> _Predicate:
    return _negate(term) if negated else term


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _compare(left: _Operand, op: str, right: _Operand) -> _Predicate:
    ordering = _ORDERINGS[op]

    def predicate(row: Row) -> Truth:
        pair = _comparable(left(row), right(row))
        return None if pair is None else ordering(*pair)

    return predicate


def _in(left: _Operand, options: list[_Operand]) -> _Predicate:
    def predicate(row: Row) -> Truth:
        value = left(row)
        unknown = False
        for option in options:
            pair = _comparable(value, option(row))
            if pair is None:
                unknown = True
            elif pair[0] == pair[1]:
                return True
        return None if unknown else False

    return predicate


def _like(left: _Operand, pattern: _Operand) -> _Predicate:
    def predicate(row: Row) -> Truth:
        value, mask = left(row), pattern(row)
        if value is None or mask is None:
            return None
        return _like_regex(_text(mask)).match(_text(value)) is not None

    return predicate


def _like_regex(mask: str) -> re.Pattern[str]:
    """`%` any run, `_` one character, the rest literal (SQL Server's `[...]` sets are not modelled)."""
    parts = [".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in mask]
    return re.compile("".join(parts) + r"\Z", re.IGNORECASE | re.DOTALL)


def _is_null(left: _Operand, is_not: bool) -> _Predicate:
    return lambda row: (left(row) is None) != is_not


def _comparable(a: Any, b: Any) -> tuple[Any, Any] | None:
    """Coerce two values the way SQL Server compares them; None when the comparison is UNKNOWN.

    Strings compare case-insensitively (Kingdee databases use a case-insensitive collation [U]);
    a checkbox (bool) compares as 1/0, so `F_X_Flag = '1'`, `= 1` and `= 'true'` all match a checked box;
    two date-like values compare as datetimes, so `'2025-10-01'` matches `'2025-10-01T00:00:00'`.
    """
    if a is None or b is None:
        return None
    a, b = _as_number_if_bool(a, b), _as_number_if_bool(b, a)  # both from the original pair
    if _is_number(a) or _is_number(b):
        x, y = _number(a), _number(b)
        return None if x is None or y is None else (x, y)
    x, y = _text(a), _text(b)
    if _DATETIME.match(x) and _DATETIME.match(y):
        try:
            return _datetime(x), _datetime(y)
        except ValueError:  # shaped like a date but not one (month 13): compare as text
            pass
    return x.casefold(), y.casefold()


def _as_number_if_bool(value: Any, other: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(other, bool) and isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.strip().lower()]
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.replace(" ", "T"))
