"""``LearnedSegmenter.decide``: a customer moves only to a challenger nearer by more than
the margin, seen on enough evaluations spaced apart. No broker.

Blob centres are in the model's log space (see ``segmenter_helpers``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from engine.changes import Change
from engine.clustering.published import PublishedModel
from engine.decisions import decide_learned
from engine.health import ModelHealth
from engine.segmenter import Decision, LearnedSegmenter
from engine.state import CustomerState
from tests.engine.segmenter_helpers import NO_PENDING, point


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


def test_a_silent_re_check_opens_a_move_only_past_the_silent_margin() -> None:
    seg = published(hysteresis_margin=0.1, silent_margin=0.5, hysteresis_spacing_ms=1000)
    low, mid, _ = by_position(seg)
    # 30% of the way past the midpoint: mid is closer by more than 0.1, less than 0.5.
    x = between(seg, low, mid, 0.65)
    assert seg.decide(x, 0, low, NO_PENDING, silent=True) == Decision(low, None, 0, None)
    opened = seg.decide(x, 0, low, NO_PENDING)  # the customer's own event opens it
    assert opened == Decision(low, mid, 1, 0)
    # ... and a silent re-check confirms a move already under way at the usual margin.
    assert seg.decide(x, 1000, low, carry(opened), silent=True).segment_id == mid
    # Far enough past the silent margin, a silent re-check opens a move too.
    assert seg.decide(between(seg, low, mid, 1.0), 0, low, NO_PENDING, silent=True) == (
        Decision(low, mid, 1, 0)
    )


def test_a_silent_re_check_before_the_customer_is_overdue_opens_no_move() -> None:
    seg = published(hysteresis_margin=0.1, silent_margin=0.3, hysteresis_spacing_ms=1000)
    low, mid, _ = by_position(seg)
    x = between(seg, low, mid, 1.0)  # at mid's centre: past any margin
    assert seg.decide(x, 0, low, NO_PENDING, silent=True, early=True) == Decision(
        low, None, 0, None
    )
    # A move their own event opened is still confirmed, and their own events move them.
    opened = seg.decide(x, 0, low, NO_PENDING)
    assert seg.decide(x, 1000, low, carry(opened), silent=True, early=True).segment_id == mid
    assert seg.decide(x, 0, low, NO_PENDING, early=True) == Decision(low, mid, 1, 0)


def test_a_silent_re_check_opens_a_move_past_the_margin_it_is_given() -> None:
    seg = published(hysteresis_margin=0.1, silent_margin=0.3, hysteresis_spacing_ms=1000)
    low, mid, _ = by_position(seg)
    # 85% of the way to mid: mid is about 0.82 closer, relatively.
    x = between(seg, low, mid, 0.85)
    assert seg.decide(x, 0, low, NO_PENDING, silent=True) == Decision(low, mid, 1, 0)
    assert seg.decide(x, 0, low, NO_PENDING, silent=True, opening_margin=0.9) == (
        Decision(low, None, 0, None)
    )
    # On mid's centre, past any margin but 1; an own event is not held to it.
    on_mid = between(seg, low, mid, 1.0)
    assert seg.decide(on_mid, 0, low, NO_PENDING, silent=True, opening_margin=0.9) == (
        Decision(low, mid, 1, 0)
    )
    assert seg.decide(on_mid, 0, low, NO_PENDING, silent=True, opening_margin=1.0) == (
        Decision(low, None, 0, None)
    )
    assert seg.decide(x, 0, low, NO_PENDING, opening_margin=1.0) == Decision(low, mid, 1, 0)


def gap(seg: LearnedSegmenter, a: str, b: str) -> float:
    """Distance between the published centroids of ``a`` and ``b`` (standardised)."""
    snap = seg.published_model
    assert snap is not None
    return float(
        np.linalg.norm(snap.centroids[snap.ids.index(a)] - snap.centroids[snap.ids.index(b)])
    )


@pytest.mark.parametrize("silent", [False, True])
def test_between_two_near_centroids_a_move_opens_only_past_the_near_margin(silent: bool) -> None:
    margins = {"hysteresis_margin": 0.1, "silent_margin": 0.3, "hysteresis_spacing_ms": 1000}
    low, mid, _ = by_position(published(**margins))
    apart = gap(published(**margins), low, mid)
    near = published(**margins, near_distance=apart * 1.01, near_margin=0.5)
    far = published(**margins, near_distance=apart * 0.99, near_margin=0.5)
    # 60% of the way to mid: mid is a third closer, relatively, past 0.1 and 0.3.
    x = between(near, low, mid, 0.6)
    assert far.decide(x, 0, low, NO_PENDING, silent=silent) == Decision(low, mid, 1, 0)
    assert near.decide(x, 0, low, NO_PENDING, silent=silent) == Decision(low, None, 0, None)
    # 85%: about 0.82 closer, past the near margin too.
    x = between(near, low, mid, 0.85)
    assert near.decide(x, 0, low, NO_PENDING, silent=silent) == Decision(low, mid, 1, 0)
    # A move under way is confirmed at the usual margin, and a newcomer goes to the nearest.
    opened = far.decide(between(near, low, mid, 0.6), 0, low, NO_PENDING)
    assert near.decide(between(near, low, mid, 0.6), 1000, low, carry(opened)).segment_id == mid
    assert near.decide(between(near, low, mid, 0.6), 0, None, NO_PENDING).segment_id == mid


def test_a_silent_re_check_keeps_whom_the_model_they_were_placed_with_keeps() -> None:
    seg = published(hysteresis_margin=0.1, silent_margin=0.3, hysteresis_spacing_ms=1000)
    low, mid, _ = by_position(seg)
    x = between(seg, low, mid, 1.0)  # on mid's centre of today's model
    now = seg.published_model
    assert now is not None
    # The model they were placed with had low's centre where they are now.
    centroids = now.centroids.copy()
    centroids[now.ids.index(low)] = now.centroids[now.ids.index(mid)]
    centroids[now.ids.index(mid)] += 10.0
    placed = PublishedModel(now.version - 1, now.means, now.scales, now.ids, centroids)
    # The model moved, the customer did not: they stay.
    held = seg.decide(x, 0, low, NO_PENDING, silent=True, placed=placed)
    assert held == Decision(low, None, 0, None) and held.held
    # Their own event, or a placing model that would move them too: the move opens.
    assert seg.decide(x, 0, low, NO_PENDING, placed=placed) == Decision(low, mid, 1, 0)
    assert seg.decide(x, 0, low, NO_PENDING, silent=True, placed=now) == Decision(low, mid, 1, 0)


def test_a_customer_is_placed_with_each_evaluation_s_model_but_one_held_once() -> None:
    seg = published(hysteresis_evaluations=1, silent_margin=0.3)
    low, mid, _ = by_position(seg)
    now, refs = seg.published_model, seg.segments
    assert now is not None
    state, out = CustomerState("c1", segment_id=low), list[Change]()
    home, there = between(seg, low, mid, 0.0), between(seg, low, mid, 1.0)
    decide_learned(seg, ModelHealth(), state, home, 0, None, out, now, refs, silent=True)
    assert (state.placed_version, out) == (now.version, [])  # a re-check that keeps them
    # A silent re-check held by the model they were placed with: held once ...
    centroids = now.centroids.copy()
    centroids[now.ids.index(low)] = now.centroids[now.ids.index(mid)]
    centroids[now.ids.index(mid)] += 10.0
    placed = PublishedModel(now.version - 1, now.means, now.scales, now.ids, centroids)
    decide_learned(seg, ModelHealth(), state, there, 0, None, out, now, refs, True, placed)
    assert (state.segment_id, state.placed_version, out) == (low, None, [])
    # ... then the next re-check that finds them astray moves them.
    decide_learned(seg, ModelHealth(), state, there, 0, None, out, now, refs, True, None)
    assert [c.segment.id for c in out if c.segment] == [mid]
    assert state.placed_version == now.version
