"""The change detectors by name, as ``DriftConfig.detectors`` names them.

Adding one: a module with a class following :class:`engine.drift.base.ChangeDetector`,
a line here, and its name in ``schemas.config.DriftDetector`` (a test checks that the
two agree). The order here is the order in which the detectors of one feature are
stepped, so it is the order of their detections on the same value; the timeline at
each sweep follows the config's order.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from engine.drift.adwin import AdwinDetector
from engine.drift.base import ChangeDetector, DetectorFactory
from engine.drift.page_hinkley import PageHinkleyDetector
from schemas.config import DriftConfig

__all__ = ["DETECTORS", "make_detectors"]

DETECTORS: Mapping[str, DetectorFactory] = MappingProxyType(
    {
        "adwin": AdwinDetector.from_config,
        "page_hinkley": PageHinkleyDetector.from_config,
    }
)


def make_detectors(config: DriftConfig) -> dict[str, ChangeDetector]:
    """A fresh detector for each name in ``config.detectors``, in that order, once each.

    >>> list(make_detectors(DriftConfig(detectors=("page_hinkley", "adwin", "adwin"))))
    ['page_hinkley', 'adwin']
    """
    unknown = [name for name in config.detectors if name not in DETECTORS]
    if unknown:
        raise ValueError(f"unknown drift detectors {unknown}; known: {sorted(DETECTORS)}")
    return {name: DETECTORS[name](config) for name in dict.fromkeys(config.detectors)}
