"""``DriftMonitor`` and its divergences on synthetic feature streams: no readings before
the reference, planted shifts found (and where they began), stationary streams quiet,
re-arming, determinism and bounded memory. No broker, no engine.

A stream is ``PER_DAY`` lessons per day of event time, evaluated at each day boundary
like the engine's sweeps. Values are drawn in the model's (log) space directly.
"""

from __future__ import annotations

import copy
import math
import pickle
import random
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import get_args

import pytest
import river
from hypothesis import given
from hypothesis import strategies as st
from river import drift as river_drift

from engine.drift import DETECTORS, DriftMonitor, DriftReading, js_divergence, psi
from engine.drift.river_compat import RIVER_VERSION, page_hinkley_at_extremes, page_hinkley_sums
from schemas.config import DriftConfig, DriftDetector

DAY_MS = 86_400_000
PER_DAY = 200
STEP_MS = DAY_MS // PER_DAY
DELAY_MS = 5 * DAY_MS
CONFIG = DriftConfig(reference_size=400)
FEATURES = ("a", "b")

Lesson = tuple[dict[str, float | None], int]


def lessons(
    days: int, seed: int = 0, shift_day: int | None = None, shift: float = 1.0
) -> Iterator[Lesson]:
    """Feature ``a`` ~ N(2, 0.5), jumping by ``shift`` standard deviations from
    ``shift_day`` on; ``b`` ~ N(1, 0.3) throughout and missing one time in ten."""
    rng = random.Random(seed)
    for i in range(days * PER_DAY):
        at_ms = i * STEP_MS
        jump = shift * 0.5 if shift_day is not None and at_ms >= shift_day * DAY_MS else 0.0
        b = rng.gauss(1.0, 0.3) if rng.random() > 0.1 else None
        yield {"a": rng.gauss(2.0, 0.5) + jump, "b": b}, at_ms


def drive(
    monitor: DriftMonitor,
    stream: Iterator[Lesson],
    sizes: Mapping[int, Mapping[str, int]] | None = None,
) -> tuple[list[DriftReading], list[DriftReading]]:
    """Feed a stream, evaluating at each day boundary; (detections, timeline)."""
    found: list[DriftReading] = []
    timeline: list[DriftReading] = []
    day = 0
    for values, at_ms in stream:
        while at_ms >= (day + 1) * DAY_MS:
            day += 1
            segment_sizes = (sizes or {}).get(day, {"s1": 50, "s2": 50})
            timeline += monitor.evaluate(day * DAY_MS, segment_sizes, model_version=1)
        found += monitor.observe(values, at_ms, model_version=1)
    return found, timeline


def first(readings: list[DriftReading], detector: str, subject: str = "a") -> DriftReading | None:
    return next(
        (r for r in readings if r.detected and r.detector == detector and r.subject == subject),
        None,
    )


# -- psi and js_divergence -----------------------------------------------------

PROBABILITIES = st.lists(st.floats(0.0, 1.0), min_size=2, max_size=12).filter(
    lambda xs: sum(xs) > 0.01
)


def normalised(xs: list[float]) -> list[float]:
    total = sum(xs)
    return [x / total for x in xs]


@given(PROBABILITIES)
def test_identical_shares_diverge_by_nothing(xs: list[float]) -> None:
    p = normalised(xs)
    assert psi(p, p) == 0.0
    assert js_divergence(p, p) == pytest.approx(0.0, abs=1e-12)


@given(st.data())
def test_divergences_are_bounded_and_js_symmetric(data: st.DataObject) -> None:
    xs = data.draw(PROBABILITIES)
    ys = data.draw(st.lists(st.floats(0.0, 1.0), min_size=len(xs), max_size=len(xs)))
    p, q = normalised(xs), normalised([y + 1e-3 for y in ys])
    assert 0.0 <= js_divergence(p, q) <= 1.0
    assert js_divergence(p, q) == pytest.approx(js_divergence(q, p), abs=1e-12)
    assert psi(p, q) >= 0.0 and math.isfinite(psi(p, q))


