"""A batch whose output the broker refuses stops the worker before anything is
committed, and the next worker decides it again: nothing is lost.

The broker is made to refuse every segment change (the topic's ``max.message.bytes``
below a change's size): a permanent error, which no producer retry gets past.
Apache Kafka only: Tansu does not enforce topic configs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from brokers.apache_kafka import ApacheKafka
from brokers.clients import client_options, ensure_topics, producer
from cli.local import scrape, total, wait_for_count
from schemas import SegmentChange
from settings import Settings
from synthetic import DEFAULT_START_MS

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
EVENTS = "segment_engine_events_total"
ENGINE = {
    "learned": {"warmup_updates": 100_000},  # no model: the rule decides
    "rules": [{"id": "recent", "name": "Recent", "expression": "recency_days < 7"}],
}
CUSTOMERS = 30


@pytest.fixture
def broker(apache_kafka: ApacheKafka) -> ApacheKafka:
    return apache_kafka


def purchases() -> list[dict[str, Any]]:
    return [
        {"event_id": f"e{c}-{i}", "customer_id": f"c{c}", "type": "purchase", "amount": 9.5,
         "timestamp": DEFAULT_START_MS + i * DAY_MS + c * 1_000}
        for i in range(3) for c in range(CUSTOMERS)
    ]  # fmt: skip


def test_a_refused_change_stops_the_worker_and_the_next_one_loses_nothing(
    start_worker: Callable[..., Any], tmp_path: Path
) -> None:
    first = start_worker(engine=ENGINE, app_id="refused")
    settings: Settings = first.settings
    t = settings.topics
    admin = KafkaAdminClient(**client_options(settings))
    try:
        admin.delete_topics([t.changes])  # as the worker declared it
        _wait(lambda: t.changes not in admin.list_topics(), "the changes topic to go")
        admin.create_topics([NewTopic(t.changes, 1, 1, topic_configs={"max.message.bytes": "200"})])
        ensure_topics(settings, [t.behaviour])
        events = purchases()
        with producer(settings) as client:
            for event in events:
                client.send(t.behaviour, key=event["customer_id"].encode(),
                            value=json.dumps(event).encode())  # fmt: skip

        _wait(lambda: not first.process.running, "the worker to stop", timeout=90)
        code = first.process.stop()
        log = first.process.log_path.read_text()
        assert code != 0, "a supervisor must see the stop as a failure"
        assert "stopping: batch could not be written" in log
        committed = admin.list_group_offsets("refused").get("refused", {})
        assert not any(m.offset > 0 for tp, m in committed.items() if tp.topic == t.behaviour)

        big = ConfigResource(ConfigResourceType.TOPIC, t.changes, {"max.message.bytes": "1048588"})
        admin.alter_configs([big])
    finally:
        admin.close()

    second = start_worker(engine=ENGINE, app_id="refused")
    wait_for_count(second.metrics_url, len(events), timeout=120)
    metrics = scrape(second.metrics_url)
    assert total(metrics, EVENTS, outcome="accepted") == len(events)
    assert total(metrics, EVENTS, outcome="duplicate") == 0
    changes = [SegmentChange.model_validate_json(m.value) for m in second.read(t.changes)]
    entered = {c.customer_id for c in changes if c.segment and c.segment.id == "recent"}
    assert entered == {f"c{c}" for c in range(CUSTOMERS)}


def _wait(done: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(0.2)
