"""The latest message of a one-partition topic: where a checkpoint is read back from.

The trainer reads its checkpoint and the latest model record this way, and a worker
its model checkpoint (``streams.trainer_checkpoint``, ``streams.model_checkpoint``).
"""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition

from brokers.clients import client_options
from brokers.topics import CHECKPOINT_MAX_BYTES
from settings import Settings

__all__ = ["last_value"]


def last_value(settings: Settings, topic: str, timeout: float = 30.0) -> bytes | None:
    """The value of the latest message on partition 0 of ``topic``, if any (None also
    for a tombstone, or when the topic does not exist); TimeoutError if it cannot be
    read within ``timeout``."""
    # A checkpoint may be larger than a fetch's default 1 MB per partition.
    consumer = KafkaConsumer(**client_options(settings), enable_auto_commit=False, group_id=None,
                             max_partition_fetch_bytes=CHECKPOINT_MAX_BYTES)  # fmt: skip
    try:
        if not consumer.partitions_for_topic(topic):
            return None
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        end = consumer.end_offsets([tp])[tp]
        if end == 0:
            return None
        consumer.seek(tp, end - 1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for messages in consumer.poll(timeout_ms=1000).values():
                value: bytes | None = messages[-1].value
                return value
        raise TimeoutError(f"no message of {topic} at offset {end - 1} within {timeout:g} s")
    finally:
        consumer.close()
