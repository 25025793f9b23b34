"""Segment identity across successive clusterings: ids, names and lineage.

Continuity is judged by who is in a cluster, not where its centre sits: the sample's
customers are assigned under the previous and the new clustering, and a new centre
continues an old segment when, in the best one-to-one pairing (Hungarian), at least
``match_overlap`` of each side's members are shared. A centre may move far (everyone
ages, the population changes) and keep its segment as long as its customers stay
with it. A centre that continues none is born as a new segment (a split), and an old
segment that none continues is retired into the one most of its customers went to
(a merge).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from engine.naming import segment_name
from schemas.changes import SegmentRef

__all__ = ["Lineage", "Matching", "SegmentBook", "match", "nearest_labels"]


@dataclass(frozen=True, slots=True)
class Lineage:
    """How segments changed at a model version: ``born``, ``split`` or ``merge``."""

    version: int
    kind: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Matching:
    """How the centres of two clusterings of the same customers relate (by index)."""

    continues: dict[int, int]  # new centre -> the old centre it continues
    split_from: dict[int, int]  # new centre continuing none -> where most of its members were
    merged_into: dict[int, int]  # old centre continued by none -> where most of its members went


class SegmentBook:
    """The segments of successive clusterings: who continues whom, births and names.

    Parameters
    ----------
    features
        The centres' coordinates, in order: names are read off them.
    match_overlap
        Share of its members a segment keeps to keep its id.
    names
        Segment id -> name, overriding generated names.

    Examples
    --------
    >>> book = SegmentBook(["frequency_90d"])
    >>> book.assign(1, np.array([[1.2], [-1.0]]), (), np.array([]), np.array([]))
    ('seg-1', 'seg-2')
    >>> book.segments["seg-1"].name
    'frequent bargain hunters'

    At the next version the sample's customers were nearest to old centres ``before``
    and to the new ones ``after``: the new first centre took all of ``seg-2``.

    >>> before, after = np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0])
    >>> book.assign(2, np.array([[-1.1], [1.3]]), ("seg-1", "seg-2"), before, after)
    ('seg-2', 'seg-1')
    >>> [entry.kind for entry in book.lineage]
    ['born', 'born']
    """

    def __init__(
        self,
        features: Sequence[str],
        match_overlap: float = 0.5,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.features = tuple(features)
        self.match_overlap = match_overlap
        self.names = dict(names or {})
        self.segments: dict[str, SegmentRef] = {}
        self.lineage: list[Lineage] = []

    def assign(
        self,
        version: int,
        centers: np.ndarray,
        old_ids: tuple[str, ...],
        before: np.ndarray,
        after: np.ndarray,
    ) -> tuple[str, ...]:
        """Ids for ``centers`` at ``version``, given the previous ids (none at first)
        and each sample customer's nearest previous and new centre."""
        if not old_ids:
            taken: set[str] = set()
            ids = [self._birth(center, taken) for center in centers]
            self.lineage.extend(Lineage(version, "born", (), (i,)) for i in ids)
            return tuple(ids)
        found = match(before, after, len(old_ids), len(centers), self.match_overlap)
        taken = {self.segments[i].name for i in old_ids}
        ids = [old_ids[found.continues[c]] if c in found.continues
               else self._birth(centers[c], taken) for c in range(len(centers))]  # fmt: skip
        for c, r in found.split_from.items():
            self.lineage.append(Lineage(version, "split", (old_ids[r],), (ids[c],)))
        for r, c in found.merged_into.items():
            self.lineage.append(Lineage(version, "merge", (old_ids[r],), (ids[c],)))
        return tuple(ids)

    def _birth(self, centroid: np.ndarray, taken: set[str]) -> str:
        """A new segment, named apart from the live ones (``taken`` grows with it)."""
        segment_id = f"seg-{len(self.segments) + 1}"
        profile = dict(zip(self.features, map(float, centroid), strict=True))
        name = self.names.get(segment_id) or segment_name(profile, taken)
        taken.add(name)
        self.segments[segment_id] = SegmentRef(id=segment_id, name=name, kind="learned")
        return segment_id


def nearest_labels(z: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """The index of each row's nearest centre."""
    labels: np.ndarray = ((z[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    return labels


def match(
    before: np.ndarray, after: np.ndarray, n_before: int, n_after: int, overlap: float
) -> Matching:
    """Match two clusterings from each customer's label ``before`` and ``after``.

    >>> m = match(np.array([0, 0, 1, 1]), np.array([1, 1, 0, 2]), 2, 3, overlap=0.5)
    >>> m.continues, m.split_from, m.merged_into
    ({1: 0, 0: 1}, {2: 1}, {})
    >>> m = match(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 0]), 2, 1, overlap=0.6)
    >>> m.continues, m.split_from, m.merged_into
    ({}, {0: 0}, {0: 0, 1: 0})
    """
    shared = np.zeros((n_before, n_after))
    np.add.at(shared, (before, after), 1)
    old_sizes, new_sizes = shared.sum(axis=1), shared.sum(axis=0)
    continues: dict[int, int] = {}
    for r, c in zip(*linear_sum_assignment(-shared), strict=True):
        if shared[r, c] > 0 and shared[r, c] >= overlap * max(old_sizes[r], new_sizes[c]):
            continues[int(c)] = int(r)
    split_from = {c: int(shared[:, c].argmax()) for c in range(n_after) if c not in continues}
    kept = set(continues.values())
    merged_into = {r: int(shared[r].argmax()) for r in range(n_before) if r not in kept}
    return Matching(continues, split_from, merged_into)
