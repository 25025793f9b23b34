"""``SegmentEngine.process`` against a ``MemoryStore``: no broker, table-driven and properties.

Event times here are whole seconds after 2026-01-01 unless a test is about milliseconds.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import BatchResult, CustomerState, MemoryStore, SegmentEngine
from engine.features import net_spend
from schemas.config import EngineConfig, LearnedSegmentsConfig, RuleSegmentConfig
from schemas.events import EVENT_TYPES, BehaviourEvent, ErasureRequest, InputEvent, ProfileUpdate
from synthetic import generate

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T0_MS = 1_767_225_600_000
HOUR = 3600
NEVER = 10**9  # a warm-up no test reaches: no segments, no changes


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ms(seconds: int) -> int:
    return T0_MS + seconds * 1000


def buy(event_id: str, seconds: int, amount: float = 10.0, customer: str = "c1") -> BehaviourEvent:
    return act(event_id, seconds, "purchase", customer, amount)


def act(
    event_id: str,
    seconds: int,
    type: str = "page_view",
    customer: str = "c1",
    amount: float | None = None,
) -> BehaviourEvent:
    return BehaviourEvent(
        event_id=event_id,
        customer_id=customer,
        type=type,
        timestamp=at(seconds),
        amount=amount,
        currency="EUR" if amount is not None else None,
    )


def profile(seconds: int, customer: str = "c1", **attributes: Any) -> ProfileUpdate:
    return ProfileUpdate.model_validate(
        {"customer_id": customer, "timestamp": at(seconds), "attributes": attributes}
    )


def erase(seconds: int, customer: str = "c1", request_id: str = "r1") -> ErasureRequest:
    return ErasureRequest(customer_id=customer, timestamp=at(seconds), request_id=request_id)


def make(
    warmup: int = NEVER,
    publish_every: int = 1000,
    lateness: float = 7 * 86400,
    learn_every: float = 0,
    sweep_every: float = 0,
    **kwargs: Any,
) -> SegmentEngine:
    """An engine that learns from every evaluation and never sweeps, unless told."""
    learned = LearnedSegmentsConfig(
        warmup_updates=warmup, publish_every=publish_every, learn_interval_seconds=learn_every
    )
    return SegmentEngine(
        EngineConfig(
            allowed_lateness_seconds=lateness,
            sweep_interval_seconds=sweep_every,
            learned=learned,
            **kwargs,
        )
    )


WARMUP = 10  # the smallest warm-up the config allows
PRIMER: list[InputEvent] = [
    buy(f"p{i}", 0, amount=5.0 * (i + 1), customer=f"primer-{i}")
    if i % 2
    else act(f"p{i}", 0, "product_view", customer=f"primer-{i}")
    for i in range(WARMUP)
]


def primed(**kwargs: Any) -> tuple[SegmentEngine, MemoryStore]:
    """An engine past its warm-up (on other customers), so the next event is assigned."""
    engine, store = make(warmup=WARMUP, **kwargs), MemoryStore()
    engine.process(PRIMER, store)
    assert engine.segmenter.model_version == 1
    return engine, store


def run(
    events: Sequence[InputEvent], engine: SegmentEngine | None = None
) -> tuple[BatchResult, MemoryStore]:
    store = MemoryStore()
    return (engine or make()).process(events, store), store


def synthetic(customers: int, days: float, seed: int) -> list[InputEvent]:
    out: list[InputEvent] = []
    for message in generate(customers, days, seed):
        model = BehaviourEvent if message["topic"] == "behaviour" else ProfileUpdate
        out.append(model.model_validate(message["value"]))
    return out


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


# --- erasure ------------------------------------------------------------------------------


def test_erasure_forgets_the_customer_and_emits_an_erased_change() -> None:
    engine, store = primed()
    first = engine.process([buy("e1", 100), profile(100, city="Berlin")], store)
    segment = first.changes[0].segment
    assert segment is not None and store.states["c1"].segment_id == segment.id

    result = engine.process([erase(200, request_id="r9")], store)
    assert result.outcomes == ["erased"]
    assert store.get("c1") == CustomerState("c1", erased_until_ms=ms(200))
    [change] = result.changes
    assert (change.reason, change.previous, change.segment) == ("erased", segment, None)
    assert (change.trigger_event_id, change.changed_at_ms) == ("r9", ms(200))
    assert change.features == {}
    message = change.to_message(emitted_at=at(1000))
    assert message.segment is None and message.previous_segment == segment


@pytest.mark.parametrize(
    "late",
    [
        pytest.param(buy("e2", 150), id="older-purchase"),
        pytest.param(buy("e3", 200), id="purchase-at-erasure-time"),
        pytest.param(buy("e1", 100), id="redelivered-event"),
        pytest.param(profile(150, city="Paris"), id="older-profile"),
        pytest.param(profile(200, city="Paris"), id="profile-at-erasure-time"),
    ],
)
def test_events_up_to_the_erasure_do_not_resurrect_the_customer(late: InputEvent) -> None:
    engine, store = primed()
    engine.process([buy("e1", 100), erase(200)], store)
    tombstone = copy.deepcopy(store.get("c1"))
    result = engine.process([late], store)
    assert result.outcomes == ["erased"]
    assert result.changes == []
    assert store.get("c1") == tombstone == CustomerState("c1", erased_until_ms=ms(200))


def test_events_after_the_erasure_start_a_fresh_customer() -> None:
    engine, store = primed()
    engine.process([buy("e1", 100, 99.0), profile(100, city="Berlin"), erase(200)], store)
    result = engine.process([buy("e2", 201, 5.0), profile(202, age=30)], store)
    assert result.outcomes == ["accepted", "accepted"]
    state = store.get("c1")
    assert state is not None
    assert (state.purchase_count, state.total_spend) == (1, 5.0)
    assert (state.first_seen_ms, state.last_seen_ms) == (ms(201), ms(201))
    assert state.counts == {"purchase": 1}
    assert state.attributes == {"age": 30}
    assert state.recent_event_ids == ["e2"]
    [change] = result.changes
    assert change.reason == "assigned" and change.previous is None


@pytest.mark.parametrize(
    ("before", "outcomes"),
    [
        pytest.param([], ["erased"], id="unknown-customer"),
        pytest.param([act("e1", 100)], ["accepted", "erased"], id="no-segment-yet"),
        pytest.param([erase(50)], ["erased", "erased"], id="already-erased"),
    ],
)
def test_erasure_without_a_segment_emits_nothing(
    before: list[InputEvent], outcomes: list[str]
) -> None:
    result, store = run([*before, erase(200)])
    assert result.outcomes == outcomes
    assert result.changes == []
    assert store.get("c1") == CustomerState("c1", erased_until_ms=ms(200))


def test_an_older_erasure_does_not_shorten_a_newer_one() -> None:
    result, store = run([erase(200, request_id="r1"), erase(100, request_id="r2")])
    assert result.outcomes == ["erased", "erased"]
    assert store.get("c1") == CustomerState("c1", erased_until_ms=ms(200))
    assert run([erase(200), erase(100), act("e1", 150)])[0].outcomes[-1] == "erased"


def test_erasure_leaves_every_segment_the_customer_held() -> None:
    rules = (RuleSegmentConfig(id="buyers", name="Buyers", expression="purchase_count >= 1"),)
    engine, store = primed(rules=rules)
    held = engine.process([buy("e1", 100)], store).changes
    assert sorted(c.reason for c in held) == ["assigned", "entered_rule"]
    result = engine.process([erase(200)], store)
    assert sorted((c.previous.id, c.reason) for c in result.changes if c.previous) == sorted(
        (c.segment.id, "erased") for c in held if c.segment
    )
    assert all(c.segment is None for c in result.changes)
    assert len({c.change_id for c in result.changes}) == 2


def test_erasure_touches_only_its_customer() -> None:
    result, store = run([buy("e1", 0, customer="a"), buy("e2", 0, customer="b"), erase(10, "a")])
    assert result.outcomes == ["accepted", "accepted", "erased"]
    assert store.states["b"].purchase_count == 1
    assert store.states["a"].purchase_count == 0


# --- warm-up and assignment ---------------------------------------------------------------


@pytest.fixture(scope="module")
def stream() -> list[InputEvent]:
    return synthetic(customers=25, days=5, seed=3)


@pytest.mark.parametrize(("warmup", "learn_every"), [(WARMUP, 0), (40, 0), (25, 86400)])
def test_no_segment_during_warmup_and_always_one_after(
    stream: list[InputEvent], warmup: int, learn_every: float
) -> None:
    engine, store = make(warmup=warmup, publish_every=40, learn_every=learn_every), MemoryStore()
    assigned_after = 0
    for event in stream:
        result = engine.process([event], store)
        if engine.segmenter.published_model is None:  # warm-up: lessons, and customers to seed from
            assert result.changes == []
            assert all(s.segment_id is None for s in store.states.values())
        elif isinstance(event, BehaviourEvent) and result.outcomes == ["accepted"]:
            assert store.states[event.customer_id].segment_id is not None
            assigned_after += 1
    assert engine.segmenter.model_version >= 1
    assert assigned_after > 100  # the test saw both phases


def test_changes_name_the_segment_the_state_records(stream: list[InputEvent]) -> None:
    result, store = run(stream, make(warmup=20, publish_every=50, sweep_every=86400))
    assert result.changes
    latest: dict[str, str | None] = {}
    for change in result.changes:
        assert change.previous == (
            None if latest.get(change.customer_id) is None else change.previous
        )
        if change.previous is not None:
            assert change.previous.id == latest[change.customer_id]
        assert change.segment is not None and change.segment != change.previous
        assert change.reason == ("assigned" if change.previous is None else "reassigned")
        latest[change.customer_id] = change.segment.id
    for cid, segment in latest.items():
        assert store.states[cid].segment_id == segment


# --- determinism of changes ---------------------------------------------------------------


def with_erasures(events: Iterable[InputEvent], every: int) -> list[InputEvent]:
    out: list[InputEvent] = []
    for i, event in enumerate(events):
        out.append(event)
        if i % every == every - 1:
            out.append(
                ErasureRequest(
                    customer_id=event.customer_id, timestamp=event.timestamp, request_id=f"r{i}"
                )
            )
    return out


def test_change_ids_are_deterministic_and_unique(stream: list[InputEvent]) -> None:
    events = with_erasures(stream, every=97)
    a = make(warmup=30, publish_every=60, sweep_every=86400).process(events, MemoryStore())
    b = make(warmup=30, publish_every=60, sweep_every=86400).process(events, MemoryStore())
    assert a.changes == b.changes
    assert [c.change_id for c in a.changes] == [c.change_id for c in b.changes]
    ids = [c.change_id for c in a.changes]
    assert len(ids) == len(set(ids))
    assert {"assigned", "reassigned", "erased"} <= {c.reason for c in a.changes}


def test_batching_does_not_change_the_changes(stream: list[InputEvent]) -> None:
    whole = make(warmup=30, publish_every=60, sweep_every=86400).process(stream, MemoryStore())
    engine, store = make(warmup=30, publish_every=60, sweep_every=86400), MemoryStore()
    pieces = [engine.process(stream[i : i + 13], store) for i in range(0, len(stream), 13)]
    assert [c for piece in pieces for c in piece.changes] == whole.changes
    assert [o for piece in pieces for o in piece.outcomes] == whole.outcomes


def test_a_redelivered_event_is_a_duplicate_not_a_new_change(stream: list[InputEvent]) -> None:
    behaviour = [e for e in stream if isinstance(e, BehaviourEvent)]
    # Remember every id: the stream gives some customers more events than the default window.
    engine, store = make(warmup=30, publish_every=60, dedup_window=10_000), MemoryStore()
    first = engine.process(behaviour, store)
    states = copy.deepcopy(store.states)
    again = engine.process(behaviour, store)
    assert first.changes
    assert again.changes == []
    assert again.outcomes == ["duplicate"] * len(behaviour)
    assert store.states == states


def test_change_ids_differ_for_different_customers_even_with_separator_chars() -> None:
    engine, store = primed()
    result = engine.process([buy("c", 0, customer="a\x1fb"), buy("b\x1fc", 0, customer="a")], store)
    first, second = result.changes
    assert first.customer_id != second.customer_id
    assert first.change_id != second.change_id


# --- outcomes and failures ----------------------------------------------------------------


def test_one_outcome_per_input_in_order() -> None:
    events: list[InputEvent] = [
        buy("e1", 10 * HOUR),
        buy("e1", 10 * HOUR),
        act("e2", 0),
        profile(5, city="Rome"),
        erase(11 * HOUR),
        act("e3", 10 * HOUR),
        act("e4", 12 * HOUR),
        erase(0, customer="nobody"),
    ]
    result, _ = run(events, make(lateness=HOUR))
    assert result.outcomes == [
        "accepted",
        "duplicate",
        "late",
        "accepted",
        "erased",
        "erased",
        "accepted",
        "erased",
    ]
    assert result.errors == {}


class ExplodingStore(MemoryStore):
    """A store whose reads fail for one customer, as a broken table partition would."""

    def get(self, customer_id: str) -> CustomerState | None:
        if customer_id == "boom":
            raise RuntimeError(f"cannot read state of {customer_id}")
        return super().get(customer_id)


def test_an_event_that_raises_fails_alone() -> None:
    events: list[InputEvent] = [
        buy("e1", 0, customer="a"),
        buy("e2", 0, customer="boom"),
        buy("e3", 0, customer="b"),
        profile(0, customer="boom", city="x"),
        erase(0, customer="boom"),
        buy("e4", 1, customer="a"),
    ]
    store = ExplodingStore()
    result = make().process(events, store)
    assert result.outcomes == ["accepted", "failed", "accepted", "failed", "failed", "accepted"]
    assert sorted(result.errors) == [1, 3, 4]
    for message in result.errors.values():
        assert message == "RuntimeError: cannot read state of boom"
    assert store.states["a"].purchase_count == 2
    assert store.states["b"].purchase_count == 1
    assert "boom" not in store.states


class HalfBrokenStore(MemoryStore):
    """Holds state for "boom" that cannot be read back, as a corrupt table entry would."""

    def __init__(self) -> None:
        super().__init__()
        self.states["boom"] = CustomerState("boom", first_seen_ms=ms(0), last_seen_ms=ms(0))

    def get(self, customer_id: str) -> CustomerState | None:
        if customer_id == "boom":
            raise RuntimeError("corrupt state for boom")
        return super().get(customer_id)


def test_a_failing_sweep_does_not_take_the_batch_down() -> None:
    engine = make(sweep_every=86400)
    events = [
        act("e1", 0, customer="a"),
        act("e2", 86400 + 60, customer="a"),
        act("e3", 86400 + 120, customer="b"),
    ]
    result = engine.process(events, HalfBrokenStore())
    assert len(result.outcomes) == 3
    assert result.outcomes[2] == "accepted"


@settings(max_examples=30, deadline=None)
@given(
    events=st.lists(
        st.one_of(
            st.builds(
                act,
                event_id=st.sampled_from(["e1", "e2", "e3", "e4"]),
                seconds=st.integers(0, 10 * 86400),
                type=st.sampled_from(sorted(EVENT_TYPES)),
                customer=st.sampled_from(["a", "b", "boom"]),
                amount=st.none() | st.floats(0, 100),
            ),
            st.builds(
                profile,
                st.integers(0, 10 * 86400),
                customer=st.sampled_from(["a", "boom"]),
                city=st.sampled_from(["x", "y"]),
            ),
            st.builds(erase, st.integers(0, 10 * 86400), st.sampled_from(["a", "b", "boom"])),
        ),
        max_size=30,
    )
)
def test_outcomes_line_up_with_inputs(events: list[InputEvent]) -> None:
    engine = make(warmup=WARMUP, publish_every=5, lateness=86400, sweep_every=86400)
    result = engine.process(events, ExplodingStore())
    assert len(result.outcomes) == len(events)
    failed = {i for i, o in enumerate(result.outcomes) if o == "failed"}
    assert (
        failed == set(result.errors) == {i for i, e in enumerate(events) if e.customer_id == "boom"}
    )
    for i, outcome in enumerate(result.outcomes):
        if isinstance(events[i], ErasureRequest) and outcome != "failed":
            assert outcome == "erased"
        if isinstance(events[i], ProfileUpdate):
            assert outcome in {"accepted", "erased", "failed"}


# --- event time in milliseconds -----------------------------------------------------------


def test_event_time_survives_to_the_change_to_the_millisecond() -> None:
    instant = 2_193_528_273_693  # 2039-07-06T01:24:33.693Z
    event = BehaviourEvent(
        event_id="e1", customer_id="c1", type="purchase", timestamp=instant, amount=1.0
    )
    engine, store = primed()
    result = engine.process([event], store)
    assert store.states["c1"].first_seen_ms == instant
    [change] = result.changes
    assert change.changed_at_ms == instant
    assert change.to_message(emitted_at=at(0)).changed_at == event.timestamp


def test_changes_carry_the_lifetime_counters_of_their_moment() -> None:
    engine, store = primed()
    changes = engine.process([buy("e1", 10, 30.0)], store).changes
    learned = [c for c in changes if c.reason == "assigned"]
    assert len(learned) == 1
    lifetime = learned[0].to_message(datetime(2026, 1, 1, tzinfo=UTC)).lifetime
    assert lifetime is not None
    assert (lifetime.purchase_count, lifetime.total_spend) == (1, 30.0)
    assert lifetime.first_seen == lifetime.last_seen == lifetime.last_purchase_at
    assert lifetime.first_seen == datetime.fromtimestamp(
        store.states["c1"].first_seen_ms / 1000, tz=UTC
    )
