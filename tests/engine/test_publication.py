"""The publication gate: a candidate model is published only when it moved materially
(``publish_min_shift``), at most once per ``publish_min_interval_ms`` of event time,
in the in-worker segmenter and in the trainer alike, and deterministically."""

from __future__ import annotations

import math
import random
from collections import Counter
from itertools import pairwise

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.clustering.published import PublishedModel
from engine.epochs import Contribution, Lesson, LessonFor, ModelRecord, Sealed
from engine.segmenter import Decision, LearnedSegmenter
from engine.trainer import Trainer
from schemas.config import EngineConfig, LearnedSegmentsConfig

DAY_MS = 86_400_000
MONTH_MS = 30 * DAY_MS


def segmenter(interval_ms: int = 0, shift: float = 0.0) -> LearnedSegmenter:
    return LearnedSegmenter(
        ["x"], n_segments=2, warmup_updates=20, publish_every=10,
        publish_min_interval_ms=interval_ms, publish_min_shift=shift,
    )  # fmt: skip


def versions_at(seg: LearnedSegmenter, lessons: list[tuple[float, int]]) -> list[int]:
    """Feed ``(x, at_ms)`` lessons (20 customers in turn); the event time of each
    publication."""
    published: list[int] = []
    for i, (x, at_ms) in enumerate(lessons):
        before = seg.model_version
        seg.learn({"x": x}, f"c{i % 20}", at_ms=at_ms)
        if seg.model_version != before:
            published.append(at_ms)
    return published


def drifting(n: int, step_ms: int) -> list[tuple[float, int]]:
    """Two groups, one of them drifting steadily: every candidate moved."""
    return [(float(i % 2) * (100 + 10 * i), i * step_ms) for i in range(n)]


def test_no_publication_within_the_interval() -> None:
    times = versions_at(segmenter(interval_ms=1000), drifting(400, step_ms=10))
    # Without the interval a candidate would be published every 10 lessons (100 ms).
    assert len(times) > 2
    assert all(b - a >= 1000 for a, b in pairwise(times))
    unlimited = versions_at(segmenter(interval_ms=0), drifting(400, step_ms=10))
    assert len(unlimited) > 3 * len(times)


def test_no_publication_when_the_centroids_barely_moved() -> None:
    seg = segmenter(shift=0.25)
    rng = random.Random(1)
    steady = [(float(i % 2) * 100 + rng.random(), i * 10) for i in range(300)]
    assert versions_at(seg, steady) == [190]  # the first model only, at warm-up's end
    # One group moves from x = 100 to x = 10,000 (about 4.6 on the log scale).
    moved = [(float(i % 2) * 10_000, 3000 + i * 10) for i in range(40)]
    later = versions_at(seg, moved)
    assert len(later) >= 1 and seg.model_version >= 2


def test_a_material_move_is_published_at_once_and_records_its_shift() -> None:
    seg = segmenter(shift=0.25)
    versions_at(seg, [(float(i % 2) * 100, i) for i in range(20)])
    first = seg.published_model
    assert first is not None
    versions_at(seg, [(float(i % 2) * 10_000, 100 + i) for i in range(10)])
    model = seg.published_model
    assert model is not None and model.version == 2
    assert first.shift(model.means, model.scales, model.centroids) >= 0.25


def test_shift_is_zero_for_the_same_model_and_the_move_of_a_translated_centroid() -> None:
    model = PublishedModel(1, np.array([1.0, 2.0]), np.array([2.0, 0.5]), ("a", "b"),
                           np.array([[0.0, 0.0], [3.0, 1.0]]))  # fmt: skip
    assert model.shift(model.means, model.scales, model.centroids) == 0.0
    # Centroids listed in another order, one moved by 0.3: the pairing follows them.
    moved = np.array([[3.0, 1.3], [0.0, 0.0]])
    assert abs(model.shift(model.means, model.scales, moved) - 0.3) < 1e-12
    assert model.shift(model.means, model.scales, moved[:1]) == float("inf")


def test_the_interval_survives_a_snapshot() -> None:
    seg = segmenter(interval_ms=1000)
    versions_at(seg, drifting(20, step_ms=10))
    twin = segmenter(interval_ms=1000)
    twin.restore(seg.snapshot())
    # Within a second of the first publication (190 ms): nothing, whatever comes.
    assert versions_at(twin, [(float(i % 2) * 10_000, 200 + i) for i in range(100)]) == []
    assert versions_at(twin, [(float(i % 2) * 10_000, 1190 + i) for i in range(20)]) != []


