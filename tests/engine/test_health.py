"""What the engine reports about itself: segment sizes, model health, drift readings."""

from __future__ import annotations

from collections import Counter

import numpy as np

from engine import MemoryStore, SegmentEngine
from engine.health import ModelHealth
from engine.parts import make_drift
from engine.results import BatchResult
from engine.segmenter import PublishedModel
from schemas import BehaviourEvent, ErasureRequest
from schemas.config import EngineConfig
from synthetic import Shift, generate

CONFIG = EngineConfig.model_validate(
    {
        "learned": {"warmup_updates": 150, "publish_every": 300},
        "drift": {"reference_delay_seconds": 7 * 86400, "reference_size": 200},
        "rules": [{"id": "openers", "name": "Openers", "expression": "email_opens_30d >= 1"}],
    }
)


def replayed(
    customers: int = 60, days: float = 45, shift: Shift | None = None
) -> tuple[SegmentEngine, MemoryStore, list[BatchResult]]:
    engine, store = SegmentEngine(CONFIG), MemoryStore()
    results = []
    for message in generate(customers, days, seed=4, shift=shift, with_profiles=False):
        results.append(engine.process([BehaviourEvent.model_validate(message["value"])], store))
    return engine, store, results


def test_segment_sizes_are_the_members_the_store_holds() -> None:
    engine, store, _ = replayed()
    members = Counter(s.segment_id for s in store.states.values() if s.segment_id)
    for state in store.states.values():
        members.update(state.rule_segments)
    assert members and engine.sizes == dict(members)
    # An erasure takes the customer out of every segment they were in.
    # (Timers of silent customers fire on the way to it, so sizes are recounted.)
    victim = next(s for s in store.states.values() if s.segment_id)
    later_ms = 1_767_225_600_000 + 50 * 86_400_000
    erasure = ErasureRequest(customer_id=victim.customer_id, timestamp=later_ms, request_id="r1")
    engine.process([erasure], store)
    after = Counter(s.segment_id for s in store.states.values() if s.segment_id)
    for state in store.states.values():
        after.update(state.rule_segments)
    assert store.states[victim.customer_id].segment_id is None
    assert engine.sizes == dict(after)


def test_health_figures_are_in_range_once_a_model_is_published() -> None:
    engine, _, results = replayed()
    health = engine.health
    assert engine.segmenter.model_version >= 2
    assert health.silhouette is not None and -1 <= health.silhouette <= 1
    assert health.near_boundary is not None and 0 <= health.near_boundary <= 1
    distances = [d for result in results for d in result.distances]  # drained per batch
    assert distances and min(distances) >= 0 and health.drain_distances() == []
    shifts = [s for result in results for s in result.centroid_shifts]
    assert shifts and min(shifts) >= 0  # one per continuing segment per update
    assert health.drain_shifts() == []


def test_drift_is_scored_at_sweeps_after_the_reference() -> None:
    _, _, results = replayed()
    readings = [reading for result in results for reading in result.drift]
    timeline = [r for r in readings if r.detector in ("psi", "js")]
    assert timeline, "the reference completes within 45 days"
    start = min(r.at_ms for r in timeline)
    assert start >= 1_767_225_600_000 + 7 * 86_400_000
    assert all(r.at_ms % 86_400_000 == 0 for r in timeline)  # sweep boundaries
    # Tenure grows by construction, and a 90-day sum fills for months: not watched.
    watched = set(CONFIG.learned.features) - {"tenure_days", "frequency_90d"}
    model = {r.subject for r in timeline if ":p" not in r.subject}  # not input drift's
    assert model == {"segment_sizes", *watched}


def test_a_centroid_that_did_not_move_shifts_by_zero() -> None:
    centroids = np.array([[0.0, 1.0], [2.0, -1.0]])
    old = PublishedModel(1, np.array([1.0, 2.0]), np.array([2.0, 0.5]), ("a", "b"), centroids)
    raw = centroids * old.scales + old.means
    means, scales = np.array([0.0, 0.0]), np.array([1.0, 1.0])
    new = PublishedModel(2, means, scales, ("b", "c"), np.array([raw[1], [9.0, 9.0]]))
    health = ModelHealth()
    health.published(old, new)
    assert health.drain_shifts() == [0.0]  # only "b" continues, and it stayed put


def test_by_default_the_reference_waits_twice_the_longest_watched_window() -> None:
    config = EngineConfig.model_validate({"windows_days": [7, 30, 90]})
    features, monitor = make_drift(config)
    assert "frequency_90d" not in features and "frequency_30d" in features
    assert monitor is not None and monitor.reference_delay_ms == 60 * 86_400_000
    # Watching a 90-day sum on purpose waits for it to fill.
    watched = {"drift": {"features": ["frequency_90d", "days_since_last_seen"]}}
    _, monitor = make_drift(EngineConfig.model_validate(watched))
    assert monitor is not None and monitor.reference_delay_ms == 180 * 86_400_000
