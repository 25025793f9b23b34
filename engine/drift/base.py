"""What a change detector offers the drift monitor.

A change detector watches one feature's stream of *standardised* values (in standard
deviations of the frozen reference, so one threshold means the same for every
feature). The monitor, through :class:`engine.drift.watch.FeatureWatch`:

1. builds it from the config once the reference is complete (a :data:`DetectorFactory`
   in :data:`engine.drift.registry.DETECTORS`);
2. warms it up on the reference's own values (what fires there is history: dropped);
3. steps it on every later value, numbered 1, 2, ... from the reference delay on;
4. right after a step fired, asks it once where that change began (a value number,
   which the watch turns into event time);
5. at each sweep, reads its statistic and the threshold at which it fires;
6. snapshots and restores it with the rest of the monitor (``engine.snapshots``; a
   detector's snapshot is marked with its registry name as ``kind`` and
   :data:`SNAPSHOT_VERSION`).

Adding a detector: one module with a class following :class:`ChangeDetector` (and a
``from_config`` factory), one line in the registry, and its name in
``schemas.config.DriftDetector``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from engine.snapshots import Snapshottable
from schemas.config import DriftConfig

__all__ = ["SNAPSHOT_VERSION", "ChangeDetector", "DetectorFactory"]

SNAPSHOT_VERSION = 1  # of every drift part's snapshot layout; bump on any change


class ChangeDetector(Snapshottable, Protocol):
    """A sequential change detector on one feature's standardised values."""

    def warm_up(self, values: Sequence[float], count: int) -> None:
        """Learn what normal looks like from the reference's standardised ``values``,
        the last of which is value number ``count``. Detections here are dropped."""
        ...

    def step(self, z: float, count: int) -> bool:
        """Take standardised value number ``count``; whether the detector fired on it."""
        ...

    def change_start(self) -> int:
        """The value number at which the change it just fired on began; asked once,
        right after the step that fired (it may reset what dated that change)."""
        ...

    def statistic(self) -> tuple[float, float]:
        """``(score, threshold)`` now, both finite: it fires when score reaches threshold."""
        ...


DetectorFactory = Callable[[DriftConfig], ChangeDetector]
