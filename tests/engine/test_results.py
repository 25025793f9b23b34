"""The engine's read model and per-batch drains: what callers see instead of internals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.results import EngineStatus, SegmentInfo, learned_sizes
from engine.segment_engine import SegmentEngine
from engine.state import MemoryStore
from schemas.config import EngineConfig, LearnedSegmentsConfig, RuleSegmentConfig
from schemas.events import BehaviourEvent

START = datetime(2026, 1, 1, tzinfo=UTC)


def purchases(customers: int, days: int) -> list[BehaviourEvent]:
    return [
        BehaviourEvent(
            event_id=f"e{day}-{c}",
            customer_id=f"c{c}",
            type="purchase",
            timestamp=START + timedelta(days=day, minutes=c),
            amount=float(1 + (c % 3) * 50),
        )
        for day in range(days)
        for c in range(customers)
        if (day + c) % (1 + c % 4) == 0
    ]


def small_engine() -> SegmentEngine:
    config = EngineConfig(
        learned=LearnedSegmentsConfig(n_segments=3, warmup_updates=20, publish_every=40),
        rules=[RuleSegmentConfig(id="big", name="Big spenders", expression="total_spend > 200")],
    )
    return SegmentEngine(config)


def test_a_fresh_engine_reports_nothing_yet() -> None:
    status = small_engine().status()
    assert status.model_version == 0 and status.watermark_ms is None
    assert status.published is None and status.live_ids == ()
    assert status.segments == (SegmentInfo("big", "Big spenders", "rule", 0, True),)
    assert status.sizes == {} and status.learned_sizes == {}


def test_status_sizes_agree_with_the_customers_in_each_segment() -> None:
    engine, store = small_engine(), MemoryStore()
    events = purchases(30, 20)
    engine.process(events, store)
    status = engine.status()
    assert status.model_version >= 1
    assert status.watermark_ms == max(int(e.timestamp.timestamp() * 1000) for e in events)
    members: dict[str, int] = {}
    for state in store.states.values():
        for sid in [state.segment_id, *state.rule_segments]:
            if sid is not None:
                members[sid] = members.get(sid, 0) + 1
    assert status.sizes == dict(sorted(members.items()))
    assert status.learned_sizes == {k: n for k, n in members.items() if k.startswith("seg-")}
    assert set(status.live_ids) <= {s.id for s in status.segments if s.kind == "learned"}
    assert all(s.live == (s.id in status.live_ids) for s in status.segments if s.kind == "learned")
    assert status.lessons > 0 and status.learned_features == engine.config.learned.features


def test_health_observations_are_drained_into_exactly_one_batch() -> None:
    engine, store = small_engine(), MemoryStore()
    events = purchases(30, 20)
    first = engine.process(events[: len(events) // 2], store)
    second = engine.process(events[len(events) // 2 :], store)
    assert second.distances, "a published model measures every assignment"
    third = engine.process([], store)
    assert third.distances == [] and third.centroid_shifts == []
    whole = small_engine().process(events, MemoryStore())
    assert first.distances + second.distances == whole.distances
    assert first.centroid_shifts + second.centroid_shifts == whole.centroid_shifts


def test_the_status_is_a_frozen_copy() -> None:
    engine, store = small_engine(), MemoryStore()
    events = purchases(30, 20)
    engine.process(events[:200], store)
    before = engine.status()
    engine.process(events[200:], store)
    assert isinstance(before, EngineStatus)
    assert before != engine.status()
    assert before.lineage == tuple(before.lineage)


def test_learned_sizes_keep_the_order_of_the_counts() -> None:
    sizes = {"seg-2": 3, "big": 5, "seg-1": 4}
    assert list(learned_sizes(sizes, {"seg-1": 0, "seg-2": 0})) == ["seg-2", "seg-1"]
