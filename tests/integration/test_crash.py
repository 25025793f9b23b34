"""kill -9 of the worker at random points of one run, on Apache Kafka.

The worker (four partitions, model epochs, a separate trainer) is killed without
warning ten times while the input arrives, and started again each time. At the end
every customer's state and segments equal a 4-partition replay of the whole input,
every change replay decides is on ``segment-changes``, and a change the worker sent
again after a kill (at least once) carries the same ``change_id`` and content.

Apache Kafka only: on the embedded broker a restarted worker cannot recover a
changelog written in multi-record batches (its ListOffsets counts batches).
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from brokers.apache_kafka import ApacheKafka
from cli.generate import send, write_jsonl
from cli.local import WorkerProcess, scrape, total
from cli.main import main
from engine.changes import lifetime
from engine.state import CustomerState
from replay.outputs import iso
from schemas import CustomerSegments, SegmentChange
from settings import Settings
from synthetic import generate
from tests.integration.test_cluster import CLUSTER, _all_committed, _settle
from tests.integration.test_live_equals_replay import EPOCHS, _toml_inline

pytestmark = pytest.mark.integration

KILLS = 10
SEED = 19
# A killed member leaves the group only when its session expires: the broker's floor.
TIMEOUTS = {"session_timeout_seconds": 6, "heartbeat_interval_seconds": 1.5}


@pytest.fixture
def broker(apache_kafka: ApacheKafka) -> ApacheKafka:
    return apache_kafka


@pytest.fixture
def trainer(broker: ApacheKafka, tmp_path: Path) -> Iterator[WorkerProcess]:
    values = {"kafka_bootstrap": broker.bootstrap, **CLUSTER}
    process = WorkerProcess(values, tmp_path / "trainer.log", command="trainer").start()
    try:
        yield process
    finally:
        process.stop()


def test_a_worker_killed_ten_times_ends_as_replay(
    start_worker: Callable[..., Any], trainer: WorkerProcess, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    # Behaviour only: a worker takes a partition's profile updates and behaviour in the
    # order it fetches them, replay in event-time order, and the model reads both (see
    # docs/engine.md, model epochs).
    messages = list(generate(customers=80, days=60, seed=SEED, with_profiles=False))
    log = tmp_path / "events.jsonl"
    write_jsonl(messages, log)
    slices = _in_time_order(messages, KILLS + 1)
    deadline = time.monotonic() + 420
    kills = []
    for part in slices[:KILLS]:
        worker = start_worker(**CLUSTER, **TIMEOUTS)
        settings: Settings = worker.settings
        send(part, settings)
        _settle([worker], deadline)
        # A random point: after this incarnation has handled some of what is there
        # (redelivered events first, then the new slice).
        point = rng.randint(1, len(part))
        while total(scrape(worker.metrics_url), "segment_engine_events_total") < point:
            assert worker.process.running, f"the worker exited; see {worker.process.log_path}"
            assert time.monotonic() < deadline, "the worker stopped making progress"
            time.sleep(0.02)
        os.kill(worker.process.pid, signal.SIGKILL)
        kills.append(point)
        assert trainer.running, f"the trainer exited; see {trainer.log_path}"
    last = start_worker(**CLUSTER, **TIMEOUTS)
    settings = last.settings
    send(slices[KILLS], settings)
    _all_committed(settings, deadline)
    assert len(kills) == KILLS

    emitted, repeats = assert_ends_as_replay(last, log, tmp_path, customers=80)
    print(f"kills at {kills}; {len(messages)} events; {emitted} changes, {repeats} repeats")


def assert_ends_as_replay(last: Any, log: Path, tmp_path: Path, customers: int) -> tuple[int, int]:
    """Every customer's state and segments as a 4-partition replay of ``log`` decides,
    and every change replay decides emitted, with no other: (changes, repeats)."""
    settings: Settings = last.settings
    t = settings.topics
    out = tmp_path / "replay"
    config = tmp_path / "engine.toml"
    config.write_text("engine = " + _toml_inline(EPOCHS) + "\n")
    assert main(["replay", str(log), "--out", str(out), "--config", str(config),
                 "--partitions", "4", "--no-progress"]) == 0  # fmt: skip
    with (out / "assignments.csv").open() as f:
        replayed = {row["customer_id"]: row for row in csv.DictReader(f)}
    assert len(replayed) == customers

    # Every customer's state: the changelog's latest value per customer.
    states = {}
    for m in last.read(f"{settings.app_id}-customer-state-changelog"):
        states[json.loads(m.key)] = CustomerState.from_dict(json.loads(m.value))
    assert set(states) >= set(replayed)
    wrong = {
        c: {k: (v, row[k]) for k, v in _row(states[c]).items() if v != row[k]}
        for c, row in replayed.items()
    }
    assert not {c: fields for c, fields in wrong.items() if fields}, "live != replay"

    # Every customer's segments: the compacted memberships topic.
    members: dict[str, tuple[str, str]] = {}
    for m in last.read(t.memberships):
        body = CustomerSegments.model_validate_json(m.value)
        rules = ";".join(sorted(r.id for r in body.rules))
        members[body.customer_id] = (body.learned.id if body.learned else "", rules)
    assert members == {c: (r["segment_id"], r["rule_segments"]) for c, r in replayed.items()}

    # Every change replay decides was emitted; a repeat is the same change.
    emitted: dict[str, dict[str, Any]] = {}
    repeats = 0
    for m in last.read(t.changes):
        change = SegmentChange.model_validate_json(m.value).model_dump(exclude={"emitted_at"})
        seen = emitted.setdefault(change["change_id"], change)
        assert seen == change, "one change_id, two contents"
        repeats += seen is not change
    with (out / "segment_changes.jsonl").open() as f:
        decided = {SegmentChange.model_validate_json(line).change_id for line in f}
    assert decided, "replay decided no change"
    assert set(emitted) == decided
    return len(emitted), repeats


def _in_time_order(messages: list[Any], n: int) -> list[list[Any]]:
    """``n`` consecutive slices of the log (it is in event-time order), cut at epoch
    (day) boundaries. Cut mid-epoch, the pause after a slice would let the worker seal
    its idle partitions' epoch, and the next slice's events of that epoch would teach
    the next one instead: a result that depends on when input arrives (docs/engine.md, model
    epochs), which is not what this test is about."""
    days = [_day(m) for m in messages]
    cuts = [days[0] + (days[-1] - days[0] + 1) * i // n for i in range(1, n)]
    slices: list[list[Any]] = [[] for _ in range(n)]
    for message, day in zip(messages, days, strict=True):
        slices[sum(day >= cut for cut in cuts)].append(message)
    return slices


def _day(message: dict[str, Any]) -> int:
    stamp = datetime.fromisoformat(message["value"]["timestamp"])
    return int(stamp.timestamp()) // 86_400


def _row(state: CustomerState) -> dict[str, str]:
    """The columns of replay's assignments.csv a worker's state also holds."""
    life = lifetime(state)
    return {
        "purchase_count": str(life.purchase_count),
        "total_spend": repr(life.total_spend),
        "first_seen": iso(life.first_seen_ms),
        "last_seen": iso(life.last_seen_ms),
        "last_purchase_at": iso(life.last_purchase_ms),
        "segment_id": state.segment_id or "",
        "rule_segments": ";".join(sorted(state.rule_segments)),
    }
