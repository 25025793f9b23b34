"""Synthetic blobs shared by the ``LearnedSegmenter`` tests.

Blob centres are given in the model's log space (``log1p`` of the raw value), so a
point drawn at ``centre + noise`` is fed to the segmenter as ``expm1`` of it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from engine.segmenter import Decision

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
