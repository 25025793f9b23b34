"""Stand-ins for Kafka and the Faust table, so a pipeline runs in a plain test.

>>> import asyncio
>>> publisher = RecordingPublisher()
>>> asyncio.run(publisher.send("out", b"k", b"v"))
>>> publisher.sent
[Sent(topic='out', key=b'k', value=b'v', headers=None)]
>>> feed = Feed()
>>> feed.record("in", b"k", b"{}").offset, feed.record("in", b"k", b"{}").offset
(0, 1)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from engine.state import CustomerState
from streams.ports import Headers, InputRecord


@dataclass(frozen=True, slots=True)
class Sent:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers | None


@dataclass
class RecordingPublisher:
    """A :class:`~streams.ports.Publisher` that keeps what it was given, in order."""

    sent: list[Sent] = field(default_factory=list)
    flushes: list[int] = field(default_factory=list)  # len(sent) at each flush

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers | None = None
    ) -> None:
        self.sent.append(Sent(topic, key, value, headers))

    async def flush(self) -> None:
        self.flushes.append(len(self.sent))

    def on(self, topic: str) -> list[Sent]:
        return [message for message in self.sent if message.topic == topic]


@dataclass
class Feed:
    """Builds input records, each partition's offsets counting up from 0."""

    _next: dict[tuple[str, int], int] = field(default_factory=dict)

    def record(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int = 0,
        headers: Headers = (),
    ) -> InputRecord:
        offset = self._next.get((topic, partition), 0)
        self._next[topic, partition] = offset + 1
        return InputRecord(topic, partition, offset, key, value, headers)


class MemoryStores:
    """A :data:`~streams.ports.StoreFactory` over one dict that outlives batches.

    As with the worker's table, a batch's writes reach :attr:`states` only when the
    batch store is flushed. :attr:`batches` keeps ``(customer_id, partition)`` of each
    batch the factory was called with.
    """

    def __init__(self, on_flush: Callable[[], None] = lambda: None) -> None:
        self.states: dict[str, CustomerState] = {}
        self.batches: list[list[tuple[str, int]]] = []
        self.on_flush = on_flush  # called as a batch's writes reach the states

    def __call__(self, batch: Sequence[tuple[str, InputRecord]]) -> MemoryBatchStore:
        self.batches.append([(customer, record.partition) for customer, record in batch])
        return MemoryBatchStore(self.states, self.on_flush)


class MemoryBatchStore:
    """One batch's view of :class:`MemoryStores`: reads through, writes on flush."""

    def __init__(
        self, states: dict[str, CustomerState], on_flush: Callable[[], None] = lambda: None
    ) -> None:
        self._states = states
        self._pending: dict[str, CustomerState | None] = {}
        self._on_flush = on_flush

    def get(self, customer_id: str) -> CustomerState | None:
        if customer_id in self._pending:
            return self._pending[customer_id]
        return self._states.get(customer_id)

    def put(self, state: CustomerState) -> None:
        self._pending[state.customer_id] = state

    def delete(self, customer_id: str) -> None:
        self._pending[customer_id] = None

    def forget(self, customer_ids: Iterable[str] | None) -> None:
        """Nothing to drop: states here are shared objects, as in replay's memory store,
        so a change the engine made without a put stays (the worker's table store, which
        re-reads the table, forgets it)."""

    def partition_customers(self, partition: int) -> list[str]:
        merged = {**self._states, **self._pending}
        return sorted(c for c, s in merged.items() if s is not None and s.partition == partition)

    async def flush(self) -> None:
        self._on_flush()
        for customer_id, state in self._pending.items():
            if state is None:
                self._states.pop(customer_id, None)
            else:
                self._states[customer_id] = state
        self._pending.clear()
