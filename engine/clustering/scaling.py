"""The space the clustering models learn in: log-scaled features, standardised.

Counts and amounts are heavy-tailed, so each feature is read as ``log1p`` of its value
(negative values as zero, a missing one at the mean), then shifted and scaled by the
means and spreads of a sample of customers. The standardisation is frozen between
two :meth:`Scaler.fit` calls, so a model's centres keep their meaning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from engine.clustering.pickling import plain_array

__all__ = ["Scaler", "Vector", "log_or", "log_scaled"]

Vector = Mapping[str, float | str | None]


class Scaler:
    """Log-scaling and standardisation of feature vectors.

    Parameters
    ----------
    features
        The features read from a vector, in order.

    Examples
    --------
    >>> scaler = Scaler(["x", "y"])
    >>> scaler.fit(np.log1p(np.array([[0.0, 1.0], [2.0, 1.0]])))
    >>> scaler.means.round(3).tolist(), scaler.scales.round(3).tolist()
    ([0.549, 0.693], [0.549, 1.0])
    >>> raw = scaler.raw_row({"x": 2.0, "y": None})  # y is missing: it sits at the mean
    >>> [round(v, 3) for v in scaler.z_row(raw)]
    [1.0, 0.0]
    """

    def __init__(self, features: Sequence[str]) -> None:
        self.features = tuple(features)
        self.means = np.zeros(len(self.features))
        self.scales = np.ones(len(self.features))
        # The same as lists: the hot path reads them, and float arithmetic on them
        # rounds exactly as numpy's does on the arrays.
        self.means_row: list[float] = self.means.tolist()
        self.scales_row: list[float] = self.scales.tolist()

    def fit(self, sample: np.ndarray) -> None:
        """Standardise by the means and spreads of ``sample`` (log-scaled rows)."""
        self.means, spread = sample.mean(axis=0), sample.std(axis=0)
        self.scales = np.where(spread > 1e-9, spread, 1.0)
        self.means_row, self.scales_row = self.means.tolist(), self.scales.tolist()

    def raw_row(self, x: Vector) -> list[float]:
        """The log-scaled features of ``x``; a missing one sits at the mean."""
        return [log_or(v, mean) for v, mean in zip(map(x.get, self.features),
                                                    self.means_row, strict=True)]  # fmt: skip

    def z_row(self, raw: list[float]) -> list[float]:
        """One log-scaled row, standardised."""
        scaled = zip(raw, self.means_row, self.scales_row, strict=True)
        return [(v - mean) / scale for v, mean, scale in scaled]

    def z(self, raw: np.ndarray) -> np.ndarray:
        """Log-scaled rows, standardised."""
        z: np.ndarray = (raw - self.means) / self.scales
        return z

    def snapshot(self) -> dict[str, Any]:
        """The standardisation, detached and picklable (as lists: see
        :func:`engine.clustering.pickling.plain_array`)."""
        return {"means": self.means.tolist(), "scales": self.scales.tolist()}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Standardise as the scaler that made ``state`` (from :meth:`snapshot`)."""
        self.means, self.scales = plain_array(state["means"]), plain_array(state["scales"])
        self.means_row, self.scales_row = self.means.tolist(), self.scales.tolist()


def log_or(value: float | str | None, fill: float) -> float:
    """The model's view of one feature: log-scaled, or ``fill`` when missing.

    >>> log_or(math.e - 1, 0.5), log_or(-3.0, 0.5), log_or(None, 0.5), log_or("7", 0.5)
    (1.0, 0.0, 0.5, 0.5)
    """
    # `type(...) is float` first: features are floats, and the isinstance is 3x slower.
    if (type(value) is float or isinstance(value, int | float)) and math.isfinite(value):
        return math.log1p(value if value > 0.0 else 0.0)
    return fill


def log_scaled(value: float | str | None) -> float | None:
    """A feature on the model's log scale, or None when it is missing or not finite."""
    if isinstance(value, int | float) and math.isfinite(value):
        return math.log1p(max(0.0, value))
    return None
