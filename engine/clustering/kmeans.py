"""Online k-means, re-centred by Lloyd passes (and a k-means++ restart) at publication."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
from river import cluster

from engine.clustering.base import RiverModel

__all__ = ["RESTART_GAIN", "KMeansModel", "kmeans_init", "lloyd"]

# A fresh k-means start replaces the running centroids only if it leaves this much
# (or less) of their within-cluster sum of squares: small gains are not worth renames.
RESTART_GAIN = 0.9


class KMeansModel(RiverModel):
    """River's incremental k-means, seeded and re-centred on the sample.

    River's k-means starts from random points; it is seeded instead with k-means++
    and a few Lloyd passes over the warm-up sample, which saves it from dead centroids.
    At each publication the standardisation is re-estimated and the centres moved
    with it, then re-centred by Lloyd passes over the sample (see :meth:`publish`).

    Parameters
    ----------
    features
        Names of the vector's coordinates, in order.
    n_segments
        Number of centres.
    seed
        Seeds River's model and the k-means++ starts.
    halflife
        How far a centre steps towards each point it learns.

    Examples
    --------
    >>> model = KMeansModel(("x",), n_segments=2, seed=1)
    >>> model.start(np.array([[0.0], [0.1], [5.0], [5.1]]))
    >>> model.centers().round(2).tolist()
    [[0.05], [5.05]]
    >>> model.learn_one({"x": 0.15})  # a step of halflife towards it
    >>> model.centers().round(3).tolist()
    [[0.052], [5.05]]
    """

    restandardises = True

    def __init__(
        self, features: Sequence[str], n_segments: int = 6, seed: int = 42, halflife: float = 0.02
    ) -> None:
        river = cluster.KMeans(n_clusters=n_segments, halflife=halflife, seed=seed)
        super().__init__(features, river)
        self.n_segments = n_segments
        self.seed = seed
        self.halflife = halflife

    def start(self, z: np.ndarray) -> None:
        centers, _ = lloyd(z, kmeans_init(z, self.n_segments, random.Random(self.seed)), 10)
        self._set_centers(centers)

    def rescale(
        self, old: tuple[np.ndarray, np.ndarray], new: tuple[np.ndarray, np.ndarray]
    ) -> None:
        (old_means, old_scales), (means, scales) = old, new
        self._set_centers((self.centers() * old_scales + old_means - means) / scales)

    def publish(self, z: np.ndarray, step: int) -> None:
        """Mini-batch k-means step: Lloyd passes over the sample from River's centroids.

        Online k-means can settle in a poor local optimum (two groups sharing a centroid
        while another centroid splits one group), so a fresh k-means++ start on the same
        sample is tried too, and taken only when it serves the sample clearly better;
        the segmenter's identity matching then records the splits and merges.
        """
        current, cost = lloyd(z, self.centers(), passes=3)
        rng = random.Random(self.seed * 1_000_003 + step)
        fresh, fresh_cost = lloyd(z, kmeans_init(z, self.n_segments, rng), passes=10)
        self._set_centers(fresh if fresh_cost < RESTART_GAIN * cost else current)

    def _set_centers(self, centers: np.ndarray) -> None:
        for i, row in enumerate(centers):
            self._river.centers[i] = dict(zip(self.features, map(float, row), strict=True))


def lloyd(z: np.ndarray, centers: np.ndarray, passes: int) -> tuple[np.ndarray, float]:
    """Lloyd passes; a centroid nobody is nearest to moves onto the worst-served point.
    Returns the centroids and the within-cluster sum of squares they give.

    >>> z = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> centers, cost = lloyd(z, np.array([[0.0], [1.0]]), passes=2)
    >>> centers.tolist(), cost
    ([[0.5], [10.5]], 1.0)
    """
    centers = centers.copy()
    for _ in range(passes):
        d = ((z[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        labels = d.argmin(axis=1)
        worst: list[int] | None = None  # sorted only when a centroid lost everyone
        for i in range(len(centers)):
            members = z[labels == i]
            if len(members):
                centers[i] = members.mean(axis=0)
                continue
            if worst is None:
                worst = list(np.argsort(-d[np.arange(len(z)), labels]))
            if worst:
                centers[i] = z[worst.pop(0)]
    d = ((z[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    return centers, float(d.min(axis=1).sum())


def kmeans_init(z: np.ndarray, k: int, rng: random.Random) -> np.ndarray:
    """k-means++ seeds (deterministic for ``rng``); refine them with :func:`lloyd`.

    >>> z = np.array([[0.0], [0.1], [9.0]])
    >>> sorted(kmeans_init(z, 2, random.Random(0))[:, 0].tolist())[-1]
    9.0
    """
    centers = [z[rng.randrange(len(z))]]
    for _ in range(1, k):
        d2 = np.min([((z - c) ** 2).sum(axis=1) for c in centers], axis=0)
        total = float(d2.sum())
        pick = rng.random() * total if total > 0 else 0.0
        centers.append(z[min(int(np.searchsorted(np.cumsum(d2), pick)), len(z) - 1)])
    return np.array(centers)
