"""The drift detector registry matches the config, and River's internals are still what
``engine.drift.river_compat`` reads."""

from __future__ import annotations

from typing import get_args

import pytest
import river
from river import drift as river_drift

from engine.drift import DETECTORS
from engine.drift.river_compat import RIVER_VERSION, page_hinkley_at_extremes, page_hinkley_sums
from schemas.config import DriftDetector


def test_the_registry_has_every_configurable_detector() -> None:
    assert tuple(DETECTORS) == get_args(DriftDetector)


def test_river_internals_are_still_what_river_compat_reads() -> None:
    """River keeps Page-Hinkley's sums private: an upgrade must fail here first."""
    assert river.__version__ == RIVER_VERSION
    ph = river_drift.PageHinkley(delta=0.0, threshold=10.0, alpha=1.0)
    for x in (0.0, 0.0, 1.0, 1.0):
        ph.update(x)
    increase, decrease = page_hinkley_sums(ph)
    # Deviations from the running mean: 0, 0, 2/3, 1/2; the rising sum never fell
    # below 0, the falling one peaked at its end.
    assert increase == pytest.approx(7 / 6) and decrease == 0.0
    assert page_hinkley_at_extremes(ph) == (False, True)
