"""Declarative rules for rule-based segments: parsed once, matched fast.

A rule is a boolean condition over one customer's field values, e.g.
``country in [DE, AT] and age between 30 and 50``. Keywords are case-insensitive; field
names are not, and must be among the known fields.

- comparisons ``<``, ``<=``, ``>``, ``>=`` (number fields only), ``==`` (or ``=``), ``!=``
- ``field [not] in [a, b]``, ``field [not] between lo and hi`` (inclusive, ``lo <= hi``),
  ``field is [not] null``
- ``not`` binds tighter than ``and``, which binds tighter than ``or``; parentheses group.

Literals are numbers (``3``, ``-1.5``, ``2e3``), quoted text (``'...'`` or ``"..."``, no
escapes: use the other quote) or bare words such as ``DE`` or ``1000+`` (letters, digits
and ``_+-.``, not a number, not a keyword). Text compares exactly, case included.

Missing data is SQL-like: a field that is absent or ``None`` makes every comparison,
``in``, ``not in``, ``between`` and ``not between`` False, and ``is null`` True. A value
of the wrong type at run time (text in a number field, a bool) also makes them False.
``not`` negates the boolean result of its operand: ``not age > 30`` is True for a
customer with no age, while ``age <= 30`` is False; ``not (x in [...])`` likewise
differs from ``x not in [...]``. Comparing a number field with text, a text field with
a number, or ordering text is a compile-time :class:`RuleError`.

Rules compile to nested closures, not ``eval``. Error columns are 1-based offsets into
the whole expression.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import eq, ge, gt, le, lt, ne
from typing import Any, Literal, NamedTuple

__all__ = ["MAX_DEPTH", "FieldKind", "Rule", "RuleError", "compile_rule"]

FieldKind = Literal["number", "text"]
Predicate = Callable[[Mapping[str, object]], bool]
Value = int | float | str
Compare = Callable[[Any, Any], bool]

MAX_DEPTH = 64  # nested parentheses and ``not``s; keeps the parser far from RecursionError
_KEYWORDS = frozenset({"and", "or", "not", "in", "between", "is", "null"})
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TOKEN = re.compile(
    r"""(?P<string>'[^']*'|"[^"]*")|(?P<word>[A-Za-z0-9_+\-.]+)"""
    r"""|(?P<op>[<>!=]=|[<>=])|(?P<punct>[()\[\],])"""
)
_OPERATORS: dict[str, Compare] = {"<": lt, "<=": le, ">": gt, ">=": ge, "==": eq, "=": eq, "!=": ne}
_ORDERING = frozenset({"<", "<=", ">", ">="})
_NUMERIC = (int, float)


class RuleError(ValueError):
    """A rule that cannot compile; ``str()`` is one line pointing at the offending token."""

    def __init__(self, rule: str, problem: str, column: int) -> None:
        super().__init__(rule, problem, column)
        self.rule, self.problem, self.column = rule, problem, column

    def __str__(self) -> str:
        return f"rule {self.rule!r}: {self.problem} at column {self.column}"


@dataclass(frozen=True)
class Rule:
    """A compiled rule: call :meth:`matches` with one customer's field values.

    >>> rule = compile_rule("big_spender", "monetary_90d > 500 and NOT recency_days >= 30",
    ...                     {"monetary_90d": "number", "recency_days": "number"})
    >>> sorted(rule.fields)
    ['monetary_90d', 'recency_days']
    >>> rule.thresholds
    (('monetary_90d', 500.0), ('recency_days', 30.0))
    >>> rule.matches({"monetary_90d": 620.0, "recency_days": 3})
    True
    >>> rule.matches({"monetary_90d": 620.0})  # no recency: ``not (... >= 30)`` holds
    True
    """

    name: str
    expression: str
    fields: frozenset[str]
    # Every number the rule compares a field with: where its truth may flip as a
    # growing field (tenure, recency) passes it, so the engine can wake the customer then.
    thresholds: tuple[tuple[str, float], ...] = field(repr=False)
    _kinds: tuple[tuple[str, FieldKind], ...] = field(repr=False, compare=False)
    _predicate: Predicate = field(repr=False, compare=False)

    def matches(self, values: Mapping[str, object]) -> bool:
        return self._predicate(values)

    def __reduce__(self) -> tuple[Any, ...]:
        # Closures do not pickle: recompile from the text and the kinds of the fields read.
        return (compile_rule, (self.name, self.expression, dict(self._kinds)))


