"""Replay routes customers as Kafka does, and refuses event time that jumps ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2 as kafka_murmur2

from engine.partitioning import kafka_partition, murmur2
from replay.run import order
from replay.sources import Record
from schemas.events import BehaviourEvent

START = datetime(2026, 1, 1, tzinfo=UTC)


@given(st.binary(max_size=64))
def test_murmur2_is_kafkas(data: bytes) -> None:
    assert murmur2(data) == kafka_murmur2(data) & 0xFFFFFFFF


@given(st.text(min_size=1, max_size=40), st.integers(1, 64))
def test_the_partition_is_the_default_partitioners(customer_id: str, partitions: int) -> None:
    expected = (kafka_murmur2(customer_id.encode()) & 0x7FFFFFFF) % partitions
    assert kafka_partition(customer_id, partitions) == expected


def record(position: int, customer: str, at: datetime) -> Record:
    event = BehaviourEvent(event_id=f"e{position}", customer_id=customer, type="page_view",
                           timestamp=at)  # fmt: skip
    return Record(position, f"log.jsonl:{position + 1}", event)


def test_an_event_far_ahead_of_its_partition_is_rejected_and_the_rest_kept() -> None:
    items = [record(i, "c1", START + timedelta(days=i)) for i in range(5)]
    items.insert(2, record(99, "c1", datetime(9999, 12, 31, tzinfo=UTC)))
    ordered = order(items, partitions=4, max_jump_ms=30 * 86_400_000)
    assert [e.event_id for e in ordered.events] == ["e0", "e1", "e2", "e3", "e4"]
    [reject] = ordered.rejects
    assert (reject.position, reject.reason, reject.origin) == (99, "out_of_range", "log.jsonl:100")
    assert "9999-12-31" in reject.error and "partition" in reject.error


def test_each_partition_keeps_its_own_time_for_the_jump() -> None:
    # c1 and c2 on different partitions: c2 starting 60 days later is no jump for c1's.
    first, second = (
        "c1",
        next(
            c
            for c in (f"c{i}" for i in range(2, 100))
            if kafka_partition(c, 4) != kafka_partition("c1", 4)
        ),
    )
    items = [record(0, first, START), record(1, second, START + timedelta(days=60))]
    ordered = order(items, partitions=4, max_jump_ms=30 * 86_400_000)
    assert len(ordered.events) == 2 and ordered.rejects == []
    together = order(items, partitions=1, max_jump_ms=30 * 86_400_000)
    assert [r.position for r in together.rejects] == [1]


def test_an_early_outlier_costs_one_event_not_the_rest_of_its_partition() -> None:
    items = [record(0, "c1", datetime(1995, 5, 5, tzinfo=UTC))]
    items += [record(i, "c1", START + timedelta(hours=i)) for i in range(1, 200)]
    ordered = order(items, partitions=4, max_jump_ms=30 * 86_400_000)
    assert [r.position for r in ordered.rejects] == [1]
    assert len(ordered.events) == 199
