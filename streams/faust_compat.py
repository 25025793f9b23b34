"""Every use of Faust's (and aiokafka's) private API, in one place.

``tests/streams/test_faust_compat.py`` records a hash of the source of each upstream
function this module copies, overrides, calls or depends on, and fails when one
changes: re-read the upstream change against the code here before updating a hash.

Two groups. First, Faust with three per-message costs of its aiokafka driver taken
out. Measured on the worker (``bench/PROFILE.md``); none of them changes which
events the agent sees or in what order:

- Faust hands every fetched message to the conductor through
  ``Service.wait_first(callback(message), suspend_flow.wait())``: four tasks and an
  ``asyncio.wait`` per message, half of a bare agent's CPU. :class:`Consumer` awaits
  the callback directly and checks for a suspended flow (a rebalance) first.
- The worker's consumer has ``fetch_max_wait_ms=1500`` hard-coded. A broker may
  hold a fetch that long when records trickle in (the embedded Tansu does, even
  when some are there), which then floors the latency. It is a setting here.
- Faust's Monitor sensor counts every message and stream event in and out; the
  worker exports its own metrics, so :class:`QuietMonitor` skips those counters.

And one that changes how events reach the agent: on the app's ``batched_topics``,
the records of one fetch from one partition travel through Faust as a single
:class:`RecordBatch` message (so one ``Event``, one conductor and stream hop, one
ack), instead of one each. Faust's machinery costs 100-300 µs of CPU per message,
more than the engine's work on an event. The batch keeps the records in offset
order; acking it acks them all (their offsets are registered as a gap, the way
Faust skips offsets a compacted topic no longer has), so commits stay exact.

Second, the customer-state table's view of partitions: Faust routes a table write,
and the RocksDB store a read, by the partition of the *current event*
(:func:`current_partition` sets it), and the RocksDB store has no public
per-partition listing of its keys (:func:`stored_keys`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, NamedTuple, cast

import faust
from faust.sensors import Monitor
from faust.sensors.base import Sensor
from faust.stores.rocksdb import Store as RocksDBStore
from faust.streams import _current_event
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, Message, TransportT
from faust.types.tuples import ConsumerMessage


class QuietMonitor(Monitor):
    """Faust's Monitor without its per-message and per-event bookkeeping."""

    on_message_in = Sensor.on_message_in
    on_stream_event_in = Sensor.on_stream_event_in
    on_stream_event_out = Sensor.on_stream_event_out
    on_message_out = Sensor.on_message_out
    on_table_get = Sensor.on_table_get
    on_table_set = Sensor.on_table_set
    on_send_initiated = Sensor.on_send_initiated
    on_send_completed = Sensor.on_send_completed


RUN_MAX = 500  # records of one partition per RecordBatch


class RecordBatch(ConsumerMessage):
    """Records fetched together from one partition, as one Faust message.

    It stands at the offset of its last record; ``records`` holds them all, as the
    ``Message`` objects Faust would have delivered one by one. A ``ConsumerMessage``:
    only those tell the consumer when their last reference is acked (a plain
    ``Message`` marks itself acked and nothing is ever committed).
    """

    __slots__ = ("records",)

    def __init__(self, records: list[Message]) -> None:
        last = records[-1]
        super().__init__(
            last.topic, last.partition, last.offset, last.timestamp, last.timestamp_type,
            None, None, b"", None, tp=last.tp, generation_id=last.generation_id,
        )  # fmt: skip
        self.records = records

    def on_final_ack(self, consumer: Any) -> bool:
        # Every offset before the batch's own counts as acked with it, from now: a gap
        # registered at delivery would let a batch Faust's stream skipped (the flow was
        # suspended) be committed once a later one is acked.
        first, tp = self.records[0].offset, self.tp
        if first < self.offset and consumer.app.topics.acks_enabled_for(self.topic):
            committed = consumer._committed_offset[tp]
            start = first if committed is None else max(first, committed + 1)
            if start < self.offset:
                consumer._gap[tp].addi(start, self.offset)
        return bool(consumer.ack(self))


class ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads it when the consumer starts; Faust offers no setting for it.
        consumer._fetch_max_wait_ms = self.app.fetch_max_wait_ms  # type: ignore[attr-defined]
        return consumer


class Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:
        # Faust 0.15.3's loop (faust/transport/consumer.py) with three changes: no
        # ``wait_first`` per message, no diagnostic flags, and the records of
        # ``batched_topics`` delivered as one RecordBatch per partition and fetch.
        # What the first gives up: a callback blocked on a full stream buffer is no
        # longer cancelled when a rebalance suspends the flow; it finishes first.
        getmany = self.getmany
        batched: frozenset[str] = getattr(self.app, "batched_topics", frozenset())
        consumer_stopped, fetcher_stopped = self._stopped.is_set, fetcher._stopped.is_set
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                fetched = getmany(timeout=1.0)
                await asyncio.sleep(0)  # getmany may return at once, forever
                if self.should_stop:
                    continue
                runs: dict[TP, list[Message]] = {}
                async for tp, message in fetched:
                    if message.topic in batched:
                        runs.setdefault(tp, []).append(message)
                    else:
                        await self._deliver(tp, message, message.offset)
                # Partitions take turns, RUN_MAX records at a time: Faust's scheduler
                # interleaves them record by record, and a whole partition's backlog
                # first would let its event time run days ahead of the others'.
                for start in range(0, max(map(len, runs.values()), default=0), RUN_MAX):
                    for tp, records in runs.items():
                        if run := records[start : start + RUN_MAX]:
                            await self._deliver_run(tp, run)
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
        except asyncio.CancelledError:
            if not self.transport.app.should_stop:
                raise

    def _filter_committable_offsets(self, tps: Iterable[TP]) -> dict[TP, int]:
        # Faust's, capped at the first held record: Faust acks every record of a taken
        # batch, held or not. What the cap withholds is kept and committed once free.
        if getattr(self.app, "commits_stopped", False):
            return {}  # an output was lost: what follows the last commit is read again
        floors: dict[tuple[str, int], int] = getattr(self.app, "held_floors", dict)()
        ready: dict[TP, int] = self.__dict__.setdefault("_ready_offsets", {})
        offsets = {}
        for tp in tps:
            offset = self._new_offset(tp)  # takes the acked offsets off Faust's list
            if offset is not None and offset > ready.get(tp, -1):
                ready[tp] = offset
            target = ready.get(tp)
            floor = floors.get((tp.topic, tp.partition))
            if target is not None and floor is not None:
                target = min(target, floor)
            if target is not None and self._should_commit(tp, target):
                offsets[tp] = target
        return offsets

    async def perform_seek(self) -> None:
        # aiokafka seeks only the partitions with a committed offset. Records of the
        # others fetched before, while the flow was suspended, were skipped by Faust's
        # streams without an ack: read those partitions again from their start.
        await super().perform_seek()
        committed = self._committed_offset
        fresh = [tp for tp in self.assignment()
                 if not self._is_changelog_tp(tp) and not committed.get(tp)]  # fmt: skip
        if fresh:
            await self._thread.seek_to_beginning(*(driver.ensure_aiokafka_TP(tp) for tp in fresh))
            for tp in fresh:
                self._read_offset[tp] = None

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        # Faust forgets the revoked partitions' acks; the offsets kept ready for a
        # commit go with them. Kept, they would be committed once the partition is back
        # and read again from its committed offset, before the records between (held
        # ones too, dropped on revoke) are processed again: a crash then loses them.
        ready: dict[TP, int] = self.__dict__.get("_ready_offsets", {})
        for tp in revoked:
            ready.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    async def _deliver_run(self, tp: TP, records: list[Message]) -> None:
        last = self._read_offset[tp]
        if last is not None:
            records = [r for r in records if r.offset >= last]  # seek back on a rebalance
        if not records:
            return
        await self._deliver(tp, RecordBatch(records), records[0].offset)

    async def _deliver(self, tp: TP, message: Message, first_offset: int) -> None:
        offset, last = message.offset, self._read_offset[tp]
        if last is not None and offset < last:
            return  # already delivered (seek back on a rebalance)
        if last and first_offset - last > 1 and self.app.topics.acks_enabled_for(tp.topic):
            await self._add_gap(tp, last + 1, first_offset)  # compacted away
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()
        if not self.suspend_flow.is_set():
            await self.callback(message)
        # As in Faust, a message met while a rebalance suspends the flow is passed
        # over; it is not acked, and the seek after the rebalance reads it again.
        self._read_offset[tp] = offset


