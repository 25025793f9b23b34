"""The benchmark's input: one generated log, cached in /tmp, and a fast Kafka pre-fill.

The log is the product's own JSON Lines format (``segment-engine generate --out``:
one event per line, its role in ``_topic``), cut to exactly ``events`` lines from
the start of a generated stream, so every part of the suite reads the same events:
the live pipeline the first ``live_events`` of them, the paced latency run the ones
after, replay all of them.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

CACHE_DIR = Path(os.environ.get("SEGMENT_ENGINE_BENCH_CACHE", "/tmp/segment-engine-bench"))
EVENTS_PER_CUSTOMER_DAY = 7.0  # the default personas give about 7.1
SEED = 7


@dataclass(frozen=True)
class Record:
    """One input message as it goes to Kafka."""

    role: str  # "behaviour" or "profile"
    key: bytes
    value: bytes
    event_id: str | None  # behaviour events only


def log_path(events: int, customers: int, seed: int = SEED) -> Path:
    return CACHE_DIR / f"events-{events}e-{customers}c-s{seed}.jsonl"


def ensure_log(events: int, customers: int, seed: int = SEED) -> Path:
    """The cached log of ``events`` events of ``customers`` customers; generated once."""
    from cli.generate import write_jsonl
    from synthetic import generate

    path = log_path(events, customers, seed)
    if path.exists():
        return path
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    days = events / (customers * EVENTS_PER_CUSTOMER_DAY) * 1.2
    while True:
        partial = path.with_suffix(".partial")
        started = time.perf_counter()
        count = write_jsonl(islice(generate(customers, days, seed), events), partial)
        if count == events:
            partial.rename(path)
            print(
                f"  generated {count:,} events ({customers:,} customers, {days:.1f} days) "
                f"in {time.perf_counter() - started:.0f} s -> {path}",
                flush=True,
            )
            return path
        days *= 1.5 * events / max(count, 1)


def read_records(path: Path, start: int = 0, stop: int | None = None) -> Iterator[Record]:
    """Lines ``start`` to ``stop`` of the log as Kafka messages, each value byte for
    byte what ``segment-engine generate`` sends (the line without its ``_topic``)."""
    import orjson

    with path.open("rb") as lines:
        for line in islice(lines, start, stop):
            fields = orjson.loads(line)
            role = fields["_topic"]
            # write_jsonl put "_topic" first: cut it out rather than re-encode.
            cut = line.index(b", ", len(b'{"_topic": ')) + 2
            yield Record(
                role,
                fields["customer_id"].encode(),
                b"{" + line[cut:].rstrip(b"\n"),
                fields.get("event_id") if role == "behaviour" else None,
            )


def topic_of(role: str, behaviour_topic: str, profile_topic: str) -> str:
    return behaviour_topic if role == "behaviour" else profile_topic


def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    """Create the topics with the worker's partition count (tables need co-partitioning)."""
    from brokers.clients import ensure_topics
    from settings import Settings

    ensure_topics(
        Settings.model_validate({"kafka_bootstrap": bootstrap, "topic_partitions": partitions}),
        names,
    )


async def prefill(
    bootstrap: str, records: list[Record], behaviour_topic: str, profile_topic: str
) -> float:
    """Produce ``records`` as fast as aiokafka goes; events/s.

    Batches are built by hand and sent per partition (``send_batch``), partitioned
    by key with the default (murmur2) partitioner as any producer would, and the
    futures gathered; per-message ``send`` tops out at about half this rate here.
    """
    from aiokafka import AIOKafkaProducer
    from aiokafka.partitioner import DefaultPartitioner

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, max_batch_size=256 << 10)
    await producer.start()
    partitioner = DefaultPartitioner()
    started = time.perf_counter()
    try:
        partitions = {
            topic: sorted(await producer.partitions_for(topic))
            for topic in (behaviour_topic, profile_topic)
        }
        pending: list[asyncio.Future[object]] = []
        batches: dict[tuple[str, int], Any] = {}  # aiokafka's BatchBuilder, untyped
        for record in records:
            topic = topic_of(record.role, behaviour_topic, profile_topic)
            all_partitions = partitions[topic]
            partition = partitioner(record.key, all_partitions, all_partitions)
            batch = batches.get((topic, partition))
            if batch is None:
                batch = batches[(topic, partition)] = producer.create_batch()
            if batch.append(key=record.key, value=record.value, timestamp=None) is None:
                pending.append(await producer.send_batch(batch, topic, partition=partition))
                batch = batches[(topic, partition)] = producer.create_batch()
                batch.append(key=record.key, value=record.value, timestamp=None)
            if len(pending) >= 64:
                await asyncio.gather(*pending)
                pending.clear()
        for (topic, partition), batch in batches.items():
            if batch.record_count():
                pending.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return len(records) / (time.perf_counter() - started)