@pytest.mark.parametrize(
    ("p", "q", "want_psi", "want_js"),
    [
        ([0.5, 0.5], [0.5, 0.5], 0.0, 0.0),
        ([0.5, 0.5], [0.25, 0.75], 0.274653, 0.048794),
        ([0.25, 0.75], [0.5, 0.5], 0.274653, 0.048794),  # PSI is symmetric too
        ([0.1] * 10, [0.2] * 5 + [0.0] * 5, 3.796997, 0.311278),  # half the bins emptied
        ([1.0, 0.0], [0.0, 1.0], 2 * 0.9999 * math.log(1e4), 1.0),  # disjoint: epsilon
    ],
)
def test_known_values(p: list[float], q: list[float], want_psi: float, want_js: float) -> None:
    assert psi(p, q) == pytest.approx(want_psi, abs=1e-5)
    assert js_divergence(p, q) == pytest.approx(want_js, abs=1e-5)


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError):
        psi([0.5, 0.5], [1.0])
    with pytest.raises(ValueError):
        js_divergence([0.5, 0.5], [1.0])


# -- the monitor ---------------------------------------------------------------


def test_nothing_before_the_reference_is_ready() -> None:
    monitor = DriftMonitor(FEATURES, CONFIG, DELAY_MS)
    stream = lessons(days=30, shift_day=0, shift=5.0)  # wild from the very start
    for values, at_ms in stream:
        if at_ms >= DELAY_MS + (CONFIG.reference_size - 1) * STEP_MS:
            break
        assert monitor.observe(values, at_ms, model_version=1) == []
        assert monitor.evaluate(at_ms, {"s1": 1}, model_version=1) == []
    assert not monitor.reference_ready
    monitor.observe(values, at_ms, model_version=1)  # the reference's last lesson
    assert monitor.reference_ready
    assert monitor.evaluate(at_ms, {"s1": 1}, model_version=1) != []


def test_the_delay_counts_from_the_first_lesson() -> None:
    monitor = DriftMonitor(FEATURES, CONFIG, reference_delay_ms=DAY_MS)
    start = 1_767_225_600_000
    for i in range(CONFIG.reference_size):
        monitor.observe({"a": 1.0 + i % 3}, start + i * STEP_MS, model_version=1)
    assert not monitor.reference_ready  # 400 lessons, but within a day of the first
    for i in range(CONFIG.reference_size):
        monitor.observe({"a": 1.0 + i % 3}, start + DAY_MS + i, model_version=1)
    assert monitor.reference_ready


@pytest.mark.parametrize("detector", ["adwin", "page_hinkley", "psi", "js"])
def test_a_planted_mean_shift_is_detected_where_it_began(detector: str) -> None:
    monitor = DriftMonitor(FEATURES, CONFIG, DELAY_MS)
    found, timeline = drive(monitor, lessons(days=30, shift_day=15, shift=1.0))
    hit = first(found + timeline, detector)
    assert hit is not None, f"{detector} missed a one-sigma shift"
    shift_ms = 15 * DAY_MS
    assert shift_ms <= hit.at_ms <= shift_ms + 3 * DAY_MS
    assert hit.since_ms is not None and shift_ms - DAY_MS <= hit.since_ms <= hit.at_ms
    assert hit.score >= 0 and math.isfinite(hit.score) and math.isfinite(hit.threshold)
    # Feature ``b`` did not move.
    assert first(found + timeline, detector, subject="b") is None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_stationary_stream_raises_no_alarm(seed: int) -> None:
    monitor = DriftMonitor(FEATURES, CONFIG, DELAY_MS)
    found, timeline = drive(monitor, lessons(days=60, seed=seed))
    assert found == []
    assert [r for r in timeline if r.detected] == []
    psi_a = [r.score for r in timeline if r.detector == "psi" and r.subject == "a"]
    assert len(psi_a) > 50 and max(psi_a) < 0.2


def test_one_timeline_reading_per_detector_and_subject() -> None:
    monitor = DriftMonitor(FEATURES, CONFIG, DELAY_MS)
    drive(monitor, lessons(days=8))
    readings = monitor.evaluate(8 * DAY_MS, {"s1": 10}, model_version=3)
    keys = [(r.detector, r.subject) for r in readings]
    subjects = (*FEATURES, "segment_sizes")
    assert sorted(keys) == sorted(
        [(d, s) for s in subjects for d in ("psi", "js")]
        + [(d, s) for s in FEATURES for d in ("adwin", "page_hinkley")]
    )
    assert all(r.at_ms == 8 * DAY_MS and r.model_version == 3 for r in readings)
    assert all(math.isfinite(r.score) and math.isfinite(r.threshold) for r in readings)


