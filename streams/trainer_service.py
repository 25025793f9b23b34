"""``segment-engine trainer``: the one trainer of a cluster of workers.

It reads every partition of the lessons topic, feeds the contributions to an
:class:`~engine.trainer.Trainer` and publishes its records on the single-partition
models topic, which every worker reads whole. It starts from its latest checkpoint
(:mod:`streams.trainer_checkpoint`, written at most every
``trainer_checkpoint_seconds`` and at a clean stop): the trainer restored, each lessons
partition read from the offset the checkpoint holds; without one that matches, from
the partitions' start. The trainer is a function of the lessons (per source
partition, in order), so a restarted trainer reading them again tells the same
versions with the same models: it publishes only what goes beyond the latest record
already on the topic, and a second trainer by mistake publishes duplicates, not
conflicts. It runs apart from the workers (Faust's leader election is not fenced, and
its maintainers advise a separate app for what must run once): learning never stalls
event processing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from brokers.clients import client_options, producer
from engine.epochs import Contribution, ModelRecord
from engine.results import segment_infos
from engine.trainer import Trainer
from schemas import dead_letters as dl
from settings import Settings, TopicNames
from streams.catalog import CatalogSender
from streams.model_wire import decode_contributions, decode_record, encode_record
from streams.pipeline import drift_message
from streams.trainer_checkpoint import (
    CheckpointError,
    CheckpointWriter,
    decode_checkpoint,
    last_value,
    restored,
    start_offsets,
)

log = logging.getLogger(__name__)
Outgoing = tuple[str, bytes | None, bytes | None, Sequence[tuple[str, bytes]]]

__all__ = ["latest_record", "resume", "run_trainer"]


def run_trainer(settings: Settings, stop: threading.Event, poll_ms: int = 200) -> None:
    """Train until ``stop`` is set. Its topics are declared before (the command does it:
    ``brokers.topics.declare_topics``)."""
    topics = settings.topics
    told = latest_record(settings)
    # Each epoch waits on a round trip through this consumer: fetch waits are short.
    consumer = KafkaConsumer(**client_options(settings), enable_auto_commit=False,
                             group_id=None, auto_offset_reset="earliest",
                             fetch_max_wait_ms=settings.fetch_max_wait_ms)  # fmt: skip
    out = _Out(settings)
    writer = CheckpointWriter(settings)
    catalog = CatalogSender(("learned",))  # the workers send the rule segments
    try:
        parts = [TopicPartition(topics.lessons, p)
                 for p in sorted(_partitions(consumer, topics.lessons))]  # fmt: skip
        consumer.assign(parts)
        ends = {tp.partition: end for tp, end in consumer.end_offsets(parts).items()}
        trainer, offsets = resume(settings, ends, told)
        for tp in parts:
            if tp.partition in offsets:
                consumer.seek(tp, offsets[tp.partition])
            else:
                consumer.seek_to_beginning(tp)
        writer.resumed_at(offsets)
        log.info("trainer: reading %d lessons partitions; latest record %s", len(parts), told)
        while not stop.is_set():
            items, messages = _read(consumer.poll(timeout_ms=poll_ms), offsets, topics)
            records, drift = trainer.take(items) if items else ([], [])
            for record in records:
                if told is None or _beyond(record, told):
                    messages.append((topics.models, b"model", encode_record(record), ()))
                    told = record
            seg = trainer.segmenter
            # A trainer resumed from an older checkpoint learns its way back to the
            # models topic's latest first: its catalog entries would go back in time.
            if told is None or seg.model_version >= _progress(told)[0]:
                learned = segment_infos(seg.segments, seg.live_ids, {}, {})
                catalogued = catalog.entries(learned, seg.lineage, seg.model_version,
                                             datetime.now(UTC))  # fmt: skip
                messages += [(topics.catalog, key, value, ()) for key, value in catalogued]
            for reading in drift:
                body = drift_message(reading, datetime.now(UTC)).model_dump_json().encode()
                messages.append((topics.drift, reading.subject.encode(), body, ()))
            out.deliver(messages)
            writer.write(trainer, offsets, told)  # after delivery: see trainer_checkpoint
        writer.write(trainer, offsets, told, final=True)
    finally:
        consumer.close()
        out.close()
        writer.close()


def _read(
    polled: Mapping[TopicPartition, list[Any]], offsets: dict[int, int], topics: TopicNames
) -> tuple[list[Contribution], list[Outgoing]]:
    """The contributions of the lessons ``polled``, and dead letters for those that do
    not decode; ``offsets`` moves past every message."""
    items: list[Contribution] = []
    messages: list[Outgoing] = []
    for tp in sorted(polled):
        for message in polled[tp]:
            offsets[tp.partition] = message.offset + 1
            try:
                items += decode_contributions(message.value)
            except (ValueError, TypeError, KeyError) as exc:  # not ours: say why
                log.error("trainer: dead-lettering lessons at %s@%d: %s",
                          tp, message.offset, exc)  # fmt: skip
                error = f"{type(exc).__name__}: {exc}"
                headers = (
                    *(message.headers or ()),
                    *dl.why("invalid", error, tp.topic, tp.partition, message.offset),
                )
                messages.append((topics.dead_letters, message.key, message.value, headers))
    return items, messages


def resume(
    settings: Settings, ends: Mapping[int, int], latest: ModelRecord | None
) -> tuple[Trainer, dict[int, int]]:
    """The trainer restored from the latest checkpoint, and the lessons offsets to read
    from (``ends``: each partition's end offset; ``latest``: the latest record on the
    models topic); without a checkpoint that matches, a new trainer and none (every
    partition from its start)."""
    fresh = Trainer(settings.engine, settings.topic_partitions)
    if not settings.trainer_checkpoint_seconds:
        return fresh, {}
    try:
        data = last_value(settings, settings.topics.checkpoints)
        if data is None:
            log.info("trainer: no checkpoint; reading the lessons from their start")
            return fresh, {}
        checkpoint = decode_checkpoint(data)
        offsets = start_offsets(checkpoint, ends)
        if checkpoint.told is not None and (latest is None or _beyond(checkpoint.told, latest)):
            raise CheckpointError("the models topic is behind its latest record")
        trainer = restored(checkpoint, settings.engine, settings.topic_partitions)
    except (CheckpointError, TimeoutError) as exc:
        log.warning("trainer: checkpoint ignored, reading the lessons from their start: %s", exc)
        return fresh, {}
    # A copy: the record is formatted when handled, and the caller moves ``offsets`` on.
    log.info("trainer: resuming from the checkpoint at lessons offsets %s", dict(offsets))
    return trainer, offsets


class _Out:
    """The trainer's producer: delivers in order or tries again with a new producer (a
    record lost would hold the workers until the next one)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer = self._new()

    def _new(self) -> KafkaProducer:
        return producer(self._settings, acks="all", request_timeout_ms=5000,
                        delivery_timeout_ms=10000)  # fmt: skip

    def deliver(self, messages: list[Outgoing]) -> None:
        while messages:
            sent = [self._producer.send(topic, key=key, value=value, headers=list(headers))
                    for topic, key, value, headers in messages]  # fmt: skip
            self._producer.flush()
            failed = next((i for i, f in enumerate(sent) if f.failed()), None)
            if failed is None:
                return
            log.warning("trainer: sending again from a failed record: %s", sent[failed].exception)
            messages = messages[failed:]
            self._producer.close(timeout=1)
            self._producer = self._new()

    def close(self) -> None:
        self._producer.close()


def latest_record(settings: Settings) -> ModelRecord | None:
    """The latest record on the models topic, if any."""
    value = last_value(settings, settings.topics.models, timeout=float("inf"))
    return None if value is None else decode_record(value)


def _beyond(record: ModelRecord, told: ModelRecord) -> bool:
    """Whether ``record`` tells more than ``told``: each of its measures only grows."""
    return any(a > b for a, b in zip(_progress(record), _progress(told), strict=True))


def _progress(record: ModelRecord) -> tuple[int, int, int]:
    version = record.model.version if record.model else 0
    learned = -1 if record.learned is None else record.learned
    return version, learned, -1 if record.sealed_max is None else record.sealed_max


def _partitions(consumer: KafkaConsumer, topic: str) -> set[int]:
    return consumer.partitions_for_topic(topic) or set()
