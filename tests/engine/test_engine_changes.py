"""The segment changes ``SegmentEngine.process`` emits on a synthetic stream: none during
warm-up, deterministic and unique ids whatever the batching, event time to the millisecond.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import UTC, datetime

import pytest

from engine import MemoryStore
from schemas.events import BehaviourEvent, ErasureRequest, InputEvent, ProfileUpdate
from synthetic import generate
from tests.engine.engine_helpers import WARMUP, at, buy, make, primed, run


def synthetic(customers: int, days: float, seed: int) -> list[InputEvent]:
    out: list[InputEvent] = []
    for message in generate(customers, days, seed):
        model = BehaviourEvent if message["topic"] == "behaviour" else ProfileUpdate
        out.append(model.model_validate(message["value"]))
    return out


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