class Transport(driver.Transport):
    Consumer = Consumer


class SegmentApp(faust.App):
    """A ``faust.App`` whose Kafka consumer uses :class:`Consumer`."""

    def __init__(
        self,
        *args: Any,
        fetch_max_wait_ms: int = 500,
        batched_topics: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.batched_topics = batched_topics
        # (topic, partition) -> the first offset of a record still held (model epochs),
        # asked at each commit: commits stop before it, so a crash or a rebalance loses
        # no held record.
        self.held_floors: Callable[[], dict[tuple[str, int], int]] = dict
        # Set once an output of a batch is lost: no offset is committed from then on.
        self.commits_stopped = False
        self.joined = False  # set once the consumer group first assigns partitions
        # Run once, as the app first starts: after the worker set up logging, before
        # the consumer, the agents and the timers start (mode starts a service's
        # children after its on_first_start).
        self.before_start: list[Callable[[], None]] = []
        super().__init__(*args, Monitor=QuietMonitor, **kwargs)

    async def on_first_start(self) -> None:
        for prepare in self.before_start:
            prepare()
        await super().on_first_start()

    async def fail_stop(self, reason: BaseException) -> None:
        """Stop the worker, committing nothing more: an output of a processed batch
        was not taken, so its input must be read again by the next worker. The
        process ends with a failure status, for its supervisor to restart."""
        self.commits_stopped = True
        await self.crash(reason)

    def _new_transport(self) -> TransportT:
        url = self.conf.broker_consumer[0]
        if url.scheme not in ("kafka", "aiokafka"):
            return super()._new_transport()
        return cast(TransportT, Transport(self.conf.broker_consumer, self))


# --- the table's partitions -------------------------------------------------------


class _Position(NamedTuple):
    topic: str
    partition: int


class _CurrentEvent:
    """What Faust 0.15.3 reads of the current event on the table paths the worker
    takes: ``message.partition`` (the RocksDB store's ``_get``/``_set``, the table's
    ``partition_for_key``) and ``message.topic`` (``partition_for_key`` checks the
    source topic's partition count). Nothing else: it is not a real ``Event``."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, topic: str, partition: int) -> None:
        self.message = _Position(topic, partition)


@cache  # held for good: Faust keeps only a weak reference to the current event
def _current_event_for(topic: str, partition: int) -> _CurrentEvent:
    return _CurrentEvent(topic, partition)


@contextmanager
def current_partition(topic: str, partition: int) -> Iterator[None]:
    """Make table reads and writes inside the block go to ``partition``.

    Faust routes a table write to the changelog partition of the current event, and
    the RocksDB store reads from that partition's database. In a batch the current
    event is whichever arrived last, so each access must first make the customer's
    own partition current. Nothing may send through a Faust topic inside the block:
    ``Topic.send`` attaches its message to the current event, which this is not.
    """
    event = cast(Any, _current_event_for(topic, partition))
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def stored_keys(store: Any, partition: int) -> Iterator[Any]:
    """Decoded keys of ``partition``'s RocksDB database; none for other stores
    (``memory://`` holds only what the changelog replayed)."""
    if isinstance(store, RocksDBStore):
        # Private, but the store has no public per-partition view.
        for key in store._visible_keys(store._db_for_partition(partition)):
            yield store._decode_key(key)


def coordinator_known(app: faust.App) -> bool:
    """Whether the worker's consumer knows its group coordinator: aiokafka forgets it
    when a heartbeat or a commit finds the broker gone, and finds it again once the
    broker answers. Read across threads (the consumer runs on its own loop): a plain
    attribute, so a stale answer at worst."""
    thread = getattr(app.consumer, "_thread", None)
    consumer = getattr(thread, "_consumer", None)
    coordinator = getattr(consumer, "_coordinator", None)
    return coordinator is not None and coordinator.coordinator_id is not None
