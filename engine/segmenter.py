"""Learned behavioural segments: a River clusterer behind published, matched snapshots.

River learns from every lesson, but customers are assigned against a *published*
snapshot (scaler statistics and centroids). Each publication matches the new
centroids to the previous ones (Hungarian, within ``match_distance``), so a segment
keeps its id and name while the model moves; a centroid with no match is born as a
new segment (a split) and an old one with no match is retired into its nearest
successor (a merge), both recorded in ``lineage``. River's own cluster indices,
which change meaning as the model moves, never reach subscribers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from river import cluster, preprocessing
from scipy.optimize import linear_sum_assignment

from engine.naming import segment_name
from schemas.changes import SegmentRef

Vector = Mapping[str, float | str | None]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A published model: what assignments are made against (centroids in z-space)."""

    version: int
    means: np.ndarray
    scales: np.ndarray
    ids: tuple[str, ...]
    centroids: np.ndarray  # one row per id

    def z(self, raw: np.ndarray) -> np.ndarray:
        result: np.ndarray = (raw - self.means) / self.scales
        return result


@dataclass(frozen=True, slots=True)
class Lineage:
    """How segments changed at a model version: ``born``, ``split`` or ``merge``."""

    version: int
    kind: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a customer stands after one evaluation (hysteresis included)."""

    segment_id: str | None
    pending_id: str | None
    pending_count: int


class LearnedSegmenter:
    """Online clustering over log-scaled, standardised features, assigned via snapshots.

    >>> seg = LearnedSegmenter(["x"], n_segments=2, warmup_updates=20, publish_every=10)
    >>> for i in range(20):
    ...     seg.learn({"x": float(i % 2) * 100})
    >>> seg.model_version
    1
    >>> a, b = seg.nearest({"x": 0.0}), seg.nearest({"x": 100.0})
    >>> a != b and {a, b} == set(seg.live_ids)
    True
    """

    def __init__(
        self,
        features: Sequence[str],
        model: str = "kmeans",
        n_segments: int = 6,
        seed: int = 42,
        halflife: float = 0.02,
        warmup_updates: int = 1000,
        publish_every: int = 2000,
        hysteresis_margin: float = 0.1,
        hysteresis_evaluations: int = 2,
        match_distance: float = 1.5,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.features = tuple(features)
        self.model = model
        self.n_segments = n_segments
        self.seed = seed
        self.halflife = halflife
        self.warmup_updates = warmup_updates
        self.publish_every = publish_every
        self.hysteresis_margin = hysteresis_margin
        self.hysteresis_evaluations = hysteresis_evaluations
        self.match_distance = match_distance
        self.names = dict(names or {})
        self._scaler = preprocessing.StandardScaler()
        self._clusterer = _make_clusterer(model, n_segments, halflife, seed)
        self._warmup: list[dict[str, float]] | None = []
        self._updates = 0
        self._snapshot: Snapshot | None = None
        self.segments: dict[str, SegmentRef] = {}
        self.lineage: list[Lineage] = []

    @property
    def model_version(self) -> int:
        return self._snapshot.version if self._snapshot else 0

    @property
    def updates(self) -> int:
        return self._updates

    @property
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    @property
    def live_ids(self) -> tuple[str, ...]:
        return self._snapshot.ids if self._snapshot else ()

    def raw(self, x: Vector) -> dict[str, float]:
        """The model's view of ``x``: log-scaled; a missing value sits at the mean."""
        out = {}
        for name in self.features:
            value = x.get(name)
            if isinstance(value, int | float) and math.isfinite(value):
                out[name] = math.log1p(max(0.0, value))
            else:
                out[name] = self._scaler.means.get(name, 0.0)
        return out

    def learn(self, x: Vector) -> None:
        """Learn from one customer's vector; publish a snapshot when one is due."""
        raw = self.raw(x)
        self._scaler.learn_one(raw)
        self._updates += 1
        if self._warmup is not None:
            self._warmup.append(raw)
            if self._updates >= self.warmup_updates:
                self._start(self._warmup)
                self._warmup = None
                self._publish()
            return
        self._clusterer.learn_one(self._scaler.transform_one(raw))
        if (self._updates - self.warmup_updates) % self.publish_every == 0:
            self._publish()

    def distances(self, x: Vector) -> np.ndarray | None:
        snap = self._snapshot
        if snap is None:
            return None
        raw = self.raw(x)
        z = snap.z(np.array([raw[name] for name in self.features]))
        result: np.ndarray = np.sqrt(((snap.centroids - z) ** 2).sum(axis=1))
        return result

    def nearest(self, x: Vector) -> str | None:
        d = self.distances(x)
        return None if d is None or self._snapshot is None else self._snapshot.ids[int(d.argmin())]

    def decide(self, x: Vector, current: str | None, pending: str | None, count: int) -> Decision:
        """Nearest segment, but a customer leaves their segment only for one that is
        ``hysteresis_margin`` closer, ``hysteresis_evaluations`` times in a row."""
        d = self.distances(x)
        if d is None or self._snapshot is None:
            return Decision(current, None, 0)
        ids = self._snapshot.ids
        best = ids[int(d.argmin())]
        if current not in ids:  # unassigned, or its segment was retired
            return Decision(best, None, 0)
        if (
            best == current
            or d[ids.index(best)] >= (1 - self.hysteresis_margin) * d[ids.index(current)]
        ):
            return Decision(current, None, 0)
        count = count + 1 if pending == best else 1
        if count >= self.hysteresis_evaluations:
            return Decision(best, None, 0)
        return Decision(current, best, count)

    def _start(self, sample: list[dict[str, float]]) -> None:
        if self.model != "kmeans":
            for raw in sample:
                self._clusterer.learn_one(self._scaler.transform_one(raw))
            return
        # River's k-means starts from random points; seeding it with k-means++ and a
        # few Lloyd passes over the warm-up sample saves it from dead centroids.
        z = np.array([[self._scaler.transform_one(r)[n] for n in self.features] for r in sample])
        centers = _kmeans_init(z, self.n_segments, random.Random(self.seed))
        for i, row in enumerate(centers):
            self._clusterer.centers[i] = dict(zip(self.features, map(float, row), strict=True))

    def _publish(self) -> None:
        centers = _centers(self._clusterer, self.features)
        if len(centers) == 0:
            return
        means = np.array([self._scaler.means.get(n, 0.0) for n in self.features])
        scales = np.array([math.sqrt(self._scaler.vars.get(n, 0.0)) or 1.0 for n in self.features])
        version = self.model_version + 1
        ids = self._match(centers, means, scales, version)
        self._snapshot = Snapshot(version, means, scales, ids, centers)

    def _match(
        self, centers: np.ndarray, means: np.ndarray, scales: np.ndarray, version: int
    ) -> tuple[str, ...]:
        old = self._snapshot
        ids: list[str | None] = [None] * len(centers)
        if old is not None:
            previous = (old.centroids * old.scales + old.means - means) / scales
            cost = np.sqrt(((previous[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2))
            for r, c in zip(*linear_sum_assignment(cost), strict=True):
                if cost[r, c] <= self.match_distance:
                    ids[c] = old.ids[r]
            self._record_merges(old.ids, ids, cost, version)
        named: list[str] = []
        for c, assigned in enumerate(ids):
            if assigned is None:
                assigned = self._birth(centers[c], version)
                sources = () if old is None else (old.ids[int(cost[:, c].argmin())],)
                kind = "split" if sources else "born"
                self.lineage.append(Lineage(version, kind, sources, (assigned,)))
            named.append(assigned)
        return tuple(named)

    def _record_merges(self, old_ids: tuple[str, ...], ids: list[str | None],
                       cost: np.ndarray, version: int) -> None:  # fmt: skip
        kept = set(ids)
        for r, old_id in enumerate(old_ids):
            if old_id not in kept:
                target = ids[int(cost[r].argmin())]
                targets = (target,) if target is not None else ()
                self.lineage.append(Lineage(version, "merge", (old_id,), targets))

    def _birth(self, centroid: np.ndarray, version: int) -> str:
        segment_id = f"seg-{len(self.segments) + 1}"
        taken = {ref.name for ref in self.segments.values()}
        profile = dict(zip(self.features, map(float, centroid), strict=True))
        name = self.names.get(segment_id) or segment_name(profile, taken)
        self.segments[segment_id] = SegmentRef(id=segment_id, name=name, kind="learned")
        return segment_id


def _make_clusterer(model: str, n_segments: int, halflife: float, seed: int) -> Any:
    if model == "kmeans":
        return cluster.KMeans(n_clusters=n_segments, halflife=halflife, seed=seed)
    if model == "streamkmeans":
        return cluster.STREAMKMeans(chunk_size=200, n_clusters=n_segments, seed=seed)
    if model == "dbstream":
        return cluster.DBSTREAM(clustering_threshold=1.5, fading_factor=0.001)
    if model == "denstream":
        return cluster.DenStream(decaying_factor=0.01, beta=0.5, mu=2.5, epsilon=0.5,
                                 n_samples_init=500)  # fmt: skip
    raise ValueError(f"unknown clustering model {model!r}")


def _centers(clusterer: Any, features: tuple[str, ...]) -> np.ndarray:
    rows = [[float(center.get(n, 0.0)) for n in features]
            for _, center in sorted(clusterer.centers.items())]  # fmt: skip
    return np.array(rows).reshape(len(rows), len(features))


def _kmeans_init(z: np.ndarray, k: int, rng: random.Random, passes: int = 10) -> np.ndarray:
    """k-means++ seeds refined by a few Lloyd passes (deterministic for ``rng``)."""
    centers = [z[rng.randrange(len(z))]]
    for _ in range(1, k):
        d2 = np.min([((z - c) ** 2).sum(axis=1) for c in centers], axis=0)
        total = float(d2.sum())
        pick = rng.random() * total if total > 0 else 0.0
        centers.append(z[min(int(np.searchsorted(np.cumsum(d2), pick)), len(z) - 1)])
    result = np.array(centers)
    for _ in range(passes):
        labels = ((z[:, None, :] - result[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
        for i in range(k):
            members = z[labels == i]
            if len(members):
                result[i] = members.mean(axis=0)
    return result
