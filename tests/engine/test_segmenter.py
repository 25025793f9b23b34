"""``LearnedSegmenter`` on synthetic blobs: warm-up, stable ids, splits and merges,
hysteresis, determinism, forgetting and odd inputs. No broker.

Blob centres are given in the model's log space (``log1p`` of the raw value), so a
point drawn at ``centre + noise`` is fed to the segmenter as ``expm1`` of it.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest

from engine.segmenter import Decision, LearnedSegmenter

F2 = ("a", "b")
F3 = ("a", "b", "t")
TWO_BLOBS = [(1.0, 1.0), (4.0, 1.0)]
THREE_BLOBS = [(1.0, 1.0), (4.0, 1.0), (2.5, 4.0)]
NO_PENDING = Decision(None, None, 0, None)


def point(
    rng: random.Random, centre: Sequence[float], features: Sequence[str] = F2, spread: float = 0.15
) -> dict[str, float]:
    """A raw feature vector whose log1p lies near ``centre``."""
    return {
        name: math.expm1(max(0.0, c + rng.gauss(0.0, spread)))
        for name, c in zip(features, centre, strict=True)
    }


def exact(centre: Sequence[float], features: Sequence[str] = F2) -> dict[str, float]:
    return point(random.Random(0), centre, features, spread=0.0)


def feed(
    seg: LearnedSegmenter,
    rng: random.Random,
    centres: Sequence[Sequence[float]],
    lessons: int,
    prefix: str,
    customers_per_blob: int = 200,
) -> None:
    """``lessons`` lessons, round-robin over the blobs; a customer stays in one blob."""
    for i in range(lessons):
        k = i % len(centres)
        customer = f"{prefix}{k}-{(i // len(centres)) % customers_per_blob}"
        seg.learn(point(rng, centres[k], seg.features), customer)


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


# --- hysteresis ---------------------------------------------------------------------------

LINE = [(1.0,), (3.0,), (5.0,)]  # three groups on one feature: low, middle, high


def published(**kwargs: Any) -> LearnedSegmenter:
    """A segmenter on one feature with a published snapshot of three segments."""
    seg = LearnedSegmenter(
        ("a",), n_segments=3, seed=5, warmup_updates=300, publish_every=10**9, **kwargs
    )
    feed(seg, random.Random(5), LINE, 300, "c")
    assert seg.model_version == 1
    return seg


def by_position(seg: LearnedSegmenter) -> list[str]:
    """Live ids from the lowest centroid to the highest."""
    snap = seg.published_model
    assert snap is not None
    return [snap.ids[i] for i in np.argsort(snap.centroids[:, 0])]


def between(seg: LearnedSegmenter, low: str, high: str, t: float) -> dict[str, float]:
    """The raw vector a fraction ``t`` of the way from centroid ``low`` to ``high``."""
    snap = seg.published_model
    assert snap is not None
    a, b = snap.centroids[snap.ids.index(low)], snap.centroids[snap.ids.index(high)]
    z = a + t * (b - a)
    return {"a": math.expm1(float(z[0] * snap.scales[0] + snap.means[0]))}


def carry(decision: Decision) -> Decision:
    """What the engine hands back at the next evaluation: the waiting challenger."""
    return Decision(decision.pending_id, None, decision.pending_count, decision.pending_at_ms)


def test_a_point_exactly_between_two_centroids_moves_nobody() -> None:
    seg = published(hysteresis_evaluations=1)
    low, mid, _ = by_position(seg)
    x = between(seg, low, mid, 0.5)
    d = seg.distances(x)
    assert d is not None
    snap = seg.published_model
    assert snap is not None
    assert d[snap.ids.index(low)] == pytest.approx(d[snap.ids.index(mid)], rel=1e-9)
    for current in (low, mid):
        assert seg.decide(x, 0, current, NO_PENDING) == Decision(current, None, 0, None)


# (fraction of the way to the challenger, margin, challenger counts?) A challenger at
# fraction t is nearer by the factor (1 - t) / t; it counts when that is below 1 - margin.
MARGINS = [
    (0.60, 0.5, False),
    (2 / 3 - 0.01, 0.5, False),
    (2 / 3 + 0.01, 0.5, True),
    (0.9, 0.5, True),
    (0.52, 0.0, True),
    (0.52, 0.1, False),
    (0.6, 0.1, True),
]


@pytest.mark.parametrize(("t", "margin", "counts"), MARGINS)
def test_a_challenger_must_be_closer_by_more_than_the_margin(
    t: float, margin: float, counts: bool
) -> None:
    seg = published(hysteresis_margin=margin, hysteresis_evaluations=1)
    low, mid, _ = by_position(seg)
    decision = seg.decide(between(seg, low, mid, t), 0, low, NO_PENDING)
    assert decision == (Decision(mid, None, 0, None) if counts else Decision(low, None, 0, None))


def test_a_move_needs_enough_evaluations_spaced_apart() -> None:
    seg = published(hysteresis_evaluations=3, hysteresis_spacing_ms=1000)
    low, _, high = by_position(seg)
    x = between(seg, low, high, 1.0)  # right on the challenger
    steps = [
        (0, Decision(low, high, 1, 0)),
        (500, Decision(low, high, 1, 0)),  # too soon: the same piece of evidence
        (999, Decision(low, high, 1, 0)),
        (1000, Decision(low, high, 2, 1000)),
        (1999, Decision(low, high, 2, 1000)),
        (2000, Decision(high, None, 0, None)),
    ]
    pending = NO_PENDING
    for now, expected in steps:
        decision = seg.decide(x, now, low, pending)
        assert decision == expected, now
        pending = carry(decision)


def test_preferring_the_current_segment_resets_the_count() -> None:
    seg = published(hysteresis_evaluations=2, hysteresis_spacing_ms=1000)
    low, _, high = by_position(seg)
    there, home = between(seg, low, high, 1.0), between(seg, low, high, 0.0)
    first = seg.decide(there, 0, low, NO_PENDING)
    assert first == Decision(low, high, 1, 0)
    back = seg.decide(home, 1000, low, carry(first))
    assert back == Decision(low, None, 0, None)
    again = seg.decide(there, 2000, low, carry(back))
    assert again == Decision(low, high, 1, 2000)  # counting starts over
    assert seg.decide(there, 3000, low, carry(again)) == Decision(high, None, 0, None)


def test_a_different_challenger_starts_its_own_count() -> None:
    seg = published(hysteresis_evaluations=2, hysteresis_spacing_ms=1000)
    low, mid, high = by_position(seg)
    first = seg.decide(between(seg, low, high, 1.0), 0, low, NO_PENDING)
    assert first == Decision(low, high, 1, 0)
    other = seg.decide(between(seg, low, mid, 1.0), 5000, low, carry(first))
    assert other == Decision(low, mid, 1, 5000)


@pytest.mark.parametrize("current", [None, "seg-99"], ids=["unassigned", "not-live"])
def test_an_unassigned_or_retired_customer_moves_at_once(current: str | None) -> None:
    seg = published(hysteresis_evaluations=5, hysteresis_spacing_ms=10**9)
    low, mid, high = by_position(seg)
    x = between(seg, low, mid, 0.5)  # even a point with no clear preference
    nearest = seg.nearest(x)
    assert nearest in (low, mid)
    assert seg.decide(x, 0, current, Decision(high, None, 3, 0)) == Decision(nearest, None, 0, None)


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


# --- forget -------------------------------------------------------------------------------


def test_forget_removes_the_customer_from_what_the_model_recentres_on() -> None:
    seg = LearnedSegmenter(F2, n_segments=2, warmup_updates=20, publish_every=1)
    rng = random.Random(8)
    vectors = {f"c{i}": point(rng, TWO_BLOBS[i % 2]) for i in range(40)}
    for customer, x in vectors.items():
        seg.learn(x, customer)
    gone = [f"c{i}" for i in range(0, 40, 2)]  # every customer of the first blob
    for customer in gone:
        seg.forget(customer)
    seg.forget("c0")  # idempotent
    seg.forget("never-seen")
    newcomer = point(rng, TWO_BLOBS[1])
    version = seg.model_version
    seg.learn(newcomer, "c-new")  # learning still works, and publishes
    assert seg.model_version == version + 1
    kept = [x for c, x in vectors.items() if c not in gone] + [newcomer]
    logs = np.log1p(np.array([[x[f] for f in F2] for x in kept]))
    snap = seg.published_model
    assert snap is not None
    # Standardisation is re-estimated from the sample: the forgotten are not in it.
    np.testing.assert_allclose(snap.means, logs.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(snap.scales, logs.std(axis=0), rtol=1e-12)
    assert len(seg.sampled) == len(kept)


def test_a_forgotten_customer_can_be_learned_again() -> None:
    seg = LearnedSegmenter(F2, n_segments=2, warmup_updates=1000)
    seg.learn({"a": 1.0, "b": 2.0}, "c1")
    seg.forget("c1")
    seg.forget("c1")
    assert seg.sampled == ()
    seg.learn({"a": 1.0, "b": 2.0}, "c1")
    assert seg.sampled == ("c1",) and seg.updates == 2


# --- odd inputs ---------------------------------------------------------------------------


def test_learn_does_not_mutate_its_input() -> None:
    seg = LearnedSegmenter(F2, n_segments=2, warmup_updates=10, publish_every=3)
    rng = random.Random(9)
    for i in range(30):
        x: dict[str, Any] = point(rng, TWO_BLOBS[i % 2])
        x["extra"] = "kept"
        if i % 5 == 0:
            x["a"] = None
        before = dict(x)
        seg.learn(x, f"c{i}")
        seg.decide(x, i, None, NO_PENDING)
        assert x == before
        seg.learn(MappingProxyType(before), f"c{i}")  # a read-only mapping is enough


@pytest.mark.parametrize(
    "bad",
    [None, math.nan, math.inf, -math.inf, "12", -5.0, -1e-9],
    ids=["none", "nan", "inf", "-inf", "text", "negative", "tiny-negative"],
)
def test_missing_or_negative_values_do_not_crash(bad: Any) -> None:
    seg = LearnedSegmenter(F2, n_segments=2, warmup_updates=20, publish_every=5)
    rng = random.Random(10)
    for i in range(60):
        x: dict[str, Any] = point(rng, TWO_BLOBS[i % 2])
        if i % 3 == 0:
            x["a"] = bad
        seg.learn(x, f"c{i}")
    seg.learn({}, "empty")  # every feature absent
    snap = seg.published_model
    assert snap is not None
    assert np.isfinite(snap.centroids).all()
    assert np.isfinite(snap.means).all() and np.isfinite(snap.scales).all()
    d = seg.distances({"a": bad, "b": 3.0})
    assert d is not None and np.isfinite(d).all()
    if isinstance(bad, float) and math.isfinite(bad) and bad < 0:
        same_as = 0.0  # negative counts as zero
    else:
        same_as = math.expm1(float(snap.means[0]))  # missing sits at the mean
    np.testing.assert_allclose(d, seg.distances({"a": same_as, "b": 3.0}), rtol=1e-9)


# --- other models -------------------------------------------------------------------------

THREE_D = [(1.0, 1.0, 1.0), (4.0, 1.0, 2.0), (2.5, 4.0, 0.5)]


@pytest.mark.parametrize("model", ["kmeans", "streamkmeans", "dbstream", "denstream"])
def test_every_model_learns_a_stream_without_error(model: str) -> None:
    seg = LearnedSegmenter(
        F3, model=model, n_segments=3, seed=3, warmup_updates=200, publish_every=300
    )
    rng = random.Random(12)
    versions = []
    for i in range(2000):
        seg.learn(point(rng, THREE_D[i % 3], F3), f"c{i % 900}")
        versions.append(seg.model_version)
    assert versions[:199] == [0] * 199
    assert seg.updates == 2000
    if model == "denstream" and seg.model_version == 0:
        return  # checked apart below
    assert versions == sorted(versions) and seg.model_version >= 1
    assert seg.live_ids and len(set(seg.live_ids)) == len(seg.live_ids)
    assert {seg.nearest(exact(c, F3)) for c in THREE_D} <= set(seg.live_ids)
    assert set(seg.live_ids) <= set(seg.segments)


def test_denstream_waits_for_its_initial_buffer() -> None:
    seg = LearnedSegmenter(F3, model="denstream", n_segments=3, warmup_updates=20, publish_every=20)
    rng = random.Random(13)
    for i in range(400):  # fewer than DenStream's n_samples_init (500)
        seg.learn(point(rng, THREE_D[i % 3], F3), f"c{i}")
    assert seg.model_version == 0 and seg.nearest(exact(THREE_D[0], F3)) is None


def test_denstream_publishes_once_past_its_initial_buffer() -> None:
    seg = LearnedSegmenter(
        F3, model="denstream", n_segments=3, seed=3, warmup_updates=200, publish_every=300
    )
    rng = random.Random(12)
    for i in range(2000):
        seg.learn(point(rng, THREE_D[i % 3], F3), f"c{i % 900}")
    assert seg.model_version >= 1
