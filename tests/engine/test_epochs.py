"""Model epochs: any interleaving of the partitions ends as replay in event-time order.

The "live" runs below take each partition's events in offset order but interleave the
partitions at random, in batches of random sizes, offering held events again first,
as the worker does; a partition with nothing left to read is caught up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import MemoryStore, SegmentEngine
from engine.changes import Change
from engine.epochs import EpochClock, EpochLessons, Lesson, LessonFor, Sealed
from engine.partitioning import kafka_partition
from engine.timers import epoch_ms
from schemas.config import EngineConfig, LearnedSegmentsConfig
from schemas.events import BehaviourEvent, InputEvent, ProfileUpdate
from synthetic import generate

PARTITIONS = 4
CONFIG = EngineConfig(learned=LearnedSegmentsConfig(epoch_seconds=43_200, warmup_updates=300))


@dataclass
class Log:
    events: list[InputEvent]
    times: list[int]
    partitions: list[int]


@cache
def log() -> Log:
    events: list[InputEvent] = []
    for message in generate(100, 30, seed=5):
        contract = BehaviourEvent if message["topic"] == "behaviour" else ProfileUpdate
        events.append(contract.model_validate(message["value"]))
    return Log(events, [epoch_ms(e) for e in events],
               [kafka_partition(e.customer_id, PARTITIONS) for e in events])  # fmt: skip


@dataclass
class Run:
    engine: SegmentEngine
    store: MemoryStore = field(default_factory=MemoryStore)
    changes: list[Change] = field(default_factory=list)
    held: int = 0
    # Each partition's events (log indices) not processed yet, in offset order.
    queues: dict[int, list[int]] = field(default_factory=dict)

    def outcome(self) -> tuple[dict[str, tuple[str | None, list[str]]], dict[str, list[object]]]:
        states = {s.customer_id: (s.segment_id, sorted(s.rule_segments))
                  for s in self.store.states.values()}  # fmt: skip
        by_customer: dict[str, list[object]] = {}
        for c in self.changes:
            segment = None if c.segment is None else c.segment.id
            by_customer.setdefault(c.customer_id, []).append(
                (c.changed_at_ms, c.model_version, c.reason, segment, c.features)
            )
        return states, by_customer


def replay(config: EngineConfig = CONFIG) -> Run:
    data, run = log(), Run(SegmentEngine(config, PARTITIONS))
    for i in range(0, len(data.events), 500):
        part = slice(i, i + 500)
        result = run.engine.process(data.events[part], run.store, data.times[part],
                                    data.partitions[part], in_order=True)  # fmt: skip
        assert "held" not in result.outcomes
        run.changes += result.changes
    return run


def live(seed: int, run: Run | None = None, stop_after: int | None = None,
         config: EngineConfig = CONFIG) -> Run:  # fmt: skip
    """Interleave the partitions at random; with ``stop_after``, stop after that many
    batches (``run``: continue where it stopped)."""
    data, rng = log(), random.Random(seed)
    if run is None:
        run = Run(SegmentEngine(config, PARTITIONS))
        run.queues = {p: [i for i, q in enumerate(data.partitions) if q == p]
                      for p in range(PARTITIONS)}  # fmt: skip
    queues, batches = run.queues, 0
    while any(queues.values()) and (stop_after is None or batches < stop_after):
        batches += 1
        batch = [(p, i) for p in rng.sample(range(PARTITIONS), rng.randint(1, PARTITIONS))
                 for i in queues[p][: rng.randint(1, 300)]]  # fmt: skip
        taken = {p: sum(1 for q, _ in batch if q == p) for p in range(PARTITIONS)}
        caught_up = [p for p in range(PARTITIONS) if len(queues[p]) == taken[p]]
        idx = [i for _, i in batch]
        result = run.engine.process([data.events[i] for i in idx], run.store,
                                    [data.times[i] for i in idx], [data.partitions[i] for i in idx],
                                    caught_up=caught_up)  # fmt: skip
        processed = dict.fromkeys(range(PARTITIONS), 0)
        for (p, _), outcome in zip(batch, result.outcomes, strict=True):
            if outcome == "held":
                run.held += 1
            else:  # held ones are the end of their partition's share of the batch
                assert processed[p] == sum(1 for q, _ in batch[: batch.index((p, _))] if q == p)
                processed[p] += 1
        for p in range(PARTITIONS):
            queues[p] = queues[p][processed[p] :]
        run.changes += result.changes
        assert batches < 50_000
    return run


def test_replay_learns_and_assigns() -> None:
    run = replay()
    states, _ = run.outcome()
    assert sum(1 for segment, _ in states.values() if segment is not None) >= 90
    assert run.engine.status().model_version >= 2
    # Changes carry the model of the epoch they were decided in, never a later one.
    assert all(c.model_version <= run.engine.status().model_version for c in run.changes)


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_any_interleaving_of_the_partitions_ends_as_replay(seed: int) -> None:
    expected = replay().outcome()
    run = live(seed)
    assert run.held > 0  # the barrier was met: some partition ran ahead and waited
    assert run.outcome() == expected


def test_a_run_restored_mid_stream_ends_as_replay() -> None:
    first = live(7, stop_after=40)
    assert any(first.queues.values())
    engine = SegmentEngine(CONFIG, PARTITIONS)
    engine.restore(first.engine.snapshot())
    store = MemoryStore()
    store.restore(first.store.snapshot())
    resumed = Run(engine, store, list(first.changes), queues=first.queues)
    assert live(8, resumed).outcome() == replay().outcome()


def test_without_epochs_the_interleaving_shows() -> None:
    """Why epochs exist: learning in arrival order, two interleavings part ways."""
    config = EngineConfig(learned=LearnedSegmentsConfig(warmup_updates=300))
    assert live(1, config=config).outcome() != live(2, config=config).outcome()


def test_erasure_drops_the_lessons_not_learned_yet() -> None:
    lessons = EpochLessons(partitions=1)
    lessons.take(LessonFor(0, 0, Lesson("gone", 1, {"x": 1.0})))
    lessons.take(LessonFor(0, 0, Lesson("kept", 2, {"x": 2.0})))
    lessons.take(LessonFor(0, 0, Lesson("gone", 3, None)))
    lessons.take(Sealed(0, 0))
    [(epoch, learned)] = list(lessons.learnable())
    assert epoch == 0
    assert learned == [Lesson("kept", 2, {"x": 2.0}), Lesson("gone", 3, None)]


def test_a_sealed_epoch_takes_no_more_lessons() -> None:
    clock = EpochClock(epoch_ms=10, lag=1, partitions=2)
    assert clock.seal(1, 4) == Sealed(1, 4)  # caught up: taken to have passed epoch 4
    assert clock.lesson(1, 25, Lesson("c", 25, {"x": 1.0})).epoch == 5  # not epoch 2
    assert clock.seal(1, 3) is None  # no news


def test_redelivered_contributions_count_once() -> None:
    items = [
        LessonFor(0, 0, Lesson("c1", 1, {"x": 1.0})),
        LessonFor(0, 0, Lesson("c2", 2, {"x": 2.0})),
    ]
    once, twice = EpochLessons(partitions=1), EpochLessons(partitions=1)
    for item in items:
        once.take(item)
    for item in items + items:
        twice.take(item)
    once.take(Sealed(0, 0))
    twice.take(Sealed(0, 0))
    twice.take(items[0])  # after its epoch closed
    assert list(once.learnable()) == list(twice.learnable())


@pytest.mark.parametrize("bad", [{"epoch_ms": 0}, {"lag": 0}, {"partitions": 0}])
def test_bad_arguments_are_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="model epochs need"):
        EpochClock(**{"epoch_ms": 10, "lag": 1, "partitions": 1, **bad})
