"""``engine.naming``: one row per naming rule, the fallback, signals only from features
with data, unique names among live segments, and names kept within a margin. No broker."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.naming import (
    FALLBACK,
    RULES,
    SIGNALS,
    kept_base,
    name_segments,
    segment_name,
    signals,
)
from schemas.features import DEFAULT_LEARNED_FEATURES

# (standardised centroid, expected name): the first matching rule wins.
CASES: list[tuple[dict[str, float], str]] = [
    ({"days_since_last_seen": 1.5, "monetary_90d": 1.0}, "lapsed big spenders"),
    ({"recency_days": 0.9, "total_spend": 0.31}, "lapsed big spenders"),
    ({"days_since_last_seen": 1.5, "monetary_90d": 0.3}, "lapsed customers"),
    ({"days_since_last_seen": 2.0, "frequency_30d": 3.0}, "lapsed customers"),
    ({"tenure_days": -1.5, "purchase_count": -0.2}, "new browsers"),
    ({"tenure_days": -0.81, "frequency_90d": 0.29, "monetary_90d": 2.0}, "new browsers"),
    ({"tenure_days": -1.5, "purchase_count": 0.31}, "new buyers"),
    ({"tenure_days": -1.5}, "new customers"),  # how often they buy is not known
    ({"monetary_90d": 1.4, "frequency_90d": 1.1, "tenure_days": 0.2}, "high-value loyal"),
    ({"avg_order_value": 0.6, "purchase_count": 0.6}, "high-value loyal"),
    ({"frequency_30d": 1.0, "avg_order_value": -0.1}, "frequent bargain hunters"),
    ({"frequency_30d": 0.6, "monetary_30d": 0.5}, "frequent buyers"),
    ({"frequency_30d": 1.0}, "frequent buyers"),  # no value feature: no bargains claimed
    ({"email_opens_30d": 1.2}, "email engaged"),
    ({"email_click_rate": 0.9, "product_views_30d": 2.0, "frequency_30d": -1.0}, "email engaged"),
    ({"product_views_30d": 1.0, "frequency_30d": -0.5}, "window shoppers"),
    ({"sessions_7d": 0.6, "searches_30d": 0.6, "purchase_count": -0.1}, "window shoppers"),
    ({"cart_abandonment_30d": 1.0}, "cart abandoners"),
    ({"support_contacts_30d": 1.5}, "support heavy"),
    ({"avg_order_value": 1.0, "frequency_30d": 0.0}, "big-ticket occasional buyers"),
    ({"monetary_7d": 0.51, "frequency_7d": 0.49}, "big-ticket occasional buyers"),
    ({"avg_order_value": 1.0}, "big spenders"),  # how often they buy is not known
    # Nothing stands out far enough: the fallback.
    ({}, FALLBACK),
    ({"age": 3.0, "income_level": -3.0}, FALLBACK),  # features no signal reads
    ({"days_since_last_seen": 0.8}, FALLBACK),  # thresholds are strict
    ({"tenure_days": -0.8}, FALLBACK),
    ({"monetary_90d": 0.5}, FALLBACK),
    ({"email_opens_30d": 0.8}, FALLBACK),
    ({"product_views_30d": 0.5, "frequency_30d": -1.0}, FALLBACK),
    ({"product_views_30d": 2.0, "frequency_30d": 0.0}, FALLBACK),
    ({"product_views_30d": 2.0}, FALLBACK),  # window shoppers: buying must be known
    ({"cart_abandonment_30d": 0.8}, FALLBACK),
    ({"support_contacts_30d": 1.0}, FALLBACK),
    ({"days_since_last_seen": -3.0, "tenure_days": 3.0}, FALLBACK),
]


@pytest.mark.parametrize(("z", "name"), CASES, ids=[f"{n}-{i}" for i, (_, n) in enumerate(CASES)])
def test_segment_name(z: dict[str, float], name: str) -> None:
    assert segment_name(z) == name
    assert name_segments({"seg-1": z}) == {"seg-1": name}


def test_every_rule_has_a_case() -> None:
    assert {rule.name for rule in RULES} <= {name for _, name in CASES}
    assert FALLBACK not in {rule.name for rule in RULES}


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
    assert {k: v for k, v in got.items() if v is not None} == pytest.approx(expected)
    assert {k for k, v in got.items() if v is None} == set(SIGNALS) - set(expected)


def test_a_signal_whose_features_carry_no_data_is_unknown() -> None:
    z = {"monetary_90d": 0.0, "avg_order_value": 0.0, "frequency_30d": 1.0}
    assert signals(z, known={"frequency_30d"}) == {
        **dict.fromkeys(SIGNALS),
        "frequency": 1.0,
    }
    # One value feature with data is enough; the empty ones do not water it down.
    z = {"monetary_90d": 0.0, "avg_order_value": 1.2, "frequency_30d": 1.0}
    assert signals(z, known={"avg_order_value", "frequency_30d"})["value"] == 1.2


# Every value-claiming name: one that tests value, whichever way.
VALUE_NAMES = {rule.name for rule in RULES if "value" in rule.tests}
VALUE_WORDS = ("higher value", "mid value", "lower value")
DEFAULT_FEATURES = DEFAULT_LEARNED_FEATURES
NO_AMOUNTS = tuple(f for f in DEFAULT_FEATURES if f != "avg_order_value")

centroid = st.fixed_dictionaries(
    {f: st.floats(-3, 3, allow_nan=False).map(lambda v: round(v, 2)) for f in DEFAULT_FEATURES}
)


def test_the_value_claiming_names_are_the_ones_expected() -> None:
    expected = {"lapsed big spenders", "high-value loyal", "frequent bargain hunters",
                "big-ticket occasional buyers", "big spenders"}  # fmt: skip
    assert expected == VALUE_NAMES


@settings(max_examples=200, deadline=None)
@given(st.lists(centroid, min_size=1, max_size=12))
def test_no_name_claims_value_without_value_data(centroids: list[dict[str, float]]) -> None:
    # Whatever the value coordinate says, it carries no data: nothing may claim it.
    profiles = {f"seg-{i + 1}": z for i, z in enumerate(centroids)}
    for name in name_segments(profiles, known=NO_AMOUNTS).values():
        assert name.split(", ")[0].split(" (")[0] not in VALUE_NAMES, name
        assert not any(word in name for word in VALUE_WORDS), name


def test_a_clickstream_without_amounts_gets_no_bargain_hunters() -> None:
    # Below-average value where amounts exist: bargain hunters. Where none exist the
    # coordinate says nothing (here even a stray one), and only frequency is claimed.
    frequent = {"frequency_30d": 1.5, "frequency_90d": 1.2, "avg_order_value": -0.3}
    assert name_segments({"seg-1": frequent}) == {"seg-1": "frequent bargain hunters"}
    assert name_segments({"seg-1": frequent}, known=NO_AMOUNTS) == {"seg-1": "frequent buyers"}
    exactly_mean = {**frequent, "avg_order_value": 0.0}
    assert name_segments({"seg-1": exactly_mean}) == {"seg-1": "frequent buyers"}


@settings(max_examples=300, deadline=None)
@given(st.lists(centroid, min_size=1, max_size=16), st.sampled_from([DEFAULT_FEATURES, NO_AMOUNTS]))
def test_names_are_unique_among_live_segments_and_never_a_counter(
    centroids: list[dict[str, float]], known: tuple[str, ...]
) -> None:
    profiles = {f"seg-{i + 1}": z for i, z in enumerate(centroids)}
    names = name_segments(profiles, known=known)
    assert set(names) == set(profiles)
    assert len(set(names.values())) == len(names)
    assert not any(re.search(r"\(\d+\)$", n) for n in names.values())
    # Deterministic, whatever order the segments come in, and stable when kept.
    assert name_segments(dict(reversed(profiles.items())), known=known) == names
    assert name_segments(profiles, known=known, current=names, margin=0.5) == names


def test_twins_are_told_apart_by_the_signal_that_separates_them_most() -> None:
    lapsed = {"days_since_last_seen": 2.0, "tenure_days": 0.1, "avg_order_value": 0.2}
    profiles = {
        "seg-1": lapsed,
        "seg-2": {**lapsed, "avg_order_value": -0.5, "tenure_days": 0.3},
        "seg-3": {**lapsed, "avg_order_value": -0.1, "tenure_days": 0.2},
        "seg-4": {"frequency_30d": 2.0, "avg_order_value": 2.0},
    }
    assert name_segments(profiles) == {
        "seg-1": "lapsed customers, higher value",
        "seg-2": "lapsed customers, lower value",
        "seg-3": "lapsed customers, mid value",
        "seg-4": "high-value loyal",
    }
    # Equal on every signal but the id: the id, never a counter.
    twins = {"seg-7": lapsed, "seg-9": lapsed}
    assert name_segments(twins) == {
        "seg-7": "lapsed customers (seg-7)",
        "seg-9": "lapsed customers (seg-9)",
    }


def test_an_override_name_is_reserved() -> None:
    named = name_segments({"seg-1": {"frequency_30d": 1.0}}, reserved={"frequent buyers"})
    assert named == {"seg-1": "frequent buyers (seg-1)"}


# --- hysteresis -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lapse", "current", "expected"),
    [
        (0.9, None, "lapsed customers"),
        (0.7, None, FALLBACK),
        (0.7, "lapsed customers", "lapsed customers"),  # 0.1 past its threshold: kept
        (0.56, "lapsed customers", "lapsed customers"),
        (0.55, "lapsed customers", FALLBACK),  # past it by the margin
        (0.9, FALLBACK, FALLBACK),  # another rule holds, by less than the margin
        (1.06, FALLBACK, "lapsed customers"),
        (2.0, "lapsed customers (2)", "lapsed customers"),  # a former counter goes
        (0.9, "someone's own name", "lapsed customers"),
    ],
)
def test_a_base_name_is_kept_within_the_margin(
    lapse: float, current: str | None, expected: str
) -> None:
    assert kept_base({"lapse": lapse}, current, margin=0.25) == expected


def test_an_earlier_rule_takes_over_only_by_the_margin() -> None:
    frequent = {"frequency": 1.0, "value": 0.6, "lapse": None}
    assert kept_base(frequent, "frequent buyers", 0.25) == "frequent buyers"
    assert kept_base({**frequent, "value": 0.76}, "frequent buyers", 0.25) == "high-value loyal"


def test_a_name_whose_signal_became_unknown_goes_at_once() -> None:
    assert kept_base({"frequency": 1.0, "value": None}, "frequent bargain hunters", 5.0) == (
        "frequent buyers"
    )


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 0.24), st.floats(0.3, 1.5), st.lists(st.booleans(), min_size=2, max_size=30))
def test_a_profile_oscillating_around_a_threshold_keeps_its_name(
    amplitude: float, start: float, ups: list[bool]
) -> None:
    # The lapse signal swings either side of the 0.8 threshold by less than the margin,
    # after a start that may be anywhere: the name settles once, then never flips.
    current: dict[str, str] = {}
    seen = []
    for step, up in enumerate([True, *ups]):
        lapse = start if step == 0 else 0.8 + (amplitude if up else -amplitude)
        z = {"days_since_last_seen": lapse, "tenure_days": 0.0}
        current = name_segments({"seg-1": z}, current=current, margin=0.25)
        seen.append(current["seg-1"])
    assert len(set(seen[1:])) == 1, seen


def test_without_a_margin_the_same_oscillation_flaps() -> None:
    # The check above can fail: with no margin the name follows every swing.
    current: dict[str, str] = {}
    seen = []
    for lapse in (0.9, 0.7, 0.9, 0.7):
        current = name_segments({"s": {"days_since_last_seen": lapse}}, current=current)
        seen.append(current["s"])
    assert seen == ["lapsed customers", FALLBACK, "lapsed customers", FALLBACK]


def test_qualifiers_are_kept_while_they_still_tell_the_group_apart() -> None:
    a = {"days_since_last_seen": 2.0, "avg_order_value": 0.2, "tenure_days": 0.0}
    b = {"days_since_last_seen": 2.0, "avg_order_value": -0.2, "tenure_days": 0.3}
    first = name_segments({"seg-1": a, "seg-2": b}, margin=0.25)
    assert first == {
        "seg-1": "lapsed customers, higher value",
        "seg-2": "lapsed customers, lower value",
    }
    # Value now separates them less than tenure does: the names stay.
    a2, b2 = {**a, "avg_order_value": 0.05}, {**b, "tenure_days": 1.0}
    assert name_segments({"seg-1": a2, "seg-2": b2}, current=first, margin=0.25) == first
    # A third joins the group: the group is named afresh, all three apart.
    c = {**a, "tenure_days": -0.5}
    again = name_segments({"seg-1": a2, "seg-2": b2, "seg-3": c}, current=first, margin=0.25)
    assert len(set(again.values())) == 3
    assert all(n.startswith("lapsed customers, ") for n in again.values())


# --- names that claim a time ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("z", "days", "current", "expected"),
    [
        ({"tenure_days": -1.5}, None, None, "new customers"),  # days unknown: the rank only
        ({"tenure_days": -1.5}, {"tenure_days": 20.0}, None, "new customers"),
        # The newest of a population that joined over a year ago are not new.
        ({"tenure_days": -1.5}, {"tenure_days": 450.0}, None, FALLBACK),
        ({"tenure_days": -1.5, "frequency_90d": 0.5}, {"tenure_days": 450.0}, None, FALLBACK),
        # A name held keeps its bound a quarter looser: 70 days is still new enough.
        ({"tenure_days": -1.5}, {"tenure_days": 70.0}, "new customers", "new customers"),
        ({"tenure_days": -1.5}, {"tenure_days": 70.0}, None, FALLBACK),
        ({"tenure_days": -1.5}, {"tenure_days": 80.0}, "new customers", FALLBACK),
        ({"days_since_last_seen": 2.0}, {"days_since_last_seen": 45.0}, None, "lapsed customers"),
        # Longest silent, but for a week: not lapsed.
        ({"days_since_last_seen": 2.0}, {"days_since_last_seen": 7.0}, None, FALLBACK),
        (
            {"days_since_last_seen": 2.0},
            {"days_since_last_seen": 25.0},
            "lapsed customers",
            "lapsed customers",
        ),
    ],
)
def test_a_name_that_claims_a_time_holds_in_days(
    z: dict[str, float], days: dict[str, float] | None, current: str | None, expected: str
) -> None:
    got = name_segments(
        {"s": z}, current={"s": current} if current else None, margin=0.25,
        days={"s": days} if days else None,
    )  # fmt: skip
    assert got == {"s": expected}


def test_a_segment_keeps_its_name_when_a_twin_is_born_and_when_it_goes() -> None:
    lapsed = {"days_since_last_seen": 2.0, "avg_order_value": 0.2}
    alone = name_segments({"seg-1": lapsed}, margin=0.25)
    assert alone == {"seg-1": "lapsed customers"}
    twin = {"days_since_last_seen": 1.8, "avg_order_value": -0.6}
    both = name_segments({"seg-1": lapsed, "seg-5": twin}, current=alone, margin=0.25)
    # The newcomer is told apart; the incumbent is not renamed under its customers.
    assert both == {"seg-1": "lapsed customers", "seg-5": "lapsed customers, lower value"}
    assert name_segments({"seg-1": lapsed}, current=both, margin=0.25) == alone
    # The newcomer, left alone, drops what told it apart.
    assert name_segments({"seg-5": twin}, current=both, margin=0.25) == {
        "seg-5": "lapsed customers"
    }


def test_a_former_counter_is_not_kept() -> None:
    lapsed = {"days_since_last_seen": 2.0, "avg_order_value": 0.2}
    twin = {"days_since_last_seen": 1.8, "avg_order_value": -0.6}
    current = {"seg-1": "lapsed customers", "seg-2": "lapsed customers (2)"}
    named = name_segments({"seg-1": lapsed, "seg-2": twin}, current=current, margin=0.25)
    assert named == {"seg-1": "lapsed customers", "seg-2": "lapsed customers, lower value"}
