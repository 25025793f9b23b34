"""``SegmentEngine.process`` against a ``MemoryStore``: duplicates count once, late events
change nothing, and any order within the allowed lateness gives the same counters.

Event times are whole seconds after 2026-01-01 (see ``engine_helpers``).
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import CustomerState, MemoryStore
from engine.features import net_spend
from schemas.events import EVENT_TYPES, BehaviourEvent, InputEvent
from tests.engine.engine_helpers import HOUR, act, buy, make, run


def lifetime(state: CustomerState) -> dict[str, Any]:
    return {
        "purchase_count": state.purchase_count,
        "total_spend": pytest.approx(state.total_spend, rel=1e-9, abs=1e-9),
        "first_seen_ms": state.first_seen_ms,
        "last_seen_ms": state.last_seen_ms,
        "last_purchase_ms": state.last_purchase_ms,
        "counts": state.counts,
    }


# --- duplicates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batches", "outcomes", "purchases"),
    [
        pytest.param([[buy("e1", 0), buy("e1", 0)]], ["accepted", "duplicate"], 1, id="in-batch"),
        pytest.param([[buy("e1", 0)], [buy("e1", 0)]], ["accepted", "duplicate"], 1, id="batches"),
        pytest.param(
            [[buy("e1", 0), buy("e1", 60, amount=99.0)]],
            ["accepted", "duplicate"],
            1,
            id="same-id-other-payload",
        ),
        pytest.param(
            [[buy("e1", 0), buy("e2", 0), buy("e1", 0), buy("e2", 0)]],
            ["accepted", "accepted", "duplicate", "duplicate"],
            2,
            id="interleaved",
        ),
        pytest.param(
            [[buy("e1", 60), buy("e2", 0), buy("e2", 0)]],
            ["accepted", "accepted", "duplicate"],
            2,
            id="reordered",
        ),
    ],
)
def test_duplicates_count_once(
    batches: list[list[InputEvent]], outcomes: list[str], purchases: int
) -> None:
    engine, store = make(), MemoryStore()
    seen = [o for batch in batches for o in engine.process(batch, store).outcomes]
    assert seen == outcomes
    state = store.get("c1")
    assert state is not None
    assert state.purchase_count == purchases
    assert state.total_spend == pytest.approx(10.0 * purchases)
    assert state.counts == {"purchase": purchases}


def test_event_ids_are_per_customer() -> None:
    result, store = run([buy("e1", 0, customer="a"), buy("e1", 0, customer="b")])
    assert result.outcomes == ["accepted", "accepted"]
    assert store.states["a"].purchase_count == store.states["b"].purchase_count == 1


# --- lateness -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lateness", "latest", "event", "outcome"),
    [
        pytest.param(HOUR, 10 * HOUR, 9 * HOUR, "accepted", id="exactly-the-lateness"),
        pytest.param(HOUR, 10 * HOUR, 9 * HOUR - 1, "late", id="one-second-more"),
        pytest.param(HOUR, 10 * HOUR, 0, "late", id="much-older"),
        pytest.param(HOUR, 10 * HOUR, 10 * HOUR + 1, "accepted", id="newer"),
        pytest.param(0, 10 * HOUR, 10 * HOUR, "accepted", id="zero-lateness-same-time"),
        pytest.param(0, 10 * HOUR, 10 * HOUR - 1, "late", id="zero-lateness-older"),
    ],
)
@pytest.mark.parametrize("kind", ["purchase", "page_view", "refund"])
def test_late_events_change_nothing(
    lateness: int, latest: int, event: int, outcome: str, kind: str
) -> None:
    engine, store = make(lateness=lateness), MemoryStore()
    engine.process([buy("e0", latest - HOUR // 2, 50.0), act("e1", latest)], store)
    before = copy.deepcopy(store.get("c1"))
    amount = 5.0 if kind in ("purchase", "refund") else None
    result = engine.process([act("e2", event, kind, amount=amount)], store)
    assert result.outcomes == [outcome]
    assert result.changes == [] and result.errors == {}
    after = store.get("c1")
    if outcome == "late":
        assert after == before
    else:
        assert after is not None and before is not None
        assert after.counts.get(kind, 0) == before.counts.get(kind, 0) + 1


def test_lateness_is_measured_against_each_customers_own_latest() -> None:
    result, _ = run(
        [act("e1", 10 * HOUR, customer="a"), act("e2", 0, customer="b")], make(lateness=HOUR)
    )
    assert result.outcomes == ["accepted", "accepted"]


# --- order independence within lateness ---------------------------------------------------

NON_REFUND = sorted(EVENT_TYPES - {"refund"})


@st.composite
def events_within_lateness(draw: st.DrawFn) -> list[BehaviourEvent]:
    n = draw(st.integers(1, 25))
    customers = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n))
    types = draw(st.lists(st.sampled_from(NON_REFUND), min_size=n, max_size=n))
    times = draw(st.lists(st.integers(0, 6 * 86400), min_size=n, max_size=n))
    amounts = draw(
        st.lists(
            st.floats(0, 5000, allow_nan=False).map(lambda a: round(a, 2)), min_size=n, max_size=n
        )
    )
    return [
        act(f"e{i}", t, kind, cid, amount if kind == "purchase" else None)
        for i, (cid, kind, t, amount) in enumerate(
            zip(customers, types, times, amounts, strict=True)
        )
    ]


@settings(max_examples=60, deadline=None)
@given(events=events_within_lateness(), data=st.data())
def test_any_order_within_lateness_gives_the_same_lifetime_counters(
    events: list[BehaviourEvent], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(events))
    first, store_a = run(events, make(lateness=7 * 86400))
    second, store_b = run(shuffled, make(lateness=7 * 86400))
    assert first.outcomes == second.outcomes == ["accepted"] * len(events)
    assert store_a.states.keys() == store_b.states.keys()
    for cid, state in store_a.states.items():
        assert lifetime(store_b.states[cid]) == lifetime(state)
    # And the counters are the plain sums, not just equal to each other.
    for cid, state in store_a.states.items():
        mine = [e for e in events if e.customer_id == cid]
        buys = [e for e in mine if e.type == "purchase"]
        stamps = [int(e.timestamp.timestamp()) * 1000 for e in mine]
        assert state.purchase_count == len(buys)
        assert state.total_spend == pytest.approx(sum(e.amount or 0 for e in buys))
        assert (state.first_seen_ms, state.last_seen_ms) == (min(stamps), max(stamps))
        assert state.counts == dict(Counter(e.type for e in mine))


def test_a_refund_arriving_before_its_purchase_gives_the_same_total() -> None:
    in_order, store_a = run([buy("p", 0, 30.0), act("r", 60, "refund", amount=30.0)])
    reordered, store_b = run([act("r", 60, "refund", amount=30.0), buy("p", 0, 30.0)])
    assert in_order.outcomes == reordered.outcomes == ["accepted", "accepted"]
    assert net_spend(store_a.states["c1"]) == 0.0
    assert net_spend(store_b.states["c1"]) == net_spend(store_a.states["c1"])
