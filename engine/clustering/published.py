"""A published model: the standardisation and centroids customers are assigned against.

It is frozen at publication; the clustering model goes on learning behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from engine.clustering.pickling import plain_array

__all__ = ["PublishedModel"]

Rows = tuple[list[float], list[float], list[tuple[float, ...]]]


@dataclass(frozen=True, slots=True, eq=False)
class PublishedModel:
    """A published model: what assignments are made against (centroids in z-space).
    Equal when every field is, arrays element by element.

    >>> model = PublishedModel(1, np.array([1.0]), np.array([2.0]), ("s1",), np.array([[0.5]]))
    >>> model.z(np.array([[3.0]])).tolist()
    [[1.0]]
    >>> PublishedModel.from_plain(model.to_plain()) == model
    True
    """

    version: int
    means: np.ndarray
    scales: np.ndarray
    ids: tuple[str, ...]
    centroids: np.ndarray  # one row per id
    _rows: Rows = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Worked out once: every assignment against this model reads them.
        centroids = [tuple(row) for row in self.centroids.tolist()]
        object.__setattr__(self, "_rows", (self.means.tolist(), self.scales.tolist(), centroids))

    def z(self, raw: np.ndarray) -> np.ndarray:
        result: np.ndarray = (raw - self.means) / self.scales
        return result

    def shift(self, means: np.ndarray, scales: np.ndarray, centroids: np.ndarray) -> float:
        """How far a candidate model's centroids lie from this model's: the longest
        distance between matched pairs (each of ours to one of theirs, the pairing that
        moves least in total), in the candidate's standardised space, and in ours.
        Infinite when the counts differ (a birth or a
        retirement is always news).

        >>> model = PublishedModel(1, np.array([0.0]), np.array([1.0]), ("a", "b"),
        ...                        np.array([[0.0], [4.0]]))
        >>> model.shift(np.array([0.0]), np.array([2.0]), np.array([[2.5], [0.0]]))  # 4 -> 5
        1.0
        """
        if centroids.shape != self.centroids.shape:
            return float("inf")
        # In both spaces: a new standardisation alone moves customers' distances too.
        ours = (self.centroids * self.scales + self.means - means) / scales
        theirs = (centroids * scales + means - self.means) / self.scales
        gaps = np.maximum(_gaps(ours, centroids), _gaps(self.centroids, theirs))
        rows, cols = linear_sum_assignment(gaps)
        return float(gaps[rows, cols].max()) if len(rows) else 0.0

    def rows(self) -> Rows:
        """Means, scales and centroids as lists, for per-event arithmetic in plain Python
        (it rounds as numpy does); centroids as tuples, as ``math.dist`` would otherwise
        copy a list into one per centroid."""
        return self._rows

    def to_plain(self) -> tuple[Any, ...]:
        """Plain values, for a snapshot (see :mod:`engine.clustering.pickling`)."""
        arrays = self.means.tolist(), self.scales.tolist(), self.centroids.tolist()
        return self.version, self.ids, *arrays

    @classmethod
    def from_plain(cls, plain: tuple[Any, ...]) -> PublishedModel:
        """The model :meth:`to_plain` gave ``plain`` for."""
        version, ids, means, scales, centroids = plain
        return cls(version, plain_array(means), plain_array(scales), tuple(ids),
                   plain_array(centroids))  # fmt: skip

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublishedModel):
            return NotImplemented
        arrays = zip((self.means, self.scales, self.centroids),
                     (other.means, other.scales, other.centroids), strict=True)  # fmt: skip
        same = (self.version, self.ids) == (other.version, other.ids)
        return same and all(np.array_equal(a, b) for a, b in arrays)


def _gaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from each row of ``a`` to each row of ``b``."""
    gaps: np.ndarray = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))
    return gaps
