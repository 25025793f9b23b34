"""``engine.naming``: one row per naming rule, the fallback, suffixes and signals. No broker."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from engine.naming import RULES, SIGNALS, segment_name, signals

FALLBACK = "casual customers"

# (standardised centroid, expected name): the first matching rule wins.
CASES: list[tuple[dict[str, float], str]] = [
    ({"days_since_last_seen": 1.5, "monetary_90d": 1.0}, "lapsed big spenders"),
    ({"recency_days": 0.9, "total_spend": 0.31}, "lapsed big spenders"),
    ({"days_since_last_seen": 1.5, "monetary_90d": 0.3}, "lapsed customers"),
    ({"days_since_last_seen": 2.0, "frequency_30d": 3.0}, "lapsed customers"),
    ({"tenure_days": -1.5}, "new browsers"),
    ({"tenure_days": -0.81, "frequency_90d": 0.29, "monetary_90d": 2.0}, "new browsers"),
    ({"tenure_days": -1.5, "purchase_count": 0.3}, "new buyers"),
    ({"monetary_90d": 1.4, "frequency_90d": 1.1, "tenure_days": 0.2}, "high-value loyal"),
    ({"avg_order_value": 0.6, "purchase_count": 0.6}, "high-value loyal"),
    ({"frequency_30d": 1.0}, "frequent bargain hunters"),
    ({"frequency_30d": 0.6, "monetary_30d": 0.5}, "frequent bargain hunters"),
    ({"email_opens_30d": 1.2}, "email engaged"),
    ({"email_click_rate": 0.9, "product_views_30d": 2.0, "frequency_30d": -1.0}, "email engaged"),
    ({"product_views_30d": 1.0, "frequency_30d": -0.5}, "window shoppers"),
    ({"sessions_7d": 0.6, "searches_30d": 0.6, "purchase_count": -0.1}, "window shoppers"),
    ({"cart_abandonment_30d": 1.0}, "cart abandoners"),
    ({"support_contacts_30d": 1.5}, "support heavy"),
    ({"avg_order_value": 1.0}, "big-ticket occasional buyers"),
    ({"monetary_7d": 0.51, "frequency_7d": 0.5}, "big-ticket occasional buyers"),
    # Nothing stands out far enough: the fallback.
    ({}, FALLBACK),
    ({"age": 3.0, "income_level": -3.0}, FALLBACK),  # features no signal reads
    ({"days_since_last_seen": 0.8}, FALLBACK),  # thresholds are strict
    ({"tenure_days": -0.8}, FALLBACK),
    ({"monetary_90d": 0.5}, FALLBACK),
    ({"email_opens_30d": 0.8}, FALLBACK),
    ({"product_views_30d": 0.5, "frequency_30d": -1.0}, FALLBACK),
    ({"product_views_30d": 2.0, "frequency_30d": 0.0}, FALLBACK),
    ({"cart_abandonment_30d": 0.8}, FALLBACK),
    ({"support_contacts_30d": 1.0}, FALLBACK),
    ({"days_since_last_seen": -3.0, "tenure_days": 3.0}, FALLBACK),
]


@pytest.mark.parametrize(("z", "name"), CASES, ids=[f"{n}-{i}" for i, (_, n) in enumerate(CASES)])
def test_segment_name(z: dict[str, float], name: str) -> None:
    assert segment_name(z) == name
    assert segment_name(z, taken={"something else"}) == name


def test_every_rule_has_a_case() -> None:
    assert {name for _, name in RULES} <= {name for _, name in CASES}
    assert FALLBACK not in {name for _, name in RULES}


@pytest.mark.parametrize(
    ("taken", "expected"),
    [
        (set(), "lapsed customers"),
        ({"lapsed customers"}, "lapsed customers (2)"),
        ({"lapsed customers", "lapsed customers (2)"}, "lapsed customers (3)"),
        ({"lapsed customers", "lapsed customers (3)"}, "lapsed customers (2)"),
        ({"lapsed customers (2)"}, "lapsed customers"),  # the plain name is free
        ({"lapsed customers", "lapsed big spenders", "casual customers"}, "lapsed customers (2)"),
        (["lapsed customers", *(f"lapsed customers ({n})" for n in range(2, 10))],
         "lapsed customers (10)"),
    ],
)  # fmt: skip
def test_a_taken_name_gets_the_next_free_number(taken: Collection[str], expected: str) -> None:
    assert segment_name({"days_since_last_seen": 2.0}, taken) == expected


def test_names_handed_out_in_turn_are_all_different() -> None:
    taken: set[str] = set()
    for _ in range(4):
        taken.add(segment_name({}, taken))
    assert taken == {FALLBACK, f"{FALLBACK} (2)", f"{FALLBACK} (3)", f"{FALLBACK} (4)"}


@pytest.mark.parametrize(
    ("z", "expected"),
    [
        ({}, {}),
        ({"monetary_90d": 1.0, "total_spend": 2.0}, {"value": 1.5}),
        ({"monetary_7d": 3.0, "monetary_30d": 0.0, "avg_order_value": 0.0}, {"value": 1.0}),
        ({"frequency_30d": 1.0, "purchase_count": 0.0}, {"frequency": 0.5}),
        ({"recency_days": -1.0}, {"lapse": -1.0}),
        ({"tenure_days": -2.0, "age": 9.0}, {"tenure": -2.0}),
        ({"sessions_30d": 1.0, "searches_7d": 2.0, "product_views_90d": 3.0}, {"browsing": 2.0}),
        ({"email_opens_30d": 0.5, "email_click_rate": 1.5}, {"email": 1.0}),
        ({"cart_abandonment_7d": 0.4}, {"abandonment": 0.4}),
        ({"support_contacts_90d": -0.2, "refunds_90d": 5.0}, {"support": -0.2}),
    ],
)
def test_signals_average_only_the_features_present(
    z: dict[str, float], expected: dict[str, float]
) -> None:
    got = signals(z)
    assert list(got) == list(SIGNALS)
    assert got == pytest.approx({name: expected.get(name, 0.0) for name in SIGNALS})
