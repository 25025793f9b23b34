"""ADWIN on a feature's standardised values, with CUSUMs to date the changes it finds.

River's ADWIN (Bifet and Gavaldà 2007) keeps an adaptive window and cuts it where two
halves' means differ by more than chance allows. Its own cut keeps much of the old
stretch, so this detector also runs one-sided CUSUMs (rising and falling, at a few
slacks) whose last zero estimates where a change began; a CUSUM dates a change best
when its slack is half the change, so the one closest to that is read.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

from river import drift

from engine.drift.base import SNAPSHOT_VERSION
from engine.drift.reading import finite
from engine.snapshots import SnapshotError, check_snapshot
from schemas.config import DriftConfig

__all__ = ["AdwinDetector", "adwin_bound"]

_SLACKS = (0.05, 0.15, 0.5)  # CUSUM slacks, in reference deviations, to date changes by


def adwin_bound(width: float, variance: float, delta: float) -> float:
    """About the mean difference at which ADWIN cuts a window of ``width`` values (of
    this per-value ``variance``) in two halves (Bifet and Gavaldà 2007, Theorem 3.1).

    >>> round(adwin_bound(2000, 1.0, 0.002), 3)
    0.201
    >>> adwin_bound(2000, -1e-18, 0.002) == adwin_bound(2000, 0.0, 0.002)
    True
    """
    if width < 2:
        return math.inf
    inv_m = 4.0 / width  # 1/m = 1/n0 + 1/n1, with n0 = n1 = width / 2
    log_term = math.log(2 * math.log(width) / delta)
    # River's running variance of near-equal values can round below zero.
    return math.sqrt(2 * inv_m * max(variance, 0.0) * log_term) + 2.0 / 3.0 * inv_m * log_term


class AdwinDetector:
    """ADWIN with confidence ``delta``; its score is the window's mean (in reference
    deviations), its threshold about the difference at which it would cut.

    >>> import random
    >>> rng, detector = random.Random(1), AdwinDetector(delta=0.002)
    >>> detector.warm_up([rng.gauss(0, 1) for _ in range(500)], count=500)
    >>> next(n for n in range(501, 2001) if detector.step(rng.gauss(2, 1), n))
    544
    >>> detector.change_start()  # the shift came with value 501
    501
    """

    def __init__(self, delta: float = 0.002) -> None:
        self.delta = delta
        self._adwin = drift.ADWIN(delta=delta)
        self._count = 0  # number of the last value stepped
        # Rising and falling CUSUM for each of _SLACKS, and the value number at which
        # each last stood at zero: where a rise (or fall) of about twice its slack began.
        self._cusums = (0.0,) * (2 * len(_SLACKS))
        self._starts = [0] * (2 * len(_SLACKS))

    @classmethod
    def from_config(cls, config: DriftConfig) -> AdwinDetector:
        return cls(delta=config.adwin_delta)

    def warm_up(self, values: Sequence[float], count: int) -> None:
        for n, z in enumerate(values, start=count - len(values) + 1):
            self.step(z, n)
        self._starts = [count] * len(self._starts)

    def step(self, z: float, count: int) -> bool:
        self._count = count
        self._cusums = _cusums(self._cusums, z, self._starts, count)
        self._adwin.update(z)
        return bool(self._adwin.drift_detected)

    def change_start(self) -> int:
        shift = float(self._adwin.estimation)
        i = max([0] + [k for k, slack in enumerate(_SLACKS) if slack <= abs(shift) / 2])
        start = self._starts[2 * i + (shift < 0)]
        # Dated: the CUSUMs start over, so the next change is dated on its own.
        self._cusums = (0.0,) * len(self._cusums)
        self._starts = [self._count] * len(self._starts)
        return start + 1

    def statistic(self) -> tuple[float, float]:
        width = float(self._adwin.width)
        variance = self._adwin.variance / width if width else 0.0
        bound = adwin_bound(width, variance, self.delta)
        return finite(abs(self._adwin.estimation)), finite(bound)

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": "adwin",
            "version": SNAPSHOT_VERSION,
            "river": copy.deepcopy(self._adwin),
            "count": self._count,
            "cusums": self._cusums,
            "starts": tuple(self._starts),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        check_snapshot(state, "adwin", SNAPSHOT_VERSION)
        river = state["river"]
        if not isinstance(river, drift.ADWIN) or river.delta != self.delta:
            raise SnapshotError(f"the snapshot's ADWIN does not have delta={self.delta}")
        if len(state["cusums"]) != len(self._cusums) or len(state["starts"]) != len(self._starts):
            raise SnapshotError(f"an ADWIN snapshot has {len(self._cusums)} CUSUMs")
        self._adwin = copy.deepcopy(river)
        self._count = int(state["count"])
        self._cusums = tuple(state["cusums"])
        self._starts = list(state["starts"])


def _cusums(sums: tuple[float, ...], z: float, starts: list[int], count: int) -> tuple[float, ...]:
    """One step of the rising and falling CUSUMs for each of ``_SLACKS``; ``starts``
    takes ``count`` where a sum stands at zero. Unrolled: this runs for every value."""
    u1, d1, u2, d2, u3, d3 = sums
    u1, d1, u2, d2 = u1 + z - 0.05, d1 - z - 0.05, u2 + z - 0.15, d2 - z - 0.15
    u3, d3 = u3 + z - 0.5, d3 - z - 0.5
    if u1 <= 0.0:
        u1, starts[0] = 0.0, count
    if d1 <= 0.0:
        d1, starts[1] = 0.0, count
    if u2 <= 0.0:
        u2, starts[2] = 0.0, count
    if d2 <= 0.0:
        d2, starts[3] = 0.0, count
    if u3 <= 0.0:
        u3, starts[4] = 0.0, count
    if d3 <= 0.0:
        d3, starts[5] = 0.0, count
    return u1, d1, u2, d2, u3, d3
