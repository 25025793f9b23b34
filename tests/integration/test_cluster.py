"""Two workers and a separate trainer: one model for the cluster, equal to replay.

Real processes on the embedded broker, four partitions: each worker owns two, sends
its lessons to the trainer and follows the models it publishes. Both end with the
same model version and lineage, and with the assignments of a 4-partition replay.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from brokers.clients import client_options, ensure_topics, producer
from cli.generate import send, write_jsonl
from cli.local import WorkerProcess, scrape, total
from cli.main import main
from schemas import CustomerSegments, EngineConfig, SegmentCatalogEntry, SegmentChange
from schemas import dead_letters as dl
from settings import Settings
from streams.model_wire import decode_record, record_hash
from synthetic import generate
from tests.conftest import Broker
from tests.integration.test_live_equals_replay import EPOCHS, _toml_inline

pytestmark = pytest.mark.integration

CLUSTER = {"app_id": "cluster", "topic_partitions": 4, "trainer": "separate", "engine": EPOCHS}


@pytest.fixture
def start_trainer(broker: Broker, tmp_path: Path) -> Iterator[Callable[[], WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        values = {"kafka_bootstrap": broker.bootstrap, **CLUSTER}
        log = tmp_path / f"trainer-{len(started)}.log"
        started.append(WorkerProcess(values, log, command="trainer").start())
        return started[-1]

    try:
        yield start
    finally:
        for process in started:
            process.stop()


@pytest.fixture
def trainer(start_trainer: Callable[[], WorkerProcess]) -> WorkerProcess:
    return start_trainer()


def _processed(urls: list[str]) -> float:
    return sum(total(scrape(url), "segment_engine_events_total") for url in urls)


def _gauge(url: str, name: str) -> float:
    return total(scrape(url), name)


def _settle(workers: list[Any], deadline: float) -> None:
    """Until the group settles: each worker holds some of the 3 topics x 4 partitions."""
    while True:
        held = []
        for w in workers:
            try:
                held.append(_gauge(w.metrics_url, "segment_engine_assigned_partitions"))
            except OSError:
                held.append(0.0)
        if sum(held) == 12 and all(held):
            return
        assert time.monotonic() < deadline, f"assigned partitions per worker: {held}"
        time.sleep(0.2)


def _all_committed(settings: Settings, deadline: float) -> None:
    """Until the group has committed every input record (held ones stop commits)."""
    t = settings.topics
    # Reads the group's committed offsets (OffsetFetch) without joining it.
    consumer = KafkaConsumer(**client_options(settings), group_id=settings.app_id,
                             enable_auto_commit=False)  # fmt: skip
    try:
        parts = [TopicPartition(topic, p) for topic in (t.behaviour, t.profiles, t.erasures)
                 for p in range(4)]  # fmt: skip
        ends = consumer.end_offsets(parts)
        while True:
            behind = {tp: ends[tp] - (consumer.committed(tp) or 0) for tp in parts if ends[tp]}
            if not any(n > 0 for n in behind.values()):
                return
            assert time.monotonic() < deadline, f"uncommitted input: {behind}"
            time.sleep(0.5)
    finally:
        consumer.close()


def _learned(messages: list[Any]) -> dict[str, str | None]:
    """Each customer's learned segment after the latest change of it."""
    learned: dict[str, str | None] = {}
    for m in messages:
        change = SegmentChange.model_validate_json(m.value)
        ref = change.segment or change.previous_segment
        if ref is not None and ref.kind == "learned":
            learned[change.customer_id] = change.segment.id if change.segment else None
    return learned


