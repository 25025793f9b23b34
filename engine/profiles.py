"""Segment profiles: size, feature means and spreads, what sets each segment apart,
and its KPIs (conversion, revenue per customer, share lapsed)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.changes import SegmentRef

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class SegmentProfile:
    """One segment as an analyst reads it."""

    segment: SegmentRef
    size: int
    means: dict[str, float]
    spreads: dict[str, float]  # standard deviations
    distinguishing: list[tuple[str, float]]  # (feature, z of the segment mean), strongest first
    kpis: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "segment": self.segment.model_dump(),
            "size": self.size,
            "means": self.means,
            "spreads": self.spreads,
            "distinguishing": [{"feature": f, "z": z} for f, z in self.distinguishing],
            "kpis": self.kpis,
        }


class Moments:
    """Means and spreads per feature, each over the customers that have the feature."""

    __slots__ = ("counts", "n", "squares", "sums")

    def __init__(self) -> None:
        self.n = 0
        self.counts: dict[str, int] = {}
        self.sums: dict[str, float] = {}
        self.squares: dict[str, float] = {}

    def mean(self, name: str) -> float:
        count = self.counts.get(name, 0)
        return self.sums[name] / count if count else 0.0

    def std(self, name: str) -> float:
        count = self.counts.get(name, 0)
        if not count:
            return 0.0
        return math.sqrt(max(0.0, self.squares[name] / count - self.mean(name) ** 2))


def build_profile(
    ref: SegmentRef, moments: Moments, population: Moments, kpi: Sequence[float], top: int
) -> SegmentProfile:
    names = sorted(moments.sums)
    z = {
        name: (moments.mean(name) - population.mean(name)) / population.std(name)
        for name in names
        if population.std(name) > 1e-12
    }
    strongest = sorted(z.items(), key=lambda item: (-abs(item[1]), item[0]))[:top]
    purchases, sessions, revenue, lapsed = kpi
    return SegmentProfile(
        segment=ref,
        size=moments.n,
        means={name: moments.mean(name) for name in names},
        spreads={name: moments.std(name) for name in names},
        distinguishing=[(name, round(score, 3)) for name, score in strongest],
        kpis={
            "conversion_rate": purchases / sessions if sessions else 0.0,
            "revenue_per_customer": revenue / moments.n,
            "lapsed_share": lapsed / moments.n,
        },
    )
