"""DenStream: potential and outlier micro-clusters, clustered on request."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from river import cluster

from engine.clustering.base import RiverModel

__all__ = ["DenStreamModel"]


class DenStreamModel(RiverModel):
    """River's DenStream: as many segments as DBSCAN finds among its micro-clusters.

    It has no centres until ``n_samples_init`` vectors are learned, takes no count and
    no seed, and keeps the standardisation of the warm-up sample.

    Parameters
    ----------
    features
        Names of the vector's coordinates, in order.
    decaying_factor
        How fast old vectors fade.
    beta
        Share of ``mu`` that makes a potential (not outlier) micro-cluster.
    mu
        Weight of a core micro-cluster.
    epsilon
        Radius of a micro-cluster, in standard deviations.
    n_samples_init
        Vectors buffered before the first clustering.
    stream_speed
        Vectors per unit of time.

    Examples
    --------
    >>> model = DenStreamModel(("x",), n_samples_init=12)
    >>> model.start(np.array([[0.0], [0.1], [0.2], [9.0], [9.1], [9.2]] * 2))
    >>> model.initialized, len(model.centers())
    (True, 0)
    >>> model.publish(np.zeros((0, 1)), 12)
    >>> model.centers().round(2).tolist()
    [[0.1], [9.1]]
    """

    def __init__(
        self,
        features: Sequence[str],
        decaying_factor: float = 0.01,
        beta: float = 0.5,
        mu: float = 2.5,
        epsilon: float = 0.5,
        n_samples_init: int = 500,
        stream_speed: int = 100,
    ) -> None:
        river = cluster.DenStream(
            decaying_factor=decaying_factor,
            beta=beta,
            mu=mu,
            epsilon=epsilon,
            n_samples_init=n_samples_init,
            stream_speed=stream_speed,
        )
        super().__init__(features, river)
        self.decaying_factor = decaying_factor
        self.beta = beta
        self.mu = mu
        self.epsilon = epsilon
        self.n_samples_init = n_samples_init
        self.stream_speed = stream_speed

    @property
    def initialized(self) -> bool:
        """Whether the initial buffer has been clustered."""
        return bool(self._river.initialized)

    def publish(self, z: np.ndarray, step: int) -> None:
        # DenStream forms its clusters only inside predict_one (River issue 1011).
        self._river.predict_one(dict.fromkeys(self.features, 0.0))
