"""Learned behavioural segments: a clustering model behind published, matched models.

The model (one of :mod:`engine.clustering`) learns from every lesson, but customers
are assigned against a *published* model: standardisation and centroids, frozen
until the next publication. Each publication matches the new centroids to the
previous ones by the customers they share (:mod:`engine.clustering.identity`), so a
segment keeps its id and name while the model moves, and births, splits and merges
are recorded in ``lineage``. The model's own cluster indices, which change meaning
as it moves, never reach subscribers.

A candidate model is published only when one of its centroids moved materially from
the published model's, and at most once per ``publish_min_interval_ms`` of event
time, so a model that barely moved costs no version, and the versions per month of
event time are bounded whatever the lesson rate.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from math import dist, isfinite, log1p
from typing import Any

import numpy as np

from engine.clustering import make_model
from engine.clustering.decision import Decision, fit
from engine.clustering.identity import Lineage, SegmentBook, nearest_labels
from engine.clustering.pickling import dumps, loads
from engine.clustering.published import PublishedModel
from engine.clustering.scaling import Scaler, Vector, log_or
from engine.snapshots import SnapshotError, check_snapshot
from schemas.changes import SegmentRef

__all__ = ["Decision", "LearnedSegmenter", "Lineage", "PublishedModel"]

SNAPSHOT_KIND, SNAPSHOT_VERSION = "learned_segmenter", 1
# What a snapshot's runtime state holds.
_RUNTIME = ("clustering", "scaler", "sample", "started", "started_at", "updates", "published",
            "segments", "lineage")  # fmt: skip


class LearnedSegmenter:
    """Online clustering over log-scaled, standardised features, assigned via published models.

    Parameters
    ----------
    features
        The vector's features the model learns from, in order.
    model
        A clustering model of :data:`engine.clustering.MODELS`.
    n_segments
        Segments, for models that take a count; the warm-up also waits for this many
        distinct customers.
    seed
        Seeds the model and k-means' restarts: the same seed and lessons give the same
        models.
    warmup_updates
        Lessons before the model starts and the first model is published.
    publish_every
        Lessons between two candidate models (a candidate is published only if it passes
        the two gates below).
    publish_min_interval_ms
        Event time between two publications (0: no limit); counted only when the
        lesson or tick that would publish says what time it is (``at_ms``).
    publish_min_shift
        A candidate is published only if a centroid moved at least this far (standard
        deviations, in the standardised space) from the published model's, or the number
        of centroids changed (0: every candidate): below it, no customer's distance to a
        centroid moves by more than this much, and nobody needs re-evaluating.
    hysteresis_margin, hysteresis_evaluations, hysteresis_spacing_ms
        A customer moves to a segment only when it is this much closer, relatively, in
        this many evaluations in a row, counted at most once per this much event time.
    silent_margin
        How much closer a segment must be to open a move at an evaluation without an
        event of the customer's own (None: ``hysteresis_margin``).
    near_distance, near_margin
        Two centroids closer than ``near_distance`` (standardised units) are two copies
        of one persona: a move between them opens only for one ``near_margin`` closer.
    match_overlap
        Share of its members a segment keeps to keep its id at a publication.
    names
        Segment id -> name, overriding generated names.
    sample_size
        Latest vectors kept (one per customer) to standardise, start and re-centre on.
    model_options
        The clustering model's own hyperparameters, as keyword arguments.

    Examples
    --------
    >>> seg = LearnedSegmenter(["x"], n_segments=2, warmup_updates=20, publish_every=10)
    >>> for i in range(20):
    ...     seg.learn({"x": float(i % 2) * 100})
    >>> seg.model_version
    1
    >>> a, b = seg.nearest({"x": 0.0}), seg.nearest({"x": 100.0})
    >>> a != b and {a, b} == set(seg.live_ids)
    True

    Its state can be kept, and a twin built with the same arguments continues from it:

    >>> twin = LearnedSegmenter(["x"], n_segments=2, warmup_updates=20, publish_every=10)
    >>> twin.restore(seg.snapshot())
    >>> twin.nearest({"x": 0.0}) == a and twin.model_version == 1
    True
    """

    def __init__(
        self,
        features: Sequence[str],
        model: str = "kmeans",
        n_segments: int = 6,
        seed: int = 42,
        warmup_updates: int = 1000,
        publish_every: int = 2000,
        publish_min_interval_ms: int = 0,
        publish_min_shift: float = 0.0,
        hysteresis_margin: float = 0.1,
        silent_margin: float | None = None,
        hysteresis_evaluations: int = 2,
        hysteresis_spacing_ms: int = 3_600_000,
        match_overlap: float = 0.5,
        names: Mapping[str, str] | None = None,
        rename_margin: float = 0.25,
        merge_distance: float = 0.0,
        continue_distance: float = 0.0,
        near_distance: float = 0.0,
        near_margin: float = 0.5,
        sample_size: int = 4096,
        model_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.features = tuple(features)
        self.model = model
        self.n_segments = n_segments
        self.seed = seed
        self.warmup_updates = warmup_updates
        self.publish_every = publish_every
        self.publish_min_interval_ms = publish_min_interval_ms
        self.publish_min_shift = publish_min_shift
        self.hysteresis_margin = hysteresis_margin
        self.silent_margin = hysteresis_margin if silent_margin is None else silent_margin
        self.near_distance = near_distance
        self.near_margin = near_margin
        self.hysteresis_evaluations = hysteresis_evaluations
        self.hysteresis_spacing_ms = hysteresis_spacing_ms
        self.match_overlap = match_overlap
        self.names = dict(names or {})
        self.sample_size = sample_size
        self.model_options = dict(model_options or {})
        self._model = make_model(model, self.features, n_segments, seed, self.model_options)
        # Standardisation, estimated from the sample when the model starts (and again at
        # each publication, if the model can follow) and frozen in between, so the model
        # learns in the same space its centroids live in.
        self._scaler = Scaler(self.features)
        # Latest vector of the most recently taught customers: where the model starts
        # from at the end of warm-up and k-means re-centres on at each publication.
        self._sample: OrderedDict[str, list[float]] = OrderedDict()
        self._started = False
        self._started_at = 0  # lesson count at the latest publication
        self._updates = 0
        self._published: PublishedModel | None = None
        self._published_at: int | None = None  # event time of the latest publication
        self._book = SegmentBook(
            self.features,
            match_overlap,
            self.names,
            rename_margin,
            merge_distance,
            continue_distance,
        )

    @property
    def segments(self) -> dict[str, SegmentRef]:
        """Every segment ever published, by id (retired ones too)."""
        return self._book.segments

    @property
    def lineage(self) -> list[Lineage]:
        """Births, splits and merges, oldest first."""
        return self._book.lineage

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

    @property
    def sampled(self) -> tuple[str, ...]:
        """The customers whose latest vector is in the sample, least recent first."""
        return tuple(self._sample)

    def raw(self, x: Vector) -> dict[str, float]:
        """The model's view of ``x``: log-scaled; a missing value sits at the mean."""
        return dict(zip(self.features, self._scaler.raw_row(x), strict=True))

    def learn(
        self,
        x: Vector,
        customer_id: str | None = None,
        current: Callable[[str], Vector | None] | None = None,
        at_ms: int | None = None,
    ) -> None:
        """Learn from one customer's vector (``at_ms``: the event time it is learned
        at); publish a model when one is due and differs materially from the published.

        ``current`` gives a sampled customer's vector as of now (None: keep the one
        held): called for every customer of the sample just before a publication, so
        the model re-centres on where customers are, not where they were when last
        taught (a silent customer is taught rarely, and their windows decay)."""
        self._updates += 1
        key = customer_id if customer_id is not None else f"#{self._updates}"
        self._sample[key] = raw = self._scaler.raw_row(x)
        self._sample.move_to_end(key)
        if len(self._sample) > self.sample_size:
            self._sample.popitem(last=False)
        if not self._started:
            # k-means needs at least as many distinct customers as segments to start.
            if self._updates >= self.warmup_updates and len(self._sample) >= self.n_segments:
                self._refresh_sample(current)
                self._start()
                self._started, self._started_at = True, self._updates
                self._publish(at_ms)
            return
        z = self._scaler.z_row(raw)
        self._model.learn_one(dict(zip(self.features, z, strict=True)))
        if self._updates - self._started_at >= self.publish_every:
            self._republish(current, at_ms)

    def publish_early(
        self,
        min_lessons: int,
        current: Callable[[str], Vector | None] | None = None,
        at_ms: int | None = None,
    ) -> bool:
        """Publish now (event time ``at_ms``) if at least ``min_lessons`` were learned
        since the latest candidate; whether a new model came of it. The engine asks at
        each tick, so the model of a small or quiet population still moves although
        ``publish_every`` lessons take weeks to gather."""
        if not self._started or self._updates - self._started_at < min_lessons:
            return False
        return self._republish(current, at_ms)

    def _republish(self, current: Callable[[str], Vector | None] | None, at_ms: int | None) -> bool:
        """Refresh the sample, make a candidate and publish it if it passes the gates;
        whether a new model came of it (a density model may have no clusters yet).
        Within ``publish_min_interval_ms`` of the latest publication nothing is done
        (the next lesson asks again); a candidate that barely moved is dropped, and the
        next one waits for as many lessons as this one did."""
        last = self._published_at
        if at_ms is not None and last is not None and at_ms - last < self.publish_min_interval_ms:
            return False
        before = self._published
        self._refresh_sample(current)
        self._publish(at_ms)
        self._started_at = self._updates
        return self._published is not before

    def _refresh_sample(self, current: Callable[[str], Vector | None] | None) -> None:
        if current is None:
            return
        for key in self._sample:
            x = current(key)
            if x is not None:
                self._sample[key] = self._scaler.raw_row(x)

    def forget(self, customer_id: str) -> None:
        """Drop an erased customer's vector from the sample the model re-centres on."""
        self._sample.pop(customer_id, None)

    def distances(self, x: Vector, model: PublishedModel | None = None) -> np.ndarray | None:
        d = self._distances(x, model or self._published)
        return None if d is None else np.array(d)

    def _distances(self, x: Vector, model: PublishedModel | None) -> list[float] | None:
        """Distance to each centroid of ``model``. Plain Python: with a handful of
        segments and features, numpy's per-call overhead is most of the cost."""
        if model is None:
            return None
        means, scales, centroids = model.rows()
        values = zip(map(x.get, self.features), means, scales, strict=True)
        # log_or inlined for the usual finite float (a call per feature is most of the
        # cost); a missing value sits at the mean; a tuple, as math.dist would
        # otherwise copy a list into one per centroid.
        z = tuple([((log1p(v if v > 0.0 else 0.0) if type(v) is float and isfinite(v)
                     else log_or(v, m)) - m) / s for v, m, s in values])  # fmt: skip
        return [dist(z, c) for c in centroids]

    def nearest(self, x: Vector, model: PublishedModel | None = None) -> str | None:
        model = model or self._published
        d = self._distances(x, model)
        return None if d is None or model is None else model.ids[d.index(min(d))]

    def decide(
        self, x: Vector, now_ms: int, current: str | None, pending: Decision,
        model: PublishedModel | None = None, silent: bool = False,
        placed: PublishedModel | None = None, early: bool = False,
        opening_margin: float | None = None,
    ) -> Decision:  # fmt: skip
        """Nearest segment of ``model`` (the latest published when not given), but a
        customer leaves their segment only for one that is ``hysteresis_margin`` closer
        in ``hysteresis_evaluations`` evaluations in a row, counted at most once per
        ``hysteresis_spacing_ms`` of event time: several events of one session are one
        piece of evidence, not several. ``silent``: no event of the customer's own
        prompted this evaluation, and a move not already under way needs a segment
        ``silent_margin`` closer to start; ``placed``, the model of the customer's previous
        evaluation: if it would keep them where they are, the model moved and they did
        not, and they stay (``held``; unless the challenger was born since). ``early``:
        silent for less than a few of their usual gaps between visits (not yet evidence
        of anything), so no move starts
        (:meth:`engine.timers.Rechecks.early`). ``opening_margin``: what a silent
        re-check needs to open a move, when not ``silent_margin``. Between two near
        centroids (``near_distance``), any move opens only for one ``near_margin``
        closer."""
        model = model or self._published
        d = self._distances(x, model)
        if d is None or model is None:
            return Decision(current, None, 0, None)
        ids = model.ids
        best = d.index(min(d))  # the first of equals, as ids are ordered
        if current not in ids:  # unassigned, or its segment was retired
            return fit(ids, self.hysteresis_margin, d, best, None, 0, None)
        own = ids.index(current)
        if ids.count(current) > 1:  # near-duplicate centres share an id (identity.py)
            own = min((i for i, s in enumerate(ids) if s == current), key=d.__getitem__)
        if best == own or d[best] >= (1 - self.hysteresis_margin) * d[own]:
            return fit(ids, self.hysteresis_margin, d, own, None, 0, None)
        if pending.segment_id != ids[best] or pending.pending_at_ms is None:
            margin = self.silent_margin if opening_margin is None else opening_margin
            if d[best] >= (1 - self.near_margin) * d[own] and self._near(model, own, best):
                return fit(ids, self.hysteresis_margin, d, own, None, 0, None)
            if silent and (early or d[best] >= (1 - margin) * d[own]):
                return fit(ids, self.hysteresis_margin, d, own, None, 0, None)
            if silent and self._keeps(placed, x, current, ids[best]):
                held = fit(ids, self.hysteresis_margin, d, own, None, 0, None)
                held.held = True
                return held
            count, at = 1, now_ms
        elif now_ms - pending.pending_at_ms >= self.hysteresis_spacing_ms:
            count, at = pending.pending_count + 1, now_ms
        else:
            count, at = pending.pending_count, pending.pending_at_ms
        if count >= self.hysteresis_evaluations:
            return fit(ids, self.hysteresis_margin, d, best, None, 0, None)
        return fit(ids, self.hysteresis_margin, d, own, ids[best], count, at)

    def _near(self, model: PublishedModel, a: int, b: int) -> bool:
        """Whether centroids ``a`` and ``b`` of ``model`` are copies of one persona: a
        young model's two such copies drift together until a re-centre folds one into
        the other, and each step moved the customers between them to and fro."""
        centroids = model.rows()[2]
        return dist(centroids[a], centroids[b]) < self.near_distance

    def _keeps(
        self, placed: PublishedModel | None, x: Vector, current: str, challenger: str
    ) -> bool:
        """Whether ``placed`` would keep ``x`` in ``current``: no other centre of it is
        ``silent_margin`` closer. Never for a ``challenger`` born since: the customer
        could not have been placed there."""
        if placed is None or current not in placed.ids or challenger not in placed.ids:
            return False
        d = self._distances(x, placed)
        if d is None:
            return False
        own = min(d[i] for i, s in enumerate(placed.ids) if s == current)
        return min(d) >= (1 - self.silent_margin) * own

    def _sample_raw(self) -> np.ndarray:
        """The sample as an array: made once per publication (4,096 rows take ~7 ms)."""
        return np.array(list(self._sample.values()))

    def _start(self) -> None:
        raw = self._sample_raw()
        self._scaler.fit(raw)
        self._model.start(self._scaler.z(raw))

    def _publish(self, at_ms: int | None) -> None:
        raw = self._sample_raw()
        scaler = self._scaler
        if self._model.restandardises:  # and the model's centres follow
            before = scaler.means, scaler.scales
            scaler.fit(raw)
            self._model.rescale(before, (scaler.means, scaler.scales))
        z = scaler.z(raw)
        self._model.publish(z, self._updates)
        centers = self._model.centers()
        if len(centers) == 0:
            return
        old = self._published
        if old is not None and (
            old.shift(scaler.means, scaler.scales, centers) < self.publish_min_shift
        ):
            return  # the model goes on learning; customers keep the published one
        was = nearest_labels(old.z(raw), old.centroids) if old else np.array([])
        now = nearest_labels(z, centers)
        # The old centres in the new standardised space (SegmentBook.continue_distance).
        old_centers = None if old is None else (
            (old.centroids * old.scales + old.means - scaler.means) / scaler.scales
        )  # fmt: skip
        ids = self._book.assign(
            self.model_version + 1, centers, self.live_ids, was, now,
            (scaler.means, scaler.scales), old_centers,
        )  # fmt: skip
        self._published = PublishedModel(
            self.model_version + 1, scaler.means.copy(), scaler.scales.copy(), ids, centers
        )
        self._published_at = at_ms

    def snapshot(self) -> dict[str, Any]:
        """The runtime state, detached and picklable (see :mod:`engine.snapshots`):
        what it must fit, and the state pickled (:mod:`engine.clustering.pickling`)."""
        runtime = {
            "clustering": self._model.snapshot(),
            "scaler": self._scaler.snapshot(),
            "sample": self._sample,
            "started": self._started,
            "started_at": self._started_at,
            "updates": self._updates,
            "published": None if self._published is None else self._published.to_plain(),
            # As tuples: a pydantic model pickles a set, whose order pickling can change.
            "segments": [(ref.id, ref.name, ref.kind) for ref in self._book.segments.values()],
            "lineage": self._book.lineage,
            "published_at": self._published_at,
        }
        header = {"kind": SNAPSHOT_KIND, "version": SNAPSHOT_VERSION, **self._fit_keys()}
        return {**header, "runtime": dumps(runtime)}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state``, a :meth:`snapshot` of a segmenter built alike;
        :class:`~engine.snapshots.SnapshotError` if it does not fit."""
        check_snapshot(state, SNAPSHOT_KIND, SNAPSHOT_VERSION)
        for key, mine in self._fit_keys().items():
            if state.get(key) != mine:
                raise SnapshotError(f"the snapshot's {key} is {state.get(key)!r}, not {mine!r}")
        own = loads(state["runtime"])  # fresh objects: the snapshot stays the caller's
        if missing := [key for key in _RUNTIME if key not in own]:
            raise SnapshotError(f"the snapshot lacks {missing}")
        self._model.restore(own["clustering"])
        self._scaler.restore(own["scaler"])
        self._sample, self._started = own["sample"], own["started"]
        self._started_at, self._updates = own["started_at"], own["updates"]
        plain = own["published"]
        self._published = None if plain is None else PublishedModel.from_plain(plain)
        refs = (SegmentRef(id=i, name=name, kind=kind) for i, name, kind in own["segments"])
        self._book.segments = {ref.id: ref for ref in refs}
        self._book.lineage = own["lineage"]
        # Added later: a snapshot without it restores as "published at an unknown time".
        self._published_at = own.get("published_at")

    def _fit_keys(self) -> dict[str, Any]:
        """The settings a snapshot must agree on to be restored here."""
        return {"features": self.features, "model": self.model, "n_segments": self.n_segments,
                "model_options": self.model_options}  # fmt: skip
