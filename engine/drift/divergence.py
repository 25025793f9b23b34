"""How far shares have moved from a reference: the population stability index, the
Jensen-Shannon divergence, a feature's quantile bins, and the :class:`Arm` that turns
a score read at each sweep into detections.

Pure functions on probability vectors, plus one small piece of state per divergence
(the arm), so the monitor reads the same two measures over a feature's bins and over
the share of customers in each segment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.drift.reading import DriftReading, finite
from schemas.config import DriftConfig

__all__ = [
    "EPSILON",
    "Arm",
    "arms",
    "divergence_readings",
    "histogram",
    "js_divergence",
    "psi",
    "quantile_edges",
    "shares",
]

EPSILON = 1e-4  # share given to an empty bin, so PSI stays finite


def psi(expected: Sequence[float], actual: Sequence[float], epsilon: float = EPSILON) -> float:
    """Population stability index of ``actual`` against ``expected`` (probability
    vectors over the same bins): ``sum((a - e) * ln(a / e))``, an empty bin counting as
    ``epsilon``. 0 for identical shares; 0.1 is a moderate shift, 0.25 a large one.

    >>> psi([0.5, 0.5], [0.5, 0.5])
    0.0
    >>> round(psi([0.5, 0.5], [0.25, 0.75]), 4)
    0.2747
    >>> round(psi([0.5, 0.5, 0.0], [0.5, 0.0, 0.5]), 2)
    8.52
    """
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, epsilon), max(a, epsilon)
        total += (a - e) * math.log(a / e)
    return total


def js_divergence(p: Sequence[float], q: Sequence[float]) -> float:
    """Jensen-Shannon divergence (base 2) of two probability vectors: symmetric, 0 for
    identical shares, 1 for shares on disjoint bins.

    >>> js_divergence([0.5, 0.5], [0.5, 0.5])
    0.0
    >>> js_divergence([1.0, 0.0], [0.0, 1.0])
    1.0
    >>> round(js_divergence([0.5, 0.5], [0.25, 0.75]), 4)
    0.0488
    """
    total = 0.0
    for a, b in zip(p, q, strict=True):
        m = (a + b) / 2
        if a > 0:
            total += a * math.log2(a / m)
        if b > 0:
            total += b * math.log2(b / m)
    return min(1.0, max(0.0, total / 2))


def quantile_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Inner edges of ``bins`` quantile bins of ``values``; edges that coincide (a
    point mass) are merged, so there may be fewer bins.

    >>> quantile_edges(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 2).tolist()
    [3.0]
    >>> quantile_edges(np.array([0.0, 0.0, 0.0, 0.0, 5.0]), 4).tolist()
    [0.0]
    """
    return np.unique(np.quantile(values, np.arange(1, bins) / bins))


def histogram(values: np.ndarray, edges: np.ndarray) -> list[float]:
    """Shares of ``values`` in the bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)``:
    a value equal to an edge (a point mass such as zero) falls in the bin it closes.

    >>> [float(s) for s in histogram(np.array([0.0, 0.0, 1.0, 7.0]), np.array([0.0, 5.0]))]
    [0.5, 0.25, 0.25]
    """
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    total = counts.sum()
    return [float(c) / total for c in counts] if total else [0.0] * len(counts)


def shares(counts: Mapping[str, int]) -> dict[str, float]:
    """Each key's share of the total; empty when there is nothing to share.

    >>> shares({"a": 1, "b": 3}), shares({"a": 0})
    ({'a': 0.25, 'b': 0.75}, {})
    """
    total = sum(counts.values())
    return {key: n / total for key, n in counts.items()} if total > 0 else {}


@dataclass(slots=True)
class Arm:
    """Alert state of one divergence: fires once on crossing ``alert`` upwards and
    is re-armed when the score falls below ``rearm``.

    >>> arm = Arm(alert=0.25, rearm=0.1)
    >>> [arm.step(score, at_ms) for at_ms, score in enumerate([0.3, 0.2, 0.3, 0.05, 0.3])]
    [True, False, False, False, True]
    """

    alert: float
    rearm: float
    armed: bool = True
    rose_ms: int | None = None  # when the score last rose above ``rearm``

    def step(self, score: float, at_ms: int) -> bool:
        """Read one score; whether it is a new detection."""
        if score < self.rearm:
            self.armed, self.rose_ms = True, None
            return False
        if self.rose_ms is None:
            self.rose_ms = at_ms
        if self.armed and score >= self.alert:
            self.armed = False
            return True
        return False

    def snapshot(self) -> dict[str, Any]:
        """The runtime state (the levels are hyperparameters, from the config)."""
        return {"armed": self.armed, "rose_ms": self.rose_ms}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.armed, self.rose_ms = bool(state["armed"]), state["rose_ms"]


def arms(config: DriftConfig) -> dict[str, Arm]:
    """A fresh arm per divergence: PSI re-armed at its warning level, JS at half its alert."""
    return {
        "psi": Arm(config.psi_alert, config.psi_warning),
        "js": Arm(config.js_alert, config.js_alert / 2),
    }


def divergence_readings(
    subject: str,
    arms: Mapping[str, Arm],
    expected: Sequence[float],
    actual: Sequence[float],
    at_ms: int,
    window_ms: int | None,
    model_version: int,
) -> list[DriftReading]:
    """PSI and JS readings of ``actual`` against ``expected``, stepping their arms;
    ``since_ms`` is the current window's start (or, without one, when the score
    rose), given while the score is raised."""
    out = []
    for name, score in (
        ("psi", psi(expected, actual)),
        ("js", js_divergence(expected, actual)),
    ):
        arm = arms[name]
        detected = arm.step(score, at_ms)
        since = (window_ms or arm.rose_ms) if arm.rose_ms is not None else None
        out.append(DriftReading(at_ms, name, subject, finite(score), arm.alert, detected,
                                since, model_version))  # fmt: skip
    return out
