"""Customer state in a Faust table, for the engine's :class:`~engine.StateStore`.

Faust routes a table write to the changelog partition of the *current event*, and
the RocksDB store reads from that partition's database. In a batch the current
event is whichever arrived last, so each access here first makes the customer's own
partition current (``streams.faust_compat.current_partition``); otherwise state
would land in another partition's changelog and be lost to the worker that owns the
customer after a rebalance.

A RocksDB store outlives the worker: on start Faust recovers only the changelog
written after the store's last offset, so the customers already on disk never pass
through ``on_changelog_event``. The index learns those from the store itself, once
per partition, when the engine first indexes that partition's timers.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import orjson
from faust.types import TP, EventT

from engine.state import CustomerState
from streams.faust_compat import current_partition, stored_keys
from streams.ports import InputRecord


class PartitionIndex:
    """Which input partition each known customer lives in.

    Filled as events arrive and, after a restart, from the table's changelog while
    Faust recovers it; the engine reads a partition's customers once, to index the
    timers their states hold.
    """

    def __init__(self) -> None:
        self.partition_of: dict[str, int] = {}
        self.customers: dict[int, set[str]] = {}
        self.scanned: set[int] = set()  # partitions whose stored customers are in
        # Customers whose state was written, recovered or deleted since the profiles
        # last counted them (streams.live_profiles).
        self.changed: set[str] = set()

    def add(self, customer_id: str, partition: int) -> None:
        previous = self.partition_of.get(customer_id)
        if previous != partition:
            if previous is not None:  # moved (topics repartitioned): index it in one place
                self.customers[previous].discard(customer_id)
            self.partition_of[customer_id] = partition
            self.customers.setdefault(partition, set()).add(customer_id)

    def remove(self, customer_id: str) -> None:
        """Forget a customer whose state was deleted (an erasure marker whose time is up)."""
        partition = self.partition_of.pop(customer_id, None)
        if partition is not None:
            self.customers[partition].discard(customer_id)

    def scan(self, table: Any, partition: int) -> None:
        """Add the customers ``table``'s store holds for ``partition``, once."""
        if partition not in self.scanned:
            self.scanned.add(partition)
            # Keys of the partition's RocksDB database; none for memory://, which holds
            # only what the changelog replayed (and so passed through the index already).
            for customer_id in stored_keys(table.data, partition):
                self.add(customer_id, partition)
                self.changed.add(customer_id)

    async def on_changelog_event(self, event: EventT[Any]) -> None:
        key = event.key
        if isinstance(key, bytes):
            key = json.loads(key)
        if isinstance(key, str):
            self.changed.add(key)
            if event.message.value is None:  # a tombstone: the state was deleted
                self.remove(key)
            else:
                self.add(key, event.message.partition)


class ChangelogError(Exception):
    """A customer's state record did not reach its changelog."""


def encode_state(state: CustomerState) -> bytes:
    """A customer's state as the table holds it and its changelog carries it: JSON.

    Bytes, not a dict: the collector does not walk them. A dict of lists per customer
    kept ~100 tracked objects each, and a full collection over a table of 100,000
    customers stalled the worker for ~0.5 s. Copied to a bytes object of its exact
    size: orjson's own keeps its buffer's spare capacity, and a table of them held
    10.9 KB per customer resident against 2.6 KB (``bench/memory.py``)."""
    return bytes(memoryview(orjson.dumps(state.to_dict(copy=False))))


def decode_state(data: bytes) -> CustomerState:
    """A state :func:`encode_state` wrote, or Faust's JSON codec before it."""
    return CustomerState.from_dict(orjson.loads(data), copy=False)


class ChangelogWriter:
    """Sets a table entry as ``table[key] = value`` does, without Faust's per-message
    machinery in between: the store is set, and the changelog record (the bytes
    Faust's JSON codec would write) goes straight to the app's producer, whose flush
    Faust awaits before it commits the input offsets. A Faust table write cost
    ~217 µs (``bench/PROFILE.md``, section 8), and due timers can make thousands.

    What is given up: the table sensors' counts of keys set.
    """

    def __init__(self, table: Any, on_failure: Callable[[BaseException], None]) -> None:
        self._table = table
        self._topic = table.changelog_topic.get_topic_name()
        self._on_failure = on_failure  # a lost changelog record: the worker must stop

    async def set(self, key: str, value: bytes, partition: int) -> None:
        """Call with an event of ``partition`` current: RocksDB picks its database by it."""
        self._table.data[key] = value
        sent = await self._table.app.producer.send(
            self._topic, orjson.dumps(key), value, partition, None, None
        )
        sent.add_done_callback(partial(self._on_sent, TP(self._topic, partition)))

    def _on_sent(self, tp: TP, sent: Any) -> None:
        if sent.cancelled() or sent.exception() is not None:
            why = "was cancelled" if sent.cancelled() else f"failed: {sent.exception()!r}"
            self._on_failure(ChangelogError(f"changelog write to {tp.topic}[{tp.partition}] {why}"))
            return
        # As Faust's table does: RocksDB keeps the offset it holds data up to, so a
        # restart recovers only what follows.
        self._table.data.set_persisted_offset(tp, sent.result().offset)


Position = tuple[str, int]  # (topic, partition) of an input record

