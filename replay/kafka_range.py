"""Read a time range of a Kafka topic for replay; write a replay's changes to a shadow topic.

The reader assigns partitions by hand, and a replay needs no group: a kafka-python
group consumer takes about 23 s to join a group on the embedded broker (Tansu holds
the first join, the one without a member id, until it expires), while an assigned
consumer reads at once. Partitions are read one after the other, in partition order,
so ``position`` is the same on every run over the same topic contents.

Two answers of the embedded broker (Tansu 0.6) are wrong, and the reader does not
depend on either:

- ListOffsets by timestamp (``offsets_for_times``) ignores the timestamp and answers
  the log start. The answer is used only as where to start reading; messages before
  ``from_ms`` are then skipped by their own timestamps. On Kafka the answer is exact
  and nothing is skipped.
- ListOffsets "latest" (``end_offsets``) answers the base offset of the last record
  batch plus one, short of the records in that batch. The fetch response's high
  watermark is right, so the end is the larger of the two, taken once at the start.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from brokers.clients import client_options, ensure_topics, producer
from engine.changes import Change
from replay.sources import Record, Reject, SourceError
from schemas.changes import SegmentChange
from schemas.decode import CONTRACTS, Rejected, decode
from settings import Settings

IDLE_TIMEOUT_S = 10.0  # no record for this long while short of the end: give up loudly


def read_topic_range(
    settings: Settings,
    topic: str,
    from_ms: int | None,
    to_ms: int | None,
    role: str = "behaviour",
    extra_event_types: tuple[str, ...] = (),
) -> Iterator[Record | Reject]:
    """Messages of ``topic`` with ``from_ms <= timestamp < to_ms`` (``None``: unbounded).

    Each partition is read up to its end as it was at the call, and stops at its
    first message at or after ``to_ms``. Values are decoded against the contract of
    ``role`` (``behaviour``, ``profiles`` or ``erasures``) exactly as the worker does,
    so a message the worker would dead-letter comes back as a :class:`Reject`.

    A missing topic is reported at the call. The consumer that reads opens only when
    reading starts, so an iterator dropped unread holds no connection.
    """
    if role not in CONTRACTS:
        raise SourceError(f"role {role!r}: expected one of {', '.join(sorted(CONTRACTS))}")
    with _consumer(settings) as consumer:
        partitions = _partitions(consumer, topic)
        starts = _starts(consumer, partitions, from_ms)
        ends = _ends(consumer, partitions)
    return _read(settings, partitions, starts, ends, from_ms, to_ms, role, extra_event_types)


def _consumer(settings: Settings) -> KafkaConsumer:
    return KafkaConsumer(
        **client_options(settings), enable_auto_commit=False, allow_auto_create_topics=False
    )


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    found = consumer.partitions_for_topic(topic)
    if not found:
        raise SourceError(f"topic {topic!r} does not exist")
    return [TopicPartition(topic, p) for p in sorted(found)]


def _starts(
    consumer: KafkaConsumer, partitions: list[TopicPartition], from_ms: int | None
) -> dict[TopicPartition, int]:
    firsts: dict[TopicPartition, int] = consumer.beginning_offsets(partitions)
    if from_ms is None:
        return firsts
    found = consumer.offsets_for_times(dict.fromkeys(partitions, max(from_ms, 0)))
    starts = {}
    for tp in partitions:
        at = found.get(tp)  # None: no message at or after from_ms; -1 skips the partition
        starts[tp] = -1 if at is None else max(at.offset, firsts[tp])
    return starts


def _ends(consumer: KafkaConsumer, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    """Where each partition ends now: ListOffsets, corrected by a fetch's high watermark."""
    listed: dict[TopicPartition, int] = consumer.end_offsets(partitions)
    probe = [tp for tp in partitions if listed[tp] > 0]
    if not probe:
        return listed
    consumer.assign(probe)
    for tp in probe:
        consumer.seek(tp, listed[tp] - 1)
    deadline = time.monotonic() + IDLE_TIMEOUT_S
    while any(consumer.highwater(tp) is None for tp in probe):
        if time.monotonic() > deadline:
            raise SourceError(f"topic {probe[0].topic!r}: no answer in {IDLE_TIMEOUT_S:.0f} s")
        consumer.poll(timeout_ms=200)
    ends = dict(listed)
    for tp in probe:
        ends[tp] = max(listed[tp], consumer.highwater(tp) or 0)
    return ends


