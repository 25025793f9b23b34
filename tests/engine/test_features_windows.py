"""Windowed sums below ``WINDOW_EPSILON`` are exactly 0.0, read and stored. No broker.

Exponentially weighted sums never reach zero on their own: a customer silent for long
read as ``frequency_30d = 1.3e-08``, which moved zero-share distributions (drift PSI).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.features import DAY_MS, QUANTITIES, WINDOW_EPSILON, FeatureMaker
from engine.state import CustomerState
from schemas.events import EVENT_TYPES, BehaviourEvent, EventProperties
from schemas.features import windowed_name

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T0_MS = 1_767_225_600_000
YEAR_MS = 365 * DAY_MS


def event(n: int, kind: str, ts: int, amount: float | None = None) -> BehaviourEvent:
    return BehaviourEvent(
        event_id=f"e{n}",
        customer_id="c1",
        type=kind,
        timestamp=T0 + timedelta(milliseconds=ts - T0_MS),
        amount=amount,
        properties=EventProperties(category="shoes", session_id=f"s{n}"),
    )


def windowed(
    maker: FeatureMaker, state: CustomerState, now_ms: int, ratios: bool = False
) -> dict[str, float]:
    """The windowed sums read at ``now_ms``, and cart abandonment (a ratio of two) if asked."""
    out = maker.features(state, now_ms)
    quantities = (*QUANTITIES, "cart_abandonment") if ratios else QUANTITIES
    names = [windowed_name(q, d) for q in quantities for d in maker.windows_days]
    values = {name: out[name] for name in names}
    assert all(isinstance(v, float) for v in values.values())
    return values  # type: ignore[return-value]


def test_a_customer_silent_for_a_year_has_exactly_zero_windowed_features() -> None:
    # Windows whose horizon (ln 1e6 = 13.8 windows) a year has passed; 90 days has not:
    # exp(-365 / 90) = 1.7% of an event is real weight, by the window's design.
    maker = FeatureMaker(windows_days=(7, 14, 21))
    state = CustomerState("c1")
    kinds = sorted(EVENT_TYPES)
    for n, kind in enumerate(kinds * 3):
        maker.fold_in(state, event(n, kind, T0_MS + n * 60_000, 1.0), T0_MS + n * 60_000)
    assert state.last_seen_ms is not None
    assert all(v > 0.0 for v in windowed(maker, state, state.last_seen_ms).values())
    later = state.last_seen_ms + YEAR_MS
    assert set(windowed(maker, state, later, ratios=True).values()) == {0.0}
    # Stored too, once the next event (here an email open) decays the state to its time.
    maker.fold_in(state, event(999, "email_open", later), later)
    opens = {windowed_name("email_opens", d) for d in maker.windows_days}
    read = windowed(maker, state, later, ratios=True)
    assert {v for k, v in read.items() if k not in opens} == {0.0}
    assert sorted(set(state.windowed)) == [0.0, 1.0]  # the open's own weight, and zeros


def test_the_issues_reading_of_1_3e_08_is_zero_and_what_is_above_epsilon_is_unchanged() -> None:
    maker = FeatureMaker(windows_days=(30,))
    state = CustomerState("c1")
    maker.fold_in(state, event(0, "purchase", T0_MS, 400.0), T0_MS)
    silent = round(-math.log(1.3e-08) * 30 * DAY_MS)  # ~545 days
    read = maker.features(state, T0_MS + silent)
    assert read["frequency_30d"] == 0.0
    # Epsilon is of one unit: 400 of money decayed as far is 5.2e-06, still there.
    assert read["monetary_30d"] == pytest.approx(400 * 1.3e-08)
    edge = round(-math.log(2 * WINDOW_EPSILON) * 30 * DAY_MS)  # 2 epsilon: still there
    assert maker.features(state, T0_MS + edge)["frequency_30d"] == pytest.approx(2e-6)


KINDS = st.sampled_from(sorted(EVENT_TYPES))
# Amounts from nothing to large, so money sums cross epsilon on their own too.
AMOUNTS = st.none() | st.floats(0, 1e-5) | st.floats(0, 1e4)
# Steps in event time: some back (late, up to 60 days), many long silences.
STEPS = st.integers(-60 * DAY_MS, 2 * YEAR_MS)


@settings(max_examples=200)
@given(
    acts=st.lists(st.tuples(KINDS, STEPS, AMOUNTS), min_size=1, max_size=30),
    reads=st.lists(st.integers(0, 3 * YEAR_MS), min_size=1, max_size=4),
    windows=st.lists(st.integers(1, 120), min_size=1, max_size=3, unique=True),
)
def test_windowed_values_are_zero_or_at_least_epsilon_read_and_stored(
    acts: list[tuple[str, int, float | None]], reads: list[int], windows: list[int]
) -> None:
    maker = FeatureMaker(windows_days=windows)
    state = CustomerState("c1")
    t = T0_MS
    for n, (kind, step, amount) in enumerate(acts):
        t = max(T0_MS, t + step)
        amount = amount if kind in ("purchase", "refund") else None
        maker.fold_in(state, event(n, kind, t, amount), t)
        assert all(v == 0.0 or v >= WINDOW_EPSILON for v in state.windowed)
    assert state.last_seen_ms is not None
    for after in (0, *reads):
        values = windowed(maker, state, state.last_seen_ms + after)
        assert all(v == 0.0 or v >= WINDOW_EPSILON for v in values.values()), values


@settings(max_examples=100)
@given(kind=st.sampled_from(["purchase", "search", "product_view"]),
       silent=st.integers(0, 30 * 20 * DAY_MS))  # fmt: skip
def test_one_event_reads_as_its_decayed_weight_or_exactly_zero(kind: str, silent: int) -> None:
    maker = FeatureMaker(windows_days=(30,))
    state = CustomerState("c1")
    maker.fold_in(state, event(0, kind, T0_MS, 5.0 if kind == "purchase" else None), T0_MS)
    name = {"purchase": "frequency_30d", "search": "searches_30d"}.get(kind, "product_views_30d")
    weight = math.exp(-silent / (30 * DAY_MS))
    expected = weight if weight >= WINDOW_EPSILON else 0.0
    assert maker.features(state, T0_MS + silent)[name] == pytest.approx(expected, rel=1e-12)


def test_cart_abandonment_is_zero_once_the_carts_have_decayed_away() -> None:
    maker = FeatureMaker(windows_days=(7,))
    state = CustomerState("c1")
    maker.fold_in(state, event(0, "add_to_cart", T0_MS), T0_MS)
    assert maker.features(state, T0_MS + DAY_MS)["cart_abandonment_7d"] == 1.0
    assert maker.features(state, T0_MS + 120 * DAY_MS)["cart_abandonment_7d"] == 0.0
