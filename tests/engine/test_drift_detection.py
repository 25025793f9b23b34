"""``DriftMonitor`` on synthetic feature streams: no readings before the reference,
planted shifts found (and where they began), stationary streams quiet, one timeline
reading per detector and subject, and re-arming. No broker, no engine.

Streams come from ``drift_helpers``: ``PER_DAY`` lessons a day, evaluated daily.
"""

from __future__ import annotations

import math

import pytest

from engine.drift import DriftMonitor, DriftReading, js_divergence, psi
from schemas.config import DriftConfig
from tests.engine.drift_helpers import (
    CONFIG,
    DAY_MS,
    DELAY_MS,
    FEATURES,
    STEP_MS,
    drive,
    lessons,
)


def first(readings: list[DriftReading], detector: str, subject: str = "a") -> DriftReading | None:
    return next(
        (r for r in readings if r.detected and r.detector == detector and r.subject == subject),
        None,
    )


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