def compile_rule(name: str, expression: str, known_fields: Mapping[str, FieldKind]) -> Rule:
    """Parse ``expression`` and compile it into a :class:`Rule`.

    Parameters
    ----------
    name
        The rule's name, used in error messages.
    expression
        The condition, in the language described in this module's docstring.
    known_fields
        Every field a rule may read, with its kind.

    Raises
    ------
    RuleError
        On a syntax error, an unknown field or a literal of the wrong kind.

    Examples
    --------
    >>> kinds = {"country": "text", "age": "number"}
    >>> rule = compile_rule("dach", "country in [DE, AT, 'CH'] and age between 30 and 50", kinds)
    >>> rule.matches({"country": "AT", "age": 30}), rule.matches({"country": "AT"})
    (True, False)
    >>> compile_rule("typo", "country == DE or agee > 3", kinds)
    Traceback (most recent call last):
    ...
    engine.rules.RuleError: rule 'typo': unknown field 'agee' (did you mean: age) at column 18
    """
    parser = _Parser(name, expression, known_fields)
    predicate = parser.parse()
    kinds = tuple(sorted(parser.fields.items()))
    thresholds = tuple(sorted(parser.thresholds))
    return Rule(name, expression, frozenset(parser.fields), thresholds, kinds, predicate)


class _Token(NamedTuple):
    kind: str  # "number", "string", "word", "op", "punct" or "end"
    text: str
    column: int


