"""Learned behavioural segments: River online k-means behind published snapshots.

River's model learns from every update, but customers are assigned against a
*published* snapshot of it (scaler statistics and centroids). Publishing on a fixed
cadence gives each assignment a model version to name, and keeps River's cluster
indices, which drift as the model moves, out of what subscribers see.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from river import cluster, preprocessing

from schemas.changes import SegmentRef


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A published model: what assignments are made against."""

    version: int
    means: tuple[float, ...]
    scales: tuple[float, ...]
    centroids: tuple[tuple[float, ...], ...]


class LearnedSegmenter:
    """Online k-means over log-scaled, standardised features, assigning against snapshots.

    Features are non-negative counts, days and money with long tails: they are
    log-scaled first so that k-means does not spend its centroids on a few whales.

    >>> seg = LearnedSegmenter(["x"], n_segments=2, warmup_updates=4, publish_every=4)
    >>> for value in [0.0, 0.1, 10.0, 10.1]:
    ...     seg.learn({"x": value})
    >>> seg.model_version
    1
    >>> seg.assign({"x": 0.05}) != seg.assign({"x": 10.05})
    True
    """

    def __init__(
        self,
        features: Sequence[str],
        n_segments: int = 6,
        seed: int = 42,
        halflife: float = 0.05,
        warmup_updates: int = 500,
        publish_every: int = 1000,
    ) -> None:
        self.features = tuple(features)
        self.n_segments = n_segments
        self.seed = seed
        self.halflife = halflife
        self.warmup_updates = warmup_updates
        self.publish_every = publish_every
        self._scaler = preprocessing.StandardScaler()
        self._kmeans = cluster.KMeans(n_clusters=n_segments, halflife=halflife, seed=seed)
        self._updates = 0
        self._snapshot: Snapshot | None = None
        self.segments = {ref.id: ref for ref in map(_segment_ref, range(n_segments))}

    @property
    def model_version(self) -> int:
        return self._snapshot.version if self._snapshot else 0

    @property
    def updates(self) -> int:
        return self._updates

    def learn(self, x: dict[str, float]) -> None:
        """Learn from one feature vector; publish a snapshot when one is due."""
        x = {name: math.log1p(x[name]) for name in self.features}
        self._scaler.learn_one(x)
        self._kmeans.learn_one(self._scaler.transform_one(x))
        self._updates += 1
        due = self._updates - self.warmup_updates
        if due >= 0 and due % self.publish_every == 0:
            self._publish()

    def assign(self, x: dict[str, float]) -> SegmentRef | None:
        """The segment of ``x`` under the published snapshot; ``None`` during warm-up."""
        snap = self._snapshot
        if snap is None:
            return None
        z = [
            (math.log1p(x[name]) - mean) / scale
            for name, mean, scale in zip(self.features, snap.means, snap.scales, strict=True)
        ]
        best = min(
            range(len(snap.centroids)),
            key=lambda i: sum((a - b) ** 2 for a, b in zip(z, snap.centroids[i], strict=True)),
        )
        return _segment_ref(best)

    def _publish(self) -> None:
        means = tuple(self._scaler.means[name] for name in self.features)
        scales = tuple(math.sqrt(self._scaler.vars[name]) or 1.0 for name in self.features)
        centroids = tuple(
            tuple(self._kmeans.centers[i][name] for name in self.features)
            for i in range(self.n_segments)
        )
        self._snapshot = Snapshot(self.model_version + 1, means, scales, centroids)


def _segment_ref(index: int) -> SegmentRef:
    return SegmentRef(id=f"learned-{index}", name=f"Behavioural segment {index}", kind="learned")