# Decoded states kept between batches: twice the segmenter's sample (4,096), whose
# customers a model publication re-reads all at once. Decoding them from the table
# was two thirds of a publication's ~0.2 s stall on the event path (bench/PROFILE.md).
RECENT_STATES = 8_192


class RecentStates:
    """The states this worker last read or wrote, decoded, the least recent dropped
    first. The worker is the only writer of its partitions' states, so a kept state
    is what the table holds, as long as states changed without a put are dropped
    (:meth:`TableStore.forget`) and all are when partitions come or go or the table
    recovers."""

    def __init__(self, size: int = RECENT_STATES) -> None:
        self.size = size
        self._states: OrderedDict[str, CustomerState] = OrderedDict()

    def get(self, customer_id: str) -> CustomerState | None:
        state = self._states.get(customer_id)
        if state is not None:
            self._states.move_to_end(customer_id)
        return state

    def keep(self, state: CustomerState) -> None:
        self._states[state.customer_id] = state
        self._states.move_to_end(state.customer_id)
        if len(self._states) > self.size:
            self._states.popitem(last=False)

    def discard(self, customer_id: str) -> None:
        self._states.pop(customer_id, None)

    def clear(self) -> None:
        self._states.clear()

    def __len__(self) -> int:
        return len(self._states)


class TableStore:
    """A :class:`~engine.StateStore` over a Faust table, for one batch of events.

    States are read once and written once per customer per batch (:meth:`flush`):
    a batch holds a few events per customer, and every table write is a changelog
    message. The final table is the same; the changelog skips intermediate states.
    """

    def __init__(
        self,
        table: Any,
        batch: Iterable[tuple[str, InputRecord]],
        index: PartitionIndex,
        writer: ChangelogWriter,
        recent: RecentStates | None = None,
    ) -> None:
        self._table = table
        self._index = index
        self._writer = writer
        self._recent = RecentStates(0) if recent is None else recent
        # A customer's own record routes its table access to that record's
        # partition; a customer the batch holds no record of (a timer reaches it),
        # to the first record of its partition in the batch, or of none (idle).
        self._owners: dict[str, Position] = {}
        self._by_partition: dict[int, Position] = {}
        self._topic = ""  # an input topic: routes partitions the batch holds no record of
        self._cache: dict[str, CustomerState | None] = {}
        self._dirty: set[str] = set()
        for customer_id, record in batch:
            position = record.topic, record.partition
            index.add(customer_id, record.partition)
            self._owners[customer_id] = position
            self._by_partition.setdefault(record.partition, position)
            self._topic = self._topic or record.topic

    def _owner(self, customer_id: str) -> Position:
        owner = self._owners.get(customer_id)
        if owner is None:
            # A timer's customer: an idle partition's fire with no record of it here.
            partition = self._index.partition_of[customer_id]
            owner = self._by_partition.get(partition, (self._topic, partition))
        return owner

    def get(self, customer_id: str) -> CustomerState | None:
        if customer_id in self._cache:
            return self._cache[customer_id]
        state = self._recent.get(customer_id)
        if state is None:
            with current_partition(*self._owner(customer_id)):
                data = self._table.get(customer_id)
            if data is not None:
                state = decode_state(data)
                self._recent.keep(state)
        self._cache[customer_id] = state
        return state

    def put(self, state: CustomerState) -> None:
        self._cache[state.customer_id] = state
        self._dirty.add(state.customer_id)

    def delete(self, customer_id: str) -> None:
        self._cache[customer_id] = None
        self._dirty.add(customer_id)

    def forget(self, customer_ids: Iterable[str] | None) -> None:
        """Drop these customers' kept states (None: every one): the engine may have
        changed them without a put. One also put is kept again by :meth:`flush`, as
        the table then holds it."""
        if customer_ids is None:
            self._recent.clear()
        for customer_id in customer_ids or ():
            self._recent.discard(customer_id)

    async def flush(self) -> None:
        """Write every changed customer to the table (and so to its changelog)."""
        for customer_id in sorted(self._dirty):
            state, (topic, partition) = self._cache[customer_id], self._owner(customer_id)
            with current_partition(topic, partition):
                if state is None:  # an erasure marker whose time is up
                    self._table.pop(customer_id, None)  # Faust writes the tombstone
                    self._index.remove(customer_id)
                    self._recent.discard(customer_id)
                else:
                    await self._writer.set(customer_id, encode_state(state), partition)
                    self._recent.keep(state)
        self._index.changed.update(self._dirty)  # once in the table: profiles read them
        self._dirty.clear()

    def partition_customers(self, partition: int) -> list[str]:
        """Customers the table holds for ``partition``, in a fixed order (the engine reads
        them once per partition, to index their timers)."""
        self._index.scan(self._table, partition)
        return sorted(self._index.customers.get(partition, ()))


class TableStores:
    """The worker's :data:`~streams.ports.StoreFactory`: a :class:`TableStore` per
    batch, over one table, partition index, changelog writer and recent states."""

    def __init__(
        self,
        table: Any,
        index: PartitionIndex,
        on_failure: Callable[[BaseException], None],
        recent: int = RECENT_STATES,
    ) -> None:
        self.table = table
        self.index = index
        self.writer = ChangelogWriter(table, on_failure)
        self.recent = RecentStates(recent)

    def __call__(self, batch: Sequence[tuple[str, InputRecord]]) -> TableStore:
        return TableStore(self.table, batch, self.index, self.writer, self.recent)
