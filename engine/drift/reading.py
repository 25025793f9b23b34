"""What the drift monitor reports: one :class:`DriftReading` per detection or point
of a detector's timeline, every number in it finite."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DriftReading", "finite"]


@dataclass(frozen=True, slots=True)
class DriftReading:
    """A detection (``observe``), or one point of a detector's timeline (``evaluate``).

    A change detector fires in ``observe``; its timeline point at the next sweep
    carries that detection's ``since_ms`` but not ``detected``, so every detection is
    published and counted once.
    """

    at_ms: int  # event time of the reading
    detector: str  # "adwin" | "page_hinkley" | "psi" | "js"
    subject: str  # a feature name, or "segment_sizes"
    score: float  # the detector's statistic (finite)
    threshold: float  # score at which it fires
    detected: bool  # True: a new detection at this reading
    since_ms: int | None  # event time the changed stretch began, best estimate
    model_version: int


def finite(x: float) -> float:
    """``x``, or a huge stand-in for an infinite or undefined statistic, so a reading
    always encodes as JSON and a gauge.

    >>> finite(0.5), finite(math.inf)
    (0.5, 1e+300)
    >>> import numpy as np
    >>> repr(finite(np.float64(0.25)))  # a plain float: drift.csv writes its repr
    '0.25'
    """
    return float(x) if math.isfinite(x) else 1e300
