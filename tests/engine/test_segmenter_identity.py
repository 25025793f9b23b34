"""``LearnedSegmenter`` on synthetic blobs: warm-up and first publication, ids that stay
put, splits and merges with consistent lineage, and determinism. No broker.

Blob centres are in the model's log space (see ``segmenter_helpers``).
"""

from __future__ import annotations

import random
import re
from typing import Any

import numpy as np
import pytest

from engine.segmenter import Decision, LearnedSegmenter
from tests.engine.segmenter_helpers import F2, F3, THREE_BLOBS, TWO_BLOBS, exact, point


def seg_number(segment_id: str) -> int:
    match = re.fullmatch(r"seg-(\d+)", segment_id)
    assert match is not None, segment_id
    return int(match.group(1))


# --- warm-up and first publication --------------------------------------------------------


@pytest.mark.parametrize("n_segments", [2, 3])
def test_nothing_is_published_before_warmup_then_one_birth_per_centroid(n_segments: int) -> None:
    warmup = 60
    seg = LearnedSegmenter(F2, n_segments=n_segments, warmup_updates=warmup, publish_every=50)
    rng = random.Random(1)
    probe = exact(THREE_BLOBS[0])
    for i in range(warmup - 1):
        seg.learn(point(rng, THREE_BLOBS[i % n_segments]), f"c{i}")
        assert seg.model_version == 0
        assert seg.published_model is None and seg.live_ids == ()
        assert seg.nearest(probe) is None and seg.distances(probe) is None
        kept = seg.decide(probe, 1000, "seg-9", Decision("seg-2", None, 1, 5))
        assert kept == Decision("seg-9", None, 0, None)
        assert seg.lineage == [] and seg.segments == {}
    seg.learn(point(rng, THREE_BLOBS[0]), "last")
    assert seg.model_version == 1
    expected = tuple(f"seg-{i}" for i in range(1, n_segments + 1))
    assert seg.live_ids == expected
    assert [(e.version, e.kind, e.sources) for e in seg.lineage] == [(1, "born", ())] * n_segments
    assert [e.targets for e in seg.lineage] == [(i,) for i in expected]
    assert sorted(seg.segments) == sorted(expected)
    assert {ref.kind for ref in seg.segments.values()} == {"learned"}
    assert len({ref.name for ref in seg.segments.values()}) == n_segments  # names unique too
    assert seg.nearest(probe) in expected


def test_warmup_waits_for_a_distinct_customer_per_segment() -> None:
    seg = LearnedSegmenter(F2, n_segments=3, warmup_updates=10, publish_every=5)
    rng = random.Random(2)
    for _ in range(40):
        seg.learn(point(rng, THREE_BLOBS[0]), "same-customer")
    assert seg.model_version == 0 and seg.updates == 40
    seg.learn(point(rng, THREE_BLOBS[1]), "second")
    assert seg.model_version == 0
    seg.learn(point(rng, THREE_BLOBS[2]), "third")
    assert seg.model_version == 1 and len(seg.live_ids) == 3


# --- stable identity ----------------------------------------------------------------------

# Shift of every point's log-space coordinates per publication interval.
DRIFTS = {
    "static": (0.0, 0.0, 0.0),
    "slow-drift": (0.01, 0.01, 0.01),
    "everyone-ages": (0.0, 0.0, 0.1),  # one feature moves for the whole population
}


@pytest.mark.parametrize("seed", [3, 11])
@pytest.mark.parametrize("drift", list(DRIFTS), ids=list(DRIFTS))
def test_ids_stay_put_while_the_same_groups_keep_learning(drift: str, seed: int) -> None:
    publish_every = 300
    seg = LearnedSegmenter(
        F3, n_segments=3, seed=seed, warmup_updates=300, publish_every=publish_every
    )
    centres = [(a, b, 2.0) for a, b in THREE_BLOBS]
    probes = [exact(c, F3) for c in centres]
    rng = random.Random(seed)
    step = DRIFTS[drift]
    seen: list[tuple[tuple[str, ...], list[str | None]]] = []
    for i in range(6300):
        k = i % 3
        shift = i / publish_every
        centre = [c + s * shift for c, s in zip(centres[k], step, strict=True)]
        seg.learn(point(rng, centre, F3), f"c{k}-{(i // 3) % 300}")
        if (i + 1) % publish_every == 0:
            seen.append((seg.live_ids, [seg.nearest(p) for p in probes]))
    assert seg.model_version == 21
    first_ids, first_nearest = seen[0]
    assert len(set(first_nearest)) == 3  # each blob has its own segment
    assert all(entry == (first_ids, first_nearest) for entry in seen)
    assert [e.kind for e in seg.lineage] == ["born"] * 3
    assert sorted(seg.segments) == ["seg-1", "seg-2", "seg-3"]


# --- splits and merges --------------------------------------------------------------------


