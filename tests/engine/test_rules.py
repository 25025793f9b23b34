"""``engine.rules``: truth tables per operator, precedence, errors and properties. No broker."""

from __future__ import annotations

import operator
import pickle
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.rules import MAX_DEPTH, FieldKind, Rule, RuleError, compile_rule

KINDS: dict[str, FieldKind] = {
    "age": "number",
    "country": "text",
    "monetary_90d": "number",
    "recency_days": "number",
    "industry": "text",
    "company_size": "text",
    "income_band": "text",
    "purchase_count": "number",
}


def rule(expression: str) -> Rule:
    return compile_rule("seg", expression, KINDS)


def matches(expression: str, **values: object) -> bool:
    return rule(expression).matches(values)


# (expression, value of the expression's first word, expected)
OPERATORS: list[tuple[str, object, bool]] = [
    ("age < 30", 29, True),
    ("age < 30", 30, False),
    ("age <= 30", 30, True),
    ("age <= 30", 31, False),
    ("age > 30", 31, True),
    ("age > 30", 30, False),
    ("age >= 30", 30, True),
    ("age >= 30", 29.5, False),
    ("age == 30", 30, True),
    ("age == 30", 30.0, True),
    ("age == 30", 31, False),
    ("age = 30", 30, True),
    ("age != 30", 31, True),
    ("age != 30", 30, False),
    ("age > -2.5", -2, True),
    ("age < 1e3", 999.5, True),
    ("age>=+3", 3, True),
    ("country == DE", "DE", True),
    ("country == DE", "de", False),
    ("country = 'DE'", "DE", True),
    ("country != DE", "AT", True),
    ("country != DE", "DE", False),
    ("company_size == 1000+", "1000+", True),
    ('company_size == "1-9"', "1-9", True),
    ('industry == "it\'s retail"', "it's retail", True),
    ("country in [DE, AT, 'CH']", "CH", True),
    ("country in [DE, AT, 'CH']", "FR", False),
    ("country not in [DE, AT]", "FR", True),
    ("country not in [DE, AT]", "DE", False),
    ("age in [1, 2.5, -3]", -3, True),
    ("age in [1, 2.5, -3]", 2.5, True),
    ("age in [1, 2]", 3, False),
    ("age not in [1, 2]", 3, True),
    ("age not in [1, 2]", 1.0, False),
    ("age between 30 and 50", 30, True),
    ("age between 30 and 50", 50, True),
    ("age between 30 and 50", 42.5, True),
    ("age between 30 and 50", 29, False),
    ("age between 30 and 50", 50.5, False),
    ("age between 7 and 7", 7, True),
    ("age not between 30 and 50", 29, True),
    ("age not between 30 and 50", 30, False),
    ("age is null", None, True),
    ("age is null", 3, False),
    ("age is not null", 3, True),
    ("age is not null", None, False),
    ("country is not null", "", True),
]


@pytest.mark.parametrize(("expression", "value", "expected"), OPERATORS)
def test_operator_truth_table(expression: str, value: object, expected: bool) -> None:
    field = expression.split()[0].split(">")[0]
    assert rule(expression).matches({field: value}) is expected


CONDITIONS = sorted({e for e, _, _ in OPERATORS if " is " not in e})


@pytest.mark.parametrize("expression", CONDITIONS)
def test_missing_none_or_wrong_typed_values_are_false_but_not_negates(expression: str) -> None:
    field = expression.split()[0].split(">")[0]
    wrong: list[object] = [3, 3.5] if KINDS[field] == "text" else ["30", True, False, [30]]
    cases: list[dict[str, object]] = [{}, {field: None}, *({field: w} for w in wrong)]
    for values in cases:
        assert rule(expression).matches(values) is False
        assert rule(f"not ({expression})").matches(values) is True


def test_is_null_treats_a_missing_field_as_null() -> None:
    assert matches("age is null") is True
    assert matches("age is not null") is False
    assert matches("not age is null") is False


