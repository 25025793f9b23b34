"""The contract checks (``tests/engine/contracts.py``) over every clustering model behind
a ``LearnedSegmenter``, and over ``ModelHealth``; snapshots that do not fit.

Each segmenter case warms up and publishes within its first inputs and keeps
publishing after the snapshot, so a restore lands between two model versions.
"""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.clustering import MODELS, make_model
from engine.clustering.pickling import dumps, loads
from engine.health import ModelHealth
from engine.segmenter import Decision, LearnedSegmenter, PublishedModel
from engine.snapshots import SnapshotError, Snapshottable
from tests.engine.contracts import CHECKS, Case, check_restore_continues_like_the_original

FEATURES = ("recency_days", "monetary_90d", "sessions_30d")
BLOBS = [(0.5, 1.0, 2.0), (3.0, 1.0, 0.5), (1.5, 4.0, 1.0)]  # in log1p space
NO_PENDING = Decision(None, None, 0, None)
# Per model: what keeps a run short while it still publishes every 25 lessons.
OPTIONS: dict[str, dict[str, Any]] = {
    "kmeans": {"halflife": 0.05},
    "streamkmeans": {"chunk_size": 20},
    "dbstream": {"clustering_threshold": 1.0, "fading_factor": 0.01},
    "denstream": {"n_samples_init": 40, "stream_speed": 10},
}

Lesson = tuple[dict[str, Any], str]


