"""Faust's private API, used only in ``streams.faust_compat``, is still what it was.

Each entry names an upstream function that ``streams/faust_compat.py`` copies,
overrides, calls, or relies on the behaviour of, with the sha256 of its source as of
faust-streaming 0.15.3 (and aiokafka 0.14.0). When one fails, read the upstream
change, re-check what the entry says against ``streams/faust_compat.py``, then
update the hash.

The worker's Faust app is checked here too: its consumer, fetch wait and monitor are
ours, and its topics take the replication factor setting.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
from contextvars import ContextVar
from importlib.metadata import version
from typing import Any, NamedTuple

import faust
import faust.streams
import pytest
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from settings import load_settings
from streams.app import create_app
from streams.faust_compat import (
    Consumer,
    QuietMonitor,
    RecordBatch,
    current_partition,
    stored_keys,
)


class Upstream(NamedTuple):
    target: str  # module:qualified.name
    sha256: str
    recheck: str


UPSTREAM = [
    Upstream(
        "faust.transport.consumer:Consumer._drain_messages",
        "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417",
        (
            "Consumer._drain_messages and _deliver copy this loop (gaps, commit_every, read "
            "offsets, stopping): carry the change over."
        ),
    ),
    Upstream(
        "faust.transport.consumer:Consumer._add_gap",
        "4df2573ded7c1c2cde04dc6bde6d4480cb5875ef565256e56966b585ae39b1c1",
        (
            "RecordBatch.on_final_ack registers its earlier offsets as a gap the way _add_gap "
            "does (synchronously): is a gap still acked as a range?"
        ),
    ),
    Upstream(
        "faust.transport.consumer:Consumer.ack",
        "5fcf41cf45153475de3790dc56fec1b83335956dc8b3bf7ff6bbb2b57627f03f",
        (
            "Consumer._deliver resets _n_acked and commits every commit_every acks, as the "
            "copied loop did."
        ),
    ),
    Upstream(
        "faust.transport.consumer:Consumer._filter_committable_offsets",
        "dc5e9baf5d994485473ce80aed1873b9318f02d735fde21e285de3d0c52a5e0e",
        (
            "Consumer._filter_committable_offsets copies it and caps each offset at the first "
            "held record: carry the change over."
        ),
    ),
    Upstream(
        "faust.transport.consumer:Consumer._new_offset",
        "1d2c7ea89a7ad4f1a216c1d51936e569162cd66bd56f889e13fd29c910b58eb0",
        (
            "Consumer._filter_committable_offsets keeps what _new_offset returns, as it takes "
            "the offsets off the acked list: does it still?"
        ),
    ),
    Upstream(
        "faust.transport.drivers.aiokafka:Consumer._new_consumer_thread",
        "0870ec53dea75083995e3565c0f0a25a1c63ecceaeb238e92e2585e3623af5a9",
        ("Consumer._new_consumer_thread returns our ConsumerThread."),
    ),
    Upstream(
        "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread._create_worker_consumer",
        "c2701bfc3e6f6cad95c2be36d6a255a86e2c57d18d36cc1082b5fb5c482d99d7",
        (
            "ConsumerThread sets _fetch_max_wait_ms on the consumer this builds (Faust hard-"
            "codes 1500)."
        ),
    ),
    Upstream(
        "aiokafka.consumer.consumer:AIOKafkaConsumer.start",
        "2f1ba70443327538800d348e61042cdedd5a5e6306f40ebe1a06dddba7494c45",
        ("ConsumerThread sets _fetch_max_wait_ms before start() hands it to the fetcher."),
    ),
    Upstream(
        "faust.app.base:App._new_transport",
        "42db531312dd776fc3937154a32f19eeb9ad7d4ebc2722a92d081a2d271baea1",
        ("SegmentApp._new_transport builds our Transport for kafka:// URLs."),
    ),
    Upstream(
        "faust.types.tuples:Message.__init__",
        "afe1f75975597bc3bfb55386ea3c57e9705ecb42dcfa932c445672172f03bf40",
        ("RecordBatch calls Message.__init__ with positional arguments."),
    ),
    Upstream(
        "faust.transport.consumer:Consumer.on_partitions_revoked",
        "d04b7ae72c6fc206924a2879d6c90dd383f3e8ba6f4b10a19ca99a921eb8f4db",
        (
            "Consumer.on_partitions_revoked forgets the offsets kept ready for a commit where "
            "Faust forgets its acks: does Faust still drop them on revoke?"
        ),
    ),
    Upstream(
        "faust.transport.consumer:Consumer.perform_seek",
        "0e8c130ff4b0afd82c0be9c5fd831316e10febc62c94032833911096e156d7c6",
        (
            "Consumer.perform_seek seeks the partitions without a committed offset to their "
            "start after it: does it still leave them where the fetcher is?"
        ),
    ),
    Upstream(
        "aiokafka.consumer.consumer:AIOKafkaConsumer.seek_to_committed",
        "f6cd85c8b70a4ccf7e862de24f6c5d985038eed3e140990f000aa4b52eda8d72",
        (
            "Consumer.perform_seek relies on it seeking only partitions with a committed "
            "offset above 0."
        ),
    ),
    Upstream(
        "faust.types.tuples:ConsumerMessage.on_final_ack",
        "45d670b6a8ac4bd07a3e5600c89358638415b7a2bf1d17c03c260cfc1b8a8e5a",
        ("RecordBatch is a ConsumerMessage so that its final ack reaches Consumer.ack."),
    ),
    Upstream(
        "faust.streams:current_event",
        "3b821f1a78d86a58234dfe781fbf539775b00e66fdac9489c1c398a2d81d7e9d",
        ("current_partition sets faust.streams._current_event to a weak reference."),
    ),
    Upstream(
        "faust.tables.base:Collection.partition_for_key",
        "3b2291811b8dd791cdd0e690b2b09d966a4e961e2a2861182241195696393bed",
        ("current_partition's stand-in event has only message.topic and message.partition."),
    ),
    Upstream(
        "faust.tables.table:Table.on_key_del",
        "4f2900b2f9d24a080d5cbc9eaa1f5566f1d11e56916e79b02f079c52f4751053",
        (
            "TableStore.flush pops erased customers inside current_partition (routed by "
            "partition_for_key)."
        ),
    ),
    Upstream(
        "faust.stores.rocksdb:Store._get",
        "7ae8dfd6d7754a5952ae162d4d5cf0d51a8a020ed730a4a7c7dc7f7c84e73fb8",
        (
            "TableStore.get reads inside current_partition: the store must pick its database "
            "by message.partition alone."
        ),
    ),
    Upstream(
        "faust.stores.rocksdb:Store._set",
        "4227e561e288d9413bf663a3a67940fd4976f5484e70e49445858ce4d400d26e",
        (
            "ChangelogWriter.set writes inside current_partition: the store must pick its "
            "database by message.partition alone."
        ),
    ),
    Upstream(
        "faust.stores.rocksdb:Store._db_for_partition",
        "cb7e67d5f9efc4bced7b7ab09a55fe717c352daad5b693594e3f7ca52a98787f",
        ("stored_keys lists one partition's database."),
    ),
    Upstream(
        "faust.stores.rocksdb:Store._visible_keys",
        "28b3c24a6884cbcd69ee040fa72fb9eb9808dc08cf6c3fdbb29715d33e9830d3",
        ("stored_keys lists a partition's keys, the offset key left out."),
    ),
    Upstream(
        "faust.stores.base:SerializedStore._decode_key",
        "fcb649a35b6e5f45a4456220a4b63ee2d2ab90316a270b537a87843c589dc29e",
        ("stored_keys decodes the keys it lists."),
    ),
]


def resolve(target: str) -> Any:
    module, _, qualname = target.partition(":")
    found: Any = importlib.import_module(module)
    for name in qualname.split("."):
        found = getattr(found, name)
    return found


@pytest.mark.parametrize("upstream", UPSTREAM, ids=[u.target for u in UPSTREAM])
def test_the_upstream_code_faust_compat_depends_on_is_unchanged(upstream: Upstream) -> None:
    source = inspect.getsource(resolve(upstream.target))
    digest = hashlib.sha256(source.encode()).hexdigest()
    assert digest == upstream.sha256, (
        f"{upstream.target} changed upstream (faust-streaming {version('faust-streaming')}, "
        f"aiokafka {version('aiokafka')}). Re-check streams/faust_compat.py: "
        f"{upstream.recheck} Then set its hash here to {digest}."
    )


def test_the_current_event_is_still_a_context_variable() -> None:
    assert isinstance(faust.streams._current_event, ContextVar)


def test_current_partition_sets_what_faust_reads_and_restores_it() -> None:
    assert faust.current_event() is None
    with current_partition("behaviour-events", 3):
        event = faust.current_event()
        assert event is not None
        assert (event.message.topic, event.message.partition) == ("behaviour-events", 3)
        with current_partition("profile-updates", 1):
            inner = faust.current_event()
            assert inner is not None and inner.message.partition == 1
        assert faust.current_event() is event
    assert faust.current_event() is None


def test_stored_keys_lists_nothing_of_a_memory_store() -> None:
    async def keys() -> list[Any]:
        app = create_app(load_settings(kafka_bootstrap="127.0.0.1:1"))
        table: Any = app.tables["customer-state"]
        return list(stored_keys(table.data, 0))

    assert asyncio.run(keys()) == []


# --- the worker's app ----------------------------------------------------------------


def test_the_worker_consumer_takes_the_fetch_wait_setting() -> None:
    async def fetch_wait() -> int:
        app = create_app(load_settings(fetch_max_wait_ms=7, kafka_bootstrap="127.0.0.1:1"))
        assert isinstance(app.consumer, Consumer)
        thread = app.consumer._thread
        try:
            # Built, never started: no connection is made.
            kafka_consumer = thread._create_worker_consumer(app.transport)  # type: ignore[arg-type]
            kafka_consumer._closed = True  # nothing to close
            return int(kafka_consumer._fetch_max_wait_ms)
        finally:
            thread.thread_loop.close()

    assert asyncio.run(fetch_wait()) == 7


def test_the_monitor_keeps_no_per_message_counters() -> None:
    class Message:
        time_in = None

    async def received() -> int:
        monitor = create_app(load_settings(kafka_bootstrap="127.0.0.1:1")).monitor
        assert isinstance(monitor, QuietMonitor)
        monitor.on_message_in(TP("t", 0), 1, Message())  # type: ignore[arg-type]
        return int(monitor.messages_received_total)

    assert asyncio.run(received()) == 0
    assert Message.time_in is None


def test_faust_creates_its_topics_with_the_replication_factor_setting() -> None:
    async def replicas() -> int:
        settings = load_settings(topic_replication_factor=3, kafka_bootstrap="127.0.0.1:1")
        app = create_app(settings)
        # The changelog leaves its replicas to this app setting, as the leader topic and
        # the output topics do (tests/integration checks them on a broker).
        assert app.tables["customer-state"].changelog_topic.replicas is None
        return int(app.conf.topic_replication_factor)

    assert asyncio.run(replicas()) == 3


def test_an_acked_record_batch_makes_its_records_committable() -> None:
    """Acking a RecordBatch (as Faust does when the agent is done with its event) tells
    the consumer: the batch's offsets, and those before it, become committable."""

    async def committable() -> dict[TP, int]:
        app = create_app(load_settings(kafka_bootstrap="127.0.0.1:1"))
        consumer = app.consumer
        tp = TP("behaviour-events", 0)
        records = [
            ConsumerMessage(tp.topic, 0, offset, 0.0, 0, None, b"k", b"v", None, tp=tp)
            for offset in (5, 6, 7)
        ]
        batch = RecordBatch(records)
        app.topics._acking_topics.add(tp.topic)  # as the conductor does for the agent's
        assert consumer._filter_committable_offsets([tp]) == {}  # nothing acked yet
        batch.incref()  # one reference: the agent's event
        assert batch.ack(consumer)
        return consumer._filter_committable_offsets([tp])

    assert asyncio.run(committable()) == {TP("behaviour-events", 0): 8}  # the next to read


