"""Two workers and a separate trainer: one model for the cluster, equal to replay.

Real processes on the embedded broker, four partitions: each worker owns two, sends
its lessons to the trainer and follows the models it publishes. Both end with the
same model version and lineage, and with the assignments of a 4-partition replay.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from brokers.clients import ensure_topics
from brokers.embedded import EmbeddedBroker
from cli.generate import send, write_jsonl
from cli.local import WorkerProcess, scrape, total
from cli.main import main
from schemas import SegmentChange
from settings import Settings
from synthetic import generate
from tests.integration.test_live_equals_replay import EPOCHS, _toml_inline

pytestmark = pytest.mark.integration

CLUSTER = {"app_id": "cluster", "topic_partitions": 4, "trainer": "separate", "engine": EPOCHS}


@pytest.fixture
def trainer(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[WorkerProcess]:
    values = {"kafka_bootstrap": broker.bootstrap, **CLUSTER}
    process = WorkerProcess(values, tmp_path / "trainer.log", command="trainer").start()
    try:
        yield process
    finally:
        process.stop()


def _processed(urls: list[str]) -> float:
    return sum(total(scrape(url), "segment_engine_events_total") for url in urls)


def _gauge(url: str, name: str) -> float:
    return total(scrape(url), name)


def test_two_workers_share_one_model_and_end_as_replay(
    start_worker: Callable[..., Any], trainer: WorkerProcess, tmp_path: Path
) -> None:
    messages = list(generate(customers=50, days=40, seed=5, with_profiles=False))
    log = tmp_path / "events.jsonl"
    write_jsonl(messages, log)
    workers = [start_worker(**CLUSTER) for _ in range(2)]
    settings: Settings = workers[0].settings
    t = settings.topics
    ensure_topics(settings, [t.behaviour, t.profiles, t.erasures])
    urls = [w.metrics_url for w in workers]
    deadline = time.monotonic() + 180
    # The group settles first: each worker holds some of the 3 topics x 4 partitions.
    held = [_gauge(url, "segment_engine_assigned_partitions") for url in urls]
    while not (sum(held) == 12 and all(held)):
        assert time.monotonic() < deadline, f"assigned partitions per worker: {held}"
        time.sleep(0.2)
        held = [_gauge(url, "segment_engine_assigned_partitions") for url in urls]
    send(messages, settings)
    while _processed(urls) < len(messages):
        assert trainer.running, f"the trainer exited; see {trainer.log_path}"
        assert time.monotonic() < deadline, f"processed {_processed(urls)} of {len(messages)}"
        time.sleep(0.5)
    # Both follow one model: the same version (the trainer's latest, once it reaches them).
    versions = {_gauge(url, "segment_engine_model_version") for url in urls}
    while len(versions) > 1 and time.monotonic() < deadline:
        time.sleep(0.5)
        versions = {_gauge(url, "segment_engine_model_version") for url in urls}
    assert len(versions) == 1 and versions.pop() >= 1
    assert all(_gauge(url, "segment_engine_model_conflicts_total") == 0 for url in urls)

    live: dict[str, str | None] = {}
    for m in workers[0].read(t.changes):
        change = SegmentChange.model_validate_json(m.value)
        ref = change.segment or change.previous_segment
        assert ref is not None
        if ref.kind == "learned":
            live[change.customer_id] = change.segment.id if change.segment else None

    config = tmp_path / "engine.toml"
    config.write_text("engine = " + _toml_inline(EPOCHS) + "\n")
    out = tmp_path / "replay"
    assert main(["replay", str(log), "--out", str(out), "--config", str(config),
                 "--partitions", "4", "--no-progress"]) == 0  # fmt: skip
    with (out / "assignments.csv").open() as f:
        replayed = {r["customer_id"]: r["segment_id"] or None for r in csv.DictReader(f)}
    assert sum(1 for s in replayed.values() if s) >= 40, "the model published and assigned"
    assert {c: live.get(c) for c in replayed} == replayed
