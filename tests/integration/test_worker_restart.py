"""A worker stopped and started again keeps its customers, on either table store.

The second worker must still know what the first saw: a replayed event is a
duplicate, and the next sweep reaches a customer who sent nothing since the
restart (its state and its place in the sweep both survived). A RocksDB store
recovers only the changelog written after its own last offset, so the worker must
find those customers in the store itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from brokers.clients import ensure_topics, producer
from cli.local import scrape, total, wait_for_count
from schemas import SegmentChange
from settings import Settings
from synthetic import DEFAULT_START_MS
from tests.conftest import Broker, on_tansu

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
EVENTS = "segment_engine_events_total"
ENGINE = {
    "learned": {"warmup_updates": 100_000},  # no model: only the rule decides
    "rules": [{"id": "recent", "name": "Recent", "expression": "recency_days < 7"}],
}
ROCKSDB = {"block_cache_mib": 3, "write_buffer_mib": 5, "write_buffers": 3}


def purchase(event_id: str, customer: str, day: float) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "customer_id": customer,
        "type": "purchase",
        "amount": 20.0,
        "timestamp": int(DEFAULT_START_MS + day * DAY_MS),
    }


def send(worker: Any, events: list[dict[str, Any]], one_by_one: bool) -> None:
    """All events in one flush, or (a workaround on Tansu) each in its own batch, so that
    each changelog write is its own record batch: Tansu's ListOffsets counts record
    batches, not records, and Faust's recovery stops at the end offset it reports."""
    settings: Settings = worker.settings
    counted = total(scrape(worker.metrics_url), EVENTS)
    with producer(settings) as client:
        for event in events:
            client.send(settings.topics.behaviour, key=event["customer_id"].encode(),
                        value=json.dumps(event).encode())  # fmt: skip
            if one_by_one:
                client.flush()
                counted += 1
                wait_for_count(worker.metrics_url, counted)
    if not one_by_one:
        wait_for_count(worker.metrics_url, counted + len(events))


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_a_restarted_worker_keeps_state_and_sweeps_customers_seen_before(
    start_worker: Callable[..., Any], broker: Broker, tmp_path: Path, store: str
) -> None:
    options = {"engine": ENGINE, "topic_partitions": 1, "store": store, "rocksdb": ROCKSDB,
               "app_id": "restart", "data_dir": str(tmp_path / "data")}  # fmt: skip
    first = start_worker(**options)
    settings: Settings = first.settings
    t = settings.topics
    ensure_topics(settings, [t.behaviour, t.profiles, t.erasures])
    bought = purchase("a-1", "a", 0)
    one_by_one = on_tansu(broker)
    send(first, [bought, purchase("b-1", "b", 0), purchase("c-1", "c", 0)], one_by_one)
    first.process.stop()
    if store == "rocksdb://":
        assert_rocksdb_opened_with(tmp_path / "data", ROCKSDB)
        # The store notes the changelog offset it holds data up to, so that the next
        # start recovers only what follows (the worker writes the changelog itself).
        changelog = first.read("restart-customer-state-changelog")
        assert changelog, "no state reached the changelog"
        assert persisted_offset(tmp_path / "data") == max(m.offset for m in changelog)

    second = start_worker(**options)
    # The replayed day-0 event sets the next sweep boundary (day 1); day 10 crosses it.
    send(second, [bought, purchase("b-2", "b", 10)], one_by_one)
    # At least once: the first worker may not have committed its last offset either.
    assert total(scrape(second.metrics_url), EVENTS, outcome="duplicate") >= 1

    changes = [SegmentChange.model_validate_json(m.value) for m in second.read(t.changes)]
    seen = [(c.customer_id, c.reason, c.trigger_event_id) for c in changes]
    assert seen.count(("a", "entered_rule", "a-1")) == 1, "a's state was lost"
    # c sent nothing after the restart: only the sweep can reach it.
    assert ("c", "left_rule", None) in seen, "the sweep after the restart missed customer c"


def persisted_offset(data_dir: Path) -> int:
    """The changelog offset Faust's RocksDB store recorded (one partition)."""
    from rocksdict import AccessType, Options, Rdict

    [path] = data_dir.glob("**/customer-state-*.db")
    db = Rdict(str(path), Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        return int(db[b"__faust\0offset__"])
    finally:
        db.close()


def assert_rocksdb_opened_with(data_dir: Path, options: dict[str, int]) -> None:
    """RocksDB's own LOG says which options each partition's database was created with.

    Only at creation: rocksdict 0.3 reopens an existing database with the column
    options saved in it and its own 8 MiB block cache (docs/operations.md, capacity per worker).
    """
    logs = list(data_dir.glob("**/customer-state-*.db/LOG"))
    assert logs, f"no RocksDB database under {data_dir}"
    mib = 1024 * 1024
    for log in logs:
        text = log.read_text()
        assert _option(text, r"Options\.write_buffer_size") == options["write_buffer_mib"] * mib
        assert _option(text, r"Options\.max_write_buffer_number") == options["write_buffers"]
        assert _option(text, r"capacity") == options["block_cache_mib"] * mib


def _option(log: str, name: str) -> int:
    found = {int(v) for v in re.findall(rf"^\s*.*{name}\s*:\s*(\d+)\s*$", log, re.MULTILINE)}
    assert len(found) == 1, f"{name}: {found}"
    return found.pop()
