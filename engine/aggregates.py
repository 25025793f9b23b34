"""Segment profiles kept up to date customer by customer, never by walking every state.

A live worker answers ``/segments`` and refreshes its KPI gauges from these sums.
Each customer counts once, with the feature values and KPI quantities taken when the
caller last offered their state (:meth:`SegmentAggregates.update`): the worker
offers the customers whose state was written since its previous refresh, so the cost
of a refresh grows with the customers that changed, not with the table. A silent
customer's decaying windows are counted anew when a re-check timer writes their state;
whether they lapsed is worked out at each reading, from the day of their latest event.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine.features import FeatureMaker, net_spend
from engine.profiles import DAY_MS, Moments, SegmentProfile, build_profile
from engine.state import CustomerState
from schemas.changes import SegmentRef

__all__ = ["SegmentAggregates", "segment_profiles"]

_MISSING = math.nan


@dataclass(frozen=True, slots=True)
class _Counted:
    """What one customer added to the sums: undone when their state is offered again."""

    segments: tuple[str, ...]
    values: array[float]  # by slot; NaN where the customer lacks the feature
    kpis: tuple[float, float, float]  # purchases, sessions, net spend
    seen_day: int  # the day of their latest event: lapsed or not is worked out on reading


class _Sums:
    """Count, sums and squares per feature slot, and the KPI sums, of one group.

    Sums are compensated (Neumaier): a large value added and later taken away again
    would otherwise leave rounding residue that dwarfs the spread of what remains.
    """

    __slots__ = ("counts", "days", "kpis", "n", "sums")

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.n = 0
        self.counts: list[int] = []
        # Per slot: [sum, its compensation, sum of squares, its compensation].
        self.sums: list[list[float]] = []
        self.kpis = [[0.0, 0.0] for _ in range(3)]
        self.days: dict[int, int] = {}  # members by the day of their latest event

    def apply(self, counted: _Counted, sign: int) -> None:
        if self.n + sign == 0:  # empty again: exact zeros, whatever rounding left
            self._clear()
            return
        self.n += sign
        while len(self.sums) < len(counted.values):
            self.counts.append(0)
            self.sums.append([0.0, 0.0, 0.0, 0.0])
        counts, sums = self.counts, self.sums
        for slot, value in enumerate(counted.values):
            if value == value:  # not NaN: the customer has this feature
                counts[slot] += sign
                acc = sums[slot]
                if counts[slot] == 0:  # nobody has it now: exact zeros, no residue
                    acc[:] = (0.0, 0.0, 0.0, 0.0)
                    continue
                _add(acc, 0, sign * value)
                _add(acc, 2, sign * value * value)
        for acc, value in zip(self.kpis, counted.kpis, strict=True):
            _add(acc, 0, sign * value)
        day = counted.seen_day
        if members := self.days.get(day, 0) + sign:
            self.days[day] = members
        else:
            del self.days[day]

    def kpi_sums(self, lapsed_before_day: int) -> list[float]:
        """Purchases, sessions and net spend summed, and the members whose latest event
        fell on a day before ``lapsed_before_day``."""
        lapsed = sum(n for day, n in self.days.items() if day < lapsed_before_day)
        return [*(total + compensation for total, compensation in self.kpis), float(lapsed)]

    def moments(self, names: list[str]) -> Moments:
        moments = Moments()
        moments.n = self.n
        for slot, count in enumerate(self.counts):
            if count > 0:
                name, acc = names[slot], self.sums[slot]
                moments.counts[name] = count
                moments.sums[name] = acc[0] + acc[1]
                moments.squares[name] = acc[2] + acc[3]
        return moments


def _add(acc: list[float], at: int, value: float) -> None:
    """Add ``value`` to the compensated sum ``acc[at]`` (its error kept in ``acc[at + 1]``)."""
    total = acc[at]
    new = total + value
    if abs(total) >= abs(value):
        acc[at + 1] += (total - new) + value
    else:
        acc[at + 1] += (value - new) + total
    acc[at] = new


class SegmentAggregates:
    """Per-segment sums of profile features and KPIs, updated one customer at a time.

    >>> from engine.features import FeatureMaker
    >>> aggregates = SegmentAggregates(FeatureMaker((7,), 365, 8), lapsed_after_days=60)
    >>> state = CustomerState("c1", first_seen_ms=0, last_seen_ms=0, segment_id="s1")
    >>> aggregates.update(state, now_ms=0)
    >>> aggregates.update(state, now_ms=0)  # offered again: it replaces, never adds
    >>> aggregates.sizes()
    {'s1': 1}
    >>> aggregates.remove("c1")
    >>> aggregates.sizes()
    {}
    """

    def __init__(self, features: FeatureMaker, lapsed_after_days: float = 60.0) -> None:
        self.features = features
        self.lapsed_after_days = lapsed_after_days
        self._counted: dict[str, _Counted] = {}
        self._slots: dict[str, int] = {}  # feature name -> slot, in order of first sight
        self._population = _Sums()
        self._segments: dict[str, _Sums] = {}

    def __len__(self) -> int:
        return len(self._counted)

    def update(self, state: CustomerState, now_ms: int) -> None:
        """Count ``state`` as of event time ``now_ms`` in place of what it counted before
        (a state with no behaviour, such as an erasure marker, counts nowhere)."""
        self.remove(state.customer_id)
        if state.last_seen_ms is None:
            return
        values = array("d")
        for name, value in self.features.features(state, max(now_ms, state.last_seen_ms)).items():
            if isinstance(value, int | float):
                slot = self._slots.setdefault(name, len(self._slots))
                if slot >= len(values):
                    values.extend([_MISSING] * (slot + 1 - len(values)))
                values[slot] = float(value)
        kpis = (float(state.counts.get("purchase", 0)), float(state.session_count),
                net_spend(state))  # fmt: skip
        segments = tuple(s for s in (state.segment_id, *state.rule_segments) if s is not None)
        counted = _Counted(segments, values, kpis, state.last_seen_ms // DAY_MS)
        self._apply(counted, 1)
        self._counted[state.customer_id] = counted

    def remove(self, customer_id: str) -> None:
        """Stop counting ``customer_id`` (erased, or their partition was taken away)."""
        counted = self._counted.pop(customer_id, None)
        if counted is not None:
            self._apply(counted, -1)

    def sizes(self) -> dict[str, int]:
        """Customers counted per segment."""
        return {sid: sums.n for sid, sums in sorted(self._segments.items())}

    def profiles(
        self, segments: Mapping[str, SegmentRef], now_ms: int, top: int = 3
    ) -> list[SegmentProfile]:
        """Profiles of the segments of ``segments`` with members. The lapsed share is as
        of event time ``now_ms``, to the day: a member whose latest event fell on a day
        that ended more than ``lapsed_after_days`` before it."""
        names = sorted(self._slots, key=self._slots.__getitem__)
        population = self._population.moments(names)
        before = math.floor((now_ms - self.lapsed_after_days * DAY_MS) / DAY_MS)
        return [
            build_profile(
                segments[sid], sums.moments(names), population, sums.kpi_sums(before), top
            )
            for sid, sums in sorted(self._segments.items())
            if sid in segments
        ]

    def _apply(self, counted: _Counted, sign: int) -> None:
        self._population.apply(counted, sign)
        for segment_id in counted.segments:
            sums = self._segments.get(segment_id)
            if sums is None:
                sums = self._segments[segment_id] = _Sums()
            sums.apply(counted, sign)
            if sums.n == 0:
                del self._segments[segment_id]


def segment_profiles(
    states: Iterable[CustomerState],
    segments: Mapping[str, SegmentRef],
    features: FeatureMaker,
    now_ms: int,
    lapsed_after_days: float = 60.0,
    top: int = 3,
) -> list[SegmentProfile]:
    """Profile every segment (learned and rule) that has members at event time ``now_ms``;
    ``segments`` maps segment ids to their references (learned and rule alike)."""
    aggregates = SegmentAggregates(features, lapsed_after_days)
    for state in states:
        aggregates.update(state, now_ms)
    return aggregates.profiles(segments, now_ms, top)
