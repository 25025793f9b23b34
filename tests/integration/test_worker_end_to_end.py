"""The walking skeleton on real parts: embedded broker, a worker process, Kafka clients.

Generated customers plus malformed messages go in; the test reads what came out on
``segment-changes`` and ``dead-letters`` and what ``/metrics`` counted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any
from urllib.request import urlopen

import pytest
from kafka import KafkaAdminClient

from brokers.clients import client_options, ensure_topics, producer
from cli.generate import send
from cli.local import scrape, settings_env, total, wait_for_count
from schemas import SegmentCatalogEntry, SegmentChange
from schemas import dead_letters as dl
from settings import Settings
from synthetic import DEFAULT_START_MS, generate
from tests.conftest import Broker, on_tansu

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
EVENTS = "segment_engine_events_total"


def malformed(settings: Settings) -> list[tuple[str, bytes, bytes, str]]:
    """(topic, key, value, expected dead-letter reason)."""
    t = settings.topics
    ok = {"event_id": "m-1", "customer_id": "m1", "type": "purchase", "timestamp": DEFAULT_START_MS}
    many = {f"a{i}": i for i in range(1_000)}
    crowded = {"customer_id": "m1", "timestamp": DEFAULT_START_MS, "attributes": many}
    return [
        (t.behaviour, b"m1", b"{not json", "undecodable"),
        (t.behaviour, b"m1", b"\xff\xfe\x00binary", "undecodable"),
        (t.behaviour, b"m1", b"[1, 2, 3]", "undecodable"),
        (t.behaviour, b"m1", _json({**ok, "customer_id": None}), "invalid"),
        (t.behaviour, b"m1", _json({**ok, "type": "teleport"}), "unknown_event_type"),
        (t.behaviour, b"m1", _json({**ok, "amount": -5}), "invalid"),
        (t.behaviour, b"m1", _json({**ok, "timestamp": "2026-01-01T00:00:00"}), "invalid"),
        (t.behaviour, b"m1", _json({**ok, "surprise": 1}), "invalid"),
        (t.behaviour, b"someone-else", _json(ok), "invalid"),
        (
            t.profiles,
            b"m1",
            _json({"customer_id": "m1", "timestamp": DEFAULT_START_MS, "attributes": {"age": 200}}),
            "invalid",
        ),
        (t.erasures, b"m1", _json({"customer_id": "m1", "timestamp": DEFAULT_START_MS}), "invalid"),
        (t.behaviour, b"m1", _json({**ok, "amount": 1e308}), "invalid"),  # sums overflow
        (t.behaviour, b"m1", _json({**ok, "properties": {"note": "n" * 5_000}}), "too_large"),
        (t.profiles, b"m1", _json(crowded), "too_large"),
        # Near Kafka's 1 MB record limit: its dead letter, with headers, must be cut to fit.
        (t.behaviour, b"m1", _json({**ok, "pad": "p" * 999_700}), "too_large"),
    ]


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def wait_until_counted(url: str, expected: int, timeout: float = 120) -> float:
    try:
        return wait_for_count(url, expected, timeout)
    except TimeoutError as exc:
        pytest.fail(str(exc))


def test_events_become_segment_changes_and_bad_input_is_dead_lettered(
    start_worker: Callable[..., Any],
) -> None:
    worker = start_worker(
        engine={
            "learned": {"warmup_updates": 100, "publish_every": 100, "learn_interval_seconds": 3600}
        }
    )
    settings: Settings = worker.settings
    url: str = worker.metrics_url
    t = settings.topics
    ensure_topics(settings, [t.behaviour, t.profiles, t.erasures])

    generated = list(generate(customers=80, days=10, seed=3))
    events_of: dict[str, set[str]] = defaultdict(set)
    for message in generated:
        if message["topic"] == "behaviour":
            events_of[message["key"]].add(message["value"]["event_id"])
    bad = malformed(settings)
    send(generated, settings)
    duplicate = [m for m in generated if m["topic"] == "behaviour"][-1]  # within dedup reach
    with producer(settings) as client:
        client.send(t.behaviour, key=duplicate["key"].encode(), value=_json(duplicate["value"]))
        for topic, key, value, _ in bad:
            client.send(topic, key=key, value=value, headers=[("trace-id", b"t-" + key)])
        client.flush()
        wait_until_counted(url, len(generated) + 1 + len(bad))

        # Phase two, after the first is processed: an erasure and a late event.
        erased = max(events_of, key=lambda c: len(events_of[c]))
        end_ms = DEFAULT_START_MS + 10 * DAY_MS
        late = {
            "event_id": "late-1",
            "customer_id": erased,
            "type": "page_view",
            "timestamp": DEFAULT_START_MS - 30 * DAY_MS,
        }
        client.send(t.behaviour, key=erased.encode(), value=_json(late))
        client.flush()
        wait_until_counted(url, len(generated) + 2 + len(bad))
        erasure = {"customer_id": erased, "timestamp": end_ms + DAY_MS, "request_id": "r-1"}
        client.send(t.erasures, key=erased.encode(), value=_json(erasure))
    wait_until_counted(url, len(generated) + 3 + len(bad))
    metrics = scrape(url)

    changes = [(m.key, SegmentChange.model_validate_json(m.value)) for m in worker.read(t.changes)]
    letters = worker.read(t.dead_letters)

    # Segment changes: for real customers, triggered by their own events, chained.
    assert changes, "no segment changes arrived"
    assert all(key == change.customer_id.encode() for key, change in changes)
    assert len({c.change_id for _, c in changes}) == len(changes)
    current: dict[str, str | None] = {}
    for _, change in changes:
        assert change.customer_id in events_of
        if change.reason != "erased" and change.trigger_event_id is not None:  # None: a sweep
            assert change.trigger_event_id in events_of[change.customer_id]
        if change.reason == "erased":
            assert change.lifetime is None  # an erasure echoes nothing back
        else:
            assert change.lifetime is not None and change.lifetime.last_seen is not None
            assert change.lifetime.first_seen <= change.lifetime.last_seen
        previous = change.previous_segment.id if change.previous_segment else None
        assert previous == current.get(change.customer_id)
        current[change.customer_id] = change.segment.id if change.segment else None
    assigned = {c for c, seg in current.items() if seg is not None}
    assert len(assigned) >= 0.9 * (len(events_of) - 1)
    last = [c for _, c in changes if c.customer_id == erased][-1]
    assert (last.reason, last.segment, last.trigger_event_id) == ("erased", None, "r-1")

    # Dead letters: every bad message, untouched, with reason and origin.
    expected = {value: (topic, reason) for topic, _, value, reason in bad}
    expected[_json(late)] = (t.behaviour, "late")
    assert len(letters) == len(expected)
    assert sum(dl.HEADER_TRUNCATED in dict(letter.headers) for letter in letters) == 1
    for letter in letters:
        headers = dict(letter.headers)
        value = letter.value
        if dl.HEADER_TRUNCATED in headers:  # the start of the original, and its length
            (value,) = [v for v in expected if v.startswith(letter.value)]
            assert int(headers[dl.HEADER_TRUNCATED]) == len(value) > len(letter.value)
            assert len(letter.value) + sum(len(k) + len(v) for k, v in letter.headers) <= (
                dl.DEAD_LETTER_BYTES
            )
        topic, reason = expected[value]
        assert headers[dl.HEADER_REASON].decode() == reason
        assert headers[dl.HEADER_TOPIC].decode() == topic
        assert int(headers[dl.HEADER_OFFSET]) >= 0 and int(headers[dl.HEADER_PARTITION]) >= 0
        assert headers[dl.HEADER_ERROR]
        if letter.value != _json(late):
            assert headers["trace-id"] == b"t-" + letter.key

    # Metrics agree with what was sent and what came out.
    assert total(metrics, EVENTS, outcome="accepted") == len(generated)
    assert total(metrics, EVENTS, outcome="duplicate") == 1
    assert total(metrics, EVENTS, outcome="erased") == 1
    assert total(metrics, EVENTS, outcome="dead_lettered") == len(expected)
    assert total(metrics, "segment_engine_dead_letters_total") == len(letters)
    for reason in {r for _, r in expected.values()}:
        sent = sum(1 for _, r in expected.values() if r == reason)
        assert total(metrics, "segment_engine_dead_letters_total", reason=reason) == sent
    assert total(metrics, "segment_engine_segment_changes_total") == len(changes)
    assert total(metrics, "segment_engine_model_version") >= 1
    # Per-segment series exist while a segment is live or holds customers; their net
    # is the segment's size by the change stream.
    held = Counter(s for s in current.values() if s is not None)
    moved = per_segment(metrics, "entries")
    assert moved, "no segment entries counted"
    exits = per_segment(metrics, "exits")
    for segment, entered in moved.items():
        assert entered - exits.get(segment, 0) == held[segment], segment

    # /segments profiles what the worker holds: sizes agree with the change stream, for
    # the segments large enough to publish.
    with urlopen(url.removesuffix("/metrics") + "/segments", timeout=30) as response:
        profiles = json.load(response)["segments"]
    learned = {p["segment"]["id"]: p["size"] for p in profiles if p["segment"]["kind"] == "learned"}
    smallest = settings.min_published_segment_size
    sizes = Counter(s for s in current.values() if s is not None)
    assert learned == {s: n for s, n in sizes.items() if n >= smallest}
    assert learned, "no segment large enough to publish"
    # The catalog's latest entry per segment names it as /segments does, and every
    # segment a change entered is in it.
    catalog = {m.key: SegmentCatalogEntry.model_validate_json(m.value)
               for m in worker.read(t.catalog)}  # fmt: skip
    assert all(key == entry.segment.id.encode() for key, entry in catalog.items())
    named = {p["segment"]["id"]: p["segment"]["name"] for p in profiles}
    assert {
        e.segment.id: e.segment.name for e in catalog.values() if e.segment.id in named
    } == named
    entered = {c.segment.id for _, c in changes if c.segment is not None}
    assert entered <= {e.segment.id for e in catalog.values()}


def per_segment(metrics: dict[Any, float], what: str) -> dict[str, float]:
    """``segment_engine_segment_{what}_total`` by segment id."""
    name = f"segment_engine_segment_{what}_total"
    return {dict(labels)["segment"]: v for (n, labels), v in metrics.items() if n == name}


def replicas(settings: Settings, names: set[str], timeout: float = 30) -> dict[str, set[int]]:
    """The replica counts of each topic's partitions, once all of ``names`` exist."""
    with KafkaAdminClient(**client_options(settings)) as admin:
        deadline = time.monotonic() + timeout
        while missing := names - set(admin.list_topics()):
            assert time.monotonic() < deadline, f"never created: {sorted(missing)}"
            time.sleep(0.2)
        described = admin.describe_topics(sorted(names))
    return {t["name"]: {len(p["replica_nodes"]) for p in t["partitions"]} for t in described}


def test_topics_are_created_with_the_replication_factor_setting(
    start_worker: Callable[..., Any], broker: Broker
) -> None:
    if not on_tansu(broker):
        # Apache Kafka refuses a factor above its one node: the worker says so.
        env = {**os.environ, **settings_env({"kafka_bootstrap": broker.bootstrap,
                                             "topic_replication_factor": 2})}  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "cli.main", "worker"], env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 1
        [line] = done.stderr.splitlines()
        assert line.startswith("segment-engine worker: cannot create topic 'behaviour-events'")
        assert "topic_replication_factor = 2" in line and "only 1 broker" in line
        return
    # The embedded broker keeps the factor it is asked for, even above its one node.
    worker = start_worker(topic_replication_factor=2)
    settings: Settings = worker.settings
    ensure_topics(settings, ["made-by-a-tool"])  # the generator's, the demo's, replay's shadow
    t = settings.topics
    faust_own = {
        f"{settings.app_id}-customer-state-changelog",
        f"{settings.app_id}-__assignor-__leader",
    }
    made = {t.changes, t.dead_letters, t.drift, "made-by-a-tool", *faust_own}
    assert replicas(settings, made) == {name: {2} for name in made}
