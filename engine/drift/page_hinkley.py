"""Page-Hinkley on a feature's standardised values, dated by where its sums last stood
at their extremes.

The classic two-sided test: cumulative sums of each value's deviation from the running
mean, less (or plus) a tolerance ``delta``; it fires when a sum has moved ``threshold``
from its extreme, and the change began just after that extreme.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from river import drift

from engine.drift.base import SNAPSHOT_VERSION
from engine.drift.reading import finite
from engine.drift.river_compat import page_hinkley_at_extremes, page_hinkley_sums
from engine.snapshots import SnapshotError, check_snapshot
from schemas.config import DriftConfig

__all__ = ["PageHinkleyDetector"]


class PageHinkleyDetector:
    """Page-Hinkley with tolerance ``delta`` and threshold ``threshold`` (in reference
    deviations); its score is the larger of its two sums' distance from their extremes.

    >>> import random
    >>> rng, detector = random.Random(1), PageHinkleyDetector(delta=0.05, threshold=100.0)
    >>> detector.warm_up([rng.gauss(0, 1) for _ in range(500)], count=500)
    >>> next(n for n in range(501, 2001) if detector.step(rng.gauss(2, 1), n))
    573
    >>> detector.change_start()  # the shift came with value 501
    497
    """

    def __init__(self, delta: float = 0.05, threshold: float = 100.0) -> None:
        self.delta = delta
        self.threshold = threshold
        # alpha=1, the classic test. River's default fading (0.9999) turns the sum into
        # an AR(1) walk with a standard deviation of ~70 inputs while its running
        # minimum never fades, so on a stationary stream it fired every ~10k inputs.
        self._ph = drift.PageHinkley(delta=delta, threshold=threshold, alpha=1.0)
        self._low = self._high = 0  # value number at the sums' last low / high

    @classmethod
    def from_config(cls, config: DriftConfig) -> PageHinkleyDetector:
        return cls(delta=config.page_hinkley_delta, threshold=config.page_hinkley_threshold)

    def warm_up(self, values: Sequence[float], count: int) -> None:
        for n, z in enumerate(values, start=count - len(values) + 1):
            self.step(z, n)

    def step(self, z: float, count: int) -> bool:
        ph = self._ph
        ph.update(z)
        at_low, at_high = page_hinkley_at_extremes(ph)
        if at_low:
            self._low = count
        if at_high:
            self._high = count
        return bool(ph.drift_detected)

    def change_start(self) -> int:
        increase, decrease = page_hinkley_sums(self._ph)
        return (self._low if increase >= decrease else self._high) + 1

    def statistic(self) -> tuple[float, float]:
        return finite(max(*page_hinkley_sums(self._ph), 0.0)), self.threshold

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": "page_hinkley",
            "version": SNAPSHOT_VERSION,
            "river": copy.deepcopy(self._ph),
            "low": self._low,
            "high": self._high,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        check_snapshot(state, "page_hinkley", SNAPSHOT_VERSION)
        river = state["river"]
        if not isinstance(river, drift.PageHinkley) or (river.delta, river.threshold) != (
            self.delta,
            self.threshold,
        ):
            raise SnapshotError(
                f"the snapshot's Page-Hinkley does not have delta={self.delta}, "
                f"threshold={self.threshold}"
            )
        self._ph = copy.deepcopy(river)
        self._low, self._high = int(state["low"]), int(state["high"])
