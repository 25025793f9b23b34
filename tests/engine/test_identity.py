"""``SegmentBook``: near-duplicate centres merged into one id (lineage and assignments
follow), parted again beyond twice the distance, names unique and true among live
segments, kept within a margin, overrides first. No broker."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.clustering.identity import SegmentBook, match, nearest_labels
from engine.clustering.published import PublishedModel
from engine.naming import RULES
from engine.segmenter import Decision, LearnedSegmenter

F = ("days_since_last_seen", "tenure_days", "frequency_90d", "avg_order_value")
VALUE_NAMES = {rule.name for rule in RULES if "value" in rule.tests}


def publish(
    book: SegmentBook, version: int, centers: np.ndarray, old: PublishedModel | None,
    sample: np.ndarray,
) -> PublishedModel:  # fmt: skip
    """What the segmenter does at a publication: label the sample under both models."""
    was = nearest_labels(sample, old.centroids) if old else np.array([], dtype=int)
    now = nearest_labels(sample, centers)
    ids = book.assign(version, centers, old.ids if old else (), was, now)
    return PublishedModel(version, np.zeros(len(F)), np.ones(len(F)), ids, centers)


def around(centers: np.ndarray, n: int = 20) -> np.ndarray:
    """``n`` sample customers at each centre, a little spread (deterministic)."""
    offsets = np.linspace(-0.05, 0.05, n)[:, None]
    return np.concatenate([c + offsets for c in centers])


LOYAL = [0.0, 0.5, 1.5, 1.5]
LAPSED = [2.0, 0.0, -1.0, 0.2]
BROWSE = [0.0, 0.0, -1.0, -1.0]


def test_two_near_centres_become_one_segment_and_the_lineage_says_so() -> None:
    book = SegmentBook(F, merge_distance=0.5)
    first = np.array([LOYAL, LAPSED, BROWSE], dtype=float)
    v1 = publish(book, 1, first, None, around(first))
    assert v1.ids == ("seg-1", "seg-2", "seg-3")
    # The browsing centre drifts onto the lapsed one: two copies of one persona.
    second = np.array([LOYAL, LAPSED, [1.8, 0.1, -1.0, 0.1]], dtype=float)
    v2 = publish(book, 2, second, v1, around(first))
    assert v2.ids == ("seg-1", "seg-2", "seg-2")  # the older id survives, on both centres
    assert [(e.version, e.kind, e.sources, e.targets) for e in book.lineage[3:]] == [
        (2, "merge", ("seg-3",), ("seg-2",))
    ]
    live = {book.segments[i].name for i in set(v2.ids)}
    assert len(live) == 2
    # Both stay one segment while within twice the distance, even a little apart.
    third = np.array([LOYAL, LAPSED, [1.4, 0.1, -1.0, 0.1]], dtype=float)
    v3 = publish(book, 3, third, v2, around(third))
    assert v3.ids == ("seg-1", "seg-2", "seg-2") and len(book.lineage) == 4
    # Beyond twice the distance they part: a split, with a new id (never a reused one).
    fourth = np.array([LOYAL, LAPSED, BROWSE], dtype=float)
    v4 = publish(book, 4, fourth, v3, around(fourth))
    assert v4.ids == ("seg-1", "seg-2", "seg-4")
    assert [(e.kind, e.sources, e.targets) for e in book.lineage[4:]] == [
        ("split", ("seg-2",), ("seg-4",))
    ]


@pytest.mark.parametrize(("moved_to", "continued"), [(2.5, True), (4.5, False)])
def test_a_segment_the_sample_does_not_show_continues_where_its_centre_moved_to(
    moved_to: float, continued: bool
) -> None:
    # The sample (the most recently taught) holds no one of the second segment: by
    # members it went nowhere, and the new second centre took no one.
    book = SegmentBook(F, continue_distance=1.0)
    first = np.array([[0.0, 0, 0, 0], [2.0, 0, 0, 0]])
    assert book.assign(1, first, (), np.array([]), np.array([])) == ("seg-1", "seg-2")
    second = np.array([[0.0, 0, 0, 0], [moved_to, 0, 0, 0]])
    labels = np.zeros(20, dtype=int)  # every sampled customer at the first centre
    ids = book.assign(2, second, ("seg-1", "seg-2"), labels, labels, old_centers=first)
    kinds = [(e.kind, e.sources, e.targets) for e in book.lineage[2:]]
    if continued:  # 0.5 apart: one segment that moved, no customer of it moves
        assert ids == ("seg-1", "seg-2") and kinds == []
    else:  # 2.5 apart: a split and a merge, as without the distance
        assert ids == ("seg-1", "seg-3")
        assert kinds == [("split", ("seg-1",), ("seg-3",)), ("merge", ("seg-2",), ("seg-1",))]


def test_pairs_beyond_the_distance_do_not_steer_the_pairing_of_those_within() -> None:
    # Neither centre took a sampled member: only how far apart they lie counts. The
    # pairing closest in total over all four (2.9 + 2.9) would miss the 0.1 pair.
    nobody = np.array([], dtype=int)
    gaps = np.array([[0.1, 2.9], [2.9, 10.0]])
    found = match(nobody, nobody, 2, 2, overlap=0.5, gaps=gaps, within=3.0)
    assert found.continues == {0: 0}


def test_two_free_centres_of_one_id_count_once_in_the_pairing() -> None:
    # seg-1's two near-duplicate centres would take both new centres, and seg-2, 1.0
    # from the second, would be retired while a new id is minted.
    nobody = np.array([], dtype=int)
    gaps = np.array([[0.5, 10.0], [10.0, 0.5], [10.0, 1.0]])
    found = match(nobody, nobody, 3, 2, overlap=0.5, gaps=gaps, within=3.0,
                  old_ids=["seg-1", "seg-1", "seg-2"])  # fmt: skip
    assert found.continues == {0: 0, 1: 2}


def test_an_old_centre_whose_id_continues_elsewhere_is_not_paired_again() -> None:
    book = SegmentBook(F, merge_distance=1.0, continue_distance=3.0)
    first = np.array([[0.0, 0, 0, 0], [0.3, 0, 0, 0], [4.5, 0, 0, 0]])
    old_ids = book.assign(1, first, (), np.array([]), np.array([]))
    assert old_ids == ("seg-1", "seg-1", "seg-2")  # the first two: one persona
    second = np.array([[0.0, 0, 0, 0], [2.0, 0, 0, 0]])
    labels = np.zeros(20, dtype=int)  # every sampled customer at the first centre
    ids = book.assign(2, second, old_ids, labels, labels, old_centers=first)
    assert ids == ("seg-1", "seg-2") and len(book.lineage) == 2  # no split, no merge


def test_without_a_merge_distance_near_centres_stay_apart() -> None:
    # The check above can fail: with merging off the same drift keeps two ids.
    book = SegmentBook(F)
    first = np.array([LOYAL, LAPSED, BROWSE], dtype=float)
    v1 = publish(book, 1, first, None, around(first))
    second = np.array([LOYAL, LAPSED, [1.8, 0.1, -1.0, 0.1]], dtype=float)
    assert publish(book, 2, second, v1, around(first)).ids == ("seg-1", "seg-2", "seg-3")
    names = [book.segments[i].name for i in ("seg-2", "seg-3")]
    assert names[0] != names[1] and not any(re.search(r"\(\d+\)$", n) for n in names)


def test_near_duplicates_at_the_first_publication_are_born_as_one() -> None:
    book = SegmentBook(F, merge_distance=0.5)
    centers = np.array([LOYAL, LAPSED, [1.9, 0.0, -1.0, 0.2]], dtype=float)
    assert publish(book, 1, centers, None, around(centers)).ids == ("seg-1", "seg-2", "seg-2")
    assert [(e.kind, e.targets) for e in book.lineage] == [
        ("born", ("seg-1",)),
        ("born", ("seg-2",)),
    ]


def test_customers_follow_a_merge() -> None:
    book = SegmentBook(F, merge_distance=0.5)
    first = np.array([LOYAL, LAPSED, BROWSE], dtype=float)
    v1 = publish(book, 1, first, None, around(first))
    v2 = publish(book, 2, np.array([LOYAL, LAPSED, [1.8, 0.1, -1.0, 0.1]]), v1, around(first))
    seg = LearnedSegmenter(F, hysteresis_evaluations=2)
    # A vector whose model view (log1p, unscaled here) sits at a centre.
    at = [{f: math.expm1(max(v, 0.0)) for f, v in zip(F, c, strict=True)} for c in v2.centroids]
    # Nearest to the retired id's old centre: in the survivor, at once (no hysteresis
    # for a retired segment), and nearest to either merged centre is the survivor too.
    moved = seg.decide(at[2], 0, "seg-3", Decision(None, None, 0, None), v2)
    assert moved.segment_id == "seg-2" and moved.pending_id is None
    assert seg.nearest(at[1], v2) == seg.nearest(at[2], v2) == "seg-2"
    # A customer already in the survivor stays, wherever of the two they sit.
    for where in (at[1], at[2]):
        stays = seg.decide(where, 0, "seg-2", Decision(None, None, 0, None), v2)
        assert stays.segment_id == "seg-2"


def test_a_feature_without_data_is_never_claimed() -> None:
    # Purchases but no amounts: avg_order_value is 0 for everyone, so every centre sits
    # at the population mean there (up to rounding). Frequent buyers, not "bargain hunters".
    book = SegmentBook(F)
    centers = np.array([[0.0, 0.3, 1.5, -1e-12], [1.5, 0.0, -1.0, 2e-12], [-0.5, -0.2, -0.3, 0.0]])
    ids = publish(book, 1, centers, None, around(centers)).ids
    names = {book.segments[i].name for i in ids}
    assert "frequent buyers" in names
    assert not names & VALUE_NAMES and not any("value" in n for n in names)
    # The same centres with amounts that set one apart: value may be claimed.
    book = SegmentBook(F)
    centers[0, 3] = -0.4
    ids = publish(book, 1, centers, None, around(centers)).ids
    assert book.segments[ids[0]].name == "frequent bargain hunters"


def test_a_signal_reads_only_the_features_that_carry_data() -> None:
    # Spend features: monetary_90d has data, avg_order_value none (all at the mean).
    # Value is what monetary_90d says, not half of it: "big spenders" (z 0.8 > 0.5).
    features = ("monetary_90d", "avg_order_value", "tenure_days")
    book = SegmentBook(features)
    centers = np.array([[0.8, 0.0, 0.1], [-0.6, 0.0, -0.1]])
    nearest = nearest_labels(around(centers), centers)
    ids = book.assign(1, centers, (), np.array([], dtype=int), nearest)
    assert book.segments[ids[0]].name == "big spenders"


def test_an_override_always_wins_and_its_name_is_not_handed_out_again() -> None:
    book = SegmentBook(F, names={"seg-2": "lapsed customers"})
    centers = np.array([LAPSED, [1.8, 0.5, -1.0, -0.5], LOYAL], dtype=float)
    ids = publish(book, 1, centers, None, around(centers)).ids
    names = [book.segments[i].name for i in ids]
    assert names[1] == "lapsed customers"
    assert names[0] == "lapsed customers (seg-1)" and len(set(names)) == 3


def test_a_name_does_not_flip_while_its_profile_oscillates_around_a_threshold() -> None:
    book = SegmentBook(F, rename_margin=0.25)
    old: PublishedModel | None = None
    seen = []
    for version, lapse in enumerate([0.9, 0.7, 0.9, 0.62, 0.95, 0.7, 0.9], start=1):
        centers = np.array([[lapse, 0.0, 0.0, 0.0], LOYAL], dtype=float)
        old = publish(book, version, centers, old, around(centers))
        seen.append(book.segments[old.ids[0]].name)
    assert seen == ["lapsed customers"] * 7
    # Once it moves past the threshold by the margin, it is renamed.
    centers = np.array([[0.5, 0.0, 0.0, 0.0], LOYAL], dtype=float)
    old = publish(book, 8, centers, old, around(centers))
    assert book.segments[old.ids[0]].name == "casual customers"
    # Retired and live segments alike keep their latest names in the book.
    assert book.segments["seg-2"].name == "high-value loyal"


def test_a_restored_book_continues_as_the_original() -> None:
    # The book's state is its segments and lineage (what a snapshot holds): a twin
    # given those continues alike.
    a = SegmentBook(F, rename_margin=0.25, merge_distance=0.5)
    first = np.array([LOYAL, LAPSED, BROWSE], dtype=float)
    v1 = publish(a, 1, first, None, around(first))
    b = SegmentBook(F, rename_margin=0.25, merge_distance=0.5)
    b.segments, b.lineage = dict(a.segments), list(a.lineage)
    second = np.array([LOYAL, [0.7, 0.0, -1.0, 0.2], [0.6, 0.1, -1.0, 0.1]], dtype=float)
    assert publish(a, 2, second, v1, around(first)) == publish(b, 2, second, v1, around(first))
    assert (a.segments, a.lineage) == (b.segments, b.lineage)


# --- properties over random publications -------------------------------------------------

coordinate = st.floats(-2.5, 2.5, allow_nan=False).map(lambda v: round(v, 1))
centres = st.lists(st.lists(coordinate, min_size=len(F), max_size=len(F)), min_size=2, max_size=8)


@settings(max_examples=150, deadline=None)
@given(st.lists(centres, min_size=1, max_size=6), st.sampled_from([0.0, 0.4, 1.0]))
def test_live_names_are_unique_and_the_lineage_consistent(
    versions: list[list[list[float]]], merge: float
) -> None:
    book = SegmentBook(F, merge_distance=merge, names={"seg-3": "our own"})
    old: PublishedModel | None = None
    retired: set[str] = set()
    for version, rows in enumerate(versions, start=1):
        centers = np.array(rows, dtype=float)
        sample = around(old.centroids if old else centers, 5)
        model = publish(book, version, centers, old, sample)
        live = list(dict.fromkeys(model.ids))
        names = [book.segments[i].name for i in live]
        assert len(set(names)) == len(names), names
        assert not any(re.search(r"\(\d+\)$", n) for n in names), names
        if "seg-3" in live:
            assert book.segments["seg-3"].name == "our own"
        if merge:  # centres closer than the distance share an id
            d = np.linalg.norm(centers[:, None] - centers[None], axis=2)
            close = np.argwhere(d < merge)
            assert all(model.ids[i] == model.ids[j] for i, j in close)
        else:
            assert len(live) == len(model.ids)
        gone = set(old.ids if old else ()) - set(model.ids)
        entries = [e for e in book.lineage if e.version == version]
        assert {e.sources[0] for e in entries if e.kind == "merge"} == gone
        new = set(model.ids) - set(old.ids if old else ())
        assert {e.targets[0] for e in entries if e.kind != "merge"} == new
        assert not new & retired  # ids are never reused
        retired |= gone
        old = model


@pytest.mark.parametrize("merge", [0.0, 0.5])
def test_same_publications_same_ids_names_and_lineage(merge: float) -> None:
    rng = np.random.default_rng(5)
    runs = []
    for _ in range(2):
        book, old, out = SegmentBook(F, merge_distance=merge), None, []
        gen = np.random.default_rng(5)
        for version in range(1, 8):
            centers = gen.normal(size=(5, len(F)))
            old = publish(book, version, centers, old, around(centers, 4))
            out.append((old.ids, {i: book.segments[i].name for i in old.ids}))
        runs.append((out, book.lineage))
    assert runs[0] == runs[1]
    assert rng is not None


def test_with_the_standardisation_a_name_claiming_newness_is_checked_in_days() -> None:
    # The youngest of three cohorts, on the log scale: log1p(days) = 6.0 (~400 days)
    # against a population mean of 6.3; a year on, "new" would be false.
    features = ("tenure_days", "frequency_90d")
    centers = np.array([[-1.5, 0.0], [0.8, 0.2], [0.7, -0.2]])
    scaling = (np.array([6.3, 1.0]), np.array([0.2, 1.0]))
    labels = nearest_labels(around(centers), centers)
    aged = SegmentBook(features)
    ids = aged.assign(1, centers, (), np.array([], dtype=int), labels, scaling)
    # No longer "new": only newer than its siblings, which a comparative may say.
    assert aged.segments[ids[0]].name == "casual customers, newer"
    young = SegmentBook(features)  # without the days, the rank alone says "new"
    ids = young.assign(1, centers, (), np.array([], dtype=int), labels)
    assert young.segments[ids[0]].name == "new browsers"


def test_a_segment_whose_members_went_to_an_unmatched_centre_continues_there() -> None:
    # Ten in segment 0 (it keeps six and continues), three in segment 1: all three
    # went to a new centre that also took four of segment 0's, so it holds too few of
    # segment 1's for the overlap rule, yet it is where segment 1 went, whole.
    before = np.array([0] * 10 + [1] * 3)
    after = np.array([0] * 6 + [1] * 4 + [1] * 3)
    found = match(before, after, 2, 2, overlap=0.5)
    assert found.continues == {0: 0, 1: 1}
    assert found.split_from == {} and found.merged_into == {}
    book = SegmentBook(F)
    first = book.assign(1, np.array([LOYAL, BROWSE]), (), np.array([]), np.array([]))
    again = book.assign(2, np.array([LOYAL, BROWSE]), first, before, after)
    assert again == first and [e.kind for e in book.lineage] == ["born", "born"]
    # Had segment 1's members scattered (no majority anywhere), it would be retired.
    scattered = np.array([0] * 6 + [1] * 4 + [0, 0, 1])
    assert match(before, scattered, 2, 2, overlap=0.5).continues == {0: 0}
