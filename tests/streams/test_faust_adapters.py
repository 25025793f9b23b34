"""Faust's events become the pipeline's records, and its producer the publisher:
every output straight to the producer, and a refused one fails the flush."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from faust.types import TP, Message

from streams.faust_adapters import FaustPublisher, header_items, input_records
from streams.faust_compat import RecordBatch
from streams.ports import InputRecord


def message(partition: int, offset: int, headers: Any = None) -> Message:
    return Message("events", partition, offset, 0.0, 0, headers, b"k", b"v", None,
                   tp=TP("events", partition))  # fmt: skip


@dataclass
class Event:
    message: Message


def test_a_record_batch_gives_its_records_and_a_plain_event_its_message() -> None:
    batch = Event(RecordBatch([message(0, 5), message(0, 6, [("trace", b"t")])]))
    plain = Event(message(1, 9, {"a": b"1"}))
    assert input_records([batch, plain]) == [  # type: ignore[list-item]
        InputRecord("events", 0, 5, b"k", b"v"),
        InputRecord("events", 0, 6, b"k", b"v", (("trace", b"t"),)),
        InputRecord("events", 1, 9, b"k", b"v", (("a", b"1"),)),
    ]


def test_header_items_accepts_lists_mappings_and_empty_values() -> None:
    assert header_items(None) == ()
    assert header_items([]) == ()
    assert header_items([("a", b"1"), ("b", None)]) == (("a", b"1"), ("b", b""))
    assert header_items({"a": bytearray(b"1")}) == (("a", b"1"),)


@dataclass
class FakeProducer:
    """Answers each send with a future it settles at once: refused when the topic
    is in ``refusing``."""

    refusing: set[str] = field(default_factory=set)
    sent: list[tuple[Any, ...]] = field(default_factory=list)

    async def send(self, *args: Any) -> asyncio.Future[None]:
        self.sent.append(args)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if args[0] in self.refusing:
            done.set_exception(RuntimeError(f"{args[0]}: record too large"))
        else:
            done.set_result(None)
        return done


@dataclass
class FakeApp:
    producer: FakeProducer


def test_every_output_goes_to_the_producer_and_a_refused_one_fails_the_flush() -> None:
    producer = FakeProducer(refusing={"dead-letters"})
    publisher = FaustPublisher(FakeApp(producer))  # type: ignore[arg-type]

    async def publish() -> list[str]:
        failures = []
        await publisher.send("segment-changes", b"c1", b"{}")
        await publisher.send("segment-drift", b"psi", b"{}")
        await publisher.flush()  # both taken
        await publisher.send("dead-letters", b"c1", b"x", (("why", b"late"),))
        try:
            await publisher.flush()
        except RuntimeError as exc:
            failures.append(str(exc))
        await publisher.flush()  # nothing pending any more
        return failures

    assert asyncio.run(publish()) == ["dead-letters: record too large"]
    assert producer.sent == [
        ("segment-changes", b"c1", b"{}", None, None, None),
        ("segment-drift", b"psi", b"{}", None, None, None),
        ("dead-letters", b"c1", b"x", None, None, [("why", b"late")]),
    ]
