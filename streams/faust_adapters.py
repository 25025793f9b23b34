"""Faust on the pipeline's ports: its events as input records, its producer and
topics as the publisher."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import faust
from faust.types import TP, EventT, Message

from streams.ports import Headers, InputRecord


def input_records(events: Sequence[EventT[Any]]) -> list[InputRecord]:
    """The records of :class:`~streams.faust_compat.RecordBatch` events (or of plain
    one-message events), each event's in offset order."""
    return [
        _record(message)
        for event in events
        for message in getattr(event.message, "records", None) or [event.message]
    ]


def _record(message: Message) -> InputRecord:
    headers = header_items(message.headers)
    return InputRecord(
        message.topic, message.partition, message.offset, message.key, message.value, headers
    )


def header_items(headers: Any) -> Headers:
    """Kafka headers as ``(name, bytes)`` pairs, from the list or mapping Faust gives."""
    if not headers:
        return ()
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(k), bytes(v) if v is not None else b"") for k, v in items)


class FaustPublisher:
    """A :class:`~streams.ports.Publisher` over a Faust app's producer.

    Every message goes straight to the producer, as the changelog writes do: no
    attachment to the current event (Faust would send those only when the event is
    acked, after the state is written, and drop a failure), no codecs.
    :meth:`flush` waits for every message sent since the last one, and raises if
    the broker refused one.
    """

    def __init__(self, app: faust.App) -> None:
        self._app = app
        self._pending: list[Awaitable[Any]] = []

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers | None = None
    ) -> None:
        listed = None if headers is None else list(headers)
        sent = await self._app.producer.send(topic, key, value, None, None, listed)
        self._pending.append(sent)

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        await asyncio.gather(*pending)


def highwater(app: faust.App, topic: str, partition: int) -> int | None:
    """The partition's high watermark as the app's consumer last saw it."""
    try:
        return int(app.consumer.highwater(TP(topic, partition)))
    except Exception:  # not assigned yet, or being rebalanced away: no figure this time
        return None
