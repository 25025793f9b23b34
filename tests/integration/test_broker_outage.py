"""Apache Kafka stopped for 30 s mid-stream: the worker stays alive, says it is not
ready meanwhile, reconnects by itself once the broker is back, and loses nothing.

A node of its own (the session's shared one must not go away under other tests),
stopped and started again with its data on the same ports, as a restarted broker is.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from brokers.apache_kafka import ApacheKafka
from brokers.clients import ensure_topics, producer
from cli.local import scrape, total, wait_for_count
from schemas import SegmentChange
from synthetic import DEFAULT_START_MS
from tests.conftest import need
from tests.integration.test_web_access import get

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
OUTAGE_SECONDS = 30
CUSTOMERS = 40
ENGINE = {
    "learned": {"warmup_updates": 100_000},  # no model: the rule decides
    "rules": [{"id": "regular", "name": "Regular", "expression": "purchase_count >= 3"}],
}


@pytest.fixture
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApacheKafka]:
    from brokers.apache_kafka import missing_parts

    if (missing := missing_parts()) is not None:
        need(missing)
    node = ApacheKafka(tmp_path_factory.mktemp("outage-kafka")).start()
    try:
        yield node
    finally:
        node.stop()


def purchase(customer: int, n: int) -> dict[str, Any]:
    return {"event_id": f"e{customer}-{n}", "customer_id": f"c{customer}", "type": "purchase",
            "amount": 12.0, "timestamp": DEFAULT_START_MS + n * DAY_MS + customer}  # fmt: skip


# An application's producer, in a process of its own: it connects while the broker is
# up, then sends the events given on stdin and holds them until the broker is back.
# (In the test's own process, kafka-python 3.0.12 would leak the sockets of its failed
# reconnects into whichever test runs next.)
PRODUCER = """
import json, sys
from brokers.clients import producer
from settings import Settings
settings = Settings.model_validate_json(sys.argv[1])
client = producer(settings, retries=2**31 - 1, delivery_timeout_ms=300_000, max_block_ms=300_000)
client.partitions_for(sys.argv[2])  # the topic's metadata, fetched while the broker is up
print("ready", flush=True)
for event in json.loads(sys.stdin.read()):
    client.send(sys.argv[2], key=event["customer_id"].encode(), value=json.dumps(event).encode())
client.flush()
client.close()
"""


def test_the_worker_rides_out_a_broker_outage(
    broker: ApacheKafka, start_worker: Callable[..., Any], tmp_path: Path
) -> None:
    worker = start_worker(engine=ENGINE)
    settings, t = worker.settings, worker.settings.topics
    url = worker.metrics_url.removesuffix("/metrics")
    ensure_topics(settings, [t.behaviour])
    rounds = [[purchase(c, n) for c in range(CUSTOMERS)] for n in range(4)]

    def send(events: list[dict[str, Any]]) -> None:
        with producer(settings) as client:
            for event in events:
                client.send(t.behaviour, key=event["customer_id"].encode(),
                            value=json.dumps(event).encode())  # fmt: skip

    send(rounds[0])
    wait_for_count(worker.metrics_url, CUSTOMERS)
    _until(lambda: get(f"{url}/readyz")[0] == 200, "ready before the outage", 60)

    command = [sys.executable, "-c", PRODUCER, settings.model_dump_json(), t.behaviour]
    log = tmp_path / "producer.log"  # a file, as a full pipe would block it
    with log.open("w") as errors, subprocess.Popen(command, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=errors, text=True) as sender:  # fmt: skip
        assert sender.stdout is not None and sender.stdin is not None
        assert sender.stdout.readline().strip() == "ready"
        broker.stop()
        stopped = time.monotonic()
        sender.stdin.write(json.dumps(rounds[1] + rounds[2]))  # mid-stream: held by it
        sender.stdin.close()
        _, body = _until(lambda: get(f"{url}/readyz"), "not ready", OUTAGE_SECONDS, 503)
        assert any("broker" in reason for reason in body["reasons"]), body
        assert get(f"{url}/healthz")[0] == 200, "alive through the outage"
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))  # the outage
        assert worker.process.running
        broker.start()
        assert sender.wait(timeout=120) == 0, f"the producer could not deliver: {log.read_text()}"
    send(rounds[3])
    events = sum(len(r) for r in rounds)
    wait_for_count(worker.metrics_url, events, timeout=180)
    _until(lambda: get(f"{url}/readyz")[0] == 200, "ready again", 60)

    metrics = scrape(worker.metrics_url)
    assert total(metrics, "segment_engine_events_total", outcome="accepted") == events
    assert total(metrics, "segment_engine_output_failures_total") == 0
    changes = [SegmentChange.model_validate_json(m.value) for m in worker.read(t.changes)]
    regulars = {c.customer_id for c in changes if c.segment and c.segment.id == "regular"}
    assert regulars == {f"c{c}" for c in range(CUSTOMERS)}
    assert len({c.change_id for c in changes}) == len(changes) == CUSTOMERS


def _until(probe: Callable[[], Any], what: str, timeout: float, expected: Any = True) -> Any:
    """Poll ``probe`` until it is truthy (or its status is ``expected``); its answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer is True or (isinstance(answer, tuple) and answer[0] == expected):
            return answer
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}: {answer}"
        time.sleep(0.5)
