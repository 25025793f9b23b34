"""``read_topic_range`` and ``ShadowWriter`` on the real embedded broker.

Messages carry explicit timestamps, and several go in one record batch, because the
broker's ListOffsets answers are wrong exactly there (see ``replay/kafka_range.py``).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from brokers.clients import client_options, ensure_topics, producer
from cli.main import main
from engine.changes import Change
from replay.kafka_range import ShadowWriter, _starts, read_topic_range, write_shadow
from replay.sources import Record, Reject, SourceError
from schemas.changes import SegmentChange, SegmentRef
from settings import Settings
from tests.conftest import Broker, on_tansu, open_sockets

BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
TOPIC = "behaviour-events"


@pytest.fixture
def settings(broker: Broker) -> Settings:
    return Settings.model_validate({"kafka_bootstrap": broker.bootstrap, "topic_partitions": 2})


def event(n: int) -> dict[str, object]:
    return {
        "event_id": f"e{n}",
        "customer_id": f"c{n % 3}",
        "type": "page_view",
        "timestamp": BASE_MS + n * 1000,
    }


def send(settings: Settings, rows: list[tuple[int, int, bytes | None, dict[str, object]]]) -> None:
    """(partition, timestamp offset in s, key or None for the customer, value); one flush."""
    ensure_topics(settings, [TOPIC])
    with producer(settings) as client:
        for partition, second, key, value in rows:
            client.send(
                TOPIC,
                key=key if key is not None else str(value["customer_id"]).encode(),
                value=json.dumps(value).encode(),
                partition=partition,
                timestamp_ms=BASE_MS + second * 1000,
            )
        client.flush()


def ids(items: list[Record | Reject]) -> set[str]:
    return {item.event.event_id for item in items if isinstance(item, Record)}  # type: ignore[union-attr]


@pytest.fixture
def ten(settings: Settings) -> Settings:
    """Events e0..e9 at seconds 0..9, even ones on partition 0, odd ones on partition 1."""
    send(settings, [(n % 2, n, None, event(n)) for n in range(10)])
    return settings


@pytest.mark.parametrize(
    ("start", "stop", "expected"),
    [
        (3, 7, {3, 4, 5, 6}),  # from inclusive, to exclusive
        (None, None, set(range(10))),
        (None, 2, {0, 1}),
        (8, None, {8, 9}),
        (0, 10, set(range(10))),  # to_ms past the last message: read to the end
        (9, 10, {9}),  # only the last record of a batch
        (20, 30, set()),
    ],
)
def test_a_time_range_reads_exactly_its_messages(
    ten: Settings, start: int | None, stop: int | None, expected: set[int]
) -> None:
    def ms(second: int | None) -> int | None:
        return None if second is None else BASE_MS + second * 1000

    items = list(read_topic_range(ten, TOPIC, ms(start), ms(stop)))
    assert all(isinstance(item, Record) for item in items)
    assert ids(items) == {f"e{n}" for n in expected}
    assert len(items) == len(expected)  # nothing twice


def test_positions_and_origins_are_deterministic(ten: Settings) -> None:
    runs = [list(read_topic_range(ten, TOPIC, None, None)) for _ in range(2)]
    keys = [[(item.position, item.origin) for item in run] for run in runs]
    assert keys[0] == keys[1]
    assert [position for position, _ in keys[0]] == list(range(10))
    # Partition by partition, in offset order.
    assert [origin for _, origin in keys[0]] == [
        f"{TOPIC}:{p}:{o}" for p in (0, 1) for o in range(5)
    ]
    assert [item.event.event_id for item in runs[0]] == [  # type: ignore[union-attr]
        f"e{n}" for n in (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
    ]


def test_a_partition_stops_at_its_first_message_at_or_after_to(settings: Settings) -> None:
    # Producer timestamps need not grow: e2 comes after a message past the range.
    send(settings, [(0, 0, None, event(0)), (0, 50, None, event(1)), (0, 1, None, event(2))])
    items = list(read_topic_range(settings, TOPIC, BASE_MS, BASE_MS + 10_000))
    assert ids(items) == {"e0"}


def test_messages_before_from_are_skipped_wherever_they_are(settings: Settings) -> None:
    send(settings, [(0, 5, None, event(0)), (0, 1, None, event(1)), (0, 6, None, event(2))])
    items = list(read_topic_range(settings, TOPIC, BASE_MS + 5000, None))
    assert ids(items) == {"e0", "e2"}


def test_the_end_is_taken_at_the_call(ten: Settings) -> None:
    items = read_topic_range(ten, TOPIC, None, None)
    send(ten, [(0, 3, None, event(100)), (1, 3, None, event(101))])
    assert ids(list(items)) == {f"e{n}" for n in range(10)}


def test_a_range_holds_no_connection_until_it_is_read(ten: Settings) -> None:
    before = open_sockets()
    items = read_topic_range(ten, TOPIC, None, None)
    assert open_sockets() == before  # so dropping it unread leaks nothing
    assert len(list(items)) == 10
    assert open_sockets() == before


def test_bad_messages_come_back_as_rejects_with_reasons(settings: Settings) -> None:
    send(
        settings,
        [
            (0, 0, None, event(0)),
            (0, 1, b"someone-else", event(1)),
            (0, 2, None, {**event(2), "type": "teleport"}),
            (0, 3, None, {**event(3), "amount": -1}),
        ],
    )
    items = list(read_topic_range(settings, TOPIC, None, None))
    found = [(item.origin, item.reason) for item in items if isinstance(item, Reject)]
    assert found == [
        (f"{TOPIC}:0:1", "invalid"),
        (f"{TOPIC}:0:2", "unknown_event_type"),
        (f"{TOPIC}:0:3", "invalid"),
    ]
    reject = items[2]
    assert isinstance(reject, Reject) and json.loads(reject.raw)["type"] == "teleport"
    assert "teleport" in reject.error
    allowed = list(read_topic_range(settings, TOPIC, None, None, extra_event_types=("teleport",)))
    assert isinstance(allowed[2], Record)


def test_other_roles_decode_their_own_contract(settings: Settings) -> None:
    profile = {"customer_id": "c1", "timestamp": BASE_MS, "attributes": {"city": "Berlin"}}
    send(settings, [(0, 0, None, profile)])
    assert isinstance(only(read_topic_range(settings, TOPIC, None, None, role="profiles")), Record)
    reject = only(read_topic_range(settings, TOPIC, None, None))  # read as behaviour
    assert isinstance(reject, Reject) and reject.reason == "invalid"


def only(items: Iterator[Record | Reject]) -> Record | Reject:
    (item,) = list(items)
    return item


@pytest.mark.parametrize(
    ("topic", "role", "error"),
    [
        ("no-such-topic", "behaviour", "topic 'no-such-topic' does not exist"),
        (TOPIC, "clicks", "role 'clicks': expected one of behaviour, erasures, profiles"),
    ],
)
def test_problems_raise_one_line_at_once(ten: Settings, topic: str, role: str, error: str) -> None:
    with pytest.raises(SourceError, match=error):
        read_topic_range(ten, topic, None, None, role=role)


# --- shadow topic -----------------------------------------------------------------------------


def change(customer: str, n: int) -> SegmentChange:
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
    return SegmentChange(
        change_id=f"ch-{n}",
        customer_id=customer,
        previous_segment=None,
        segment=SegmentRef(id="s1", name="Bargain hunters", kind="learned"),
        changed_at=at,
        emitted_at=at,
        model_version=1,
        reason="assigned",
        trigger_event_id=f"e{n}",
        features={"recency_days": 1.5},
    )


def read_all(settings: Settings, topic: str, expected: int) -> list[tuple[bytes, bytes]]:
    with KafkaConsumer(**client_options(settings), enable_auto_commit=False) as consumer:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        got: list[tuple[bytes, bytes]] = []
        deadline = time.monotonic() + 20
        while len(got) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                got += [(m.key, m.value) for m in batch]
        assert not consumer.poll(timeout_ms=300)  # and nothing more
        return got


def test_shadow_writer_writes_changes_keyed_by_customer(settings: Settings) -> None:
    changes = [change(f"c{n % 3}", n) for n in range(7)]
    with ShadowWriter(settings, "segment-changes-shadow") as shadow:
        for one in changes:
            shadow.write(one)
    assert shadow.written == 7
    got = read_all(settings, "segment-changes-shadow", 7)
    assert len(got) == 7
    back = sorted((SegmentChange.model_validate_json(value) for _, value in got), key=str)
    assert back == sorted(changes, key=str)
    assert all(
        key == SegmentChange.model_validate_json(value).customer_id.encode() for key, value in got
    )


def test_write_shadow_stamps_engine_changes_like_the_worker(settings: Settings) -> None:
    ref = SegmentRef(id="s1", name="Bargain hunters", kind="learned")
    decided = [
        Change(f"c{n}", None, ref, BASE_MS + n, 3, "assigned", f"e{n}", {"x": 1.0})
        for n in range(3)
    ]
    stamp = datetime(2026, 2, 1, tzinfo=UTC)
    assert write_shadow(settings, "shadow", decided, emitted_at=stamp) == 3
    got = read_all(settings, "shadow", 3)
    back = {SegmentChange.model_validate_json(value).change_id: value for _, value in got}
    assert back == {
        one.change_id: one.to_message(stamp).model_dump_json().encode() for one in decided
    }


def test_shadow_topic_must_not_be_the_live_one(settings: Settings) -> None:
    with pytest.raises(SourceError, match="live changes topic"):
        ShadowWriter(settings, settings.topics.changes)


def test_shadow_topic_must_not_be_any_topic_of_the_worker(settings: Settings) -> None:
    t = settings.topics
    changelog = f"{settings.app_id}-customer-state-changelog"
    for topic in (t.behaviour, t.erasures, t.memberships, t.dead_letters, changelog):
        with pytest.raises(SourceError, match="is a topic of the worker"):
            ShadowWriter(settings, topic)


def test_a_range_starts_where_the_time_index_says(ten: Settings, broker: Broker) -> None:
    """Apache Kafka answers ListOffsets by timestamp from its time index, so reading
    starts at the range's first message; Tansu answers the log start, and the reader
    skips what lies before by the messages' own timestamps."""
    partitions = [TopicPartition(TOPIC, p) for p in (0, 1)]
    with KafkaConsumer(**client_options(ten)) as consumer:
        starts = _starts(consumer, partitions, BASE_MS + 3000)
    # e0 e2 e4 ... on partition 0, e1 e3 e5 ... on partition 1.
    exact = {partitions[0]: 2, partitions[1]: 1}
    assert starts == (dict.fromkeys(partitions, 0) if on_tansu(broker) else exact)


def test_the_replay_command_reads_a_time_range_of_a_topic(ten: Settings, tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(f'kafka_bootstrap = "{ten.kafka_bootstrap}"\ntopic_partitions = 2\n')
    out = tmp_path / "out"
    code = main(["replay", "--topic", TOPIC, "--from", iso(3), "--to", iso(7),
                 "--config", str(config), "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    with (out / "assignments.csv").open() as f:
        customers = {row["customer_id"] for row in csv.DictReader(f)}
    # e3..e6 are customers c0, c1, c2, c0.
    assert customers == {"c0", "c1", "c2"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["events"] == 4


def iso(second: int) -> str:
    return datetime.fromtimestamp(BASE_MS / 1000 + second, UTC).isoformat()