@pytest.mark.parametrize(
    ("expression", "values", "expected"),
    [
        ("age > 1 or age > 100 and age < 0", {"age": 5}, True),
        ("(age > 1 or age > 100) and age < 0", {"age": 5}, False),
        ("not age > 10 and age > 1", {"age": 0}, False),
        ("not (age > 10 and age > 1)", {"age": 0}, True),
        ("not age > 10 or age > 1", {"age": 20}, True),
        ("not (age > 10 or age > 1)", {"age": 20}, False),
        ("not not age > 1", {"age": 5}, True),
        ("age between 1 and 10 and age > 5", {"age": 7}, True),
        ("age between 1 and 10 and age > 5", {"age": 3}, False),
        ("((age > 1))", {"age": 5}, True),
        ("country in [DE, AT] and age between 30 and 50", {"country": "AT", "age": 30}, True),
        ("country in [DE, AT] and age between 30 and 50", {"country": "AT"}, False),
        (
            "monetary_90d > 500 and recency_days < 30",
            {"monetary_90d": 501, "recency_days": 2},
            True,
        ),
        ("monetary_90d > 500 and recency_days < 30", {"monetary_90d": 500.0}, False),
        ("not (industry == retail or company_size in ['1-9', \"10-49\"])", {}, True),
        (
            "not (industry == retail or company_size in ['1-9', '10-49'])",
            {"industry": "retail"},
            False,
        ),
        ("not (industry == retail or company_size in ['1-9'])", {"company_size": "1-9"}, False),
        ("not (industry == retail or company_size in ['1-9'])", {"industry": "tech"}, True),
        (
            "income_band in [high, upper_middle] and purchase_count >= 3",
            {"income_band": "upper_middle", "purchase_count": 3},
            True,
        ),
        (
            "income_band in [high, upper_middle] and purchase_count >= 3",
            {"income_band": "high"},
            False,
        ),
        ("age > 1 or country == DE", {"country": "DE"}, True),
        ("age > 1 or country == DE", {}, False),
    ],
)
def test_precedence_parentheses_and_examples(
    expression: str, values: dict[str, object], expected: bool
) -> None:
    assert rule(expression).matches(values) is expected


@pytest.mark.parametrize(
    ("expression", "values", "expected"),
    [
        ("country IN [DE] AND age BETWEEN 1 AND 5", {"country": "DE", "age": 2}, True),
        ("Not age Is NuLL Or country NOT in [DE]", {"age": 1}, True),
        ("age NOT BETWEEN 1 and 5", {"age": 9}, True),
        ("country iS nOt NULL", {"country": "DE"}, True),
        ("country == de", {"country": "DE"}, False),  # values keep their case
    ],
)
def test_keywords_are_case_insensitive(
    expression: str, values: dict[str, object], expected: bool
) -> None:
    assert rule(expression).matches(values) is expected


def test_rule_records_name_expression_and_fields() -> None:
    compiled = compile_rule("dach", "country in [DE] or (age > 3 and not age > 9)", KINDS)
    assert (compiled.name, compiled.fields) == ("dach", frozenset({"country", "age"}))
    assert compiled.expression == "country in [DE] or (age > 3 and not age > 9)"
    assert compiled.matches(MappingProxyType({"age": 4})) is True
    assert "_predicate" not in repr(compiled)


def test_rule_pickles_compares_and_hashes_by_its_text() -> None:
    compiled = rule("country in [DE, AT] and age between 30 and 50")
    restored = pickle.loads(pickle.dumps(compiled))
    assert restored == compiled and hash(restored) == hash(compiled)
    assert restored.matches({"country": "DE", "age": 31}) is True
    assert compiled != compile_rule("other", compiled.expression, KINDS)


def test_matching_does_not_mutate_the_values() -> None:
    values = {"country": "DE", "age": 31}
    rule("country in [DE] and age is not null and not age > 99").matches(values)
    assert values == {"country": "DE", "age": 31}


ERRORS: list[tuple[str, str, int]] = [
    ("", "empty expression", 1),
    ("   ", "empty expression", 4),
    ("(age > 1", "unclosed '('", 1),
    ("age > 1)", "unmatched ')'", 8),
    ("(age > 1 age < 2)", "expected ')', 'and' or 'or', got 'age'", 10),
    ("age >", "expected a value after '>', got end of expression", 6),
    ("age > 1 and", "expected a condition, got end of expression", 12),
    ("and age > 1", "expected a condition, got 'and'", 1),
    ("age > 1 or ()", "expected a condition, got ')'", 13),
    ("3 < age", "expected a condition, got '3'", 1),
    ("age > 1 age < 2", "unexpected 'age' after a complete condition", 9),
    ("industry == 'it''s'", "unexpected \"'s'\" after a complete condition", 17),
    ("country == 'DE", "unterminated string", 12),
    ('country in ["DE, AT]', "unterminated string", 13),
    ("age between 1 or 5", "expected 'and' in 'between', got 'or'", 15),
    ("age between 1", "expected 'and' in 'between', got end of expression", 14),
    ("age between 50 and 30", "empty range: 50 is greater than 30", 20),
    ("agee > 1", "unknown field 'agee' (did you mean: age)", 1),
    ("age > 1 and zzz < 2", "unknown field 'zzz'", 13),
    ("Country == DE", "unknown field 'Country' (did you mean: country)", 1),
    ("country < DE", "text field 'country' cannot be ordered with '<'", 9),
    ("country between a and b", "text field 'country' cannot be ordered with 'between'", 9),
    ("age == old", "number field 'age' compared with text old", 8),
    ("age >= '3'", "number field 'age' compared with text '3'", 8),
    ("age in [1, 'x']", "number field 'age' compared with text 'x'", 12),
    ("country in [DE, 3]", "text field 'country' compared with number 3", 17),
    ("country != -1.5", "text field 'country' compared with number -1.5", 12),
    ("age == null", "expected a value after '==', got 'null' (to test for a missing", 8),
    ("age in 1, 2", "expected '[' after 'in', got '1'", 8),
    ("age in [1 2]", "expected ',' or ']' in a list, got '2'", 11),
    ("age in [1, 2", "unclosed '['", 8),
    ("age in []", "expected a value after '[', got ']'", 9),
    ("age in [1,]", "expected a value after ',', got ']'", 11),
    ("age is 3", "expected 'null' after 'is', got '3'", 8),
    ("age", "expected an operator after 'age', got end of expression", 4),
    ("age not > 3", "expected 'in' or 'between' after 'age', got '>'", 9),
    ("age > 1 @ 2", "unexpected character '@'", 9),
    ("age ! 1", "unexpected character '!'", 5),
    ("age > 1\nand agee > 2", "unknown field 'agee' (did you mean: age)", 13),
    ("(" * (MAX_DEPTH + 1) + "age > 1" + ")" * (MAX_DEPTH + 1), "nesting deeper than", 65),
    ("not " * (MAX_DEPTH + 1) + "age > 1", "nesting deeper than 64 levels", 257),
]


