"""Input drift (``engine.drift.InputMix``): quiet on a stationary stream, detects the
generator's planted event-type mix change and conversion drop within days of them
(and not before), survives a restart, does not depend on how partitions interleave,
and reaches the engine's drift readings. Also the drift reference's time bound."""

from __future__ import annotations

import pickle
import random
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import MemoryStore
from engine.drift import DriftMonitor, DriftReading, InputMix
from engine.drift.inputs import CONVERSION_DROP, DAY_MS, FUNNEL_STEPS, funnel_drop
from engine.partitioning import kafka_partition
from schemas.config import DriftConfig
from schemas.drift import DriftDetected
from schemas.events import EVENT_TYPES, BehaviourEvent
from synthetic import DEFAULT_PERSONAS, DEFAULT_START_MS, InputShift, generate
from tests.engine.engine_helpers import make

Event = tuple[str, int, int]  # type, partition, event time (ms)
CONFIG = DriftConfig()
START_DAY = DEFAULT_START_MS // DAY_MS
# Every persona active all the time: the default ones lapse and arrive, a real (slow)
# change of the input mix that these tests do not plant.
STEADY = tuple(replace(p, active_from=0.0, active_until=1.0) for p in DEFAULT_PERSONAS)
CUSTOMERS, DAYS, PARTITIONS, SHIFT_AT = 400, 40, 2, 0.5
SHIFT_DAY = START_DAY + int(SHIFT_AT * DAYS)


def feed(mix: InputMix, events: Iterable[Event]) -> list[DriftReading]:
    return [r for t, p, ts in events for r in mix.observe(t, p, ts, model_version=0)]


def synthetic(input_shift: InputShift | None, customers: int = CUSTOMERS) -> list[Event]:
    out = []
    for message in generate(customers, DAYS, seed=21, personas=STEADY, with_profiles=False,
                            input_shift=input_shift):  # fmt: skip
        value = message["value"]
        ts = int(datetime.fromisoformat(value["timestamp"]).timestamp() * 1000)
        out.append((value["type"], kafka_partition(value["customer_id"], PARTITIONS), ts))
    return out


