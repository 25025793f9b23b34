"""STREAMKMeans: k-means over chunks of the stream, kept as River runs it."""

from __future__ import annotations

from collections.abc import Sequence

from river import cluster

from engine.clustering.base import RiverModel

__all__ = ["STREAMKMeansModel"]


class STREAMKMeansModel(RiverModel):
    """River's STREAMKMeans: every ``chunk_size`` vectors are clustered apart, and the
    chunk's centres are learned by a running k-means.

    Its centres are River's own, so the standardisation of the warm-up sample is kept.

    Parameters
    ----------
    features
        Names of the vector's coordinates, in order.
    n_segments
        Number of centres.
    seed
        Seeds River's k-means models.
    chunk_size
        Vectors per chunk.

    Examples
    --------
    >>> import numpy as np
    >>> model = STREAMKMeansModel(("x",), n_segments=2, chunk_size=2)
    >>> model.start(np.array([[0.0], [0.2], [5.0], [5.2]]))
    >>> model.centers().shape
    (2, 1)
    """

    def __init__(
        self, features: Sequence[str], n_segments: int = 6, seed: int = 42, chunk_size: int = 200
    ) -> None:
        # River leaves STREAMKMeans.__init__ unannotated.
        river = cluster.STREAMKMeans(  # type: ignore[no-untyped-call]
            chunk_size=chunk_size, n_clusters=n_segments, seed=seed
        )
        super().__init__(features, river)
        self.n_segments = n_segments
        self.seed = seed
        self.chunk_size = chunk_size