def test_a_change_detector_firing_is_reported_once_and_shown_at_the_next_sweep() -> None:
    monitor = DriftMonitor(["a"], CONFIG, DELAY_MS)
    found, timeline = drive(monitor, lessons(days=20, shift_day=15, shift=2.0))
    detection = first(found, "adwin")
    assert detection is not None
    points = [r for r in timeline if r.detector == "adwin"]
    assert not any(r.detected for r in points)  # observe() reported it; no repeat
    shown = [r for r in points if r.since_ms is not None]
    assert shown and shown[0].at_ms > detection.at_ms
    assert shown[0].since_ms == detection.since_ms
    assert points[-1].since_ms is None  # nothing fired in the stable stretch that followed


@pytest.mark.parametrize(
    ("detector", "scores", "want"),
    [
        # PSI fires crossing 0.25 upwards and is re-armed below 0.1
        ("psi", [0.0, 0.3, 0.4, 0.3, 0.0, 0.3], [False, True, False, False, False, True]),
        ("psi", [0.3, 0.2, 0.3, 0.15, 0.26], [True, False, False, False, False]),
        ("psi", [0.3, 0.05, 0.3, 0.09, 0.251], [True, False, True, False, True]),
        # JS fires crossing its alert upwards and is re-armed below half of it
        ("js", [0.0, 0.11, 0.2, 0.06, 0.11, 0.04, 0.101],
         [False, True, False, False, False, False, True]),
    ],
)  # fmt: skip
def test_divergence_alerts_rearm(detector: str, scores: list[float], want: list[bool]) -> None:
    """Segment sizes are the easy handle on a divergence: pick shares that give each score."""
    config = DriftConfig(reference_size=50, js_alert=0.1)
    monitor = DriftMonitor(["a"], config, reference_delay_ms=0)
    for i in range(50):
        monitor.observe({"a": float(i % 7)}, i, model_version=1)
    monitor.evaluate(100, {"x": 500, "y": 500}, model_version=1)  # the reference shares
    measure = psi if detector == "psi" else js_divergence
    got = []
    for k, score in enumerate(scores):
        share = _share_for(measure, score)
        sizes = {"x": round(share * 10**6), "y": round((1 - share) * 10**6)}
        readings = monitor.evaluate(200 + k, sizes, model_version=1)
        reading = next(
            r for r in readings if r.detector == detector and r.subject == "segment_sizes"
        )
        assert reading.score == pytest.approx(score, abs=1e-3)
        got.append(reading.detected)
    assert got == want


def _share_for(measure: object, score: float) -> float:
    """Share of ``x`` (against 0.5 in the reference) at which ``measure`` gives at
    least ``score``, by bisection."""
    low, high = 0.5, 0.999
    for _ in range(60):
        mid = (low + high) / 2
        if measure([0.5, 0.5], [mid, 1 - mid]) < score:  # type: ignore[operator]
            low = mid
        else:
            high = mid
    return high


def test_segment_sizes_count_a_segment_absent_on_one_side_as_zero() -> None:
    monitor = DriftMonitor(["a"], DriftConfig(reference_size=50), reference_delay_ms=0)
    for i in range(50):
        monitor.observe({"a": float(i % 7)}, i, model_version=1)
    monitor.evaluate(100, {"x": 50, "y": 50}, model_version=1)
    readings = monitor.evaluate(200, {"y": 50, "z": 50}, model_version=2)
    js = next(r for r in readings if r.detector == "js" and r.subject == "segment_sizes")
    assert js.score == pytest.approx(js_divergence([0.5, 0.5, 0.0], [0.0, 0.5, 0.5]))
    assert js.detected and js.since_ms == 200 and js.model_version == 2


def test_same_input_gives_the_same_readings() -> None:
    runs = [drive(DriftMonitor(FEATURES, CONFIG, DELAY_MS), lessons(25, 7, 12)) for _ in range(2)]
    assert runs[0] == runs[1]
    assert runs[0][0]  # something to compare


def test_a_pickled_monitor_carries_on_identically() -> None:
    monitor = DriftMonitor(FEATURES, CONFIG, DELAY_MS)
    stream = list(lessons(days=25, seed=4, shift_day=12))
    drive(monitor, iter(stream[: 14 * PER_DAY]))
    clone = pickle.loads(pickle.dumps(monitor))
    rest = stream[14 * PER_DAY :]
    assert drive(monitor, iter(rest)) == drive(clone, iter(rest))


