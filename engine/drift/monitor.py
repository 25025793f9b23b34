"""The drift monitor: a :class:`~engine.drift.watch.FeatureWatch` per watched feature,
and the divergence of the share of customers in each segment from its first sweep."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from engine.drift.base import SNAPSHOT_VERSION
from engine.drift.divergence import arms, divergence_readings, shares
from engine.drift.reading import DriftReading
from engine.drift.watch import FeatureWatch
from engine.snapshots import SnapshotError, check_snapshot
from schemas.config import DriftConfig

__all__ = ["SEGMENT_SIZES", "DriftMonitor"]

SEGMENT_SIZES = "segment_sizes"  # the subject of the segment-size divergences
_KIND = "drift_monitor"
_ADDED_KEYS = frozenset({"reference_max_seconds", "reference_min_size"})  # since version 1


class DriftMonitor:
    """Change detectors and reference divergences over a stream of feature vectors.

    ``observe`` takes each lesson (the model's log-scaled view; ``None`` is missing)
    and returns new change detections; ``evaluate``, at each sweep, returns one
    timeline reading per detector and subject.

    >>> import random
    >>> from schemas.config import DriftConfig
    >>> monitor = DriftMonitor(["x"], DriftConfig(reference_size=200), reference_delay_ms=0)
    >>> rng, hits = random.Random(1), []
    >>> for i in range(2000):
    ...     x = rng.gauss(0.0 if i < 1000 else 1.0, 1.0)
    ...     hits += monitor.observe({"x": x}, at_ms=i, model_version=1)
    >>> sorted({(r.detector, r.since_ms is not None and r.since_ms >= 900) for r in hits})
    [('adwin', True), ('page_hinkley', True)]
    >>> readings = monitor.evaluate(2000, {"a": 50, "b": 50}, model_version=1)
    >>> [(r.detector, r.detected, r.since_ms is not None) for r in readings if r.subject == "x"]
    [('psi', True, True), ('js', True, True), ('adwin', False, True), ('page_hinkley', False, True)]

    Its state survives a restart: a monitor built alike and given a snapshot carries
    on exactly as this one does.

    >>> clone = DriftMonitor(["x"], DriftConfig(reference_size=200), reference_delay_ms=0)
    >>> clone.restore(monitor.snapshot())
    >>> clone.evaluate(3000, {"a": 10}, 1) == monitor.evaluate(3000, {"a": 10}, 1)
    True
    """

    def __init__(
        self, features: Sequence[str], config: DriftConfig, reference_delay_ms: int
    ) -> None:
        self.features = tuple(features)
        self.config = config
        self.reference_delay_ms = reference_delay_ms
        self._watches = {name: FeatureWatch(name, config) for name in self.features}
        self._first_ms: int | None = None
        self._lessons = 0  # lessons since the delay, up to reference_size
        self._ready = False
        self._segments: dict[str, float] | None = None  # shares when the reference was set
        self._segment_arms = arms(config)

    @property
    def reference_ready(self) -> bool:
        """Whether the reference is complete: before, nothing is read or detected."""
        return self._ready

    def observe(
        self, values: Mapping[str, float | None], at_ms: int, model_version: int
    ) -> list[DriftReading]:
        """Take one lesson; return the change detectors' new detections."""
        if self._first_ms is None:
            self._first_ms = at_ms
        if at_ms - self._first_ms < self.reference_delay_ms:
            return []
        found: list[DriftReading] = []
        filling = not self._ready
        for name, watch in self._watches.items():
            x = values.get(name)
            if x is None or not math.isfinite(x):
                continue
            readings = watch.observe(x, at_ms, filling, model_version)
            if readings:
                found += readings
        if filling:
            self._lessons += 1
            if self._reference_complete(at_ms):
                self._ready = True
                for watch in self._watches.values():
                    watch.freeze()
        return found

    def evaluate(
        self, at_ms: int, segment_sizes: Mapping[str, int], model_version: int
    ) -> list[DriftReading]:
        """Timeline readings at a sweep: divergences of every feature and of segment
        sizes from the reference, and each change detector's statistic."""
        if not self._ready:
            return []
        out: list[DriftReading] = []
        for watch in self._watches.values():
            out += watch.readings(at_ms, model_version)
        current = shares(segment_sizes)
        if self._segments is None and current:
            self._segments = current
        if self._segments is not None:
            ids = sorted(self._segments.keys() | current.keys())
            expected = [self._segments.get(i, 0.0) for i in ids]
            actual = [current.get(i, 0.0) for i in ids]
            out += divergence_readings(SEGMENT_SIZES, self._segment_arms, expected, actual,
                                       at_ms, None, model_version)  # fmt: skip
        return out

    def snapshot(self) -> dict[str, Any]:
        """The runtime state, detached and picklable (``engine.snapshots``), with the
        features and detectors it belongs to."""
        return {
            "kind": _KIND,
            "version": SNAPSHOT_VERSION,
            "features": self.features,
            "detectors": self._detector_names(),
            "reference_size": self.config.reference_size,
            "reference_max_seconds": self.config.reference_max_seconds,
            "reference_min_size": self.config.reference_min_size,
            "first_ms": self._first_ms,
            "lessons": self._lessons,
            "ready": self._ready,
            "segments": None if self._segments is None else dict(self._segments),
            "segment_arms": {name: arm.snapshot() for name, arm in self._segment_arms.items()},
            "watches": {name: watch.snapshot() for name, watch in self._watches.items()},
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Put a :meth:`snapshot` back into this monitor, built with the same arguments;
        :class:`~engine.snapshots.SnapshotError` if it does not fit, and then nothing
        changed."""
        check_snapshot(state, _KIND, SNAPSHOT_VERSION)
        try:
            self._fits(state)
            watches = {name: FeatureWatch(name, self.config) for name in self.features}
            for name, watch in watches.items():
                watch.restore(state["watches"][name])
            segment_arms = arms(self.config)
            for name, arm in segment_arms.items():
                arm.restore(state["segment_arms"][name])
        except KeyError as e:
            raise SnapshotError(f"a drift monitor snapshot without {e}") from e
        self._watches, self._segment_arms = watches, segment_arms
        self._first_ms, self._lessons = state["first_ms"], state["lessons"]
        self._ready = bool(state["ready"])
        segments = state["segments"]
        self._segments = None if segments is None else dict(segments)

    def _reference_complete(self, at_ms: int) -> bool:
        """Whether the reference is complete with this lesson: ``reference_size``
        lessons, or ``reference_max_seconds`` of event time after the delay with at
        least ``reference_min_size`` (a small population gives lessons slowly)."""
        config = self.config
        if self._lessons >= config.reference_size:
            return True
        if config.reference_max_seconds is None or self._first_ms is None:
            return False
        started = self._first_ms + self.reference_delay_ms
        late = at_ms - started >= int(config.reference_max_seconds * 1000)
        return late and self._lessons >= config.reference_min_size

    def _detector_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.config.detectors))

    def _fits(self, state: Mapping[str, Any]) -> None:
        for key, mine in (
            ("features", self.features),
            ("detectors", self._detector_names()),
            ("reference_size", self.config.reference_size),
            ("reference_max_seconds", self.config.reference_max_seconds),
            ("reference_min_size", self.config.reference_min_size),
        ):
            # A snapshot from before the time bound has none: taken to fit (a reference
            # still filling then completes by the time bound too).
            theirs = state.get(key, mine) if key in _ADDED_KEYS else state[key]
            if theirs != mine:
                raise SnapshotError(
                    f"the snapshot is of a drift monitor with {key} {theirs!r}, "
                    f"this one has {mine!r}"
                )
