"""``LearnedSegmenter``: forgetting a customer, and odd inputs (missing, negative,
non-finite values, read-only mappings) that must neither crash nor be mutated. No broker.

Blob centres are in the model's log space (see ``segmenter_helpers``).
"""

from __future__ import annotations

import math
import random
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest

from engine.segmenter import LearnedSegmenter
from tests.engine.segmenter_helpers import F2, NO_PENDING, TWO_BLOBS, point

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
