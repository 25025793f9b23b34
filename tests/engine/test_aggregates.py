"""``engine.aggregates.SegmentAggregates``: sums kept customer by customer equal the
profiles of a fresh count over the same states, however often each was replaced."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.aggregates import SegmentAggregates, segment_profiles
from engine.features import DAY_MS, FeatureMaker
from engine.profiles import SegmentProfile
from engine.state import CustomerState
from schemas.changes import SegmentRef
from schemas.events import BehaviourEvent

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T0_MS = 1_767_225_600_000
NOW = T0_MS + 100 * DAY_MS
MAKER = FeatureMaker()
SEGMENTS = {
    sid: SegmentRef(id=sid, name=sid, kind="rule" if sid == "vip" else "learned")
    for sid in ("seg-1", "seg-2", "vip")
}
TYPES = ("purchase", "session_start", "product_view", "add_to_cart", "refund")

acts = st.lists(
    st.tuples(st.sampled_from(TYPES), st.integers(0, 99), st.floats(1, 500)), min_size=1, max_size=6
)
variants = st.tuples(st.sampled_from([None, "seg-1", "seg-2", "unknown"]), st.booleans(), acts)
operations = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.none() | variants), max_size=30
)


def state_of(customer_id: str, variant: tuple[str | None, bool, list[tuple[str, int, float]]]):
    segment, vip, events = variant
    state = CustomerState(customer_id, segment_id=segment, rule_segments=["vip"] if vip else [])
    for n, (kind, day, amount) in enumerate(sorted(events, key=lambda e: e[1])):
        event = BehaviourEvent(
            event_id=f"{customer_id}-{n}", customer_id=customer_id, type=kind,
            timestamp=T0 + timedelta(days=day),
            amount=amount if kind in ("purchase", "refund") else None,
        )  # fmt: skip
        MAKER.fold_in(state, event, T0_MS + day * DAY_MS)
    return state


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def same(kept: list[SegmentProfile], fresh: list[SegmentProfile]) -> None:
    assert [(p.segment.id, p.size) for p in kept] == [(p.segment.id, p.size) for p in fresh]
    for k, f in zip(kept, fresh, strict=True):
        assert k.means.keys() == f.means.keys()
        for name in f.means:
            assert close(k.means[name], f.means[name]), name
            assert close(k.spreads[name], f.spreads[name]), name
        for kpi in f.kpis:
            assert close(k.kpis[kpi], f.kpis[kpi]), kpi


@settings(max_examples=60, deadline=None)
@given(operations)
def test_replacing_and_removing_customers_equals_counting_the_final_states(ops) -> None:
    aggregates, final = SegmentAggregates(MAKER, 60), {}
    for customer_id, variant in ops:
        if variant is None:
            aggregates.remove(customer_id)
            final.pop(customer_id, None)
        else:
            state = state_of(customer_id, variant)
            aggregates.update(state, NOW)
            final[customer_id] = state
    assert len(aggregates) == len(final)
    fresh = segment_profiles(final.values(), SEGMENTS, MAKER, NOW)
    same(aggregates.profiles(SEGMENTS, NOW), fresh)


def test_a_segment_emptied_by_removals_has_no_profile_and_no_residue() -> None:
    aggregates = SegmentAggregates(MAKER, 60)
    big = state_of("a", ("seg-1", False, [("purchase", 1, 1e9)]))
    small = state_of("b", ("seg-1", False, [("purchase", 2, 0.5)]))
    aggregates.update(big, NOW)
    aggregates.update(small, NOW)
    aggregates.remove("a")
    aggregates.remove("b")
    assert aggregates.profiles(SEGMENTS, NOW) == [] and aggregates.sizes() == {}
    aggregates.update(small, NOW)  # counted anew from exact zeros
    (profile,) = aggregates.profiles(SEGMENTS, NOW)
    assert profile.means["total_spend"] == 0.5 and profile.spreads["total_spend"] == 0.0


def test_an_erasure_marker_counts_nowhere_and_replaces_what_was_counted() -> None:
    aggregates = SegmentAggregates(MAKER, 60)
    aggregates.update(state_of("a", ("seg-1", True, [("session_start", 3, 1.0)])), NOW)
    assert aggregates.sizes() == {"seg-1": 1, "vip": 1}
    aggregates.update(CustomerState("a", segment_id="seg-1", erased_until_ms=NOW), NOW)
    assert aggregates.sizes() == {} and len(aggregates) == 0


def test_lapsed_share_is_worked_out_at_each_reading_to_the_day() -> None:
    aggregates = SegmentAggregates(MAKER, lapsed_after_days=60)
    state = state_of("a", ("seg-1", False, [("session_start", 0, 1.0)]))  # day 0, 00:00
    aggregates.update(state, T0_MS + 30 * DAY_MS)  # counted once, never offered again

    def lapsed(at_ms: int) -> float:
        return aggregates.profiles(SEGMENTS, at_ms)[0].kpis["lapsed_share"]

    assert lapsed(T0_MS + 30 * DAY_MS) == 0.0
    assert lapsed(T0_MS + 60 * DAY_MS) == 0.0  # 60 days: not more than 60
    assert lapsed(T0_MS + 61 * DAY_MS - 1) == 0.0  # day 0 ended 60 days before
    assert lapsed(T0_MS + 61 * DAY_MS) == 1.0