def grow_a_third_group(seed: int) -> tuple[LearnedSegmenter, dict[int, tuple[str, ...]]]:
    """Two groups under three centroids (one group is cut in two), then three groups."""
    seg = LearnedSegmenter(
        F2, n_segments=3, seed=seed, warmup_updates=200, publish_every=200, sample_size=600
    )
    rng = random.Random(seed)
    live: dict[int, tuple[str, ...]] = {}
    for centres, lessons, prefix in ((TWO_BLOBS, 1000, "old"), (THREE_BLOBS, 3000, "new")):
        for i in range(lessons):
            k = i % len(centres)
            seg.learn(point(rng, centres[k]), f"{prefix}{k}-{(i // len(centres)) % 200}")
            live.setdefault(seg.model_version, seg.live_ids)
    return seg, live


def churn(seed: int) -> tuple[LearnedSegmenter, dict[int, tuple[str, ...]]]:
    """Overlapping groups that come and go, published often: lots of splits and merges."""
    seg = LearnedSegmenter(
        F2, n_segments=5, seed=seed, warmup_updates=50, publish_every=25, sample_size=200
    )
    rng = random.Random(seed)
    centres = [(1.0, 1.0), (4.0, 1.0), (2.5, 4.0), (1.0, 4.0), (4.0, 4.0), (2.5, 2.5)]
    live: dict[int, tuple[str, ...]] = {}
    for i in range(1000):
        k = (i // 250 + i) % (2 + i // 250)
        seg.learn(point(rng, centres[k], spread=0.6), f"c{i % 300}")
        live.setdefault(seg.model_version, seg.live_ids)
    return seg, live


def check_lineage(seg: LearnedSegmenter, live: dict[int, tuple[str, ...]]) -> None:
    """Lineage agrees with the published ids, and ids are never reused."""
    for entry in seg.lineage:
        assert entry.version >= 1
        assert set(entry.sources) | set(entry.targets) <= set(seg.segments)
        before, after = live.get(entry.version - 1, ()), live[entry.version]
        if entry.kind == "born":
            assert entry.version == 1 and entry.sources == ()
        elif entry.kind == "split":
            assert entry.sources[0] in before and entry.targets[0] in after
            assert entry.targets[0] not in before  # a split gives birth to a new id
        else:
            assert entry.kind == "merge"
            assert entry.sources[0] in before and entry.sources[0] not in after
            assert entry.targets[0] in after
    numbers = [seg_number(i) for i in seg.segments]
    assert numbers == list(range(1, len(numbers) + 1))
    seen: set[str] = set()
    for version in sorted(live)[1:]:
        ids = live[version]
        assert len(set(ids)) == len(ids)
        previous = set(live.get(version - 1, ()))
        born = [i for i in ids if i not in previous]
        assert not set(born) & seen, f"reused at version {version}"
        if born and seen:
            assert min(map(seg_number, born)) > max(map(seg_number, seen))
        births = {e.targets[0] for e in seg.lineage if e.version == version and e.kind != "merge"}
        assert births == set(born)
        seen |= set(ids)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_new_group_shows_up_as_split_or_merge_with_consistent_lineage(seed: int) -> None:
    seg, live = grow_a_third_group(seed)
    assert seg.model_version == 20
    changes = [e for e in seg.lineage if e.kind != "born"]
    assert changes, "three groups replacing a cut-up pair must split or merge something"
    check_lineage(seg, live)
    final = [seg.nearest(exact(c)) for c in THREE_BLOBS]
    assert len(set(final)) == 3  # the model ends up with one segment per group


@pytest.mark.parametrize("seed", [1, 4])
def test_ids_are_never_reused_under_churn(seed: int) -> None:
    seg, live = churn(seed)
    assert seg.model_version == 39
    assert len({e.version for e in seg.lineage if e.kind == "split"}) >= 2  # births at 2+ times
    check_lineage(seg, live)


# --- determinism --------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", [grow_a_third_group, churn], ids=["third-group", "churn"])
def test_same_seed_same_inputs_give_identical_models(scenario: Any) -> None:
    a, live_a = scenario(7)
    b, live_b = scenario(7)
    snap_a, snap_b = a.published_model, b.published_model
    assert snap_a is not None and snap_b is not None
    assert (snap_a.version, snap_a.ids) == (snap_b.version, snap_b.ids)
    np.testing.assert_array_equal(snap_a.centroids, snap_b.centroids)
    np.testing.assert_array_equal(snap_a.means, snap_b.means)
    np.testing.assert_array_equal(snap_a.scales, snap_b.scales)
    assert a.lineage == b.lineage
    assert a.segments == b.segments
    assert live_a == live_b
    probes = [exact(c) for c in (*THREE_BLOBS, (2.0, 2.0), (0.0, 5.0))]
    assert [a.nearest(p) for p in probes] == [b.nearest(p) for p in probes]
