"""One batch of Kafka messages through the engine: decode, decide, emit, count.

Nothing raised here may escape: Faust acks a message whether or not its handler
succeeded, so every failure must end on the dead-letter topic instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from faust.types import EventT, Message, TopicT

from engine.segment_engine import SegmentEngine
from schemas import dead_letters as dl
from schemas.events import BehaviourEvent, ErasureRequest, InputEvent
from streams.decode import Rejected, decode
from streams.metrics import Metrics
from streams.table_store import PartitionIndex, TableStore

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
    ) -> None:
        self.engine = engine
        self.table = table
        self.sources = sources
        self.changes = changes
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.type_labels = type_labels
        self.context = {"event_types": type_labels}
        self.index = index

    async def handle(self, batch: Sequence[EventT[Any]]) -> None:
        with self.metrics.batch_seconds.time():
            await self._handle(batch)

    async def _handle(self, batch: Sequence[EventT[Any]]) -> None:
        accepted: list[tuple[EventT[Any], InputEvent]] = []
        for event in batch:
            message = event.message
            source = self.sources[message.topic]
            decoded = decode(source, message.key, message.value, self.context)
            if isinstance(decoded, Rejected):
                await self.dead_letter(message, source, "unknown", decoded.reason, decoded.error)
            else:
                accepted.append((event, decoded))
        if accepted:
            await self._decide(accepted)

    async def _decide(self, accepted: list[tuple[EventT[Any], InputEvent]]) -> None:
        store = TableStore(
            self.table, [(decoded.customer_id, event) for event, decoded in accepted], self.index
        )
        result = self.engine.process([decoded for _, decoded in accepted], store)
        for error in result.sweep_errors:
            log.error("sweep could not refresh %s", error)
        self.metrics.sweep_failures.inc(len(result.sweep_errors))
        for index, ((event, decoded), outcome) in enumerate(
            zip(accepted, result.outcomes, strict=True)
        ):
            source = self.sources[event.message.topic]
            label = self._type_label(decoded)
            if outcome == "late":
                await self.dead_letter(event.message, source, label, "late", _late(self.engine))
            elif outcome == "failed":
                await self.dead_letter(
                    event.message, source, label, "processing_error", result.errors[index]
                )
            else:
                self.metrics.events.labels(source, label, outcome).inc()
        emitted_at = datetime.now(UTC)
        for change in result.changes:
            message = change.to_message(emitted_at)
            await self.changes.send(
                key=change.customer_id.encode(), value=message.model_dump_json().encode()
            )
            kind = (message.segment or message.previous_segment).kind  # type: ignore[union-attr]
            self.metrics.changes.labels(kind, message.reason).inc()
        self.metrics.model_version.set(self.engine.segmenter.model_version)

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


def _late(engine: SegmentEngine) -> str:
    seconds = engine.config.allowed_lateness_seconds
    return f"event time is more than {seconds:g} s before the customer's latest event"
