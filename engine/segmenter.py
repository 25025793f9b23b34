"""Learned behavioural segments: a River clusterer behind published, matched models.

River learns from every lesson, but customers are assigned against a *published*
model (scaler statistics and centroids). Each publication matches the new
centroids to the previous ones by the customers they share (Hungarian, at least
``match_overlap`` of members kept), so a segment keeps its id and name while the
model moves; a centroid with no match is born as a new segment (a split) and an old
one with no match is retired into the segment most of its customers went to (a
merge), both recorded in ``lineage``. River's own cluster indices,
which change meaning as the model moves, never reach subscribers.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from math import dist, isfinite, log1p
from typing import Any

import numpy as np
from river import cluster
from scipy.optimize import linear_sum_assignment

from engine.naming import segment_name
from schemas.changes import SegmentRef

Vector = Mapping[str, float | str | None]
# A fresh k-means start replaces the running centroids only if it leaves this much
# (or less) of their within-cluster sum of squares: small gains are not worth renames.
RESTART_GAIN = 0.9


@dataclass(frozen=True, slots=True)
class PublishedModel:
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


@dataclass(slots=True)
class Decision:
    """Where a customer stands after one evaluation (hysteresis included); as input,
    ``segment_id`` is the challenger waiting out the hysteresis.

    Not frozen: two are made per event, and a frozen dataclass's ``__init__`` costs
    about five times as much."""

    segment_id: str | None
    pending_id: str | None
    pending_count: int
    pending_at_ms: int | None
    # How well the customer fits, when a model is published: distance to their
    # segment's centroid, simplified silhouette ((b - a) / max(a, b), b the nearest
    # other centroid) and whether the two nearest centroids are within the margin.
    # Not part of the decision: equal decisions may come from different distances.
    distance: float | None = field(default=None, compare=False)
    silhouette: float | None = field(default=None, compare=False)
    near_boundary: bool = field(default=False, compare=False)


class LearnedSegmenter:
    """Online clustering over log-scaled, standardised features, assigned via published models.

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
        hysteresis_spacing_ms: int = 3_600_000,
        match_overlap: float = 0.5,
        names: Mapping[str, str] | None = None,
        sample_size: int = 4096,
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
        self.hysteresis_spacing_ms = hysteresis_spacing_ms
        self.match_overlap = match_overlap
        self.names = dict(names or {})
        self.sample_size = sample_size
        # Standardisation, re-estimated from the sample at each k-means publication and
        # frozen in between, so River learns in the same space its centroids live in.
        self._means = np.zeros(len(self.features))
        self._scales = np.ones(len(self.features))
        # The same as lists: the hot path reads them, and float arithmetic on them
        # rounds exactly as numpy's does on the arrays.
        self._means_row: list[float] = self._means.tolist()
        self._scales_row: list[float] = self._scales.tolist()
        self._clusterer = _make_clusterer(model, n_segments, halflife, seed)
        # Latest vector of the most recently taught customers: where k-means seeds
        # from at the end of warm-up and re-centres on at each publication.
        self._sample: OrderedDict[str, list[float]] = OrderedDict()
        self._started = False
        self._started_at = 0  # lesson count at the first publication
        self._updates = 0
        self._published: PublishedModel | None = None
        self._rows: tuple[list[float], list[float], list[tuple[float, ...]]] | None = None
        self.segments: dict[str, SegmentRef] = {}
        self.lineage: list[Lineage] = []

    @property
    def model_version(self) -> int:
        return self._published.version if self._published else 0

    @property
    def updates(self) -> int:
        return self._updates

    @property
    def published_model(self) -> PublishedModel | None:
        return self._published

    @property
    def live_ids(self) -> tuple[str, ...]:
        return self._published.ids if self._published else ()

    def raw(self, x: Vector) -> dict[str, float]:
        """The model's view of ``x``: log-scaled; a missing value sits at the mean."""
        return dict(zip(self.features, self._raw_row(x), strict=True))

    def _raw_row(self, x: Vector) -> list[float]:
        return [_log_or(v, mean) for v, mean in zip(map(x.get, self.features),
                                                     self._means_row, strict=True)]  # fmt: skip

    def learn(self, x: Vector, customer_id: str | None = None) -> None:
        """Learn from one customer's vector; publish a model when one is due."""
        self._updates += 1
        key = customer_id if customer_id is not None else f"#{self._updates}"
        self._sample[key] = raw = self._raw_row(x)
        self._sample.move_to_end(key)
        if len(self._sample) > self.sample_size:
            self._sample.popitem(last=False)
        if not self._started:
            # k-means needs at least as many distinct customers as segments to start.
            if self._updates >= self.warmup_updates and len(self._sample) >= self.n_segments:
                self._start()
                self._started, self._started_at = True, self._updates
                self._publish()
            return
        scaled = zip(raw, self._means_row, self._scales_row, strict=True)
        z = [(v - mean) / scale for v, mean, scale in scaled]
        self._clusterer.learn_one(dict(zip(self.features, z, strict=True)))
        if (self._updates - self._started_at) % self.publish_every == 0:
            self._publish()

    def forget(self, customer_id: str) -> None:
        """Drop an erased customer's vector from the sample the model re-centres on."""
        self._sample.pop(customer_id, None)

    def distances(self, x: Vector) -> np.ndarray | None:
        d = self._distances(x)
        return None if d is None else np.array(d)

    def _distances(self, x: Vector) -> list[float] | None:
        """Distance to each published centroid. Plain Python: with a handful of
        segments and features, numpy's per-call overhead is most of the cost."""
        rows = self._rows
        if rows is None:
            return None
        means, scales, centroids = rows
        values = zip(map(x.get, self.features), self._means_row, means, scales, strict=True)
        # _log_or inlined for the usual finite float (a call per feature is most of the
        # cost); a tuple, as math.dist would otherwise copy a list into one per centroid.
        z = tuple([((log1p(v if v > 0.0 else 0.0) if type(v) is float and isfinite(v)
                     else _log_or(v, fill)) - m) / s for v, fill, m, s in values])  # fmt: skip
        return [dist(z, c) for c in centroids]

    def nearest(self, x: Vector) -> str | None:
        d = self._distances(x)
        return (
            None if d is None or self._published is None else self._published.ids[d.index(min(d))]
        )

    def decide(self, x: Vector, now_ms: int, current: str | None, pending: Decision) -> Decision:
        """Nearest segment, but a customer leaves their segment only for one that is
        ``hysteresis_margin`` closer in ``hysteresis_evaluations`` evaluations in a row,
        counted at most once per ``hysteresis_spacing_ms`` of event time: several
        events of one session are one piece of evidence, not several."""
        d = self._distances(x)
        if d is None or self._published is None:
            return Decision(current, None, 0, None)
        ids = self._published.ids
        best = d.index(min(d))  # the first of equals, as ids are ordered
        if current not in ids:  # unassigned, or its segment was retired
            return self._fit(d, best, None, 0, None)
        own = ids.index(current)
        if best == own or d[best] >= (1 - self.hysteresis_margin) * d[own]:
            return self._fit(d, own, None, 0, None)
        if pending.segment_id != ids[best] or pending.pending_at_ms is None:
            count, at = 1, now_ms
        elif now_ms - pending.pending_at_ms >= self.hysteresis_spacing_ms:
            count, at = pending.pending_count + 1, now_ms
        else:
            count, at = pending.pending_count, pending.pending_at_ms
        if count >= self.hysteresis_evaluations:
            return self._fit(d, best, None, 0, None)
        return self._fit(d, own, ids[best], count, at)

    def _fit(
        self, d: list[float], own: int, pending: str | None, count: int, at: int | None
    ) -> Decision:
        """The decision for segment number ``own``, with how well the customer fits it."""
        assert self._published is not None
        segment = self._published.ids[own]
        a = d[own]
        if len(d) < 2:
            return Decision(segment, pending, count, at, a, None, False)
        first, second = sorted(d)[:2]
        b = second if a == first else first  # the nearest other centroid: distances are >= 0
        near = first >= (1 - self.hysteresis_margin) * second
        furthest = b if b > a else a  # max(a, b), without the call
        silhouette = (b - a) / furthest if furthest > 0 else 0.0
        return Decision(segment, pending, count, at, a, silhouette, near)

    def _sample_raw(self) -> np.ndarray:
        """The sample as an array: made once per publication (4,096 rows take ~7 ms)."""
        return np.array(list(self._sample.values()))

    def _z(self, raw: np.ndarray) -> np.ndarray:
        z: np.ndarray = (raw - self._means) / self._scales
        return z

    def _restandardise(self, sample: np.ndarray) -> None:
        """Re-estimate the standardisation from the sample; River's centroids follow."""
        old_means, old_scales = self._means, self._scales
        self._means, spread = sample.mean(axis=0), sample.std(axis=0)
        self._scales = np.where(spread > 1e-9, spread, 1.0)
        self._means_row, self._scales_row = self._means.tolist(), self._scales.tolist()
        if self._started and self.model == "kmeans":
            centers = _centers(self._clusterer, self.features) * old_scales + old_means
            self._set_centers((centers - self._means) / self._scales)

    def _start(self) -> None:
        raw = self._sample_raw()
        self._restandardise(raw)
        z = self._z(raw)
        if self.model != "kmeans":
            for row in z:
                self._clusterer.learn_one(dict(zip(self.features, map(float, row), strict=True)))
            return
        # River's k-means starts from random points; seeding it with k-means++ and a
        # few Lloyd passes over the warm-up sample saves it from dead centroids.
        centers, _ = _lloyd(z, _kmeans_init(z, self.n_segments, random.Random(self.seed)), 10)
        self._set_centers(centers)

    def _set_centers(self, centers: np.ndarray) -> None:
        for i, row in enumerate(centers):
            self._clusterer.centers[i] = dict(zip(self.features, map(float, row), strict=True))

    def _recentre(self, z: np.ndarray) -> None:
        """Mini-batch k-means step at publication: Lloyd passes over the current sample
        from River's centroids. Online k-means can settle in a poor local optimum (two
        groups sharing a centroid while another centroid splits one group), so a fresh
        k-means++ start on the same sample is tried too, and taken only when it serves
        the sample clearly better; identity matching then records the splits and merges."""
        current, cost = _lloyd(z, _centers(self._clusterer, self.features), passes=3)
        rng = random.Random(self.seed * 1_000_003 + self._updates)
        fresh, fresh_cost = _lloyd(z, _kmeans_init(z, self.n_segments, rng), passes=10)
        self._set_centers(fresh if fresh_cost < RESTART_GAIN * cost else current)

    def _publish(self) -> None:
        raw = self._sample_raw()
        if self.model == "kmeans":
            self._restandardise(raw)
            self._recentre(self._z(raw))
        elif self.model == "denstream":
            # DenStream forms its clusters only inside predict_one (River issue 1011).
            self._clusterer.predict_one(dict.fromkeys(self.features, 0.0))
        centers = _centers(self._clusterer, self.features)
        if len(centers) == 0:
            return
        version = self.model_version + 1
        ids = self._match(centers, version, raw)
        self._published = PublishedModel(
            version, self._means.copy(), self._scales.copy(), ids, centers
        )
        centroids = [tuple(row) for row in centers.tolist()]  # tuples: see _distances
        self._rows = (self._means.tolist(), self._scales.tolist(), centroids)

    def _match(self, centers: np.ndarray, version: int, raw: np.ndarray) -> tuple[str, ...]:
        """Give each new centroid the id of the previous segment it continues, if any.

        Continuity is judged by who is in the segment, not where its centroid sits:
        the sample's customers are assigned under the old and the new model, and a
        new centroid continues an old segment when at least ``match_overlap`` of
        each side's members are shared. A centroid may move far (everyone ages, the
        population changes) and keep its name as long as its customers stay with it.
        """
        old = self._published
        if old is None:
            taken: set[str] = set()
            ids = [self._birth(center, taken) for center in centers]
            self.lineage.extend(Lineage(version, "born", (), (i,)) for i in ids)
            return tuple(ids)
        before = _labels(old.z(raw), old.centroids)
        after = _labels(self._z(raw), centers)
        shared = np.zeros((len(old.ids), len(centers)))
        np.add.at(shared, (before, after), 1)
        old_sizes, new_sizes = shared.sum(axis=1), shared.sum(axis=0)
        matched: dict[int, str] = {}
        for r, c in zip(*linear_sum_assignment(-shared), strict=True):
            share = self.match_overlap
            if shared[r, c] > 0 and shared[r, c] >= share * max(old_sizes[r], new_sizes[c]):
                matched[int(c)] = old.ids[r]
        taken = {self.segments[i].name for i in old.ids}
        ids = [matched.get(c) or self._birth(centers[c], taken) for c in range(len(centers))]
        for c, new_id in enumerate(ids):
            if c not in matched:  # continues no segment: split off where most came from
                source = old.ids[int(shared[:, c].argmax())]
                self.lineage.append(Lineage(version, "split", (source,), (new_id,)))
        for r, old_id in enumerate(old.ids):
            if old_id not in matched.values():  # retired: most of its customers went here
                target = ids[int(shared[r].argmax())]
                self.lineage.append(Lineage(version, "merge", (old_id,), (target,)))
        return tuple(ids)

    def _birth(self, centroid: np.ndarray, taken: set[str]) -> str:
        """A new segment, named apart from the live ones (``taken`` grows with it)."""
        segment_id = f"seg-{len(self.segments) + 1}"
        profile = dict(zip(self.features, map(float, centroid), strict=True))
        name = self.names.get(segment_id) or segment_name(profile, taken)
        taken.add(name)
        self.segments[segment_id] = SegmentRef(id=segment_id, name=name, kind="learned")
        return segment_id


