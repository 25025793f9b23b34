"""Synthetic feature streams shared by the ``DriftMonitor`` tests.

A stream is ``PER_DAY`` lessons per day of event time, evaluated at each day boundary
like the engine's sweeps. Values are drawn in the model's (log) space directly.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping

from engine.drift import DriftMonitor, DriftReading
from schemas.config import DriftConfig

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
