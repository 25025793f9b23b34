"""DBSTREAM: density-based micro-clusters joined by the density they share."""

from __future__ import annotations

from collections.abc import Sequence

from river import cluster

from engine.clustering.base import RiverModel

__all__ = ["DBSTREAMModel"]


class DBSTREAMModel(RiverModel):
    """River's DBSTREAM: as many segments as the shared-density graph has components.

    It takes no count and no seed, and keeps the standardisation of the warm-up sample.

    Parameters
    ----------
    features
        Names of the vector's coordinates, in order.
    clustering_threshold
        Radius of a micro-cluster, in standard deviations.
    fading_factor
        How fast old vectors fade.
    cleanup_interval
        Time between two removals of weak micro-clusters.
    intersection_factor
        Shared density, relative to the clusters' own, that joins two micro-clusters.
    minimum_weight
        Weight below which a micro-cluster is noise.

    Examples
    --------
    >>> import numpy as np
    >>> model = DBSTREAMModel(("x",))
    >>> model.start(np.array([[0.0], [0.1], [0.2], [9.0], [9.1], [9.2]] * 3))
    >>> len(model.centers())
    2
    """

    def __init__(
        self,
        features: Sequence[str],
        clustering_threshold: float = 1.5,
        fading_factor: float = 0.001,
        cleanup_interval: float = 2,
        intersection_factor: float = 0.3,
        minimum_weight: float = 1.0,
    ) -> None:
        river = cluster.DBSTREAM(
            clustering_threshold=clustering_threshold,
            fading_factor=fading_factor,
            cleanup_interval=cleanup_interval,
            intersection_factor=intersection_factor,
            minimum_weight=minimum_weight,
        )
        super().__init__(features, river)
        self.clustering_threshold = clustering_threshold
        self.fading_factor = fading_factor
        self.cleanup_interval = cleanup_interval
        self.intersection_factor = intersection_factor
        self.minimum_weight = minimum_weight