@pytest.mark.parametrize(("expression", "problem", "column"), ERRORS)
def test_errors_name_the_rule_and_problem_on_one_line(
    expression: str, problem: str, column: int
) -> None:
    with pytest.raises(RuleError) as caught:
        compile_rule("bad seg", expression, KINDS)
    message = str(caught.value)
    assert message.startswith(f"rule 'bad seg': {problem}")
    assert message.endswith(f" at column {column}")
    assert "\n" not in message
    assert (caught.value.rule, caught.value.column) == ("bad seg", column)
    assert isinstance(caught.value, ValueError)


def test_close_matches_are_capped() -> None:
    many: dict[str, FieldKind] = {f"spend_{i}d": "number" for i in range(20)}
    with pytest.raises(RuleError, match=r"did you mean: ([a-z0-9_]+, ){7}[a-z0-9_]+\)"):
        compile_rule("r", "spend_d > 1", many)


def test_nesting_up_to_the_limit_compiles() -> None:
    assert matches("(" * MAX_DEPTH + "age > 1" + ")" * MAX_DEPTH, age=2) is True
    assert matches("not " * MAX_DEPTH + "age > 1", age=2) is True  # an even number of nots


OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "=": operator.eq,
    "!=": operator.ne,
}


@given(st.integers(), st.sampled_from(sorted(OPS)), st.integers())
def test_comparisons_agree_with_python(x: int, op: str, c: int) -> None:
    assert matches(f"age {op} {c}", age=x) is OPS[op](x, c)


def _maybe_not(negated: bool) -> str:
    return "not " if negated else ""


CONDITION = st.one_of(
    st.builds(lambda op, c: f"age {op} {c}", st.sampled_from(sorted(OPS)), st.integers(-5, 5)),
    st.builds(
        lambda values, neg: f"country {_maybe_not(neg)}in [{', '.join(values)}]",
        st.lists(st.sampled_from(["DE", "AT", "'CH'"]), min_size=1, max_size=3),
        st.booleans(),
    ),
    st.builds(
        lambda low, span, neg: f"age {_maybe_not(neg)}between {low} and {low + span}",
        st.integers(-5, 5),
        st.integers(0, 5),
        st.booleans(),
    ),
    st.builds(
        lambda field, neg: f"{field} is {_maybe_not(neg)}null",
        st.sampled_from(["age", "country"]),
        st.booleans(),
    ),
)
EXPRESSION = st.recursive(
    CONDITION,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a}) AND ({b})", inner, inner),
        st.builds(lambda a, b: f"{a} or {b}", inner, inner),
        st.builds(lambda a: f"not {a}", inner),
    ),
    max_leaves=8,
)
VALUES = st.fixed_dictionaries(
    {},
    optional={
        "age": st.one_of(st.none(), st.integers(-6, 6), st.just("7")),
        "country": st.one_of(st.none(), st.sampled_from(["DE", "AT", "CH", "FR"])),
    },
)


@given(EXPRESSION, VALUES)
def test_not_negates_any_expression(expression: str, values: dict[str, object]) -> None:
    assert rule(f"not ({expression})").matches(values) is not rule(expression).matches(values)


PIECES = ["(", ")", "[", "]", ",", "'", '"', "and", "OR", "not", "in", "between", "is", "null"]
PIECES += ["age", "country", "agee", "<", "<=", "==", "=", "!=", "!", "3", "-1.5", "1e999", "DE"]
GARBAGE = st.one_of(st.text(), st.lists(st.sampled_from(PIECES), max_size=30).map(" ".join))


@settings(max_examples=500)
@given(GARBAGE)
def test_garbage_raises_only_rule_errors(expression: str) -> None:
    try:
        compiled = compile_rule("g", expression, KINDS)
    except RuleError as error:
        assert str(error).startswith("rule 'g': ") and "\n" not in str(error)
        assert 1 <= error.column <= len(expression) + 1
    else:
        compiled.matches({"age": 3, "country": "DE"})