def _read(
    settings: Settings,
    partitions: list[TopicPartition],
    starts: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
    from_ms: int | None,
    to_ms: int | None,
    role: str,
    extra_event_types: tuple[str, ...],
) -> Iterator[Record | Reject]:
    context = settings.engine.input_bounds.context(extra_event_types)
    position = 0
    with _consumer(settings) as consumer:
        for tp in partitions:
            if starts[tp] < 0 or starts[tp] >= ends[tp]:
                continue
            for message in _messages(consumer, tp, starts[tp], ends[tp]):
                if to_ms is not None and message.timestamp >= to_ms:
                    break
                if from_ms is not None and message.timestamp < from_ms:
                    continue
                yield _item(position, message, role, context)
                position += 1


def _messages(consumer: KafkaConsumer, tp: TopicPartition, start: int, end: int) -> Iterator[Any]:
    """Messages of one partition from ``start`` up to (not including) ``end``."""
    consumer.assign([tp])
    consumer.seek(tp, start)
    deadline = time.monotonic() + IDLE_TIMEOUT_S
    while consumer.position(tp) < end:
        batch = consumer.poll(timeout_ms=500, max_records=1000).get(tp, [])
        if batch:
            deadline = time.monotonic() + IDLE_TIMEOUT_S
        elif time.monotonic() > deadline:
            raise SourceError(
                f"{tp.topic}:{tp.partition}: no records at offset {consumer.position(tp)} "
                f"(end {end}) within {IDLE_TIMEOUT_S:.0f} s"
            )
        for message in batch:
            if message.offset >= end:
                return
            yield message


def _item(position: int, message: Any, role: str, context: dict[str, Any]) -> Record | Reject:
    origin = f"{message.topic}:{message.partition}:{message.offset}"
    result = decode(role, message.key, message.value, context)
    if isinstance(result, Rejected):
        raw = "" if message.value is None else message.value.decode("utf-8", "replace")
        return Reject(position, origin, result.reason, result.error, raw)
    return Record(position, origin, result)


class ShadowWriter:
    """Writes a replay's segment changes to a topic of their own (key ``customer_id``).

    Use it as a context manager; leaving it flushes and raises the first send error.
    """

    def __init__(self, settings: Settings, topic: str) -> None:
        if topic == settings.topics.changes:
            raise SourceError(f"shadow topic {topic!r} is the live changes topic; pick another")
        if topic in settings.topics.model_dump().values() or topic.startswith(
            f"{settings.app_id}-"
        ):
            # An input would feed the shadow's changes to the worker as events, and the
            # worker's own topics (state changelog...) would be corrupted.
            raise SourceError(f"shadow topic {topic!r} is a topic of the worker; pick another")
        ensure_topics(settings, [topic])
        self.topic = topic
        self.written = 0
        self._producer = producer(settings)
        self._error: Exception | None = None

    def write(self, change: SegmentChange) -> None:
        future = self._producer.send(
            self.topic, key=change.customer_id.encode(), value=change.model_dump_json().encode()
        )
        future.add_errback(self._failed)
        self.written += 1

    def _failed(self, exc: Exception) -> None:
        if self._error is None:
            self._error = exc

    def close(self) -> None:
        try:
            self._producer.flush()
        finally:
            self._producer.close()
        if self._error is not None:
            raise SourceError(f"shadow topic {self.topic!r}: send failed: {self._error}")

    def __enter__(self) -> ShadowWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_shadow(
    settings: Settings,
    topic: str,
    changes: Iterable[Change | SegmentChange],
    emitted_at: datetime | None = None,
) -> int:
    """Write a replay's changes to ``topic`` as the worker would publish them; how many.

    Engine changes are stamped with ``emitted_at`` (default: now), as the worker does.
    """
    stamp = emitted_at or datetime.now(UTC)
    with ShadowWriter(settings, topic) as shadow:
        for change in changes:
            shadow.write(change.to_message(stamp) if isinstance(change, Change) else change)
    return shadow.written
