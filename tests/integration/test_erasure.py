"""After an erasure, every topic the project writes and the worker's state hold nothing
of the customer beyond what the erasure guarantee says (docs/operations.md):

- the state changelog and ``customer-segments`` end the customer with a tombstone
  (compacted away within ``compaction_lag_hours``: their topic configs say so);
- ``segment-changes`` keeps the changes up to the ``erased`` one, ``dead-letters`` and
  ``segment-drift`` what they got, each for ``output_retention_days`` at most;
- the erasure marker (the id and the erasure's time) goes once the partition's event
  time is ``allowed_lateness_seconds`` past the erasure;
- the lookup answers 404.

Apache Kafka only: Tansu never compacts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from brokers.apache_kafka import ApacheKafka
from brokers.clients import client_options, ensure_topics, producer
from cli.local import wait_for_count
from schemas import SegmentChange
from settings import Settings
from synthetic import DEFAULT_START_MS
from tests.integration.test_web_access import get

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000
ENGINE = {
    "learned": {"warmup_updates": 100_000},  # no model: the rule decides
    "rules": [{"id": "recent", "name": "Recent", "expression": "recency_days < 7"}],
    "allowed_lateness_seconds": 3600,
    "sweep_interval_seconds": 3600,
}


@pytest.fixture
def broker(apache_kafka: ApacheKafka) -> ApacheKafka:
    return apache_kafka


def test_an_erased_customer_is_gone_from_every_topic_as_the_guarantee_says(
    start_worker: Callable[..., Any],
) -> None:
    worker = start_worker(engine=ENGINE, topic_partitions=1, web_token="t0ken")
    settings: Settings = worker.settings
    t = settings.topics
    ensure_topics(settings, [t.behaviour, t.erasures])
    erasure = {"customer_id": "c1", "timestamp": DEFAULT_START_MS + 2 * HOUR_MS, "request_id": "r1"}
    steps = [
        [(t.behaviour, _purchase(c, n, n * HOUR_MS)) for n in range(2) for c in ("c1", "c2")],
        [(t.erasures, erasure)],
        # c2 moves the partition's event time past the erasure and its lateness: the
        # marker goes.
        [(t.behaviour, _purchase("c2", 9, 4 * HOUR_MS))],
    ]
    sent = 0
    with producer(settings) as client:
        for step in steps:  # one after the other: the topics are fetched apart
            for topic, value in step:
                client.send(topic, key=value["customer_id"].encode(),
                            value=json.dumps(value).encode())  # fmt: skip
            client.flush()
            sent += len(step)
            wait_for_count(worker.metrics_url, sent)
    # Counted before its outputs are flushed: wait for the last batch's outputs.
    deadline = time.monotonic() + 60
    while not any(SegmentChange.model_validate_json(m.value).reason == "erased"
                  for m in worker.read(t.changes)):  # fmt: skip
        assert time.monotonic() < deadline, "no erased change"
    time.sleep(1.0)  # the batch's state records follow its changes

    changelog = f"{settings.app_id}-customer-state-changelog"
    states = worker.read(changelog)
    last_state = _latest(states, json.dumps("c1").encode())
    # c1's state either never reached the changelog (erased within one batch) or ends
    # in a tombstone.
    assert last_state is None or last_state.value is None, last_state
    last_membership = _latest(worker.read(t.memberships), b"c1")
    assert last_membership is not None and last_membership.value is None

    changes = [SegmentChange.model_validate_json(m.value) for m in worker.read(t.changes)]
    mine = [c for c in changes if c.customer_id == "c1"]
    assert mine and mine[-1].reason == "erased" and mine[-1].lifetime is None
    assert all(m.key != b"c1" for m in worker.read(t.dead_letters) + worker.read(t.drift))

    url = worker.metrics_url.removesuffix("/metrics")
    assert get(f"{url}/customers/c1/segments", "t0ken")[0] == 404
    assert get(f"{url}/customers/c2/segments", "t0ken")[0] == 200

    lag_ms = str(int(settings.compaction_lag_hours * HOUR_MS))
    kept_ms = str(int(settings.output_retention_days * 24 * HOUR_MS))
    configs = _configs(settings, [changelog, t.memberships, t.changes, t.dead_letters, t.drift])
    for topic in (changelog, t.memberships):
        assert configs[topic]["cleanup.policy"] == "compact", topic
        assert configs[topic]["max.compaction.lag.ms"] == lag_ms, topic
        assert configs[topic]["delete.retention.ms"] == lag_ms, topic
    for topic in (t.changes, t.dead_letters, t.drift):
        assert configs[topic]["retention.ms"] == kept_ms, topic


def _purchase(customer: str, n: int, offset_ms: int) -> dict[str, Any]:
    return {"event_id": f"{customer}-{n}", "customer_id": customer, "type": "purchase",
            "amount": 10.0, "timestamp": DEFAULT_START_MS + offset_ms}  # fmt: skip


def _latest(messages: list[Any], key: bytes) -> Any:
    mine = [m for m in messages if m.key == key]
    return mine[-1] if mine else None


def _configs(settings: Settings, topics: list[str]) -> dict[str, dict[str, str]]:
    admin = KafkaAdminClient(**client_options(settings))
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, topic) for topic in topics]
        answer = admin.describe_configs(resources)  # {type: {name: {key: {...}}}}
        (by_topic,) = answer.values()
        return {name: {key: data["value"] for key, data in configs.items()}
                for name, configs in by_topic.items()}  # fmt: skip
    finally:
        admin.close()
