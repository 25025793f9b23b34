"""``SegmentEngine.process`` against a ``MemoryStore``: refunds net against spend, and
profile updates are last-writer-wins per attribute whatever their arrival order.

Event times are whole seconds after 2026-01-01 (see ``engine_helpers``).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.features import net_spend
from tests.engine.engine_helpers import act, buy, ms, profile, run

# --- refunds ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amounts", "spend"),
    [
        pytest.param([30.0, -10.0], 20.0, id="partial"),
        pytest.param([30.0, -30.0], 0.0, id="full"),
        pytest.param([30.0, -50.0], 0.0, id="more-than-bought"),
        pytest.param([30.0, -50.0, 5.0], 0.0, id="over-refund-is-netted-not-floored"),
        pytest.param([-5.0], 0.0, id="refund-only"),
        pytest.param([20.0, -5.0, 10.0, -5.0], 20.0, id="mixed"),
    ],
)
def test_refunds_lower_total_spend_but_never_below_zero(amounts: list[float], spend: float) -> None:
    # Positive amounts are purchases, negative ones refunds, one second apart in order.
    events = [
        buy(f"e{i}", i, amount=a) if a > 0 else act(f"e{i}", i, "refund", amount=-a)
        for i, a in enumerate(amounts)
    ]
    result, store = run(events)
    state = store.get("c1")
    assert result.outcomes == ["accepted"] * len(amounts)
    assert state is not None
    assert net_spend(state) == pytest.approx(spend)
    assert state.purchase_count == sum(a > 0 for a in amounts)
    assert state.counts.get("refund", 0) == sum(a < 0 for a in amounts)


# --- profile updates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("updates", "expected"),
    [
        pytest.param([(10, {"city": "Berlin"})], {"city": "Berlin"}, id="one"),
        pytest.param(
            [(10, {"city": "Berlin"}), (20, {"city": "Paris"})], {"city": "Paris"}, id="newer-wins"
        ),
        pytest.param(
            [(20, {"city": "Paris"}), (10, {"city": "Berlin"})],
            {"city": "Paris"},
            id="older-does-not-overwrite",
        ),
        pytest.param(
            [(10, {"city": "Berlin"}), (20, {"city": None})], {"city": None}, id="none-clears"
        ),
        pytest.param(
            [(20, {"city": "Paris"}), (10, {"city": None})],
            {"city": "Paris"},
            id="older-none-does-not-clear",
        ),
        pytest.param(
            [(20, {"city": "Paris"}), (10, {"city": "Berlin", "age": 30})],
            {"city": "Paris", "age": 30},
            id="per-attribute",
        ),
        pytest.param(
            [(10, {"tier": "gold"}), (5, {"tier": "silver"}), (15, {"age": 40})],
            {"tier": "gold", "age": 40},
            id="extra-attributes",
        ),
    ],
)
def test_profile_updates_are_last_writer_wins_per_attribute(
    updates: list[tuple[int, dict[str, Any]]], expected: dict[str, Any]
) -> None:
    result, store = run([profile(t, **attrs) for t, attrs in updates])
    assert result.outcomes == ["accepted"] * len(updates)
    assert result.changes == []
    assert store.states["c1"].attributes == expected


@settings(max_examples=50, deadline=None)
@given(
    writes=st.lists(
        st.tuples(
            st.sampled_from(["city", "age", "tier"]), st.none() | st.sampled_from(["x", "y", "z"])
        ),
        min_size=1,
        max_size=12,
    ),
    data=st.data(),
)
def test_profile_state_does_not_depend_on_arrival_order(
    writes: list[tuple[str, str | None]], data: st.DataObject
) -> None:
    # Distinct event times: the newest write of each attribute is well defined.
    updates = [
        profile(i, **{name: (value if name != "age" or value is None else 40 + i)})
        for i, (name, value) in enumerate(writes)
    ]
    newest = {}
    for update in updates:
        newest.update(update.changed())
    _, store = run(data.draw(st.permutations(updates)))
    assert store.states["c1"].attributes == newest


def test_profile_updates_do_not_touch_behaviour_counters() -> None:
    result, store = run([buy("e1", 0), profile(5, country="DE"), profile(9, customer="c2", age=3)])
    assert result.outcomes == ["accepted"] * 3
    state = store.get("c1")
    assert state is not None
    assert state.purchase_count == 1 and state.counts == {"purchase": 1}
    assert state.last_seen_ms == ms(0)  # a profile update is not activity
    assert state.attributes == {"country": "DE"}
    profile_only = store.get("c2")
    assert profile_only is not None and profile_only.last_seen_ms is None
