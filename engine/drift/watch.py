"""One watched feature: its reference and current windows, the reference's summary,
its change detectors, and the bookkeeping that turns value numbers into event time.

Values are numbered 1, 2, ... from the reference delay on. ``marks`` keeps, for the
last ``reference_size`` distinct event times, the first value number seen at each,
so a detector's change start (a value number) can be dated.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.drift.base import ChangeDetector
from engine.drift.divergence import arms, divergence_readings, histogram, quantile_edges
from engine.drift.reading import DriftReading
from engine.drift.registry import DETECTORS, make_detectors
from engine.snapshots import SnapshotError
from schemas.config import DriftConfig

__all__ = ["FeatureWatch"]

_MIN_SCALE = 1e-6  # standard deviation of a feature that was constant in the reference


class FeatureWatch:
    """The drift state of one feature, driven by :class:`engine.drift.DriftMonitor`."""

    __slots__ = ("_arms", "_count", "_current", "_detectors", "_edges", "_expected",
                 "_fired", "_marks", "_mean", "_reference", "_scale", "_stepped", "config",
                 "feature")  # fmt: skip

    def __init__(self, feature: str, config: DriftConfig) -> None:
        self.feature = feature
        self.config = config
        self._reference: list[float] = []  # emptied once summarised
        self._current: deque[float] = deque(maxlen=config.reference_size)
        self._marks: deque[tuple[int, int]] = deque(maxlen=config.reference_size)
        self._count = 0  # values seen since the delay
        self._mean, self._scale = 0.0, 1.0  # of the reference
        self._edges: np.ndarray | None = None  # inner edges of the reference's quantile bins
        self._expected: list[float] = []  # reference share per bin
        self._arms = arms(config)
        self._detectors: dict[str, ChangeDetector] = {}  # started at freeze, config order
        self._stepped: tuple[tuple[str, ChangeDetector], ...] = ()  # the same, registry order
        self._fired: dict[str, int] = {}  # detector -> since_ms, since the last sweep

    def observe(
        self, x: float, at_ms: int, filling: bool, model_version: int
    ) -> list[DriftReading]:
        """Take one finite value (into the reference while ``filling``); the change
        detectors' new detections."""
        self._count += 1
        marks = self._marks
        if not marks or marks[-1][1] != at_ms:
            marks.append((self._count, at_ms))
        self._current.append(x)
        if filling:
            self._reference.append(x)
            return []
        if not self._stepped:
            return []
        z = (x - self._mean) / self._scale
        fired = [name for name, detector in self._stepped if detector.step(z, self._count)]
        return [self._detection(name, at_ms, model_version) for name in fired] if fired else []

    def freeze(self) -> None:
        """Summarise the reference (if it got any value) and start the detectors on it,
        so they know what normal looks like before the first new value."""
        if not self._reference:
            return
        ref = np.asarray(self._reference)
        self._mean = float(ref.mean())
        self._scale = max(float(ref.std()), _MIN_SCALE)
        self._edges = quantile_edges(ref, self.config.bins)
        self._expected = histogram(ref, self._edges)
        self._arms = arms(self.config)
        self._start(make_detectors(self.config))
        zs = [(x - self._mean) / self._scale for x in self._reference]
        for detector in self._detectors.values():
            detector.warm_up(zs, self._count)  # what fires here is history: dropped
        self._reference = []

    def readings(self, at_ms: int, model_version: int) -> list[DriftReading]:
        """Timeline readings at a sweep: PSI and JS of the current window against the
        reference, then each change detector's statistic."""
        if self._edges is None or not self._current:
            return []  # never seen once the delay had passed
        current = np.fromiter(self._current, float, len(self._current))
        start = self._since(self._count - len(self._current) + 1)
        out = divergence_readings(self.feature, self._arms, self._expected,
                                  histogram(current, self._edges), at_ms, start,
                                  model_version)  # fmt: skip
        for name, detector in self._detectors.items():
            score, threshold = detector.statistic()
            since = self._fired.pop(name, None)
            out.append(DriftReading(at_ms, name, self.feature, score, threshold, False, since,
                                    model_version))  # fmt: skip
        return out

    def snapshot(self) -> dict[str, Any]:
        """The runtime state, detached: windows and marks copied, detectors snapshotted."""
        return {
            "reference": list(self._reference),
            "current": list(self._current),
            "marks": list(self._marks),
            "count": self._count,
            "mean": self._mean,
            "scale": self._scale,
            "edges": None if self._edges is None else tuple(self._edges.tolist()),
            "expected": list(self._expected),
            "arms": {name: arm.snapshot() for name, arm in self._arms.items()},
            "detectors": {name: d.snapshot() for name, d in self._detectors.items()},
            "fired": dict(self._fired),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Put a :meth:`snapshot` back; the detectors are rebuilt from the config."""
        detectors = make_detectors(self.config) if state["detectors"] else {}
        if detectors.keys() != state["detectors"].keys():
            raise SnapshotError(
                f"feature {self.feature!r}: the snapshot has detectors "
                f"{sorted(state['detectors'])}, this monitor {sorted(detectors)}"
            )
        for name, detector in detectors.items():
            detector.restore(state["detectors"][name])
        for name, arm in self._arms.items():
            arm.restore(state["arms"][name])
        size = self.config.reference_size
        self._reference = list(state["reference"])
        self._current = deque(state["current"], maxlen=size)
        self._marks = deque(state["marks"], maxlen=size)
        self._count, self._mean, self._scale = state["count"], state["mean"], state["scale"]
        edges = state["edges"]
        self._edges = None if edges is None else np.asarray(edges, dtype=float)
        self._expected = list(state["expected"])
        self._start(detectors)
        # Keys from this monitor's own names, so a restored monitor holds (and
        # snapshots) the same objects as one that never stopped.
        names = {name: name for name in detectors}
        self._fired = {names[name]: since for name, since in state["fired"].items()}

    def _start(self, detectors: dict[str, ChangeDetector]) -> None:
        self._detectors = detectors
        order = list(DETECTORS)
        self._stepped = tuple(sorted(detectors.items(), key=lambda item: order.index(item[0])))

    def _detection(self, name: str, at_ms: int, model_version: int) -> DriftReading:
        detector = self._detectors[name]
        since = self._since(detector.change_start())
        self._fired[name] = since if since is not None else at_ms
        score, threshold = detector.statistic()
        return DriftReading(at_ms, name, self.feature, score, threshold, True, since,
                            model_version)  # fmt: skip

    def _since(self, count: int) -> int | None:
        """Event time of value number ``count`` (1-based), as far as the marks reach."""
        if not self._marks:
            return None
        i = bisect.bisect_right(self._marks, (count, math.inf)) - 1
        return self._marks[max(i, 0)][1]
