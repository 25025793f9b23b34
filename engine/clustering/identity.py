"""Segment identity across successive clusterings: ids, names and lineage.

Continuity is judged by who is in a cluster, not where its centre sits: the sample's
customers are assigned under the previous and the new clustering, and a new centre
continues an old segment when, in the best one-to-one pairing (Hungarian), at least
``match_overlap`` of each side's members are shared; failing that, an old segment
most of whose members went to a new centre continues there if that centre continues
nobody else and no other such segment gave it more. A centre may move far (everyone
ages, the population changes) and keep its segment as long as its customers stay
with it. A centre that continues none is born as a new segment (a split), and an old
segment that none continues is retired into the one most of its customers went to
(a merge), unless the two centres lie within ``continue_distance``: the sample holds
the most recently taught customers, and an old segment's silent members may have gone
where the sample does not show (of such pairs, the pairing closest in total).

Two centres closer than ``merge_distance`` in the standardised space are two copies
of one persona: they become one segment (the oldest id they continue survives, the
other is retired with a ``merge``), so the published model lists that id for both
centres. A customer nearest to either is in the survivor; a customer of the retired
id moves to the survivor at their next evaluation, as from any retired segment. The
pair parts again (a ``split``) only once farther apart than twice the distance.

Names are brought up to date at every publication (:func:`engine.naming.name_segments`):
unique among live segments, from the features that carry data, kept while still true
within ``rename_margin``; ``names`` overrides always win. Everything here is a
function of the centres, the previous ids and names, and the sample's labels, all of
which a snapshot holds, so a restored book continues as the original.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from engine.naming import name_segments
from schemas.changes import SegmentRef

__all__ = ["DAY_FEATURES", "Lineage", "Matching", "SegmentBook", "match", "nearest_labels"]

# Features counted in days, which names ("new", "lapsed") are checked against.
DAY_FEATURES = frozenset({"tenure_days", "days_since_last_seen", "recency_days"})


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
    """The segments of successive clusterings: who continues whom, births, merges and names.

    Parameters
    ----------
    features
        The centres' coordinates, in order: names are read off them.
    match_overlap
        Share of its members a segment keeps to keep its id.
    names
        Segment id -> name, overriding generated names.
    rename_margin
        A segment keeps its name while the rule behind it still holds within this
        many standard deviations (see :mod:`engine.naming`).
    merge_distance
        Centres closer than this (standardised space) are one segment: one id, and
        the other's id retired into it (a ``merge``). Centres sharing an id part
        again only beyond twice this. 0: never.
    continue_distance
        An old centre the sample shows continued by none and a new centre continuing
        none are one segment if closer than this (standardised space, with
        ``old_centers`` given to :meth:`assign`). 0: never.

    Examples
    --------
    >>> book = SegmentBook(["frequency_90d", "avg_order_value"])
    >>> book.assign(1, np.array([[1.2, -0.5], [-1.0, 0.5]]), (), np.array([]), np.array([]))
    ('seg-1', 'seg-2')
    >>> book.segments["seg-1"].name
    'frequent bargain hunters'

    At the next version the sample's customers were nearest to old centres ``before``
    and to the new ones ``after``: the new first centre took all of ``seg-2``.

    >>> before, after = np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0])
    >>> book.assign(2, np.array([[-1.1, 0.5], [1.3, -0.5]]), ("seg-1", "seg-2"), before, after)
    ('seg-2', 'seg-1')
    >>> [entry.kind for entry in book.lineage]
    ['born', 'born']
    """

    def __init__(
        self,
        features: Sequence[str],
        match_overlap: float = 0.5,
        names: Mapping[str, str] | None = None,
        rename_margin: float = 0.25,
        merge_distance: float = 0.0,
        continue_distance: float = 0.0,
    ) -> None:
        self.features = tuple(features)
        self.match_overlap = match_overlap
        self.names = dict(names or {})
        self.rename_margin = rename_margin
        self.merge_distance = merge_distance
        self.continue_distance = continue_distance
        self.segments: dict[str, SegmentRef] = {}
        self.lineage: list[Lineage] = []

    def assign(
        self,
        version: int,
        centers: np.ndarray,
        old_ids: tuple[str, ...],
        before: np.ndarray,
        after: np.ndarray,
        scaling: tuple[np.ndarray, np.ndarray] | None = None,
        old_centers: np.ndarray | None = None,
    ) -> tuple[str, ...]:
        """Ids for ``centers`` at ``version``, given the previous ids (none at first)
        and each sample customer's nearest previous and new centre (``old_centers``: the
        previous centres in the new standardised space). Centres merged as
        near-duplicates share an id. Names of the live segments are brought up to date;
        ``scaling`` (the standardisation's means and scales on the log scale) lets them
        check what they say in days ("new", "lapsed") against the days themselves."""
        shared = _shared(before, after, len(old_ids), len(centers))
        prior: dict[int, str] = {}
        if old_ids:
            gaps = None
            if old_centers is not None and self.continue_distance > 0:
                gaps = np.linalg.norm(old_centers[:, None, :] - centers[None, :, :], axis=2)
            found = match(before, after, len(old_ids), len(centers), self.match_overlap,
                          gaps, self.continue_distance, old_ids)  # fmt: skip
            prior = {c: old_ids[r] for c, r in found.continues.items()}
        groups = self._groups(centers, prior)
        members = np.bincount(after.astype(int), minlength=len(centers)).astype(float)
        ids = [""] * len(centers)
        claimed: set[str] = set()
        # Groups keep the ids they continue, the biggest first; the rest are born.
        for group in sorted(groups, key=lambda g: (-members[g].sum(), g[0])):
            held = sorted({prior[c] for c in group if c in prior} - claimed, key=_number)
            if held:
                claimed.add(held[0])
                for c in group:
                    ids[c] = held[0]
        born: list[tuple[str, list[int]]] = []
        for group in groups:
            if not ids[group[0]]:
                segment_id = f"seg-{len(self.segments) + len(born) + 1}"
                born.append((segment_id, group))
                for c in group:
                    ids[c] = segment_id
        for segment_id, _ in born:
            self.segments[segment_id] = SegmentRef(id=segment_id, name=segment_id, kind="learned")
        self._record(version, old_ids, ids, born, shared)
        self._rename(centers, ids, members, scaling)
        return tuple(ids)

    def _groups(self, centers: np.ndarray, prior: Mapping[int, str]) -> list[list[int]]:
        """Centres that are one segment: closer than ``merge_distance``, or sharing an
        id and closer than twice that; each group sorted, groups by first centre."""
        parent = list(range(len(centers)))

        def root(i: int) -> int:
            while parent[i] != i:
                i = parent[i]
            return i

        if self.merge_distance > 0:
            for i in range(len(centers)):
                for j in range(i + 1, len(centers)):
                    d = float(np.linalg.norm(centers[i] - centers[j]))
                    same = i in prior and prior.get(j) == prior[i]
                    if d < self.merge_distance * (2.0 if same else 1.0):
                        parent[max(root(i), root(j))] = min(root(i), root(j))
        groups: dict[int, list[int]] = {}
        for i in range(len(centers)):
            groups.setdefault(root(i), []).append(i)
        return list(groups.values())

    def _record(
        self, version: int, old_ids: tuple[str, ...], ids: list[str],
        born: list[tuple[str, list[int]]], shared: np.ndarray,
    ) -> None:  # fmt: skip
        """Lineage: births (``born`` at first, else a ``split`` from where most of the
        group's members were), then each retired id ``merge``d into where most of its
        members went."""
        if not old_ids:
            self.lineage.extend(Lineage(version, "born", (), (i,)) for i, _ in born)
            return
        for segment_id, group in born:
            source = int(shared[:, group].sum(axis=1).argmax())
            self.lineage.append(Lineage(version, "split", (old_ids[source],), (segment_id,)))
        live = set(ids)
        for retired in dict.fromkeys(i for i in old_ids if i not in live):
            rows = [r for r, i in enumerate(old_ids) if i == retired]
            target = int(shared[rows].sum(axis=0).argmax())
            self.lineage.append(Lineage(version, "merge", (retired,), (ids[target],)))

    def _rename(
        self, centers: np.ndarray, ids: list[str], members: np.ndarray,
        scaling: tuple[np.ndarray, np.ndarray] | None,
    ) -> None:  # fmt: skip
        """Names for the live segments: overrides, else generated from each segment's
        member-weighted centre, kept within ``rename_margin`` and unique."""
        # A feature on which every centre sits exactly at the population mean had no
        # spread in the sample the model standardised on (the scaler leaves such a
        # feature's scale at 1, so every z is 0 and Lloyd passes keep centres there):
        # it carries no data, and no name may claim it.
        known = [f for f, column in zip(self.features, centers.T, strict=True)
                 if np.abs(column).max(initial=0.0) > 1e-9]  # fmt: skip
        profiles: dict[str, dict[str, float]] = {}
        days: dict[str, dict[str, float]] = {}
        for segment_id in dict.fromkeys(ids):
            rows = [c for c, i in enumerate(ids) if i == segment_id]
            weights = members[rows] if members[rows].sum() > 0 else np.ones(len(rows))
            centre = np.average(centers[rows], axis=0, weights=weights)
            profiles[segment_id] = dict(zip(self.features, map(float, centre), strict=True))
            if scaling is not None:  # back to days: the model reads log1p of each feature
                raw = np.expm1(centre * scaling[1] + scaling[0])
                days[segment_id] = {f: float(raw[k]) for k, f in enumerate(self.features)
                                    if f in DAY_FEATURES}  # fmt: skip
        fixed = {i: self.names[i] for i in profiles if i in self.names}
        current = {i: self.segments[i].name for i in profiles if i not in fixed}
        generated = name_segments(
            {i: p for i, p in profiles.items() if i not in fixed}, known,
            {i: n for i, n in current.items() if n != i}, self.rename_margin,
            reserved=set(fixed.values()), days=days,
        )  # fmt: skip
        for segment_id, name in {**generated, **fixed}.items():
            if self.segments[segment_id].name != name:
                self.segments[segment_id] = SegmentRef(id=segment_id, name=name, kind="learned")


def _number(segment_id: str) -> tuple[int, str]:
    """Order of minting: ``seg-2`` before ``seg-10``."""
    digits = segment_id.rpartition("-")[2]
    return (int(digits), segment_id) if digits.isdigit() else (0, segment_id)


def _shared(before: np.ndarray, after: np.ndarray, n_before: int, n_after: int) -> np.ndarray:
    """Sample customers nearest to old centre r and new centre c, as a matrix."""
    shared = np.zeros((n_before, n_after))
    if n_before:
        np.add.at(shared, (before, after), 1)
    return shared


def nearest_labels(z: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """The index of each row's nearest centre."""
    labels: np.ndarray = ((z[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    return labels


def match(
    before: np.ndarray,
    after: np.ndarray,
    n_before: int,
    n_after: int,
    overlap: float,
    gaps: np.ndarray | None = None,
    within: float = 0.0,
    old_ids: Sequence[str] | None = None,
) -> Matching:
    """Match two clusterings from each customer's label ``before`` and ``after``.

    >>> m = match(np.array([0, 0, 1, 1]), np.array([1, 1, 0, 2]), 2, 3, overlap=0.5)
    >>> m.continues, m.split_from, m.merged_into
    ({1: 0, 0: 1}, {2: 1}, {})

    Two segments became one: it holds neither's members by ``overlap``, but every
    member of the first went to it, and no other segment's members outnumber theirs.

    >>> m = match(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 0]), 2, 1, overlap=0.6)
    >>> m.continues, m.split_from, m.merged_into
    ({0: 0}, {}, {1: 0})

    By members, the second old centre went to the first new one, which continues the
    first; the second new centre took none: a split and a merge. Their centres lie 1.0
    apart (``gaps``), so within 2.0 they are one segment that moved.

    >>> before, after = np.array([0, 0, 1, 1]), np.array([0, 0, 0, 0])
    >>> match(before, after, 2, 2, overlap=0.5).merged_into
    {1: 0}
    >>> gaps = np.array([[0.1, 5.0], [4.0, 1.0]])
    >>> m = match(before, after, 2, 2, overlap=0.5, gaps=gaps, within=2.0)
    >>> m.continues, m.split_from, m.merged_into
    ({0: 0, 1: 1}, {}, {})
    """
    shared = _shared(before, after, n_before, n_after)
    old_sizes, new_sizes = shared.sum(axis=1), shared.sum(axis=0)
    continues: dict[int, int] = {}
    for r, c in zip(*linear_sum_assignment(-shared), strict=True):
        if shared[r, c] > 0 and shared[r, c] >= overlap * max(old_sizes[r], new_sizes[c]):
            continues[int(c)] = int(r)
    # An old centre left without a successor, most of whose members went to a new centre
    # left without a predecessor, is continued there, unless another such old centre
    # gave it more. Retiring one and minting the other would move each of those
    # customers between two ids of one persona ("new browsers -> new browsers"), however
    # many members of continuing segments the new centre also took.
    taken = set(continues.values())
    went: dict[int, list[int]] = {}  # new centre -> free old centres mostly gone there
    for r in range(n_before) if n_after else ():
        c = int(shared[r].argmax())
        if r not in taken and shared[r, c] * 2 > old_sizes[r]:
            went.setdefault(c, []).append(r)
    for c, rs in went.items():
        if c not in continues:
            continues[c] = max(rs, key=lambda r: shared[r, c])
    if gaps is not None:
        # Old and new centres the members left unpaired: the sample (the most recently
        # taught) may not show where an old segment's silent members went. Paired by how
        # far their centres lie apart (``gaps[r, c]``), the pairing closest in total
        # among pairs closer than ``within`` (farther ones all cost ``within``, so they
        # do not steer it). One row per old id (``old_ids``: near-duplicate centres share
        # one), at its nearest centre; an id that already continues is not free.
        keys: list[object] = list(old_ids) if old_ids is not None else list(range(n_before))
        claimed = {keys[r] for r in continues.values()}
        rows: dict[object, list[int]] = {}
        for r in range(n_before):
            if keys[r] not in claimed:
                rows.setdefault(keys[r], []).append(r)
        free_new = [c for c in range(n_after) if c not in continues]
        if rows and free_new:
            near = [[min(centres, key=lambda r: gaps[r, c]) for c in free_new]
                    for centres in rows.values()]  # fmt: skip
            cost = np.array([[gaps[r, c] for r, c in zip(row, free_new, strict=True)]
                             for row in near])  # fmt: skip
            cost = np.minimum(cost, within)
            for i, j in zip(*linear_sum_assignment(cost), strict=True):
                if cost[i, j] < within:
                    continues[free_new[j]] = near[i][j]
    kept = set(continues.values())
    split_from = {c: int(shared[:, c].argmax()) for c in range(n_after) if c not in continues}
    merged_into = {r: int(shared[r].argmax()) for r in range(n_before) if r not in kept}
    return Matching(continues, split_from, merged_into)
