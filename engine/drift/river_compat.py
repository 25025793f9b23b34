"""The River internals the change detectors depend on, read here and nowhere else.

Written for River 0.26.1 (pinned in ``pyproject.toml``). River's ``PageHinkley``
keeps its cumulative sums private (``_sum_increase`` with its running minimum
``_min_increase``, ``_sum_decrease`` with its running maximum ``_max_decrease``), yet
they are its statistic and they date a change. ADWIN needs nothing private: its
``width``, ``variance`` and ``estimation`` are public. ``tests/engine/test_drift_registry.py``
checks the installed version and what these fields mean, so an upgrade fails there
before it can change a detection silently.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RIVER_VERSION", "page_hinkley_at_extremes", "page_hinkley_sums"]

RIVER_VERSION = "0.26.1"


def page_hinkley_sums(ph: Any) -> tuple[float, float]:
    """Page-Hinkley's statistics ``(increase, decrease)``: how far each cumulative sum
    has moved from its extreme. It fires when either reaches its threshold."""
    return ph._sum_increase - ph._min_increase, ph._max_decrease - ph._sum_decrease


def page_hinkley_at_extremes(ph: Any) -> tuple[bool, bool]:
    """Whether the rising sum stands at its minimum and the falling sum at its
    maximum: the last such value is where an increase (a decrease) began."""
    return ph._sum_increase <= ph._min_increase, ph._sum_decrease >= ph._max_decrease
