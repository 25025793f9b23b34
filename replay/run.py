"""Replay a log through the engine, in event-time order, and keep what it decided.

Order: events are processed by event time, ties broken by their position in the
input (line or row number; for Kafka, the order read: partition, then offset), so
the same log, config and seed give the same outputs, byte for byte. Changes carry
``emitted_at == changed_at``: a replay has no wall clock worth recording.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice

from engine.changes import Change
from engine.features import DAY_MS
from engine.partitioning import kafka_partition
from engine.results import EngineStatus
from engine.segment_engine import SegmentEngine, epoch_ms
from engine.state import MemoryStore
from replay.model import ReplayOutcome, TimelinePoint
from replay.sources import Record, Reject
from schemas.config import EngineConfig
from schemas.events import InputEvent

FLAP_WINDOW_MS = 7 * DAY_MS  # back to the segment just left within this long: a flap
BATCH = 1000
FREEZE_EVERY = 10_000  # events read between two gc.freeze() calls


@dataclass(slots=True)
class Ordered:
    """A log in processing order, and what could not be read from it."""

    events: list[InputEvent]
    rejects: list[Reject]
    was_sorted: bool  # the input already came in event-time order


def order(
    items: Iterable[Record | Reject], partitions: int = 1, max_jump_ms: int | None = None
) -> Ordered:
    """Sort by (event time, position). Holds the log in memory: about 1 KB per event.

    With ``max_jump_ms``, an event more than that ahead of the previous event of its
    partition (of ``partitions``, as Kafka would route it) is rejected as
    ``out_of_range``: one mistyped far-future date must not carry event time away.
    """
    keyed: list[tuple[int, int, Record]] = []
    rejects: list[Reject] = []
    was_sorted, last = True, (-(2**63), -1)
    try:
        for item in items:
            if isinstance(item, Reject):
                rejects.append(item)
                continue
            key = (epoch_ms(item.event), item.position)
            was_sorted = was_sorted and key >= last
            last = key
            keyed.append((*key, item))
            if len(keyed) % FREEZE_EVERY == 0:
                # Every event read stays alive: out of the collector's generations, they
                # are not re-scanned by each full collection (~9 us per event at 1M).
                gc.freeze()
    finally:
        gc.unfreeze()
    if not was_sorted:
        keyed.sort(key=lambda k: (k[0], k[1]))
    if max_jump_ms is not None:
        keyed = _without_jumps(keyed, partitions, max_jump_ms, rejects)
    return Ordered([record.event for _, _, record in keyed], rejects, was_sorted)


def _without_jumps(
    keyed: list[tuple[int, int, Record]], partitions: int, max_jump_ms: int, rejects: list[Reject]
) -> list[tuple[int, int, Record]]:
    # Against the partition's previous event, kept or not: a gap (or an outlier at the
    # start) costs the one event after it, never the rest of the partition.
    kept, route, previous = [], Partitions(partitions), dict[int, int]()
    for ts, position, record in keyed:
        partition = route.of(record.event.customer_id)
        mark, previous[partition] = previous.get(partition), ts
        if mark is not None and ts - mark > max_jump_ms:
            error = (f"event time {_iso(ts)} is more than {max_jump_ms / DAY_MS:g} days ahead "
                     f"of partition {partition}'s previous event, {_iso(mark)}")  # fmt: skip
            raw = record.event.model_dump_json()
            rejects.append(Reject(position, record.origin, "out_of_range", error, raw))
            continue
        kept.append((ts, position, record))
    return kept


class Partitions:
    """Customers routed to ``count`` partitions as Kafka's default partitioner does."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._of: dict[str, int] = {}

    def of(self, customer_id: str) -> int:
        partition = self._of.get(customer_id)
        if partition is None:
            partition = self._of[customer_id] = kafka_partition(customer_id, self.count)
        return partition


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class Replay:
    """One config's run: the engine, its store, and everything the outputs need."""

    name: str
    config: EngineConfig
    engine: SegmentEngine
    store: MemoryStore
    outcome: ReplayOutcome
    changes: list[Change]

    @property
    def status(self) -> EngineStatus:
        return self.engine.status()

    @property
    def now_ms(self) -> int | None:
        return self.status.watermark_ms