def lessons(
    seed: int, n: int, customers: int = 70, blobs: Sequence[Sequence[float]] = BLOBS
) -> list[Lesson]:
    """Seeded vectors around ``blobs``, each from one of ``customers`` customers."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        centre = blobs[i % len(blobs)]
        x = {
            f: math.expm1(max(0.0, c + rng.gauss(0.0, 0.3)))
            for f, c in zip(FEATURES, centre, strict=True)
        }
        out.append((x, f"c{rng.randrange(customers)}"))
    return out


def segmenter(model: str) -> LearnedSegmenter:
    return LearnedSegmenter(
        FEATURES,
        model=model,
        n_segments=3,
        seed=7,
        warmup_updates=30,
        publish_every=25,
        sample_size=90,
        model_options=OPTIONS[model],
    )


def feed_segmenter(seg: LearnedSegmenter, inputs: Sequence[Lesson]) -> list[Any]:
    """Learn each lesson, then evaluate it; forget a customer now and then."""
    out: list[Any] = []
    current: str | None = None
    for i, (x, customer) in enumerate(inputs):
        seg.learn(x, customer)
        if i % 31 == 30:
            seg.forget(customer)
        d = seg.distances(x)
        decision = seg.decide(x, i * 60_000, current, NO_PENDING)
        current = decision.segment_id
        fit = (decision.distance, decision.silhouette, decision.near_boundary)
        out.append((seg.model_version, seg.live_ids, d if d is None else d.tolist(), decision, fit))
    published = seg.published_model
    centroids = None if published is None else published.centroids.tolist()
    out.append((seg.updates, centroids, seg.lineage, seg.segments))
    return out


def segmenter_case(model: str) -> Case:
    return Case(
        name=f"segmenter-{model}",
        make=lambda: segmenter(model),
        feed=feed_segmenter,
        first=lessons(1, 160),
        then=lessons(2, 160),
    )


# After the snapshot every group jumps far: no segment's members stay together, so
# splits and merges, and segments born to the restored segmenter as well as to the
# original. (Groups that drift, however far, keep their segments.)
CHURN = Case(
    name="segmenter-kmeans-churn",
    make=lambda: segmenter("kmeans"),
    feed=feed_segmenter,
    first=lessons(1, 160),
    then=lessons(2, 240, blobs=[(4.0, 4.0, 4.0), (0.0, 0.0, 0.0), (4.0, 0.0, 4.0)]),
)


# ModelHealth is fed decisions and publications as plain data (PublishedModel holds
# arrays, which compare elementwise): ("decision", fields) or ("published", old, new).
Row = tuple[float, ...]
Spec = tuple[int, Row, Row, tuple[str, ...], tuple[Row, ...]]  # PublishedModel's fields


def published(spec: Spec | None) -> PublishedModel | None:
    if spec is None:
        return None
    version, means, scales, ids, centroids = spec
    return PublishedModel(version, np.array(means), np.array(scales), ids, np.array(centroids))


def feed_health(health: ModelHealth, inputs: Sequence[tuple[Any, ...]]) -> list[Any]:
    out: list[Any] = []
    for i, item in enumerate(inputs):
        if item[0] == "decision":
            health.record(Decision(*item[1]))
        else:
            new = published(item[2])
            assert new is not None
            health.published(published(item[1]), new)
        out.append((health.silhouette, health.near_boundary))
        if i % 7 == 6:
            out.append((health.drain_distances(), health.drain_shifts()))
    return out


def health_inputs(seed: int, n: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    ids = ("seg-1", "seg-2", "seg-3")
    old: Spec | None = None
    out: list[tuple[Any, ...]] = []
    for i in range(n):
        if i % 10 == 0:
            centroids = tuple(tuple(rng.gauss(0, 2) for _ in range(2)) for _ in ids)
            means, scales = (rng.random(), 1.0), (1.0, rng.random() + 0.5)
            new: Spec = (i // 10 + 1, means, scales, ids, centroids)
            out.append(("published", old, new))
            old = new
            continue
        distance = None if rng.random() < 0.1 else rng.random() * 3
        fields = ("seg-1", None, 0, None, distance, rng.uniform(-1, 1), rng.random() < 0.3)
        out.append(("decision", fields))
    return out


HEALTH_CASE = Case(
    name="model-health",
    make=lambda: ModelHealth(smoothing=0.05, max_pending=20),
    feed=feed_health,
    first=health_inputs(3, 60),
    then=health_inputs(4, 60),
)
CASES = [*(segmenter_case(model) for model in sorted(MODELS)), CHURN, HEALTH_CASE]


@pytest.mark.parametrize("case", CASES, ids=repr)
@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_contract(check: Callable[[Case], None], case: Case) -> None:
    check(case)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_each_case_publishes_several_versions_before_and_after_the_snapshot(model: str) -> None:
    case = segmenter_case(model)
    seg = segmenter(model)
    assert isinstance(seg, Snapshottable)
    case.feed(seg, case.first)
    before = seg.model_version
    case.feed(seg, case.then)
    assert before >= 2 and seg.model_version >= before + 2


def test_the_churn_case_splits_and_merges_after_the_snapshot() -> None:
    seg = CHURN.make()
    assert isinstance(seg, LearnedSegmenter)
    CHURN.feed(seg, CHURN.first)
    version = seg.model_version
    CHURN.feed(seg, CHURN.then)
    later = {entry.kind for entry in seg.lineage if entry.version > version}
    assert later == {"split", "merge"}


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), split=st.integers(0, 120))
def test_a_restore_at_any_point_continues_like_the_original(seed: int, split: int) -> None:
    inputs = lessons(seed, 120, customers=40)
    case = Case(
        "kmeans", partial(segmenter, "kmeans"), feed_segmenter, inputs[:split], inputs[split:]
    )
    check_restore_continues_like_the_original(case)


ODD = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-5, 10**6),
    st.text(max_size=3),
)


@settings(max_examples=15, deadline=None)
@given(
    values=st.lists(st.tuples(ODD, ODD, ODD), min_size=1, max_size=80),
    split=st.integers(0, 80),
)
def test_odd_values_keep_every_contract(values: list[tuple[Any, Any, Any]], split: int) -> None:
    inputs = [(dict(zip(FEATURES, row, strict=True)), f"c{i % 9}") for i, row in enumerate(values)]
    case = Case(
        "odd",
        lambda: LearnedSegmenter(FEATURES, n_segments=2, warmup_updates=3, publish_every=4),
        feed_segmenter,
        inputs[:split],
        inputs[split:],
    )
    for check in CHECKS:
        check(case)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), split=st.integers(0, 50))
def test_model_health_restores_at_any_point(seed: int, split: int) -> None:
    inputs = health_inputs(seed, 50)
    case = Case("health", HEALTH_CASE.make, feed_health, inputs[:split], inputs[split:])
    check_restore_continues_like_the_original(case)


# --- snapshots that do not fit -------------------------------------------------------------


def learned(model: str = "kmeans") -> LearnedSegmenter:
    seg = segmenter(model)
    feed_segmenter(seg, lessons(5, 60))
    return seg


@pytest.mark.parametrize(
    ("other", "complaint"),
    [
        (lambda: LearnedSegmenter(FEATURES[:2], warmup_updates=30), "features"),
        (lambda: LearnedSegmenter(FEATURES[::-1], warmup_updates=30), "features"),
        (lambda: LearnedSegmenter(FEATURES, model="dbstream", n_segments=3), "model"),
        (lambda: LearnedSegmenter(FEATURES, n_segments=4), "n_segments"),
        (lambda: LearnedSegmenter(FEATURES, n_segments=3), "model_options"),
    ],
    ids=["fewer-features", "reordered-features", "other-model", "other-count", "other-options"],
)
def test_a_snapshot_of_another_segmenter_is_refused(
    other: Callable[[], LearnedSegmenter], complaint: str
) -> None:
    target = other()
    before = pickle.dumps(target.snapshot())
    with pytest.raises(SnapshotError, match=complaint):
        target.restore(learned().snapshot())
    assert pickle.dumps(target.snapshot()) == before  # left as it was


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"kind": "model_health"}, "a model_health snapshot cannot restore"),
        ({"version": 99}, "version 99 is not 1"),
    ],
    ids=["kind", "version"],
)
def test_a_snapshot_of_another_kind_or_version_is_refused(
    change: dict[str, Any], complaint: str
) -> None:
    state = {**learned().snapshot(), **change}
    with pytest.raises(SnapshotError, match=complaint):
        segmenter("kmeans").restore(state)


def test_a_snapshot_missing_parts_is_refused() -> None:
    state = learned().snapshot()
    runtime = loads(state["runtime"])
    del runtime["sample"], runtime["updates"]
    state["runtime"] = dumps(runtime)
    with pytest.raises(SnapshotError, match=r"lacks \['sample', 'updates'\]"):
        segmenter("kmeans").restore(state)


def test_a_model_refuses_another_models_state() -> None:
    kmeans = make_model("kmeans", FEATURES, 3, 1)
    dbstream = make_model("dbstream", FEATURES, 3, 1)
    with pytest.raises(SnapshotError, match="holds a DBSTREAM, not a KMeans"):
        kmeans.restore(dbstream.snapshot())


def test_model_health_refuses_a_segmenter_snapshot() -> None:
    with pytest.raises(SnapshotError, match="learned_segmenter snapshot cannot restore"):
        ModelHealth().restore(learned().snapshot())


def test_a_snapshot_is_independent_of_the_part_restored_from_it() -> None:
    state = learned("dbstream").snapshot()
    frozen = pickle.dumps(state)
    seg = segmenter("dbstream")
    seg.restore(state)
    feed_segmenter(seg, lessons(6, 80))
    assert pickle.dumps(state) == frozen