def detections(readings: Sequence[DriftReading], prefix: str) -> dict[str, list[int]]:
    """Days detected, by detector, of subjects starting with ``prefix``."""
    out: dict[str, list[int]] = {}
    for r in readings:
        if r.detected and r.subject.startswith(prefix):
            out.setdefault(r.detector, []).append(r.at_ms // DAY_MS)
    return out


# --- stationary input: no detection -------------------------------------------------------


def stationary(seed: int, days: int = 30, per_day: int = 1000) -> list[Event]:
    """Two partitions, each its own random (fixed) mix of every event type, every day."""
    rng = random.Random(seed)
    types = sorted(EVENT_TYPES)
    weights = {p: [rng.uniform(1.0, 5.0) for _ in types] for p in range(2)}
    out: list[Event] = []
    for day in range(days):
        for p in range(2):
            n = rng.randint(per_day // 2, per_day * 2)  # the volume varies too
            times = sorted(rng.randrange(DAY_MS) for _ in range(n))
            chosen = rng.choices(types, weights[p], k=n)
            base = (START_DAY + day) * DAY_MS
            out += [(t, p, base + ts) for t, ts in zip(chosen, times, strict=True)]
    return out


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_a_stationary_stream_of_random_mixes_gives_at_most_a_rare_detection(seed: int) -> None:
    # A funnel stage is a few percent of these events: fewer start from it than by default.
    readings = feed(InputMix(DriftConfig(funnel_min_count=30)), stationary(seed))
    scored = {(r.detector, r.subject) for r in readings}
    wanted = {("psi", "event_mix:p0"), ("js", "event_mix:p1"), (CONVERSION_DROP, "funnel:p0")}
    assert wanted <= scored
    assert len({r.at_ms for r in readings}) == 15  # days 14..28: day 29 is never closed
    # PSI and JS of ~1,000 events over 12 types sit far below their alerts; a funnel step
    # may, rarely, fall 3 standard errors by chance (~1 in 700 step-days).
    assert sum(r.detected for r in readings if r.subject.startswith("event_mix")) == 0
    assert sum(r.detected for r in readings) <= 2


# --- planted input shifts: detected within days, not before -------------------------------


@pytest.fixture(scope="module")
def steady_readings() -> list[DriftReading]:
    return feed(InputMix(CONFIG), synthetic(None))


@pytest.fixture(scope="module")
def mix_shift_events() -> list[Event]:
    return synthetic(InputShift(SHIFT_AT, email_factor=10.0))


@pytest.fixture(scope="module")
def conversion_drop_events() -> list[Event]:
    return synthetic(InputShift(SHIFT_AT, conversion_factor=0.5))


def test_the_unshifted_generator_stream_gives_no_detection(
    steady_readings: list[DriftReading],
) -> None:
    assert steady_readings  # scored, from the 15th day on
    assert [r for r in steady_readings if r.detected] == []


def test_a_planted_event_mix_change_is_detected_within_days_and_not_before(
    mix_shift_events: list[Event],
) -> None:
    readings = feed(InputMix(CONFIG), mix_shift_events)
    for p in range(PARTITIONS):
        days = detections(readings, f"event_mix:p{p}")
        assert set(days) == {"psi", "js"}
        for found in days.values():
            assert SHIFT_DAY <= min(found) <= SHIFT_DAY + 2
    # More emails change the mix, not the funnel.
    assert detections(readings, "funnel") == {}


def test_a_planted_conversion_drop_is_detected_within_days_and_not_before(
    conversion_drop_events: list[Event],
) -> None:
    readings = feed(InputMix(CONFIG), conversion_drop_events)
    for p in range(PARTITIONS):
        days = detections(readings, f"funnel:p{p}")[CONVERSION_DROP]
        assert SHIFT_DAY <= min(days) <= SHIFT_DAY + 2
        assert len(days) == 1  # one detection while the drop lasts (the arm)
    drops = [r for r in readings if r.detector == CONVERSION_DROP and r.detected]
    assert all(r.score >= CONFIG.funnel_drop_alert for r in drops)


def test_a_conversion_drop_below_the_alert_is_not_a_detection() -> None:
    ref = {"product_view": 10_000, "add_to_cart": 2_000, "checkout": 1_000, "purchase": 800}
    # A 10% drop is significant at these counts but below the 25% alert.
    small = {"product_view": 50_000, "add_to_cart": 9_000, "checkout": 4_500, "purchase": 3_600}
    assert funnel_drop(ref, small, 100) == pytest.approx((0.1, 0.1))
    big = {"product_view": 5_000, "add_to_cart": 500, "checkout": 250, "purchase": 200}
    assert funnel_drop(ref, big, 100) == pytest.approx((0.5, 0.5))
    # The same 10% drop on a tenth of the counts is within chance: not significant.
    tenth = {"product_view": 5_000, "add_to_cart": 900, "checkout": 450, "purchase": 360}
    assert funnel_drop(ref, tenth, 100) == pytest.approx((0.1, 0.0))


def test_a_large_but_insignificant_drop_neither_fires_nor_rearms() -> None:
    config = DriftConfig(input_reference_days=2, input_min_events=10**6, funnel_min_count=20)
    mix = InputMix(config)

    def day(d: int, views: int, carts: int) -> list[DriftReading]:
        types = ["product_view"] * views + ["add_to_cart"] * carts
        return feed(mix, [(t, 0, (START_DAY + d) * DAY_MS) for t in types])

    for d in range(3):
        assert day(d, 1000, 200) == []  # the reference: 20% of views convert
    (reading,) = day(3, 30, 3)  # day 2 scored: no drop
    assert reading.score == 0.0 and not reading.detected
    # Day 3, 30 views and 3 carts (6 expected): a 50% drop, within chance.
    (reading,) = day(4, 1000, 100)
    assert reading.score == pytest.approx(0.5) and not reading.detected
    # Day 4, 1,000 views and 100 carts (~197 expected): significant, a detection.
    (reading,) = day(5, 1000, 200)
    assert reading.score == pytest.approx(1 - 100 / (1000 * 203 / 1030)) and reading.detected
    assert len(FUNNEL_STEPS) == 4  # view, cart, checkout, purchase


# --- restart and interleaving -------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 1.0))
def test_snapshot_and_restore_continue_identically(seed: int, where: float) -> None:
    events = stationary(seed, days=20, per_day=300)
    config = DriftConfig(input_reference_days=5, input_min_events=100, funnel_min_count=20)
    cut = int(where * len(events))
    whole = feed(InputMix(config), events)
    first = InputMix(config)
    before = feed(first, events[:cut])
    second = InputMix(config)
    second.restore(pickle.loads(pickle.dumps(first.snapshot())))
    assert before + feed(second, events[cut:]) == whole


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_how_partitions_interleave_does_not_change_the_readings(seed: int, order: int) -> None:
    events = stationary(seed, days=20, per_day=300)
    config = DriftConfig(input_reference_days=5, input_min_events=100, funnel_min_count=20)
    per_partition = [[e for e in events if e[1] == p] for p in range(2)]
    rng = random.Random(order)
    shuffled: list[Event] = []
    cursors = [0, 0]
    while any(c < len(q) for c, q in zip(cursors, per_partition, strict=True)):
        p = rng.choice([i for i in range(2) if cursors[i] < len(per_partition[i])])
        take = rng.randint(1, 500)  # a run of one partition, as a batch would bring
        shuffled += per_partition[p][cursors[p] : cursors[p] + take]
        cursors[p] += take

    def key(r: DriftReading) -> tuple[str, int, str]:
        return r.subject, r.at_ms, r.detector

    assert sorted(feed(InputMix(config), shuffled), key=key) == sorted(
        feed(InputMix(config), events), key=key
    )


def test_a_snapshot_of_other_settings_is_refused() -> None:
    from engine.snapshots import SnapshotError

    snap = InputMix(CONFIG).snapshot()
    with pytest.raises(SnapshotError, match="days"):
        InputMix(DriftConfig(input_reference_days=7)).restore(snap)


# --- the engine: readings reach its drift output, and survive its restart -----------------


@pytest.fixture(scope="module")
def engine_events(mix_shift_events: list[Event]) -> list[BehaviourEvent]:
    from tests.engine.engine_helpers import at

    start = START_DAY * DAY_MS
    return [BehaviourEvent(event_id=f"e{i}", customer_id=f"c{i % 50}", type=t,
                           timestamp=at((ts - start) / 1000 + 0.0))
            for i, (t, _, ts) in enumerate(mix_shift_events[::4])]  # fmt: skip


def test_the_engine_reports_input_drift_and_restores_it(
    engine_events: list[BehaviourEvent],
) -> None:
    drift = DriftConfig(input_min_events=200)
    engine, store = make(lateness=10 * 86400, drift=drift), MemoryStore()
    readings = engine.process(engine_events, store).drift
    mixes = [r for r in readings if r.subject == "event_mix:p0"]
    assert mixes and all(r.model_version == 0 for r in mixes)
    hits = [r.at_ms // DAY_MS for r in mixes if r.detected]
    assert hits and SHIFT_DAY <= min(hits) <= SHIFT_DAY + 2
    now = datetime.now(UTC)
    for r in readings:  # every reading fits the segment-drift contract
        DriftDetected.model_validate(
            {"drift_id": "x", "detector": r.detector, "subject": r.subject, "score": r.score,
             "threshold": r.threshold, "detected_at": now, "model_version": r.model_version,
             "emitted_at": now}
        )  # fmt: skip

    cut = len(engine_events) // 2
    first, store2 = make(lateness=10 * 86400, drift=drift), MemoryStore()
    head = first.process(engine_events[:cut], store2).drift
    second = make(lateness=10 * 86400, drift=drift)
    second.restore(pickle.loads(pickle.dumps(first.snapshot())))
    tail = second.process(engine_events[cut:], store2).drift

    def inputs(rs: list[DriftReading]) -> list[DriftReading]:
        return [r for r in rs if ":p" in r.subject]

    assert inputs(head) + inputs(tail) == inputs(readings)


def test_input_drift_is_off_with_zero_reference_days() -> None:
    engine = make(drift=DriftConfig(input_reference_days=0))
    assert engine.inputs is None
    assert engine.snapshot()["inputs"] is None


# --- the drift reference: complete by size, or by time with a minimum ---------------------


@pytest.mark.parametrize(
    ("per_day", "ready_day"),
    [
        (1000, 1),  # reference_size (2000) lessons come first: on day 1
        (100, 7),  # the time bound (7 days after the delay), with >= 200 lessons by then
        (20, 9),  # by the bound only 141 lessons: waits for reference_min_size (200)
    ],
)
def test_the_drift_reference_completes_by_size_or_by_time(per_day: int, ready_day: int) -> None:
    config = DriftConfig(reference_max_seconds=7 * 86400.0, reference_min_size=200)
    monitor = DriftMonitor(["x"], config, reference_delay_ms=0)
    rng, ready_at = random.Random(3), None
    for i in range(per_day * 12):
        at_ms = i * DAY_MS // per_day
        monitor.observe({"x": rng.gauss(0, 1)}, at_ms, model_version=1)
        if monitor.reference_ready and ready_at is None:
            ready_at = at_ms
    assert ready_at is not None and ready_at // DAY_MS == ready_day


def test_without_a_time_bound_the_reference_waits_for_its_size() -> None:
    config = DriftConfig(reference_max_seconds=None)
    monitor = DriftMonitor(["x"], config, reference_delay_ms=0)
    for i in range(1999):
        monitor.observe({"x": float(i % 7)}, i * DAY_MS // 10, model_version=1)
    assert not monitor.reference_ready
    monitor.observe({"x": 1.0}, 200 * DAY_MS, model_version=1)
    assert monitor.reference_ready