def test_offsets_ready_to_commit_are_forgotten_with_a_revoked_partition() -> None:
    """A partition taken away and given back is read again from its committed offset:
    what was ready to commit before must not be committed before it is processed."""

    async def after_revoke() -> tuple[dict[TP, int], dict[TP, int]]:
        app = create_app(load_settings(kafka_bootstrap="127.0.0.1:1"))
        consumer = app.consumer
        tp = TP("behaviour-events", 0)
        app.topics._acking_topics.add(tp.topic)
        batch = RecordBatch([ConsumerMessage(tp.topic, 0, 5, 0.0, 0, None, b"k", b"v", None,
                                             tp=tp)])  # fmt: skip
        batch.incref()
        batch.ack(consumer)
        app.held_floors = lambda: {(tp.topic, 0): 3}  # type: ignore[attr-defined]
        capped = consumer._filter_committable_offsets([tp])  # 6 is kept ready
        await consumer.on_partitions_revoked({tp})
        app.held_floors = dict  # type: ignore[attr-defined]  # the held ones dropped
        return capped, consumer._filter_committable_offsets([tp])

    capped, after = asyncio.run(after_revoke())
    assert capped == {TP("behaviour-events", 0): 3}
    assert after == {}


def test_a_record_batch_never_acked_holds_back_the_commit_of_later_ones() -> None:
    """Faust's stream skips, without an ack, what it reads while the flow is suspended:
    a later batch acked must not commit the skipped one's records."""

    async def committable() -> dict[TP, int]:
        app = create_app(load_settings(kafka_bootstrap="127.0.0.1:1"))
        consumer = app.consumer
        tp = TP("behaviour-events", 0)
        app.topics._acking_topics.add(tp.topic)

        def batch(offsets: range) -> RecordBatch:
            return RecordBatch([ConsumerMessage(tp.topic, 0, o, 0.0, 0, None, b"k", b"v", None,
                                                tp=tp) for o in offsets])  # fmt: skip

        first, _skipped, later = batch(range(0, 3)), batch(range(3, 6)), batch(range(6, 9))
        for acked in (first, later):  # ``_skipped`` is delivered, never acked
            acked.incref()
            acked.ack(consumer)
        return consumer._filter_committable_offsets([tp])

    assert asyncio.run(committable()) == {TP("behaviour-events", 0): 3}
