"""``DriftMonitor``'s properties: determinism, pickling, inputs left alone, bounded memory,
missing values skipped, only the configured detectors, and detection order. No broker.

Streams come from ``drift_helpers``: ``PER_DAY`` lessons a day, evaluated daily.
"""

from __future__ import annotations

import copy
import math
import pickle
import random
from types import MappingProxyType

import pytest

from engine.drift import DriftMonitor
from schemas.config import DriftConfig
from tests.engine.drift_helpers import (
    CONFIG,
    DAY_MS,
    DELAY_MS,
    FEATURES,
    PER_DAY,
    drive,
    lessons,
)


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
