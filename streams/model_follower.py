"""A worker follows the models topic: every record the trainer published, from the start.

Read whole by every worker (manually assigned, no consumer group): the models of the
epochs this worker's partitions still need, and how far learning got, whoever trains.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from brokers.clients import client_options, ssl_context
from engine.epochs import ModelRecord
from settings import Settings
from streams.model_wire import decode_record
from streams.ports import InputRecord

log = logging.getLogger(__name__)

__all__ = ["follow_models"]


async def follow_models(
    settings: Settings,
    adopt: Callable[[ModelRecord], Awaitable[None]],
    reject: Callable[[InputRecord, str], Awaitable[None]],
) -> None:
    """Hand every record of the models topic to ``adopt``, in order, until cancelled;
    one that does not decode to ``reject`` (the dead-letter topic), with why."""
    topic = settings.topics.models  # declared with the others as the worker starts
    # Held events wait on a round trip through this consumer: fetch waits are short.
    consumer = AIOKafkaConsumer(**_options(settings), enable_auto_commit=False, group_id=None,
                                fetch_max_wait_ms=settings.fetch_max_wait_ms)  # fmt: skip
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        while True:
            batch = await consumer.getmany(tp, timeout_ms=500)
            for message in batch.get(tp, []):
                try:
                    record = decode_record(message.value)
                except (ValueError, TypeError, KeyError) as exc:
                    log.error("models topic: dead-lettering offset %d: %s", message.offset, exc)
                    await reject(_record(message), f"{type(exc).__name__}: {exc}")
                    continue
                await adopt(record)
    finally:
        await consumer.stop()


def _record(message: Any) -> InputRecord:
    headers = tuple((k, v or b"") for k, v in message.headers or ())
    return InputRecord(message.topic, message.partition, message.offset, message.key,
                       message.value, headers)  # fmt: skip


def _options(settings: Settings) -> dict[str, Any]:
    """aiokafka's connection options: kafka-python's, with a TLS context for files."""
    options = client_options(settings)
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        options.pop(name, None)
    if (context := ssl_context(settings)) is not None:
        options["ssl_context"] = context
    return options
