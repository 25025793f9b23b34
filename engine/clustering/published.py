"""A published model: the standardisation and centroids customers are assigned against.

It is frozen at publication; the clustering model goes on learning behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
