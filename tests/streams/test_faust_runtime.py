"""The worker's Faust app: its consumer, fetch wait and monitor are ours; its topics
take the replication factor setting."""

from __future__ import annotations

import asyncio

from faust.types import TP

from settings import load_settings
from streams.app import create_app
from streams.faust_runtime import Consumer, QuietMonitor


def test_the_worker_consumer_takes_the_fetch_wait_setting() -> None:
    async def fetch_wait() -> int:
        app = create_app(load_settings(fetch_max_wait_ms=7, kafka_bootstrap="127.0.0.1:1"))
        assert isinstance(app.consumer, Consumer)
        thread = app.consumer._thread
        try:
            # Built, never started: no connection is made.
            kafka_consumer = thread._create_worker_consumer(app.transport)
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
