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
    _texts: Mapping[str, frozenset[str]]

    def __call__(self, row: Row) -> bool:
        return self._predicate is None or self._predicate(row) is True

    def texts(self, key: str) -> frozenset[str] | None:
        """The casefolded texts a row's `key` can hold if the row matches, when the filter pins `key` to text
        literals (`= 'a'`, `in ('a', 'b')`, under AND, or on every branch of an OR); None when it does not.

        What lets the emulator answer `FBillNo in (...)` from an index, as the server does. Only rows where
        `key` holds text are covered: numbers, checkboxes and dates compare by other rules.
        """
        return self._texts.get(key.lower())


def parse_filter(text: str | None) -> Filter:
    """Parse a FilterString; an empty or blank one matches every row."""
    source = text or ""
    parser = _Parser(_tokenize(source))
    node = None if parser.peek().kind == "end" else parser.or_expr()
    if parser.peek().kind != "end":
        token = parser.peek()
        raise FilterSyntaxError(f"unexpected {token.text!r} at position {token.pos}")
    if node is None:
        return Filter(source, frozenset(), None, {})
    return Filter(source, frozenset(parser.fields), node.predicate, node.texts)


@dataclass(frozen=True)
class _Node:
    """A parsed condition and, per field key, the casefolded texts the key must equal for it to be TRUE."""

    predicate: _Predicate
    texts: Mapping[str, frozenset[str]]


@dataclass(frozen=True)
class _Term:
    """An operand: how to read it from a row, and the field key or string literal it is."""

    read: _Operand
    field: str | None = None
    literal: str | None = None


def _all_texts(nodes: list[_Node]) -> dict[str, frozenset[str]]:
    """AND is TRUE only if every term is: each term's pin holds, so a key pinned twice keeps the overlap."""
    texts: dict[str, frozenset[str]] = {}
    for node in nodes:
        for key, values in node.texts.items():
            texts[key] = texts[key] & values if key in texts else values
    return texts


def _any_texts(nodes: list[_Node]) -> dict[str, frozenset[str]]:
    """OR is TRUE if some term is: a key stays pinned only if every term pins it."""
    shared = set.intersection(*(set(node.texts) for node in nodes))
    return {key: frozenset().union(*(node.texts[key] for node in nodes)) for key in shared}


def _pinned(left: _Term, options: list[_Term]) -> dict[str, frozenset[str]]:
    """`field = 'x'` / `field in ('x', ...)`: the field's text equals one literal, compared casefolded
    (date-like literals compare as dates and pin nothing)."""
    literals = [option.literal for option in options]
    if left.field is None or any(value is None or _DATETIME.match(value) for value in literals):
        return {}
    return {left.field: frozenset(value.casefold() for value in literals if value is not None)}


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

    def or_expr(self) -> _Node:
        return self._joined("or", self._and_expr, _any_of, _any_texts)

    def _and_expr(self) -> _Node:
        return self._joined("and", self._not_expr, _all_of, _all_texts)

    def _joined(
        self,
        keyword: str,
        operand: Callable[[], _Node],
        combine: Callable[[list[_Predicate]], _Predicate],
        texts: Callable[[list[_Node]], dict[str, frozenset[str]]],
    ) -> _Node:
        """Operands joined by one keyword (OR binds looser than AND because `or_expr` joins `_and_expr`s)."""
        terms = [operand()]
        while self._accept("keyword", keyword):
            terms.append(operand())
        if len(terms) == 1:
            return terms[0]
        return _Node(combine([term.predicate for term in terms]), texts(terms))

    def _not_expr(self) -> _Node:
        if self._accept("keyword", "not"):
            return _Node(_negate(self._not_expr().predicate), {})
        if self.peek().kind == "punct" and self.peek().text == "(":
            self._next()
            inner = self.or_expr()
            self._expect("punct", ")")
            return inner
        return self._comparison()

    def _comparison(self) -> _Node:
        left = self._operand()
        token = self.peek()
        if token.kind == "op":
            self._next()
            right = self._operand()
            pinned = (_pinned(left, [right]) or _pinned(right, [left])) if token.text == "=" else {}
            return _Node(_compare(left.read, token.text, right.read), pinned)
        negated = self._accept("keyword", "not")
        if self._accept("keyword", "like"):
            return _Node(_maybe_negate(_like(left.read, self._operand().read), negated), {})
        if self._accept("keyword", "in"):
            self._expect("punct", "(")
            options = [self._operand()]
            while self._accept("punct", ","):
                options.append(self._operand())
            self._expect("punct", ")")
            predicate = _maybe_negate(_in(left.read, [option.read for option in options]), negated)
            return _Node(predicate, {} if negated else _pinned(left, options))
        if not negated and self._accept("keyword", "is"):
            is_not = self._accept("keyword", "not")
            self._expect("keyword", "null")
            return _Node(_is_null(left.read, is_not), {})
        found = self.peek().text or "end of filter"
        raise FilterSyntaxError(f"expected a comparison at position {self.peek().pos}, found {found!r}")

    def _operand(self) -> _Term:
        token = self._next()
        if token.kind == "string":
            value = token.text[1:-1].replace("''", "'")
            return _Term(lambda _row: value, literal=value)
        if token.kind == "number":
            number = float(token.text) if "." in token.text else int(token.text)
            return _Term(lambda _row: number)
        if token.kind == "word":
            key = token.text.lower()
            self.fields.add(key)
            return _Term(lambda row: row.get(key), field=key)
        found = token.text or "end of filter"
        raise FilterSyntaxError(f"expected a field, string or number at position {token.pos}, found {found!r}")


# --- evaluation ---------------------------------------------------------------------------------


def _all_of(terms: list[_Predicate]) -> _Predicate:
    return _connective(terms, decisive=False)


def _any_of(terms: list[_Predicate]) -> _Predicate:
    return _connective(terms, decisive=True)


def _connective(terms: list[_Predicate], *, decisive: bool) -> _Predicate:
    """SQL's three-valued AND (one FALSE decides) and OR (one TRUE decides): else UNKNOWN beats the other value."""

    def predicate(row: Row) -> Truth:
        results = [term(row) for term in terms]
        if any(result is decisive for result in results):
            return decisive
        return None if any(result is None for result in results) else not decisive

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