def _log_or(value: float | str | None, fill: float) -> float:
    """The model's view of one feature: log-scaled, or ``fill`` when missing."""
    # `type(...) is float` first: features are floats, and the isinstance is 3x slower.
    if (type(value) is float or isinstance(value, int | float)) and math.isfinite(value):
        return math.log1p(value if value > 0.0 else 0.0)
    return fill


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


def _labels(z: np.ndarray, centers: np.ndarray) -> np.ndarray:
    labels: np.ndarray = ((z[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    return labels


def _lloyd(z: np.ndarray, centers: np.ndarray, passes: int) -> tuple[np.ndarray, float]:
    """Lloyd passes; a centroid nobody is nearest to moves onto the worst-served point.
    Returns the centroids and the within-cluster sum of squares they give."""
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


def _kmeans_init(z: np.ndarray, k: int, rng: random.Random) -> np.ndarray:
    """k-means++ seeds (deterministic for ``rng``); refine them with :func:`_lloyd`."""
    centers = [z[rng.randrange(len(z))]]
    for _ in range(1, k):
        d2 = np.min([((z - c) ** 2).sum(axis=1) for c in centers], axis=0)
        total = float(d2.sum())
        pick = rng.random() * total if total > 0 else 0.0
        centers.append(z[min(int(np.searchsorted(np.cumsum(d2), pick)), len(z) - 1)])
    return np.array(centers)
