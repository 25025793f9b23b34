"""The worker's pipeline in process: records in, a recording publisher and an in-memory
store, metrics read from the registry. No broker, no Faust."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.clustering.identity import Lineage
from engine.drift import DriftReading
from engine.results import BatchResult, EngineStatus
from engine.segment_engine import SegmentEngine
from engine.state import CustomerState, StateStore
from schemas import CustomerSegments, SegmentCatalogEntry, SegmentChange
from schemas import dead_letters as dl
from schemas.config import InputBoundsConfig, LearnedSegmentsConfig
from schemas.drift import DriftDetected
from schemas.events import InputEvent
from streams.pipeline import drift_message
from streams.ports import InputRecord
from streams.testing import MemoryBatchStore, MemoryStores
from tests.streams.pipeline_helpers import (
    BODIES_BY_ROLE,
    CONFIG,
    DAY,
    NOW,
    T0,
    T,
    Worker,
    erasure,
    event,
    headers_of,
    worker,
)

# --- dead letters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (b"c1", b"{not json", "undecodable"),
        (b"c1", b"\xff\xfe\x00binary", "undecodable"),
        (b"c1", None, "undecodable"),
        (b"c1", event("c1", "e1", amount=-5.0), "invalid"),
        (b"someone-else", event("c1", "e1"), "invalid"),  # the key must be the customer
        (None, event("c1", "e1"), "invalid"),
        (b"c1", event("c1", "e1", type="teleport"), "unknown_event_type"),
    ],
)
def test_a_rejected_message_is_dead_lettered_untouched_with_why_and_where_from(
    key: bytes | None, value: bytes | None, reason: str
) -> None:
    w = worker()
    w.behaviour(b"c0", event("c0", "e0"), partition=3)  # offset 0 goes elsewhere
    record = w.behaviour(key, value, partition=3, headers=(("trace-id", b"t-1"),))
    w.run(record)

    (letter,) = w.publisher.sent
    assert (letter.topic, letter.key, letter.value) == (T.dead_letters, key, value)
    assert letter.headers is not None and letter.headers[0] == ("trace-id", b"t-1")
    headers = headers_of(letter)
    assert headers[dl.HEADER_REASON] == reason.encode()
    assert headers[dl.HEADER_ERROR]
    assert headers[dl.HEADER_TOPIC] == T.behaviour.encode()
    assert (headers[dl.HEADER_PARTITION], headers[dl.HEADER_OFFSET]) == (b"3", b"1")
    assert w.sample("segment_engine_dead_letters_total", source="behaviour", reason=reason) == 1
    dead = {"source": "behaviour", "type": "unknown", "outcome": "dead_lettered"}
    assert w.sample("segment_engine_events_total", **dead) == 1
    assert w.stores.states == {}


def test_a_late_event_is_dead_lettered_with_its_type() -> None:
    w = worker()
    first = w.behaviour(b"c1", event("c1", "e1", day=10))
    late = w.behaviour(b"c1", event("c1", "e2", type="page_view", day=0))
    w.run(first, late)

    (letter,) = w.publisher.on(T.dead_letters)
    assert letter.value == late.value
    headers = headers_of(letter)
    assert headers[dl.HEADER_REASON] == b"late"
    assert b"3600 s" in headers[dl.HEADER_ERROR]
    dead = {"source": "behaviour", "type": "page_view", "outcome": "dead_lettered"}
    assert w.sample("segment_engine_events_total", **dead) == 1
    assert w.sample("segment_engine_dead_letters_total", source="behaviour", reason="late") == 1
    assert w.stores.states["c1"].purchase_count == 1


class ExplodingStores(MemoryStores):
    """Stores whose reads of one customer fail, as a broken table partition would."""

    def __call__(self, batch: Sequence[tuple[str, InputRecord]]) -> MemoryBatchStore:
        super().__call__(batch)
        return ExplodingStore(self.states)


class ExplodingStore(MemoryBatchStore):
    def get(self, customer_id: str) -> CustomerState | None:
        if customer_id == "boom":
            raise RuntimeError("cannot read state of boom")
        return super().get(customer_id)


def test_a_processing_error_is_dead_lettered_and_the_batch_goes_on() -> None:
    w = worker(stores=ExplodingStores())
    boom = w.behaviour(b"boom", event("boom", "e1"))
    w.run(boom, w.behaviour(b"c1", event("c1", "e2")))

    (letter,) = w.publisher.on(T.dead_letters)
    assert (letter.key, letter.value) == (b"boom", boom.value)
    headers = headers_of(letter)
    assert headers[dl.HEADER_REASON] == b"processing_error"
    assert headers[dl.HEADER_ERROR] == b"RuntimeError: cannot read state of boom"
    assert headers[dl.HEADER_OFFSET] == b"0"
    assert [m.key for m in w.publisher.on(T.changes)] == [b"c1"]
    assert set(w.stores.states) == {"c1"}
    labels = {"source": "behaviour", "reason": "processing_error"}
    assert w.sample("segment_engine_dead_letters_total", **labels) == 1


# --- input bounds: out of range or a boolean for a number, and nothing changes -----------

FAR_FUTURE = "9999-12-31T23:59:59Z"
TIME_CASES = [  # (timestamp, reason) on every input topic; skew 1 h, floor 1990-01-01Z
    ("far-future", FAR_FUTURE, "out_of_range"),
    ("just-beyond-skew", (NOW + timedelta(hours=1, milliseconds=1)).isoformat(), "out_of_range"),
    ("pre-floor-iso", "1989-12-31T23:59:59.999+00:00", "out_of_range"),
    ("pre-floor-ms", 631_151_999_999, "out_of_range"),
    ("epoch-seconds", 1_767_225_600, "out_of_range"),
    ("bool-timestamp", True, "invalid"),
]
BOUNDS_CASES = [
    *(
        pytest.param(role, {"timestamp": at}, reason, id=f"{role}-{name}")
        for role in BODIES_BY_ROLE
        for name, at, reason in TIME_CASES
    ),
    pytest.param("behaviour", {"amount": True}, "invalid", id="behaviour-bool-amount"),
    pytest.param("profiles", {"attributes": {"age": False}}, "invalid", id="profiles-bool-age"),
]


@pytest.mark.parametrize(("role", "fields", "reason"), BOUNDS_CASES)
def test_out_of_range_and_boolean_inputs_are_dead_lettered_and_change_nothing(
    role: str, fields: dict[str, Any], reason: str
) -> None:
    w = worker()
    topic = getattr(T, role)
    value = json.dumps({**BODIES_BY_ROLE[role], "timestamp": T0.isoformat(), **fields}).encode()
    w.run(w.feed.record(topic, b"c1", value))

    (letter,) = w.publisher.sent
    assert (letter.topic, letter.value) == (T.dead_letters, value)
    assert headers_of(letter)[dl.HEADER_REASON] == reason.encode()
    assert w.sample("segment_engine_dead_letters_total", source=role, reason=reason) == 1
    assert (w.stores.batches, w.stores.states) == ([], {})  # no store opened, no state
    assert w.pipeline.engine.status().watermark_ms is None  # event time did not move


def test_a_far_future_event_does_not_carry_event_time_for_the_rest_of_its_batch() -> None:
    w = worker()
    w.run(
        w.behaviour(b"c1", event("c1", "e1", timestamp=FAR_FUTURE)),
        w.behaviour(b"c2", event("c2", "e2", day=1)),
    )
    (letter,) = w.publisher.on(T.dead_letters)
    assert headers_of(letter)[dl.HEADER_REASON] == b"out_of_range"
    assert b"ahead of the clock" in headers_of(letter)[dl.HEADER_ERROR]
    labels = {"source": "behaviour", "type": "purchase", "outcome": "dead_lettered"}
    assert w.sample("segment_engine_events_total", **labels) == 1
    assert set(w.stores.states) == {"c2"}
    day_one = int((T0 + timedelta(days=1)).timestamp() * 1000)
    assert w.pipeline.engine.status().watermark_ms == day_one


@settings(max_examples=40, deadline=None)
@given(ahead_ms=st.integers(-DAY * 1000, 2 * 3600 * 1000), skew=st.sampled_from([0.0, 3600.0]))
def test_event_time_ahead_of_the_clock_is_accepted_up_to_its_skew(
    ahead_ms: int, skew: float
) -> None:
    bounds = InputBoundsConfig(max_clock_skew_seconds=skew)
    w = worker(SegmentEngine(CONFIG.model_copy(update={"input_bounds": bounds})))
    at = NOW + timedelta(milliseconds=ahead_ms)
    w.run(w.behaviour(b"c1", event("c1", "e1", timestamp=at.isoformat())))
    rejected = [headers_of(m)[dl.HEADER_REASON] for m in w.publisher.on(T.dead_letters)]
    assert rejected == ([b"out_of_range"] if ahead_ms > skew * 1000 else [])
    assert ("c1" in w.stores.states) == (ahead_ms <= skew * 1000)


def test_the_floor_is_the_engine_configs() -> None:
    bounds = InputBoundsConfig(timestamp_floor=T0)
    w = worker(SegmentEngine(CONFIG.model_copy(update={"input_bounds": bounds})))
    w.run(
        w.behaviour(b"c1", event("c1", "e1", day=-0.001)),
        w.behaviour(b"c2", event("c2", "e2", day=0)),
    )
    (letter,) = w.publisher.on(T.dead_letters)
    assert letter.key == b"c1" and headers_of(letter)[dl.HEADER_REASON] == b"out_of_range"
    assert set(w.stores.states) == {"c2"}


# --- changes, state, order ----------------------------------------------------------


def test_changes_are_published_keyed_by_customer_and_counted() -> None:
    w = worker()
    w.run(w.behaviour(b"c1", event("c1", "e1")), w.behaviour(b"c2", event("c2", "e2", day=1)))

    sent = w.publisher.on(T.changes)
    changes = [SegmentChange.model_validate_json(m.value or b"") for m in sent]
    assert [m.key for m in sent] == [b"c1", b"c2"]
    assert [(c.customer_id, c.reason, c.trigger_event_id) for c in changes] == [
        ("c1", "entered_rule", "e1"),
        ("c2", "entered_rule", "e2"),
    ]
    assert all(c.segment and c.segment.id == "recent" and c.previous_segment is None
               for c in changes)  # fmt: skip
    rule = {"segment": "recent", "kind": "rule"}
    assert w.sample("segment_engine_segment_changes_total", kind="rule", reason="entered_rule") == 2
    assert w.sample("segment_engine_segment_entries_total", **rule) == 2
    assert w.sample("segment_engine_segment_exits_total", **rule) is None
    assert w.sample("segment_engine_segment_size_customers", **rule) == 2
    assert w.sample("segment_engine_emit_latency_seconds_count") == 1
    # Each changed customer's segments now, keyed by customer, on the compacted topic.
    now = [
        CustomerSegments.model_validate_json(m.value or b"") for m in w.publisher.on(T.memberships)
    ]
    assert [(m.customer_id, m.learned, [r.id for r in m.rules]) for m in now] == [
        ("c1", None, ["recent"]),
        ("c2", None, ["recent"]),
    ]
    assert [m.topic for m in w.publisher.sent] == [
        T.changes,
        T.changes,
        T.memberships,
        T.memberships,
        T.catalog,  # the rule segment's name, once
    ]


def test_an_erasure_counts_an_exit_and_empties_the_segment() -> None:
    w = worker()
    w.run(w.behaviour(b"c1", event("c1", "e1")))
    w.run(w.feed.record(T.erasures, b"c1", erasure("c1", day=1)))

    last = SegmentChange.model_validate_json(w.publisher.on(T.changes)[-1].value or b"")
    assert (last.reason, last.segment, last.lifetime) == ("erased", None, None)
    tombstone = w.publisher.on(T.memberships)[-1]
    assert (tombstone.key, tombstone.value) == (b"c1", None)
    rule = {"segment": "recent", "kind": "rule"}
    assert w.sample("segment_engine_segment_exits_total", **rule) == 1
    assert w.sample("segment_engine_segment_changes_total", kind="rule", reason="erased") == 1
    assert w.sample("segment_engine_segment_size_customers", **rule) is None  # emptied
    tombstone = w.stores.states["c1"]  # what is left: when it was erased, no history
    assert (tombstone.first_seen_ms, tombstone.purchase_count) == (None, 0)
    labels = {"source": "erasures", "type": "erasure_request", "outcome": "erased"}
    assert w.sample("segment_engine_events_total", **labels) == 1


def test_state_reaches_the_store_with_each_customers_partition() -> None:
    w = worker()
    w.run(
        w.behaviour(b"c1", event("c1", "e1"), partition=2),
        w.behaviour(b"c1", event("c1", "e2", type="page_view"), partition=2),
        w.feed.record(T.profiles, b"c2", json.dumps({
            "customer_id": "c2", "timestamp": T0.isoformat(), "attributes": {"age": 30}
        }).encode(), partition=1),
    )  # fmt: skip
    assert w.stores.batches == [[("c1", 2), ("c2", 1), ("c1", 2)]]  # partitions take turns
    assert w.stores.states["c1"].purchase_count == 1
    assert w.stores.states["c2"].attributes["age"] == 30
    ok = {"source": "behaviour", "outcome": "accepted"}
    assert w.sample("segment_engine_events_total", type="purchase", **ok) == 1
    assert w.sample("segment_engine_events_total", type="page_view", **ok) == 1
    profile = {"source": "profiles", "type": "profile_update", "outcome": "accepted"}
    assert w.sample("segment_engine_events_total", **profile) == 1


def test_a_redelivered_event_is_counted_as_a_duplicate_and_changes_nothing() -> None:
    w = worker()
    w.run(w.behaviour(b"c1", event("c1", "e1")))
    w.run(w.behaviour(b"c1", event("c1", "e1")))
    assert len(w.publisher.on(T.changes)) == 1 and len(w.publisher.on(T.memberships)) == 1
    dup = {"source": "behaviour", "type": "purchase", "outcome": "duplicate"}
    assert w.sample("segment_engine_events_total", **dup) == 1
    assert w.sample("segment_engine_batch_duration_seconds_count") == 2


def test_partitions_take_turns_record_by_record_each_in_offset_order() -> None:
    w = worker()
    p0 = [w.behaviour(b"x", b"bad", partition=0) for _ in range(3)]
    p1 = [w.behaviour(b"x", b"bad", partition=1) for _ in range(2)]
    w.run(*p0, *p1)
    seen = [(headers_of(m)[dl.HEADER_PARTITION], headers_of(m)[dl.HEADER_OFFSET])
            for m in w.publisher.sent]  # fmt: skip
    assert seen == [(b"0", b"0"), (b"1", b"0"), (b"0", b"1"), (b"1", b"1"), (b"0", b"2")]


def test_consumer_lag_is_the_high_watermark_less_the_next_position() -> None:
    w = worker()  # every partition's high watermark is 10
    w.run(*[w.behaviour(b"x", b"bad", partition=4) for _ in range(3)])
    lag = w.sample("segment_engine_consumer_lag_messages", topic=T.behaviour, partition="4")
    assert lag == 10 - 3


def test_a_batch_redelivered_after_a_crash_counts_once_however_long() -> None:
    """After a crash the input is read again from the last commit: 1,000 purchases of
    one customer, far more than the event ids a state keeps, still count once."""
    w = worker()
    records = [w.behaviour(b"c1", event("c1", f"e{n}", day=n / 100)) for n in range(1000)]
    w.run(*records)
    before = w.stores.states["c1"].to_dict()
    w.run(*records)  # the same records at the same offsets
    assert w.stores.states["c1"].to_dict() == before
    assert before["purchase_count"] == 1000
    assert w.sample("segment_engine_events_total", source="behaviour", type="purchase",
                    outcome="duplicate") == 1000  # fmt: skip
    # The same event at a new offset (a producer's retry) is caught by its id.
    w.run(w.behaviour(b"c1", event("c1", "e999", day=9.99)))
    assert w.stores.states["c1"].purchase_count == 1000


def test_the_state_is_written_after_the_broker_has_what_was_decided_from_it() -> None:
    publisher_flushed: list[bool] = []
    stores = MemoryStores(on_flush=lambda: publisher_flushed.append(
        w.publisher.flushes[-1:] == [len(w.publisher.sent)]))  # fmt: skip
    w = worker(stores=stores)
    w.run(w.behaviour(b"c1", event("c1", "e1")), w.behaviour(b"c2", event("c2", "e2", day=1)))
    assert w.publisher.on(T.changes), "nothing was decided"
    assert publisher_flushed and all(publisher_flushed)


# --- drift and retired segments -------------------------------------------------------


class ScriptedEngine(SegmentEngine):
    """The real engine, plus drift readings and a status the test sets."""

    def __init__(self) -> None:
        super().__init__(CONFIG)
        self.readings: list[DriftReading] = []
        self.retired = False

    def process(
        self, events: Sequence[InputEvent], store: StateStore, *args: Any, **kwargs: Any
    ) -> BatchResult:
        result = super().process(events, store, *args, **kwargs)
        result.drift.extend(self.readings)
        return result

    def status(self) -> EngineStatus:
        status = super().status()
        if not self.retired:
            return status
        gone = tuple(replace(s, live=False, size=0) for s in status.segments)
        return replace(status, model_version=status.model_version + 1, segments=gone)


def reading(subject: str, detected: bool) -> DriftReading:
    return DriftReading(
        at_ms=1_767_225_600_000, detector="psi", subject=subject, score=0.4,
        threshold=0.25, detected=detected, since_ms=None, model_version=3,
    )  # fmt: skip


def test_drift_detections_are_published_and_every_reading_is_counted() -> None:
    engine = ScriptedEngine()
    engine.readings = [reading("frequency_30d", True), reading("sessions_30d", False)]
    w = worker(engine)
    w.run(w.behaviour(b"c1", event("c1", "e1", type="page_view")))

    (sent,) = w.publisher.on(T.drift)
    message = DriftDetected.model_validate_json(sent.value or b"")
    assert sent.key == b"frequency_30d"
    expected = drift_message(engine.readings[0], message.emitted_at)
    assert message == expected
    psi = {"detector": "psi"}
    assert w.sample("segment_engine_drift_detections_total", subject="frequency_30d", **psi) == 1
    assert w.sample("segment_engine_drift_detections_total", subject="sessions_30d", **psi) == 0
    assert w.sample("segment_engine_drift_score", subject="sessions_30d", **psi) == 0.4
    assert w.sample("segment_engine_drift_threshold", **psi) == 0.25


def test_the_series_of_a_retired_segment_are_removed() -> None:
    engine = ScriptedEngine()
    w = worker(engine)
    w.run(w.behaviour(b"c1", event("c1", "e1")))
    rule = {"segment": "recent", "kind": "rule"}
    assert w.sample("segment_engine_segment_entries_total", **rule) == 1

    engine.retired = True  # the next status: a new model without the segment
    w.run(w.behaviour(b"c2", event("c2", "e2", type="page_view")))  # no change
    assert w.publisher.on(T.changes) == w.publisher.sent[:1]
    for name in ("entries_total", "exits_total", "size_customers"):
        assert w.sample(f"segment_engine_segment_{name}", **rule) is None, name


def test_a_model_record_that_does_not_decode_is_dead_lettered_with_why() -> None:
    w = worker()
    bad = InputRecord(T.models, 0, 41, b"model", b"not json", (("origin", b"x"),))
    asyncio.run(w.pipeline.reject_model(bad, "JSONDecodeError: unexpected character"))
    (letter,) = w.publisher.on(T.dead_letters)
    assert (letter.key, letter.value) == (b"model", b"not json")
    headers = headers_of(letter)
    assert headers["origin"] == b"x"  # the original's headers stay
    assert headers[dl.HEADER_REASON] == b"invalid"
    assert headers[dl.HEADER_TOPIC] == T.models.encode()
    assert headers[dl.HEADER_OFFSET] == b"41"
    assert b"JSONDecodeError" in headers[dl.HEADER_ERROR]


# --- the segment catalog --------------------------------------------------------------


class RenamingEngine(SegmentEngine):
    """The real engine with a learned model, whose status the test can amend: a
    segment renamed, or retired into another (what a model publication does)."""

    def __init__(self) -> None:
        learned = LearnedSegmentsConfig(warmup_updates=10, n_segments=2, publish_every=10**6)
        super().__init__(CONFIG.model_copy(update={"learned": learned, "rules": ()}))
        self.renamed: dict[str, str] = {}
        self.retired: str | None = None

    def status(self) -> EngineStatus:
        status = super().status()
        segments = tuple(
            replace(s, name=self.renamed.get(s.id, s.name), live=s.live and s.id != self.retired)
            for s in status.segments
        )
        lineage = status.lineage
        if self.retired is not None:
            survivor = next(s.id for s in segments if s.live)
            lineage += (Lineage(status.model_version + 1, "merge", (self.retired,), (survivor,)),)
        return replace(status, segments=segments, lineage=lineage)


def catalog(w: Worker) -> list[SegmentCatalogEntry]:
    return [SegmentCatalogEntry.model_validate_json(m.value or b"")
            for m in w.publisher.on(T.catalog)]  # fmt: skip


def test_the_catalog_gets_each_segment_then_only_renames_and_retirements() -> None:
    engine = RenamingEngine()
    w = worker(engine)
    w.run(*[w.behaviour(f"c{i}".encode(), event(f"c{i}", f"e{i}", day=i / 100,
                                                 type="purchase" if i % 2 else "page_view"))
            for i in range(12)])  # fmt: skip
    first = catalog(w)
    learned = [s for s in engine.status().segments if s.kind == "learned"]
    assert len(learned) == 2  # a model was published: both of its segments, live
    assert [(e.segment.id, e.segment.name, e.live) for e in first] == [
        (s.id, s.name, True) for s in learned
    ]
    assert [m.key for m in w.publisher.on(T.catalog)] == [s.id.encode() for s in learned]
    # Nothing renamed or retired: the next batch sends nothing to the catalog.
    w.run(w.behaviour(b"c0", event("c0", "e99", day=1)))
    assert len(catalog(w)) == 2
    # A rename and a retirement: one record each, the retired one saying where to.
    keep, gone = learned
    engine.renamed, engine.retired = {keep.id: "renamed"}, gone.id
    w.run(w.behaviour(b"c0", event("c0", "e100", day=2)))
    renamed, retired = catalog(w)[2:]
    assert (renamed.segment.id, renamed.segment.name, renamed.live) == (keep.id, "renamed", True)
    assert (retired.segment.id, retired.live, retired.merged_into) == (gone.id, False, keep.id)
    # A restarted worker sends every segment again: the topic is compacted by id.
    again = worker(engine, w.stores)
    again.run(again.behaviour(b"c0", event("c0", "e101", day=3)))
    assert [e.segment.id for e in catalog(again)] == [keep.id, gone.id]


def test_learned_segments_are_the_model_publishers_to_send() -> None:
    # With a separate trainer the trainer sends them (streams.trainer_service), so that
    # entries never go back to an older model; every worker sends the rule segments.
    epochs = LearnedSegmentsConfig(warmup_updates=10**9, epoch_seconds=3600)
    remote = SegmentEngine(CONFIG.model_copy(update={"learned": epochs}), 1, remote_trainer=True)
    assert worker(remote).pipeline.catalog.kinds == {"rule"}
    here = SegmentEngine(CONFIG.model_copy(update={"learned": epochs}), 1)
    assert worker(here).pipeline.catalog.kinds == {"rule", "learned"}
    w = worker(remote)
    w.run(w.behaviour(b"c1", event("c1", "e1")))
    assert [(e.segment.id, e.segment.kind) for e in catalog(w)] == [("recent", "rule")]
