"""Faust's events become the pipeline's records, and its producer and topics its
publisher, exactly as the worker sent before: changes straight to the producer, dead
letters and drift through their Faust topics."""

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
class Calls:
    made: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)


@dataclass
class FakeTopic:
    name: str
    calls: Calls

    def get_topic_name(self) -> str:
        return self.name

    async def send(self, **kwargs: Any) -> None:
        self.calls.made.append((f"topic {self.name}", (), kwargs))


@dataclass
class FakeProducer:
    calls: Calls

    async def send(self, *args: Any) -> None:
        self.calls.made.append(("producer", args, {}))


@dataclass
class FakeApp:
    producer: FakeProducer


def test_changes_go_to_the_producer_and_other_topics_through_faust() -> None:
    calls = Calls()
    topics = [FakeTopic("dead-letters", calls), FakeTopic("segment-drift", calls)]
    publisher = FaustPublisher(FakeApp(FakeProducer(calls)), topics)  # type: ignore[arg-type]

    async def publish() -> None:
        await publisher.send("segment-changes", b"c1", b"{}")
        await publisher.send("segment-drift", b"psi", b"{}")
        await publisher.send("dead-letters", b"c1", b"x", (("why", b"late"),))

    asyncio.run(publish())
    assert calls.made == [
        ("producer", ("segment-changes", b"c1", b"{}", None, None, None), {}),
        ("topic segment-drift", (), {"key": b"psi", "value": b"{}", "headers": None}),
        ("topic dead-letters", (), {"key": b"c1", "value": b"x", "headers": [("why", b"late")]}),
    ]
