"""The online clustering models a ``LearnedSegmenter`` can run, by name.

Each model is one module behind :class:`ClusteringModel`; adding one is a module and a
line in :data:`MODELS` (and its options in ``schemas.config``).

>>> sorted(MODELS)
['dbstream', 'denstream', 'kmeans', 'streamkmeans']
>>> model = make_model("dbstream", ("x",), n_segments=3, seed=1, options={"mu": 2})
... # doctest: +ELLIPSIS
Traceback (most recent call last):
TypeError: ...__init__() got an unexpected keyword argument 'mu'
>>> type(make_model("denstream", ("x",), n_segments=3, seed=1, options={"mu": 3})).__name__
'DenStreamModel'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.clustering.base import ClusteringModel, ModelFactory, RiverModel
from engine.clustering.dbstream import DBSTREAMModel
from engine.clustering.denstream import DenStreamModel
from engine.clustering.kmeans import KMeansModel
from engine.clustering.streamkmeans import STREAMKMeansModel

__all__ = [
    "MODELS",
    "ClusteringModel",
    "DBSTREAMModel",
    "DenStreamModel",
    "KMeansModel",
    "ModelFactory",
    "RiverModel",
    "STREAMKMeansModel",
    "make_model",
]


def _kmeans(
    features: tuple[str, ...], n_segments: int, seed: int, **options: Any
) -> ClusteringModel:
    return KMeansModel(features, n_segments=n_segments, seed=seed, **options)


def _streamkmeans(
    features: tuple[str, ...], n_segments: int, seed: int, **options: Any
) -> ClusteringModel:
    return STREAMKMeansModel(features, n_segments=n_segments, seed=seed, **options)


# The density-based models find their own number of clusters and use no randomness.
def _dbstream(
    features: tuple[str, ...], n_segments: int, seed: int, **options: Any
) -> ClusteringModel:
    return DBSTREAMModel(features, **options)


def _denstream(
    features: tuple[str, ...], n_segments: int, seed: int, **options: Any
) -> ClusteringModel:
    return DenStreamModel(features, **options)


MODELS: dict[str, ModelFactory] = {
    "dbstream": _dbstream,
    "denstream": _denstream,
    "kmeans": _kmeans,
    "streamkmeans": _streamkmeans,
}


def make_model(
    name: str,
    features: tuple[str, ...],
    n_segments: int,
    seed: int,
    options: Mapping[str, Any] | None = None,
) -> ClusteringModel:
    """The model registered as ``name``, built with its ``options`` (keyword arguments)."""
    try:
        factory = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown clustering model {name!r}; known: {sorted(MODELS)}") from None
    return factory(features, n_segments, seed, **(options or {}))
