"""``SegmentEngine.process`` and erasure requests: the customer is forgotten, an ``erased``
change leaves every segment they held, and nothing up to the erasure brings them back.

Event times are whole seconds after 2026-01-01 (see ``engine_helpers``).
"""

from __future__ import annotations

import copy

import pytest

from engine import CustomerState
from schemas.config import RuleSegmentConfig
from schemas.events import InputEvent
from tests.engine.engine_helpers import act, at, buy, erase, ms, primed, profile, run

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


def test_the_erasure_marker_goes_once_no_event_before_the_erasure_can_come() -> None:
    hour = 3600
    engine, store = primed(lateness=hour, sweep_every=hour)
    engine.process([buy("e1", 100), erase(200)], store)
    marker = store.get("c1")
    assert marker is not None and marker.erased_until_ms == ms(200)
    assert marker.timer_ms == ms(200) + hour * 1000 + 1  # only the id and that time
    # Other customers' events move the partition's event time on: within the
    # lateness the marker still turns an older event of c1 away...
    engine.process([buy("x1", 200 + hour // 2, customer="other"), buy("e2", 150)], store)
    assert store.get("c1") == marker
    # ...past it, the marker is deleted: nothing of c1 is left.
    result = engine.process([buy("x2", 200 + hour + 1, customer="other")], store)
    assert "c1" not in store.states
    assert all(change.customer_id != "c1" for change in result.changes)
