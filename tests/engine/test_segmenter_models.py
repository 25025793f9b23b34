"""``LearnedSegmenter`` over every clustering model it offers, DenStream's initial buffer
included. No broker.

Blob centres are in the model's log space (see ``segmenter_helpers``).
"""

from __future__ import annotations

import random

import pytest

from engine.segmenter import LearnedSegmenter
from tests.engine.segmenter_helpers import F3, exact, point

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