def run(
    name: str,
    config: EngineConfig,
    events: list[InputEvent],
    on_progress: Callable[[int], None] | None = None,
    partitions: int = 1,
) -> Replay:
    """Process ``events`` (already in order) and gather the outcome. Customers are
    routed to ``partitions`` as Kafka's default partitioner would: a worker reading a
    topic of that many partitions decides the same."""
    engine, store = SegmentEngine(config, partitions), MemoryStore()
    route = Partitions(partitions)
    outcome = ReplayOutcome(name=name)
    changes: list[Change] = []
    counts = {"accepted": 0, "duplicate": 0, "late": 0, "erased": 0, "failed": 0}
    since_changes = since_events = 0
    try:
        for batch, times in _batches(events, int(config.sweep_interval_seconds * 1000)):
            parts = [route.of(event.customer_id) for event in batch]
            # In event-time order: no partition is ever held for another.
            result = engine.process(batch, store, times, parts, in_order=True)
            for outcome_name in result.outcomes:
                counts[outcome_name] += 1
            # A batch holds at most one sweep, at its start: the counts so far are the
            # period it closes (its own changes fall in the next one).
            for at_ms, sizes in zip(result.sweeps, result.sweep_sizes, strict=True):
                outcome.timeline.append(TimelinePoint(at_ms, sizes, since_changes, since_events))
                since_changes = since_events = 0
            since_changes += len(result.changes)
            since_events += len(batch)
            changes += result.changes
            outcome.drift += result.drift
            if on_progress is not None:
                on_progress(len(batch))
            # The log and the states live to the end: out of the collector's generations,
            # they are not re-scanned by every full collection (~10 us per event at 1M).
            gc.freeze()
    finally:
        gc.unfreeze()
    status = engine.status()
    if status.watermark_ms is not None and since_events:
        outcome.timeline.append(
            TimelinePoint(status.watermark_ms, status.sizes, since_changes, since_events)
        )
    replay = Replay(name, config, engine, store, outcome, changes)
    _summarise(replay, counts, len(events))
    return replay


def _batches(
    events: list[InputEvent], sweep_ms: int
) -> Iterator[tuple[list[InputEvent], list[int]]]:
    """Batches of at most ``BATCH`` that never span a sweep boundary (so each sweep
    opens a batch and the timeline can tell the periods apart), with their event times."""
    start, n = 0, len(events)
    while start < n:
        times = [epoch_ms(event) for event in islice(events, start, start + BATCH)]
        end = start + len(times)
        if sweep_ms:
            period = times[0] // sweep_ms
            for i, ts in enumerate(times):
                if ts // sweep_ms != period:
                    end = start + i
                    break
        yield events[start:end], times[: end - start]
        start = end


def _summarise(replay: Replay, counts: dict[str, int], n_events: int) -> None:
    status, outcome = replay.status, replay.outcome
    segments = sorted(status.segments, key=lambda s: s.id)
    outcome.segment_names = {s.id: s.name for s in segments}
    outcome.segment_kinds = {s.id: s.kind for s in segments}
    now = status.watermark_ms
    states = list(replay.store.states.values())
    if now is not None:
        outcome.profiles = [p.to_dict() for p in replay.engine.profiles(states, now)]
    learned = [c for c in replay.changes if c.reason == "reassigned"]
    detections: dict[str, int] = {}
    for reading in outcome.drift:
        if reading.detected:
            detections[reading.detector] = detections.get(reading.detector, 0) + 1
    customers = sum(1 for s in states if s.last_seen_ms is not None)
    silhouette = status.silhouette
    outcome.stats = {
        "events": n_events,
        **{f"events_{name}": count for name, count in counts.items()},
        "customers": customers,
        "model_version": status.model_version,
        "segments_live": len(status.live_ids),
        "changes": len(replay.changes),
        "changes_per_1k_events": round(1000 * len(replay.changes) / max(1, n_events), 3),
        "reassignments": len(learned),
        "flapping_share": round(flapping(replay.changes) / max(1, len(learned)), 5),
        "silhouette": None if silhouette is None else round(silhouette, 4),
        "drift_detections": sum(detections.values()),
        **{f"drift_detections_{name}": n for name, n in sorted(detections.items())},
    }


def flapping(changes: Iterable[Change]) -> int:
    """Reassignments that take a customer back to the learned segment they left less
    than :data:`FLAP_WINDOW_MS` before (A -> B -> A)."""
    last: dict[str, Change] = {}
    flaps = 0
    for change in changes:
        if change.reason != "reassigned" or change.previous is None or change.segment is None:
            if change.reason in ("assigned", "erased"):
                last.pop(change.customer_id, None)
            continue
        before = last.get(change.customer_id)
        if (
            before is not None
            and before.previous is not None
            and before.previous.id == change.segment.id
            and change.changed_at_ms - before.changed_at_ms < FLAP_WINDOW_MS
        ):
            flaps += 1
        last[change.customer_id] = change
    return flaps


__all__ = ["Ordered", "Replay", "flapping", "order", "run"]
