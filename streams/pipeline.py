"""One batch of input records through the engine: decode, decide, emit, count.

Nothing raised here may escape: Faust acks a message whether or not its handler
succeeded, so every failure must end on the dead-letter topic instead.

The wall clock is read here and nowhere in the engine: an event dated further ahead of
it than ``engine.input_bounds.max_clock_skew_seconds`` is dead-lettered as
``out_of_range`` before the engine sees it, so one bad producer clock cannot carry
event time (lateness, windows, sweeps) into the future.

The pipeline knows no Kafka client: records come in as :class:`~streams.ports.InputRecord`,
messages go out through a :class:`~streams.ports.Publisher`, and state lives in the
stores its factory hands out, one per batch (``streams.ports``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from itertools import zip_longest
from typing import TypeVar

from engine.changes import Change
from engine.drift import DriftReading
from engine.epochs import Contribution, ModelRecord
from engine.results import BatchResult, EngineStatus
from engine.segment_engine import SegmentEngine, epoch_ms
from engine.state import StateStore
from schemas import dead_letters as dl
from schemas.changes import SegmentChange
from schemas.decode import Rejected, decode
from schemas.drift import DriftDetected
from schemas.events import (
    EVENT_TYPES,
    BehaviourEvent,
    ErasureRequest,
    InputEvent,
)
from schemas.memberships import CustomerSegments
from settings import TopicNames
from streams.catalog import CatalogSender
from streams.metrics import Metrics
from streams.model_wire import encode_contributions
from streams.ports import InputRecord, Publisher, StoreFactory

log = logging.getLogger(__name__)

Accepted = tuple[InputRecord, InputEvent]
_ERROR_CHARS = 2_000  # of an error in a dead letter's header: the start tells enough
SegmentLabels = tuple[str, str]  # (segment id, kind)
T = TypeVar("T")


def sources(topics: TopicNames) -> dict[str, str]:
    """Input topic name -> its role (the decoding contract and the ``source`` label)."""
    return {topics.behaviour: "behaviour", topics.profiles: "profiles", topics.erasures: "erasures"}


class Pipeline:
    """Feeds batches of input records to the engine and publishes what it decides."""

    def __init__(
        self,
        engine: SegmentEngine,
        topics: TopicNames,
        stores: StoreFactory,
        publisher: Publisher,
        metrics: Metrics,
        type_labels: frozenset[str] = EVENT_TYPES,
        highwater: Callable[[str, int], int | None] | None = None,
        clock: Callable[[], float] = time.time,
        quiet_seconds: float = 2.0,
    ) -> None:
        self.engine = engine
        self.topics = topics
        self.sources = sources(topics)
        self.stores = stores
        self.publisher = publisher
        self.metrics = metrics
        self.type_labels = type_labels
        bounds = engine.config.input_bounds
        self.context = bounds.context(type_labels)
        self.max_clock_skew_seconds = bounds.max_clock_skew_seconds
        self.highwater = highwater  # a partition's high watermark, for consumer lag
        self.clock = clock  # wall clock, epoch seconds: the bound on event time ahead
        # A partition counts as caught up only once it has also been quiet this long:
        # a producer's batches reach the partitions a little apart, so a partition at
        # its high watermark may still be about to receive events older than others'.
        self.quiet_seconds = quiet_seconds
        self._arrived: dict[int, float] = {}  # partition -> monotonic time of its latest record
        self._started = time.monotonic()
        self._received = 0.0
        # With model epochs: accepted events the engine held (their partition ran ahead
        # of the epochs the others passed), offered again first; and each input
        # topic-partition's read position, to tell which partitions are caught up.
        self._held: list[tuple[Accepted, int]] = []
        self._positions: dict[tuple[str, int], int] = {}
        # Batches and the trainer's records (a task of their own) take turns.
        self._turn = asyncio.Lock()
        self._model_version: int | None = None
        self._sized: dict[SegmentLabels, int] = {}  # segment_size series
        self._moved: set[SegmentLabels] = set()  # segment entries/exits series
        # Learned segments are the model publisher's to send: here unless a separate
        # trainer learns the model.
        remote = engine.clock is not None and engine.trainer is None
        self.catalog = CatalogSender(("rule",) if remote else ("rule", "learned"))

    async def handle(self, records: Sequence[InputRecord]) -> None:
        """Handle ``records`` (each partition's in offset order) as one batch."""
        self._received = time.perf_counter()
        by_partition: dict[tuple[str, int], list[InputRecord]] = {}
        for record in records:
            by_partition.setdefault((record.topic, record.partition), []).append(record)
        # Partitions take turns record by record, as Faust's scheduler delivers them
        # one at a time: on a backlog, one partition's run must not carry event time
        # days ahead of the others'. Each partition keeps its offset order.
        owned = [r for turn in zip_longest(*by_partition.values()) for r in turn if r]
        async with self._turn:
            with self.metrics.batch_seconds.time():
                await self._handle(owned)
        self._record_lag(owned)

    async def nudge(self) -> None:
        """Seal the caught-up partitions and offer the held events again: which
        partitions are caught up changes without a batch or a record saying so."""
        if self.engine.clock is None:
            return
        async with self._turn:
            await self._send_contributions(self.engine.seal_caught_up(self._caught_up()))
            if self._freed(self._held):
                await self._handle(())

    async def read_engine(self, read: Callable[[SegmentEngine], T]) -> T:
        """``read(engine)``, called between two batches (a snapshot of it, say)."""
        async with self._turn:
            return read(self.engine)

    async def adopt(self, record: ModelRecord) -> None:
        """Take in a record of the trainer's: offer the held events again if it was
        news, and seal the caught-up partitions as far as the furthest one needs."""
        async with self._turn:
            conflicts = self.engine.history.conflicts
            if self.engine.adopt(record) and self._freed(self._held):
                await self._handle(())
            if self.engine.history.conflicts > conflicts:
                log.error("two models of version %s", record.model and record.model.version)
                self.metrics.model_conflicts.inc(self.engine.history.conflicts - conflicts)
            await self._send_contributions(self.engine.seal_caught_up(self._caught_up()))
            self._record_model(BatchResult())

    async def _handle(self, owned: Sequence[InputRecord]) -> None:
        fresh: list[tuple[Accepted, int]] = []  # with each event's epoch_ms, worked out once
        arrived = time.monotonic()
        for record in owned:
            tp = record.topic, record.partition
            self._positions[tp] = max(self._positions.get(tp, 0), record.offset + 1)
            self._arrived[record.partition] = arrived
        latest_ms = (self.clock() + self.max_clock_skew_seconds) * 1000
        for record in owned:
            source = self.sources[record.topic]
            decoded = decode(source, record.key, record.value, self.context)
            if isinstance(decoded, Rejected):
                await self.dead_letter(record, source, "unknown", decoded.reason, decoded.error)
            elif (ts := epoch_ms(decoded)) > latest_ms:
                label, error = self._type_label(decoded), self._ahead(decoded)
                await self.dead_letter(record, source, label, "out_of_range", error)
            else:
                fresh.append(((record, decoded), ts))
        kept = self._held
        if kept and not self._freed(kept):
            # Nothing held can go on yet: the waiting partitions' new events wait behind
            # them without an engine call (offering them all costs one over every one).
            waiting = {record.partition for (record, _), _ in kept}
            kept = kept + [item for item in fresh if item[0][0].partition in waiting]
            todo = [item for item in fresh if item[0][0].partition not in waiting]
        else:
            kept, todo = [], kept + fresh
        held: list[tuple[Accepted, int]] = []
        while todo:
            # Held events go round again while others make progress: the batch that
            # brings the slowest partition past an epoch frees the ones waiting on it.
            held = await self._decide([item for item, _ in todo], [ts for _, ts in todo])
            if len(held) == len(todo):
                break
            todo = held
        # Each partition's events are all in one of the two: its order holds.
        self._held = kept + held
        self.metrics.held_events.set(len(self._held))

    def _freed(self, held: list[tuple[Accepted, int]]) -> bool:
        """Whether some partition's first held event would now be processed."""
        first: dict[int, int] = {}
        for (record, _), ts in held:
            first.setdefault(record.partition, ts)
        return any(self.engine.would_adopt(p, ts) for p, ts in first.items())

    def held_floors(self) -> dict[tuple[str, int], int]:
        """The first held offset of each topic-partition: commits must stop there (read
        when Faust commits, not at every batch)."""
        floors: dict[tuple[str, int], int] = {}
        for (record, _), _ in self._held:
            floors.setdefault((record.topic, record.partition), record.offset)
        return floors

    async def drop_held(self, revoked: set[tuple[str, int]]) -> None:
        """Forget the held records of partitions taken away (their new owner reads them
        again: commits stopped before them), and their timers (indexed again from the
        stored states if they come back)."""
        async with self._turn:
            self._held = [
                h for h in self._held if (h[0][0].topic, h[0][0].partition) not in revoked
            ]
            self.metrics.held_events.set(len(self._held))
            self.engine.forget_partitions({p for topic, p in revoked if topic in self.sources})

    def _ahead(self, event: InputEvent) -> str:
        skew = self.max_clock_skew_seconds
        return f"timestamp {event.timestamp.isoformat()} is more than {skew:g} s ahead of the clock"

    async def _decide(
        self, accepted: list[Accepted], times: list[int]
    ) -> list[tuple[Accepted, int]]:
        """Process ``accepted``; the events held, with their times (kept for the next
        batch)."""
        # Each customer's record says which partition, and so which changelog
        # partition, its state belongs to.
        store = self.stores([(decoded.customer_id, record) for record, decoded in accepted])
        events = [decoded for _, decoded in accepted]
        partitions = [record.partition for record, _ in accepted]
        positions = [(f"{record.topic}:{record.partition}", record.offset)
                     for record, _ in accepted]  # fmt: skip
        result = self.engine.process(
            events, store, times, partitions, self._caught_up(), positions=positions
        )
        held = [(item, ts) for item, ts, outcome
                in zip(accepted, times, result.outcomes, strict=True)
                if outcome == "held"]  # fmt: skip
        # Dropped or failed events may have left their customer's state changed but not
        # put; a sweep that failed, anyone's.
        store.forget(None if result.sweep_errors else
                     [decoded.customer_id for (_, decoded), outcome
                      in zip(accepted, result.outcomes, strict=True)
                      if outcome not in ("accepted", "held")])  # fmt: skip
        await self._send_contributions(result.contributions)
        for error in result.sweep_errors:
            log.error("sweep could not refresh %s", error)
        self.metrics.sweep_failures.inc(len(result.sweep_errors))
        await self._count_outcomes(accepted, result, times)
        emitted_at = datetime.fromtimestamp(self.clock(), UTC)
        await self._publish_changes(result, emitted_at)
        await self._publish_memberships(result, store)
        await self._report_drift(result.drift, emitted_at)
        status = self.engine.status()
        await self._publish_catalog(status, emitted_at)
        # The state goes last, once the broker has what was decided from it: killed
        # in between, the worker reads the events again from its last commit and
        # decides and sends the same again (same change ids), instead of finding them
        # applied and their changes and lessons lost.
        await self.publisher.flush()
        await store.flush()
        self._record_model(result, status)
        return held

    async def _count_outcomes(
        self, accepted: list[Accepted], result: BatchResult, times: list[int]
    ) -> None:
        counted: Counter[tuple[str, str, str]] = Counter()  # one inc per label set and batch
        for index, ((record, decoded), outcome) in enumerate(
            zip(accepted, result.outcomes, strict=True)
        ):
            if outcome == "held":
                continue  # counted when it is processed
            source = self.sources[record.topic]
            label = self._type_label(decoded)
            if outcome == "late":
                await self.dead_letter(record, source, label, "late", _late(self.engine))
            elif outcome == "failed":
                await self.dead_letter(
                    record, source, label, "processing_error", result.errors[index]
                )
            else:
                counted[source, label, outcome] += 1
        for labels, count in counted.items():
            self.metrics.events.labels(*labels).inc(count)
        now, observe = self.clock(), self.metrics.event_time_lag.observe
        for ts, outcome in zip(times, result.outcomes, strict=True):
            if outcome != "held":
                observe(max(0.0, now - ts / 1000))

    async def _publish_changes(self, result: BatchResult, emitted_at: datetime) -> None:
        changes: Counter[tuple[str, str]] = Counter()  # (kind, reason)
        entries: Counter[SegmentLabels] = Counter()
        exits: Counter[SegmentLabels] = Counter()
        for change in result.changes:
            out = change.to_message(emitted_at)
            await self.publisher.send(
                self.topics.changes, change.customer_id.encode(), out.model_dump_json().encode()
            )
            changes[_kind(out), out.reason] += 1
            if out.previous_segment is not None:
                exits[out.previous_segment.id, out.previous_segment.kind] += 1
            if out.segment is not None:
                entries[out.segment.id, out.segment.kind] += 1
        m = self.metrics
        for labels, count in changes.items():
            m.changes.labels(*labels).inc(count)
        for counter, counts in ((m.segment_entries, entries), (m.segment_exits, exits)):
            for labels, count in counts.items():
                counter.labels(*labels).inc(count)
        self._moved |= entries.keys() | exits.keys()
        if result.changes:
            m.emit_latency.observe(time.perf_counter() - self._received)

    async def _publish_memberships(self, result: BatchResult, store: StateStore) -> None:
        """The current segments of every customer whose segments changed, to the
        compacted ``customer-segments`` topic; a tombstone for an erased one."""
        latest: dict[str, Change] = {}
        for change in result.changes:  # in order: the last one stands
            latest[change.customer_id] = change
        for customer_id, change in latest.items():
            key = customer_id.encode()
            state = store.get(customer_id)
            if change.reason == "erased" or state is None:
                await self.publisher.send(self.topics.memberships, key, None)
                continue
            learned, rules = self.engine.memberships(state)
            body = CustomerSegments(
                customer_id=customer_id, learned=learned, rules=rules,
                model_version=change.model_version,
                as_of=datetime.fromtimestamp(change.changed_at_ms / 1000, UTC),
            )  # fmt: skip
            await self.publisher.send(self.topics.memberships, key, body.model_dump_json().encode())

    async def _report_drift(self, readings: list[DriftReading], emitted_at: datetime) -> None:
        for reading in readings:
            self.metrics.drift_score.labels(reading.detector, reading.subject).set(reading.score)
            self.metrics.drift_threshold.labels(reading.detector).set(reading.threshold)
            # Touched on every reading, so each series starts at 0 and increase() sees
            # the first detection.
            detections = self.metrics.drift_detections.labels(reading.detector, reading.subject)
            if not reading.detected:
                continue
            detections.inc()
            message = drift_message(reading, emitted_at)
            await self.publisher.send(
                self.topics.drift, reading.subject.encode(), message.model_dump_json().encode()
            )

    async def _publish_catalog(self, status: EngineStatus, emitted_at: datetime) -> None:
        """What changed of the segments this worker owns on the compacted
        ``segment-catalog`` topic (``streams.catalog``)."""
        for key, value in self.catalog.entries(
            status.segments, status.lineage, status.model_version, emitted_at
        ):
            await self.publisher.send(self.topics.catalog, key, value)

    def _record_model(self, result: BatchResult, status: EngineStatus | None = None) -> None:
        status, m = status or self.engine.status(), self.metrics
        m.model_version.set(status.model_version)
        if status.watermark_ms is not None:
            m.watermark.set(status.watermark_ms / 1000)
        for distance in result.distances:
            m.assignment_distance.observe(distance)
        for shift in result.centroid_shifts:
            m.centroid_shift.observe(shift)
        if status.silhouette is not None:
            m.silhouette.set(status.silhouette)
        if status.near_boundary is not None:
            m.near_boundary.set(status.near_boundary)
        if result.changes or status.model_version != self._model_version:
            self._record_segments(status)
        self._model_version = status.model_version

    def _record_segments(self, status: EngineStatus) -> None:
        """Per-segment series exist for live segments only: segment ids are never
        reused, so a retired segment's series would otherwise stay forever."""
        m, segments = self.metrics, status.segments
        sized: dict[SegmentLabels, int] = {(s.id, s.kind): s.size for s in segments if s.size}
        for labels in set(self._sized) - set(sized):  # retired or emptied: drop the series
            m.segment_size.remove(*labels)
        for labels, size in sized.items():
            m.segment_size.labels(*labels).set(size)
        self._sized = sized
        # Entries and exits last while the segment is live or still holds customers
        # (a retired one empties as its customers are reassigned).
        kept: set[SegmentLabels] = {(s.id, s.kind) for s in segments if s.live or s.size}
        for labels in self._moved - kept:
            m.segment_entries.remove(*labels)
            m.segment_exits.remove(*labels)
        self._moved &= kept

    async def reject_model(self, message: InputRecord, error: str) -> None:
        """A models-topic record that does not decode: to the dead-letter topic."""
        await self._forward(message, "invalid", error)

    async def _send_contributions(self, items: list[Contribution]) -> None:
        """To the trainer: one message per source partition, keyed by it (in order)."""
        by_partition: dict[int, list[Contribution]] = {}
        for item in items:
            by_partition.setdefault(item.partition, []).append(item)
        for partition, group in by_partition.items():
            value = encode_contributions(group)
            await self.publisher.send(self.topics.lessons, str(partition).encode(), value)

    def _caught_up(self) -> set[int]:
        """The partitions with nothing more to read after this batch in any input
        topic (as far as the consumer's latest fetch knows), quiet for
        ``quiet_seconds``: only these may be taken to have passed an epoch without an
        event saying so."""
        if self.engine.clock is None or self.highwater is None:
            return set()
        positions, quiet_since = self._positions, time.monotonic() - self.quiet_seconds
        caught_up = set()
        for partition in range(self.engine.partitions):
            if self._arrived.get(partition, self._started) > quiet_since:
                continue
            ends = [(self.highwater(topic, partition), positions.get((topic, partition), 0))
                    for topic in self.sources]  # fmt: skip
            if all(high is not None and position >= high for high, position in ends):
                caught_up.add(partition)
        return caught_up

    def _record_lag(self, records: Sequence[InputRecord]) -> None:
        if self.highwater is None:
            return
        positions: dict[tuple[str, int], int] = {}
        for record in records:
            tp = record.topic, record.partition
            positions[tp] = max(positions.get(tp, -1), record.offset + 1)
        for (topic, partition), position in positions.items():
            high = self.highwater(topic, partition)
            if high is not None:
                self.metrics.consumer_lag.labels(topic, str(partition)).set(max(0, high - position))

    async def dead_letter(
        self, record: InputRecord, source: str, label: str, reason: dl.DeadLetterReason, error: str
    ) -> None:
        """Forward the original message, with headers saying why and from where."""
        await self._forward(record, reason, error)
        self.metrics.events.labels(source, label, "dead_lettered").inc()
        self.metrics.dead_letters.labels(source, reason).inc()

    async def _forward(self, record: InputRecord, reason: dl.DeadLetterReason, error: str) -> None:
        """The original to the dead-letter topic, untouched unless too large to send."""
        detail = dl.one_line(error[:_ERROR_CHARS])
        why = dl.why(reason, detail, record.topic, record.partition, record.offset)
        key, value, headers = dl.fitted(record.key, record.value, record.headers, why)
        await self.publisher.send(self.topics.dead_letters, key, value, headers)

    def _type_label(self, event: InputEvent) -> str:
        if isinstance(event, BehaviourEvent):
            return event.type if event.type in self.type_labels else "other"
        return "erasure_request" if isinstance(event, ErasureRequest) else "profile_update"


def _kind(change: SegmentChange) -> str:
    segment = change.segment or change.previous_segment
    assert segment is not None  # a change has a side with a segment
    return segment.kind


def drift_message(reading: DriftReading, emitted_at: datetime) -> DriftDetected:
    """The drift topic's message; its id is derived from the reading, so replays agree."""
    key = f"{reading.detector}|{reading.subject}|{reading.at_ms}|{reading.model_version}"
    return DriftDetected(
        drift_id=hashlib.sha256(key.encode()).hexdigest()[:32],
        detector=reading.detector,
        subject=reading.subject,
        score=reading.score,
        threshold=reading.threshold,
        detected_at=datetime.fromtimestamp(reading.at_ms / 1000, UTC),
        since=None
        if reading.since_ms is None
        else datetime.fromtimestamp(reading.since_ms / 1000, UTC),
        model_version=reading.model_version,
        emitted_at=emitted_at,
    )


def _late(engine: SegmentEngine) -> str:
    seconds = engine.config.allowed_lateness_seconds
    return f"event time is more than {seconds:g} s before the customer's latest event"