def _replayed(log: Path, tmp_path: Path) -> dict[str, str | None]:
    """The learned segments a 4-partition replay of ``log`` ends with."""
    config = tmp_path / "engine.toml"
    config.write_text("engine = " + _toml_inline(EPOCHS) + "\n")
    out = tmp_path / "replay"
    assert main(["replay", str(log), "--out", str(out), "--config", str(config),
                 "--partitions", "4", "--no-progress"]) == 0  # fmt: skip
    with (out / "assignments.csv").open() as f:
        return {r["customer_id"]: r["segment_id"] or None for r in csv.DictReader(f)}


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
    _settle(workers, deadline)
    with producer(settings) as client:  # not ours: dead-lettered by whoever reads them
        client.send(t.lessons, key=b"0", value=b"not json")
        client.send(t.models, key=b"model", value=b'{"learned": 1}')
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
    _all_committed(settings, deadline)  # every input offset, once nothing is held

    live = _learned(workers[0].read(t.changes))
    replayed = _replayed(log, tmp_path)
    assert sum(1 for s in replayed.values() if s) >= 40, "the model published and assigned"
    assert {c: live.get(c) for c in replayed} == replayed

    # Current memberships: the compacted topic's latest value per customer, and any
    # worker's answer (routed to the key's owner), say the same.
    current: dict[str, str | None] = {}
    for m in workers[0].read(t.memberships):
        body = CustomerSegments.model_validate_json(m.value)
        current[body.customer_id] = body.learned.id if body.learned else None
    assert {c: current.get(c) for c in replayed} == replayed
    web = [f"http://{w.settings.web_bind}:{w.settings.web_port}" for w in workers]
    for customer_id in sorted(replayed)[:8]:
        for base in web:  # half of these are another worker's customers
            status, body = _get(f"{base}/customers/{customer_id}/segments")
            assert status == 200, body
            assert (body["learned"] or {}).get("id") == replayed[customer_id]
    status, body = _get(f"{web[0]}/customers/nobody/segments")
    assert status == 404 and "nobody" in body["error"]
    letters = {dict(m.headers)[dl.HEADER_TOPIC].decode(): dict(m.headers)[dl.HEADER_REASON]
               for m in workers[0].read(t.dead_letters)}  # fmt: skip
    assert letters == {t.lessons: b"invalid", t.models: b"invalid"}

    # The catalog's learned segments come from the trainer alone, so no entry goes back
    # to an older model, and the latest say what its latest model says.
    latest: dict[str, SegmentCatalogEntry] = {}
    rule_ids = {rule.id for rule in EngineConfig.model_validate(EPOCHS).rules}
    for m in workers[0].read(t.catalog):
        entry = SegmentCatalogEntry.model_validate_json(m.value)
        if entry.segment.kind == "rule":  # every worker's, alike
            assert entry.live and entry.segment.id in rule_ids, entry
            continue
        before = latest.get(entry.segment.id)
        assert before is None or before.model_version <= entry.model_version, entry
        latest[entry.segment.id] = entry
    final = decode_record(workers[0].read(t.models)[-1].value)
    assert final.model is not None
    assert {e.segment.id for e in latest.values() if e.live} == set(final.model.ids)
    assert {e.segment.id: e.segment.name for e in latest.values()} == {
        ref.id: ref.name for ref in final.segments
    }


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_a_trainer_killed_mid_stream_leaves_one_model_and_replays_equal(
    start_worker: Callable[..., Any], start_trainer: Callable[[], WorkerProcess], tmp_path: Path
) -> None:
    """kill -9 of the trainer mid-stream: its successor reads the lessons again and
    goes on where the models topic stands (versions contiguous, one model per version),
    and the workers end as replay. (Killing or restarting a worker needs a broker whose
    end offsets count records: on the embedded one, Faust's recovery of a changelog
    written in multi-record batches stops short or refuses to start.)"""
    messages = list(generate(customers=50, days=40, seed=5, with_profiles=False))
    log = tmp_path / "events.jsonl"
    write_jsonl(messages, log)
    first, second = messages[: len(messages) // 2], messages[len(messages) // 2 :]
    trainer = start_trainer()
    workers = [start_worker(**CLUSTER) for _ in range(2)]
    settings: Settings = workers[0].settings
    t = settings.topics
    ensure_topics(settings, [t.behaviour, t.profiles, t.erasures])
    deadline = time.monotonic() + 240
    _settle(workers, deadline)
    urls = [w.metrics_url for w in workers]
    send(first, settings)
    while _processed(urls) < len(first) // 3:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    os.kill(trainer.pid, signal.SIGKILL)  # mid-stream, no goodbye
    trainer = start_trainer()
    send(second, settings)
    while _processed(urls) < len(messages):
        assert trainer.running, f"the trainer exited; see {trainer.log_path}"
        assert time.monotonic() < deadline, f"processed {_processed(urls)} of {len(messages)}"
        time.sleep(0.5)

    records = [decode_record(m.value) for m in workers[0].read(t.models)]
    versions = [r.model.version for r in records if r.model is not None]
    assert versions == sorted(versions), "versions only grow"
    assert set(versions) == set(range(1, max(versions) + 1)), "versions are contiguous"
    hashes: dict[int, set[str]] = {}
    for r in records:
        if r.model is not None:
            hashes.setdefault(r.model.version, set()).add(record_hash(r))
    assert all(len(h) == 1 for h in hashes.values()), "no version has two models"
    registry = {ref.id for ref in records[-1].segments}
    changes = workers[0].read(t.changes)
    decoded = [SegmentChange.model_validate_json(m.value) for m in changes]
    emitted = {c.segment.id for c in decoded if c.segment and c.segment.kind == "learned"}
    assert emitted <= registry, "every segment id emitted is in the trainer's registry"
    live = _learned(changes)
    replayed = _replayed(log, tmp_path)
    assert {c: live.get(c) for c in replayed} == replayed

    assert all(_gauge(url, "segment_engine_model_conflicts_total") == 0 for url in urls)