def _tokenize(name: str, expression: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos, end = 0, len(expression)
    while True:
        while pos < end and expression[pos].isspace():
            pos += 1
        if pos == end:
            tokens.append(_Token("end", "", end + 1))
            return tokens
        match = _TOKEN.match(expression, pos)
        if match is None:
            char = expression[pos]
            problem = "unterminated string" if char in "'\"" else f"unexpected character {char!r}"
            raise RuleError(name, problem, pos + 1)
        kind, text = match.lastgroup or "", match.group()
        if kind == "word" and _NUMBER.fullmatch(text):
            kind = "number"
        tokens.append(_Token(kind, text, pos + 1))
        pos = match.end()


def _shown(token: _Token) -> str:
    return "end of expression" if token.kind == "end" else repr(token.text)


class _Parser:
    """Recursive descent over the tokens, building closures as it goes."""

    def __init__(self, name: str, expression: str, known: Mapping[str, FieldKind]) -> None:
        self.name, self.known = name, known
        self.tokens = _tokenize(name, expression)
        self.pos = self.depth = 0
        self.fields: dict[str, FieldKind] = {}
        self.thresholds: set[tuple[str, float]] = set()

    def error(self, problem: str, token: _Token) -> RuleError:
        return RuleError(self.name, problem, token.column)

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def advance(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def accept(self, keyword: str) -> bool:
        token = self.peek()
        if token.kind == "word" and token.text.lower() == keyword:
            self.advance()
            return True
        return False

    def nest(self, token: _Token, delta: int) -> None:
        self.depth += delta
        if self.depth > MAX_DEPTH:
            raise self.error(f"nesting deeper than {MAX_DEPTH} levels", token)

    def parse(self) -> Predicate:
        if self.peek().kind == "end":
            raise self.error("empty expression", self.peek())
        predicate = self.or_expr()
        token = self.peek()
        if token.text == ")":
            raise self.error("unmatched ')'", token)
        if token.kind != "end":
            raise self.error(f"unexpected {token.text!r} after a complete condition", token)
        return predicate

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.accept("or"):
            parts.append(self.and_expr())
        return _combine(parts, decisive=True)

    def and_expr(self) -> Predicate:
        parts = [self.not_expr()]
        while self.accept("and"):
            parts.append(self.not_expr())
        return _combine(parts, decisive=False)

    def not_expr(self) -> Predicate:
        token = self.peek()
        if not self.accept("not"):
            return self.atom()
        self.nest(token, 1)
        inner = self.not_expr()
        self.nest(token, -1)
        return lambda values: not inner(values)

    def atom(self) -> Predicate:
        opened = self.peek()
        if opened.text != "(":
            return self.condition()
        self.nest(opened, 1)
        self.advance()
        inner = self.or_expr()
        closed = self.advance()
        if closed.kind == "end":
            raise self.error("unclosed '('", opened)
        if closed.text != ")":
            raise self.error(f"expected ')', 'and' or 'or', got {closed.text!r}", closed)
        self.nest(opened, -1)
        return inner

    def condition(self) -> Predicate:
        name, kind = self.field_name(self.advance())
        token = self.peek()
        if token.kind == "op":
            self.advance()
            return self.comparison(name, kind, token)
        negated = self.accept("not")
        if self.accept("in"):
            return self.membership(name, kind, negated)
        if self.accept("between"):
            return self.between(name, kind, negated, token)
        if not negated and self.accept("is"):
            negated = self.accept("not")
            if not self.accept("null"):
                got = self.peek()
                raise self.error(f"expected 'null' after 'is', got {_shown(got)}", got)
            return lambda values: (values.get(name) is None) != negated
        wanted, got = ("'in' or 'between'" if negated else "an operator"), self.peek()
        raise self.error(f"expected {wanted} after {name!r}, got {_shown(got)}", got)

    def field_name(self, token: _Token) -> tuple[str, FieldKind]:
        if token.kind != "word" or token.text.lower() in _KEYWORDS:
            raise self.error(f"expected a condition, got {_shown(token)}", token)
        if token.text not in self.known:
            close = difflib.get_close_matches(token.text.lower(), list(self.known), n=8)
            hint = f" (did you mean: {', '.join(close)})" if close else ""
            raise self.error(f"unknown field {token.text!r}{hint}", token)
        kind = self.fields[token.text] = self.known[token.text]
        return token.text, kind

    def literal(self, name: str, kind: FieldKind, after: str) -> Value:
        token = self.advance()
        value: Value
        if token.kind == "number":
            value = _number(token.text)
        elif token.kind == "string":
            value = token.text[1:-1]
        elif token.kind == "word" and token.text.lower() not in _KEYWORDS:
            value = token.text
        else:
            null = token.kind == "word" and token.text.lower() == "null"
            hint = " (to test for a missing value, write 'is null')" if null else ""
            raise self.error(f"expected a value after {after}, got {_shown(token)}{hint}", token)
        if isinstance(value, str) != (kind == "text"):
            other = "text" if isinstance(value, str) else "number"
            raise self.error(f"{kind} field {name!r} compared with {other} {token.text}", token)
        if not isinstance(value, str):
            self.thresholds.add((name, float(value)))
        return value

    def comparison(self, name: str, kind: FieldKind, op: _Token) -> Predicate:
        if op.text in _ORDERING and kind == "text":
            raise self.error(f"text field {name!r} cannot be ordered with {op.text!r}", op)
        value = self.literal(name, kind, repr(op.text))
        return _typed(name, kind, _OPERATORS[op.text], value)

    def membership(self, name: str, kind: FieldKind, negated: bool) -> Predicate:
        opened = self.advance()
        if opened.text != "[":
            raise self.error(f"expected '[' after 'in', got {_shown(opened)}", opened)
        options = [self.literal(name, kind, "'['")]
        while (token := self.advance()).text != "]":
            if token.kind == "end":
                raise self.error("unclosed '['", opened)
            if token.text != ",":
                raise self.error(f"expected ',' or ']' in a list, got {token.text!r}", token)
            options.append(self.literal(name, kind, "','"))
        return _typed(name, kind, lambda v, within: (v in within) != negated, frozenset(options))

    def between(self, name: str, kind: FieldKind, negated: bool, token: _Token) -> Predicate:
        if kind == "text":
            raise self.error(f"text field {name!r} cannot be ordered with 'between'", token)
        low = self.literal(name, kind, "'between'")
        if not self.accept("and"):
            raise self.error(f"expected 'and' in 'between', got {_shown(self.peek())}", self.peek())
        high_token = self.peek()
        high = self.literal(name, kind, "'and'")
        assert not isinstance(low, str) and not isinstance(high, str)  # literal() checked
        if not low <= high:
            raise self.error(f"empty range: {low} is greater than {high}", high_token)
        return _typed(name, kind, lambda v, _: (low <= v <= high) != negated, None)


def _number(text: str) -> int | float:
    if any(c in text for c in ".eE"):
        return float(text)
    return int(text) if len(text) <= 4000 else float(text)  # int() refuses > 4300 digits


def _typed(name: str, kind: FieldKind, test: Compare, operand: object) -> Predicate:
    """``test(value, operand)`` if the field holds a value of its kind (bools are not numbers)."""
    accept = str if kind == "text" else _NUMERIC

    def typed(values: Mapping[str, object]) -> bool:
        v = values.get(name)
        return isinstance(v, accept) and v is not True and v is not False and test(v, operand)

    return typed


def _combine(parts: list[Predicate], decisive: bool) -> Predicate:
    """``and`` (stops at the first False: ``decisive=False``) or ``or`` (first True)."""
    if len(parts) == 1:
        return parts[0]
    tests = tuple(parts)

    def combined(values: Mapping[str, object]) -> bool:
        for test in tests:
            if test(values) is decisive:
                return decisive
        return not decisive

    return combined
