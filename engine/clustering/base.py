"""What the segmenter needs from an online clustering model, and the River plumbing
the four models share.

The segmenter owns the standardisation (log-scaled features, shifted and scaled by
the sample's means and spreads) and hands a model only standardised ("z") vectors.
A model learns them one at a time, starts from the warm-up sample, says where its
centres are, and does what it needs at each publication.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from engine.clustering.pickling import dumps, loads
from engine.snapshots import SnapshotError

__all__ = ["ClusteringModel", "ModelFactory", "RiverModel"]


class ClusteringModel(Protocol):
    """An online clustering model in standardised space, as ``LearnedSegmenter`` drives it."""

    #: Whether the segmenter may re-estimate the standardisation at each publication
    #: (it then calls :meth:`rescale`). A model that cannot move its centres keeps the
    #: standardisation of the warm-up sample for good.
    restandardises: bool

    def start(self, z: np.ndarray) -> None:
        """Start from the warm-up sample (one row per customer)."""
        ...

    def learn_one(self, z: dict[str, float]) -> None:
        """Learn one standardised vector."""
        ...

    def rescale(
        self, old: tuple[np.ndarray, np.ndarray], new: tuple[np.ndarray, np.ndarray]
    ) -> None:
        """Express the centres in a new standardisation: ``(means, scales)`` pairs."""
        ...

    def publish(self, z: np.ndarray, step: int) -> None:
        """Get ready for a publication over the sample ``z``; ``step`` counts lessons."""
        ...

    def centers(self) -> np.ndarray:
        """Current centres, one row each (in the model's order), a column per feature."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """The runtime state, detached and picklable."""
        ...

    def restore(self, state: Mapping[str, Any]) -> None:
        """Replace the runtime state with ``state`` (from :meth:`snapshot`)."""
        ...


class ModelFactory(Protocol):
    """Builds a model from the segmenter's settings and the model's own options."""

    def __call__(
        self, features: tuple[str, ...], n_segments: int, seed: int, **options: Any
    ) -> ClusteringModel: ...


class RiverModel:
    """A River clusterer behind :class:`ClusteringModel`: learns what it is given,
    starts by learning the warm-up sample, does nothing at publication.

    >>> from river import cluster
    >>> model = RiverModel(("x",), cluster.KMeans(n_clusters=1, halflife=0.5, seed=1))
    >>> model.start(np.array([[0.0], [2.0]]))
    >>> model.centers().shape
    (1, 1)
    """

    restandardises = False

    def __init__(self, features: Sequence[str], river: Any) -> None:
        self.features = tuple(features)
        self._river = river

    def start(self, z: np.ndarray) -> None:
        for row in z:
            self.learn_one(dict(zip(self.features, map(float, row), strict=True)))

    def learn_one(self, z: dict[str, float]) -> None:
        self._river.learn_one(z)

    def rescale(
        self, old: tuple[np.ndarray, np.ndarray], new: tuple[np.ndarray, np.ndarray]
    ) -> None:
        raise TypeError(f"{type(self).__name__} keeps its standardisation")

    def publish(self, z: np.ndarray, step: int) -> None:
        return None

    def centers(self) -> np.ndarray:
        rows = [[float(center.get(n, 0.0)) for n in self.features]
                for _, center in sorted(self._river.centers.items())]  # fmt: skip
        return np.array(rows).reshape(len(rows), len(self.features))

    def snapshot(self) -> dict[str, Any]:
        return {"river": dumps(self._river)}

    def restore(self, state: Mapping[str, Any]) -> None:
        river = loads(state["river"])
        if type(river) is not type(self._river):
            raise SnapshotError(
                f"the snapshot holds a {type(river).__name__}, not a {type(self._river).__name__}"
            )
        self._river = river