def test_inputs_are_not_mutated() -> None:
    monitor = DriftMonitor(FEATURES, CONFIG, DELAY_MS)
    for values, at_ms in lessons(days=8):
        frozen = MappingProxyType(dict(values))
        before = copy.deepcopy(dict(values))
        monitor.observe(frozen, at_ms, model_version=1)
        assert dict(frozen) == before
    sizes = {"s1": 3, "s2": 4}
    monitor.evaluate(8 * DAY_MS, MappingProxyType(sizes), model_version=1)
    assert sizes == {"s1": 3, "s2": 4}


def test_memory_stays_bounded() -> None:
    config = DriftConfig(reference_size=100)
    monitor = DriftMonitor(FEATURES, config, DELAY_MS)
    drive(monitor, lessons(days=40, shift_day=20))
    for watch in monitor.snapshot()["watches"].values():
        assert len(watch["current"]) <= config.reference_size
        assert len(watch["marks"]) <= config.reference_size
        assert len(watch["reference"]) == 0  # summarised into bins once frozen
        assert len(watch["expected"]) <= config.bins


@pytest.mark.parametrize("value", [None, math.nan, math.inf])
def test_missing_values_are_skipped(value: float | None) -> None:
    monitor = DriftMonitor(["a", "never"], CONFIG, reference_delay_ms=0)
    rng = random.Random(0)
    for i in range(CONFIG.reference_size * 2):
        monitor.observe({"a": rng.gauss(0, 1), "never": value}, i, model_version=1)
    subjects = {r.subject for r in monitor.evaluate(10**6, {}, model_version=1)}
    assert subjects == {"a"}  # no segment sizes yet either


@pytest.mark.parametrize("detectors", [(), ("adwin",), ("page_hinkley",)])
def test_only_the_configured_change_detectors_run(detectors: tuple[str, ...]) -> None:
    config = DriftConfig(reference_size=100, detectors=detectors)  # type: ignore[arg-type]
    monitor = DriftMonitor(["a"], config, reference_delay_ms=0)
    for i in range(300):
        monitor.observe({"a": float(i % 5)}, i, model_version=1)
    got = {r.detector for r in monitor.evaluate(1000, {}, model_version=1)}
    assert got == {"psi", "js", *detectors}


def test_a_constant_reference_feature_still_reads_finite() -> None:
    monitor = DriftMonitor(["a"], DriftConfig(reference_size=50), reference_delay_ms=0)
    found = []
    for i in range(200):
        found += monitor.observe({"a": 0.0 if i < 100 else 3.0}, i, model_version=1)
    readings = monitor.evaluate(1000, {"x": 1}, model_version=1)
    assert all(math.isfinite(r.score) for r in found + readings)
    assert {r.detector for r in readings if r.detected} >= {"psi", "js"}


def test_detections_of_one_value_come_in_registry_order() -> None:
    """The timeline follows the config's order; detections on the same value follow
    the registry's, whatever the config says (as before detectors had a registry)."""
    config = DriftConfig(
        reference_size=50, detectors=("page_hinkley", "adwin"), page_hinkley_threshold=5.0
    )
    monitor = DriftMonitor(["a"], config, reference_delay_ms=0)
    rng = random.Random(2)
    together = []
    for i in range(1536):  # a mean flipping by 3 every 300 values
        found = monitor.observe({"a": rng.gauss(3.0 * (i // 300 % 2), 1)}, i, model_version=1)
        if len(found) > 1:
            together.append([r.detector for r in found])
    assert together == [["adwin", "page_hinkley"]]
    timeline = monitor.evaluate(10**6, {}, model_version=1)
    assert [r.detector for r in timeline] == ["psi", "js", "page_hinkley", "adwin"]


# -- the registry and River ----------------------------------------------------


def test_the_registry_has_every_configurable_detector() -> None:
    assert tuple(DETECTORS) == get_args(DriftDetector)


def test_river_internals_are_still_what_river_compat_reads() -> None:
    """River keeps Page-Hinkley's sums private: an upgrade must fail here first."""
    assert river.__version__ == RIVER_VERSION
    ph = river_drift.PageHinkley(delta=0.0, threshold=10.0, alpha=1.0)
    for x in (0.0, 0.0, 1.0, 1.0):
        ph.update(x)
    increase, decrease = page_hinkley_sums(ph)
    # Deviations from the running mean: 0, 0, 2/3, 1/2; the rising sum never fell
    # below 0, the falling one peaked at its end.
    assert increase == pytest.approx(7 / 6) and decrease == 0.0
    assert page_hinkley_at_extremes(ph) == (False, True)