def epoch_config(interval_s: float) -> EngineConfig:
    learned = LearnedSegmentsConfig(
        epoch_seconds=3600, warmup_updates=20, publish_every=10, tick_publish_lessons=5,
        publish_min_interval_seconds=interval_s, publish_min_shift=0,
    )  # fmt: skip
    return EngineConfig(learned=learned)


def trainer(interval_s: float, partitions: int = 1) -> Trainer:
    config = epoch_config(interval_s)
    result = Trainer(config, partitions)
    # Built as the engine's parts build it, the gate's settings included.
    learned = config.learned
    result.segmenter = LearnedSegmenter(
        ("x",), n_segments=2, warmup_updates=20, publish_every=10,
        publish_min_interval_ms=int(learned.publish_min_interval_seconds * 1000),
        publish_min_shift=learned.publish_min_shift,
    )  # fmt: skip
    return result


def hourly_lessons(days: int, partitions: int = 1) -> list[Contribution]:
    """A lesson per hour, drifting, and each hour's epoch sealed on every partition."""
    items: list[Contribution] = []
    for hour in range(days * 24):
        at_ms = hour * 3_600_000
        for c in range(4):
            x = float(c % 2) * (100 + hour) + c
            items.append(LessonFor(c % partitions, hour, Lesson(f"c{c}-{hour % 10}", at_ms,
                                                                 {"x": x})))  # fmt: skip
        items += [Sealed(p, hour) for p in range(partitions)]
    return items


def test_the_trainer_publishes_at_most_once_per_interval_of_event_time() -> None:
    # 90 days of hourly epochs, each with lessons enough for a candidate.
    gated, free = trainer(interval_s=86_400), trainer(interval_s=0)
    records, _ = gated.take(hourly_lessons(90))
    epochs = sorted({r.epoch for r in records if r.epoch is not None and r.model is not None})
    months = Counter(epoch * 3_600_000 // MONTH_MS for epoch in epochs)
    assert len(months) == 3 and max(months.values()) <= 30  # one model a day at most
    assert all(b - a >= 24 for a, b in pairwise(epochs))
    free.take(hourly_lessons(90))
    assert free.segmenter.model_version > 10 * gated.segmenter.model_version


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 7), st.floats(0, 1e4), st.integers(0, 50)),
             min_size=30, max_size=200),
    st.sampled_from([0, 500, 5000]),
    st.sampled_from([0.0, 0.1, 1.0]),
)  # fmt: skip
def test_the_same_lessons_give_the_same_versions(
    lessons: list[tuple[int, float, int]], interval_ms: int, shift: float
) -> None:
    def run() -> list[PublishedModel | None]:
        seg = segmenter(interval_ms, shift)
        at_ms, models = 0, []
        for customer, x, gap in lessons:
            at_ms += gap * 10
            seg.learn({"x": x}, f"c{customer}", at_ms=at_ms)
            models.append(seg.published_model)
        return models

    first, second = run(), run()
    assert first == second


@settings(max_examples=15, deadline=None)
@given(st.randoms(use_true_random=False))
def test_the_trainer_tells_the_same_versions_whatever_the_arrival_order(
    rng: random.Random,
) -> None:
    items = hourly_lessons(6, partitions=2)
    ordered = trainer(interval_s=7200, partitions=2)
    expected, _ = ordered.take(items)
    # Each partition's contributions stay in order; the partitions interleave at random.
    queues = [[i for i in items if i.partition == p] for p in range(2)]
    shuffled: list[Contribution] = []
    while any(queues):
        p = rng.choice([q for q in range(2) if queues[q]])
        shuffled.append(queues[p].pop(0))
    other = trainer(interval_s=7200, partitions=2)
    got: list[ModelRecord] = []
    for start in range(0, len(shuffled), 37):
        got += other.take(shuffled[start : start + 37])[0]
    assert told(got) == told(expected) and len(told(expected)) > 1


def told(records: list[ModelRecord]) -> dict[int, tuple[int | None, PublishedModel]]:
    """Each version told, with the epoch it stands from."""
    return {r.model.version: (r.epoch, r.model) for r in records if r.model is not None}


def test_near_duplicate_centres_sharing_an_id_move_nobody_between_them() -> None:
    seg = segmenter()
    model = PublishedModel(3, np.array([0.0]), np.array([1.0]), ("a", "b", "a"),
                           np.array([[0.0], [2.0], [4.0]]))  # fmt: skip
    # Nearest to the second copy of "a": it stays in "a", and nothing waits.
    pending = Decision(None, None, 0, None)
    decision = seg.decide({"x": math.expm1(4.0)}, 0, "a", pending, model)
    assert (decision.segment_id, decision.pending_id) == ("a", None)
