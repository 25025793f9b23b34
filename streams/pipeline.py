"""One batch of Kafka messages through the engine: decode, decide, emit, count.

Nothing raised here may escape: Faust acks a message whether or not its handler
succeeded, so every failure must end on the dead-letter topic instead.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import zip_longest
from typing import Any

from faust.types import EventT, Message, TopicT

from engine.drift import DriftReading
from engine.results import BatchResult, EngineStatus
from engine.segment_engine import SegmentEngine, epoch_ms
from schemas import dead_letters as dl
from schemas.decode import Rejected, decode
from schemas.drift import DriftDetected
from schemas.events import BehaviourEvent, ErasureRequest, InputEvent
from streams.metrics import Metrics
from streams.table_store import ChangelogWriter, PartitionIndex, TableStore

log = logging.getLogger(__name__)


class Pipeline:
    """Feeds batches of Faust events to the engine and publishes what it decides."""

    def __init__(
        self,
        engine: SegmentEngine,
        table: Any,
        sources: Mapping[str, str],  # topic name -> role (behaviour, profiles, erasures)
        changes: TopicT,
        dead_letters: TopicT,
        metrics: Metrics,
        type_labels: frozenset[str],
        index: PartitionIndex,
        drift: TopicT | None = None,
        highwater: Callable[[Any], int | None] | None = None,
    ) -> None:
        self.engine = engine
        self.table = table
        self.writer = ChangelogWriter(table)
        self.sources = sources
        self.changes = changes
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.type_labels = type_labels
        self.context = {"event_types": type_labels}
        self.index = index
        self.drift = drift
        self.highwater = highwater  # a partition's high watermark, for consumer lag
        self._received = 0.0
        self._sized: dict[tuple[str, str], int] = {}

    async def handle(self, events: Sequence[EventT[Any]]) -> None:
        """Handle the records of :class:`~streams.faust_runtime.RecordBatch` events (or
        plain one-message events) as one batch for the engine."""
        self._received = time.perf_counter()
        by_partition: dict[Any, list[tuple[EventT[Any], Message]]] = {}
        for event in events:
            for message in getattr(event.message, "records", None) or [event.message]:
                by_partition.setdefault(message.tp, []).append((event, message))
        # Partitions take turns record by record, as Faust's scheduler delivers them
        # one at a time: on a backlog, one partition's run must not carry event time
        # days ahead of the others'. Each partition keeps its offset order.
        owned = [pair for turn in zip_longest(*by_partition.values()) for pair in turn if pair]
        with self.metrics.batch_seconds.time():
            await self._handle(owned)
        self._record_lag([message for _, message in owned])

    async def _handle(self, owned: Sequence[tuple[EventT[Any], Message]]) -> None:
        accepted: list[tuple[EventT[Any], Message, InputEvent]] = []
        for owner, message in owned:
            source = self.sources[message.topic]
            decoded = decode(source, message.key, message.value, self.context)
            if isinstance(decoded, Rejected):
                await self.dead_letter(message, source, "unknown", decoded.reason, decoded.error)
            else:
                accepted.append((owner, message, decoded))
        if accepted:
            await self._decide(accepted)

    async def _decide(self, accepted: list[tuple[EventT[Any], Message, InputEvent]]) -> None:
        # A record's own event (its batch's, all of one partition) routes the table
        # writes for its customer to that partition's changelog.
        owners = [(decoded.customer_id, owner) for owner, _, decoded in accepted]
        store = TableStore(self.table, owners, self.index, self.writer)
        result = self.engine.process([decoded for _, _, decoded in accepted], store)
        await store.flush()
        for error in result.sweep_errors:
            log.error("sweep could not refresh %s", error)
        self.metrics.sweep_failures.inc(len(result.sweep_errors))
        counted: Counter[tuple[str, str, str]] = Counter()  # one inc per label set and batch
        for index, ((_, message, decoded), outcome) in enumerate(
            zip(accepted, result.outcomes, strict=True)
        ):
            source = self.sources[message.topic]
            label = self._type_label(decoded)
            if outcome == "late":
                await self.dead_letter(message, source, label, "late", _late(self.engine))
            elif outcome == "failed":
                await self.dead_letter(
                    message, source, label, "processing_error", result.errors[index]
                )
            else:
                counted[source, label, outcome] += 1
        for labels, count in counted.items():
            self.metrics.events.labels(*labels).inc(count)
        now, observe = time.time(), self.metrics.event_time_lag.observe
        for _, _, decoded in accepted:
            observe(max(0.0, now - epoch_ms(decoded) / 1000))
        emitted_at = datetime.now(UTC)
        changes_topic = self.changes.get_topic_name()
        for change in result.changes:
            out = change.to_message(emitted_at)
            # Straight to the producer, as the changelog writes go (no attachment to
            # the current event, no codecs); Faust flushes it before it commits.
            await self.changes.app.producer.send(
                changes_topic, change.customer_id.encode(), out.model_dump_json().encode(),
                None, None, None,
            )  # fmt: skip
            before, after = out.previous_segment, out.segment
            kind = (after or before).kind  # type: ignore[union-attr]
            self.metrics.changes.labels(
                kind, out.reason, before.id if before else "none", after.id if after else "none"
            ).inc()
        if result.changes:
            self.metrics.emit_latency.observe(time.perf_counter() - self._received)
        await self._report_drift(result.drift, emitted_at)
        self._record_model(result)

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
            if self.drift is not None:
                message = drift_message(reading, emitted_at)
                await self.drift.send(
                    key=reading.subject.encode(), value=message.model_dump_json().encode()
                )

    def _record_model(self, result: BatchResult) -> None:
        status, m = self.engine.status(), self.metrics
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
        if result.changes:
            self._record_sizes(status)

    def _record_sizes(self, status: EngineStatus) -> None:
        live: dict[tuple[str, str], int] = {
            (s.id, s.kind): s.size for s in status.segments if s.size
        }
        for labels in set(self._sized) - set(live):  # retired or emptied: drop the series
            self.metrics.segment_size.remove(*labels)
        for labels, size in live.items():
            self.metrics.segment_size.labels(*labels).set(size)
        self._sized = live

    def _record_lag(self, messages: Sequence[Message]) -> None:
        if self.highwater is None:
            return
        positions: dict[Any, int] = {}
        for message in messages:
            positions[message.tp] = max(positions.get(message.tp, -1), message.offset + 1)
        for tp, position in positions.items():
            high = self.highwater(tp)
            if high is not None:
                self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                    max(0, high - position)
                )

    async def dead_letter(
        self, message: Message, source: str, label: str, reason: str, error: str
    ) -> None:
        """Forward the original message untouched, with headers saying why and from where."""
        headers = list(_header_items(message.headers))
        headers += [
            (dl.HEADER_REASON, reason.encode()),
            (dl.HEADER_ERROR, error.encode()),
            (dl.HEADER_TOPIC, message.topic.encode()),
            (dl.HEADER_PARTITION, str(message.partition).encode()),
            (dl.HEADER_OFFSET, str(message.offset).encode()),
        ]
        await self.dead_letters.send(key=message.key, value=message.value, headers=headers)
        self.metrics.events.labels(source, label, "dead_lettered").inc()
        self.metrics.dead_letters.labels(source, reason).inc()

    def _type_label(self, event: InputEvent) -> str:
        if isinstance(event, BehaviourEvent):
            return event.type if event.type in self.type_labels else "other"
        return "erasure_request" if isinstance(event, ErasureRequest) else "profile_update"


def _header_items(headers: Any) -> list[tuple[str, bytes]]:
    if not headers:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(k), bytes(v) if v is not None else b"") for k, v in items]


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
