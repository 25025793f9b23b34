"""Segment profiles: size, feature means and spreads, what sets each segment apart,
and its KPIs (conversion, revenue per customer, share lapsed)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.features import FeatureMaker, net_spend
from engine.state import CustomerState
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


class _Moments:
    """Means and spreads per feature, each over the customers that have the feature."""

    __slots__ = ("counts", "n", "squares", "sums")

    def __init__(self) -> None:
        self.n = 0
        self.counts: dict[str, int] = {}
        self.sums: dict[str, float] = {}
        self.squares: dict[str, float] = {}

    def add(self, x: dict[str, float]) -> None:
        self.n += 1
        for name, value in x.items():
            self.counts[name] = self.counts.get(name, 0) + 1
            self.sums[name] = self.sums.get(name, 0.0) + value
            self.squares[name] = self.squares.get(name, 0.0) + value * value

    def mean(self, name: str) -> float:
        count = self.counts.get(name, 0)
        return self.sums[name] / count if count else 0.0

    def std(self, name: str) -> float:
        count = self.counts.get(name, 0)
        if not count:
            return 0.0
        return math.sqrt(max(0.0, self.squares[name] / count - self.mean(name) ** 2))


def segment_profiles(
    states: Iterable[CustomerState],
    segments: dict[str, SegmentRef],
    features: FeatureMaker,
    now_ms: int,
    lapsed_after_days: float = 60.0,
    top: int = 3,
) -> list[SegmentProfile]:
    """Profile every segment (learned and rule) that has members at event time ``now_ms``.

    ``segments`` maps segment ids to their references (learned and rule alike).
    """
    builder = ProfileBuilder(segments, features, now_ms, lapsed_after_days, top)
    return builder.add_all(states).profiles()


class ProfileBuilder:
    """:func:`segment_profiles` one customer at a time, for a caller that must pause
    between customers (the worker walks its whole table without stalling events)."""

    def __init__(
        self,
        segments: dict[str, SegmentRef],
        features: FeatureMaker,
        now_ms: int,
        lapsed_after_days: float = 60.0,
        top: int = 3,
    ) -> None:
        self.segments, self.features, self.now_ms = segments, features, now_ms
        self.lapsed_after_days, self.top = lapsed_after_days, top
        self._population = _Moments()
        self._members: dict[str, _Moments] = {}
        self._kpi_sums: dict[str, list[float]] = {}  # id -> [purchases, sessions, revenue, lapsed]

    def add(self, state: CustomerState) -> None:
        if state.last_seen_ms is None:
            return  # an erasure tombstone
        now_ms = self.now_ms
        x = {k: float(v) for k, v in self.features.features(state, now_ms).items()
             if isinstance(v, int | float)}  # fmt: skip
        self._population.add(x)
        lapsed = (now_ms - state.last_seen_ms) / DAY_MS > self.lapsed_after_days
        for segment_id in (state.segment_id, *state.rule_segments):
            if segment_id is None or segment_id not in self.segments:
                continue
            self._members.setdefault(segment_id, _Moments()).add(x)
            sums = self._kpi_sums.setdefault(segment_id, [0.0, 0.0, 0.0, 0.0])
            sums[0] += state.counts.get("purchase", 0)
            sums[1] += state.session_count  # begun, explicitly or not (engine.features)
            sums[2] += net_spend(state)
            sums[3] += lapsed

    def add_all(self, states: Iterable[CustomerState]) -> ProfileBuilder:
        for state in states:
            self.add(state)
        return self

    def profiles(self) -> list[SegmentProfile]:
        return [
            _profile(self.segments[sid], moments, self._population, self._kpi_sums[sid], self.top)
            for sid, moments in sorted(self._members.items())
        ]


def _profile(
    ref: SegmentRef, moments: _Moments, population: _Moments, kpi: list[float], top: int
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
