"""A restarted in_worker worker restores its model from its checkpoint, on the embedded broker.

The first worker learns a model from generated customers and writes it to the model
checkpoint topic. A second worker of the same app, started after the first stopped,
says which model version it restored, reports it on ``/metrics`` before it has seen
an event, and places new customers at once with the restored model's segments: fewer
events than a warm-up would need, so a model learned afresh would place none.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from brokers.clients import ensure_topics, producer
from brokers.last_message import last_value
from cli.generate import send
from cli.local import scrape, total, wait_for_count
from schemas import SegmentChange
from settings import Settings
from streams.model_checkpoint import decode_model_checkpoint
from synthetic import DEFAULT_START_MS, generate

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
VERSION = "segment_engine_model_version"
LEARN_SOON = {
    "learned": {"warmup_updates": 100, "publish_every": 100, "learn_interval_seconds": 3600}
}
NEW_CUSTOMERS = 8  # 3 events each: far fewer than warmup_updates


def checkpointed(worker: Any, timeout: float = 30) -> None:
    """Wait until the worker published a model and its latest checkpoint holds it (the
    version gauge is set at the end of a batch, after its events are counted)."""
    settings: Settings = worker.settings
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        version = total(scrape(worker.metrics_url), VERSION)
        data = last_value(settings, settings.topics.model_checkpoints)
        if version >= 1 and data and decode_model_checkpoint(data).model_version == version:
            return
        time.sleep(0.2)
    pytest.fail(f"no model, or no checkpoint of it, within {timeout:g} s")


def new_customers(settings: Settings) -> int:
    """Send 3 events for each new customer, a day after the generated ones; the count."""
    sent = 0
    with producer(settings) as client:
        for n in range(NEW_CUSTOMERS):
            for i in range(3):
                event = {"event_id": f"new-{n}-{i}", "customer_id": f"new-{n}",
                         "type": "purchase", "amount": 10.0 + 30 * n,
                         "timestamp": DEFAULT_START_MS + 11 * DAY_MS + i}  # fmt: skip
                client.send(settings.topics.behaviour, key=f"new-{n}".encode(),
                            value=json.dumps(event).encode())  # fmt: skip
                # One record per batch: the embedded broker counts batches in
                # ListOffsets, and a restarted consumer may seek past a batch's records.
                client.flush()
                sent += 1
    return sent


def test_a_restarted_worker_restores_its_model_and_places_new_customers_at_once(
    start_worker: Callable[..., Any], tmp_path: Path
) -> None:
    options = {"engine": LEARN_SOON, "app_id": "keeps-model",
               "trainer_checkpoint_seconds": 1}  # fmt: skip
    first = start_worker(**options)
    settings: Settings = first.settings
    t = settings.topics
    ensure_topics(settings, [t.behaviour, t.profiles, t.erasures])
    generated = list(generate(customers=80, days=10, seed=3))
    send(generated, settings)
    wait_for_count(first.metrics_url, len(generated))
    checkpointed(first)
    first.process.stop()
    value = last_value(settings, t.model_checkpoints)  # the one a restarted worker reads
    assert value is not None
    checkpoint = decode_model_checkpoint(value)
    learned_ids = {
        c.segment.id for c in _changes(first) if c.segment and c.segment.kind == "learned"
    }
    assert learned_ids, "the first worker placed nobody"

    second = start_worker(**{**options, "data_dir": str(tmp_path / "second")})
    log = second.process.log_path.read_text()
    assert f"worker: model version {checkpoint.model_version} restored from its checkpoint" in log
    assert "learns afresh" not in log
    assert total(scrape(second.metrics_url), VERSION) == checkpoint.model_version

    counted = total(scrape(second.metrics_url), "segment_engine_events_total")
    wait_for_count(second.metrics_url, counted + new_customers(settings))
    placed = [c for c in _changes(second) if c.customer_id.startswith("new-") and c.segment]
    assert placed, "no new customer was placed: the model was not restored"
    # The restored model, or one it grew into (a sweep may publish again): not a new one.
    assert min(c.model_version for c in placed) >= checkpoint.model_version
    assert {c.segment.id for c in placed if c.segment} <= learned_ids, "segment ids minted anew"


def _changes(worker: Any) -> list[SegmentChange]:
    return [
        SegmentChange.model_validate_json(m.value)
        for m in worker.read(worker.settings.topics.changes)
    ]
