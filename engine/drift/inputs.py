"""Input drift: is each input partition's daily mix of event types, and its funnel
conversion, still like it was in its previous days?

Every accepted behaviour event is counted by type in its partition's open *day* (of
event time, UTC). The first event of a later day closes the open one and scores it
against the partition's *reference*, the pooled counts of its ``input_reference_days``
days before it (a rolling, time-based window: days without events count as nothing):

- **event mix** (subject ``event_mix:p<N>``): PSI and Jensen-Shannon divergence of the
  share of each event type, through the same alert arms as the other divergences;
  scored when the day and the reference both have ``input_min_events`` events.
- **funnel** (subject ``funnel:p<N>``, detector ``conversion_drop``): for each step of
  view (page or product) -> add_to_cart -> checkout -> purchase, the day's conversion
  (a ratio of counts) against the reference's. The score is the largest relative drop
  ``1 - day / reference`` (0 if none dropped) among steps whose day has
  ``funnel_min_count`` events to convert from; a day with no such step has no funnel
  reading. It detects at ``funnel_drop_alert`` only if a step dropped that much
  *and* beyond 3 standard errors: otherwise it counts as just below the alert, so a
  small day's noise neither fires nor re-arms. The error treats the day's two counts
  as independent Poisson counts (the predicted count ``r * d`` varies by
  ``r**2 * d``, the converted one by ``r * d``): right for counts that are not
  nested, conservative for a funnel whose stages are.

Per partition, so partitions' interleaving cannot change anything: a partition's day
is closed and scored by that partition's own next day, whatever the other partitions
did meanwhile (live workers and replay see each partition in the same order). A late
event (earlier than its partition's open day) counts in the open day. A reading is
dated at the start of the day it scores. State is bounded: the open day's counts and
at most ``input_reference_days`` finished days per partition.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

from engine.drift.base import SNAPSHOT_VERSION
from engine.drift.divergence import Arm, arms, divergence_readings, shares
from engine.drift.reading import DriftReading, finite
from engine.snapshots import SnapshotError, check_snapshot
from schemas.config import DriftConfig

__all__ = ["CONVERSION_DROP", "DAY_MS", "EVENT_MIX", "FUNNEL", "FUNNEL_STEPS", "InputMix"]

DAY_MS = 86_400_000
EVENT_MIX, FUNNEL = "event_mix", "funnel"  # subjects, with ":p<partition>" appended
CONVERSION_DROP = "conversion_drop"  # the funnel's detector
# The funnel's stages, each the event types it counts; consecutive stages are its steps.
FUNNEL_STEPS: tuple[tuple[str, ...], ...] = (
    ("page_view", "product_view"),
    ("add_to_cart",),
    ("checkout",),
    ("purchase",),
)
_Z = 3.0  # standard errors a step's drop must exceed to count
_KIND = "input_mix"


class _Partition:
    """One partition's open day, its finished days (oldest first) and alert arms."""

    __slots__ = ("arms", "days", "first_day", "open_day", "today")

    def __init__(self, config: DriftConfig, day: int) -> None:
        self.first_day = self.open_day = day
        self.today: Counter[str] = Counter()
        self.days: dict[int, Counter[str]] = {}
        self.arms = arms(config)
        self.arms[CONVERSION_DROP] = Arm(config.funnel_drop_alert, config.funnel_drop_alert / 2)


class InputMix:
    """Daily event-type mix and funnel conversion per partition, against each
    partition's previous days.

    ``observe`` takes each accepted behaviour event and returns the readings (timeline
    points and detections) of any day it closes.

    >>> from schemas.config import DriftConfig
    >>> mix = InputMix(DriftConfig(input_reference_days=3, input_min_events=10))
    >>> def day(d, views, carts):
    ...     types = ["product_view"] * views + ["add_to_cart"] * carts
    ...     return [r for t in types for r in mix.observe(t, 0, d * DAY_MS, 1)]
    >>> [day(d, 80, 20) for d in range(4)]
    [[], [], [], []]
    >>> [(r.detector, r.subject, r.detected) for r in day(4, 20, 80)]
    [('psi', 'event_mix:p0', False), ('js', 'event_mix:p0', False)]
    >>> [(r.detector, r.detected, round(r.score, 2)) for r in day(5, 80, 20)]
    [('psi', True, 1.66), ('js', True, 0.28)]

    Day 3 is the first with 3 days behind it, and like them; day 4 (closed by day 5's
    first event) has its shares turned round. Its state survives a restart:

    >>> clone = InputMix(DriftConfig(input_reference_days=3, input_min_events=10))
    >>> clone.restore(mix.snapshot())
    >>> clone.observe("page_view", 0, 7 * DAY_MS, 1) == mix.observe("page_view", 0, 7 * DAY_MS, 1)
    True
    """

    def __init__(self, config: DriftConfig) -> None:
        self.config = config
        self.reference_days = config.input_reference_days
        self._parts: dict[int, _Partition] = {}

    def observe(
        self, event_type: str, partition: int, at_ms: int, model_version: int
    ) -> list[DriftReading]:
        """Count one accepted event; the readings of the day it closes, if any."""
        day = at_ms // DAY_MS
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = _Partition(self.config, day)
        out: list[DriftReading] = []
        if day > part.open_day:
            out = self._close(partition, part, model_version)
            part.open_day, part.today = day, Counter()
            for old in [d for d in part.days if d < day - self.reference_days]:
                del part.days[old]  # out of every later day's reference
        part.today[event_type] += 1
        return out

    def volumes(self) -> dict[int, dict[int, int]]:
        """Events per finished day (in the reference window) and the open day, by
        partition: the volume each partition's source sends."""
        out: dict[int, dict[int, int]] = {}
        for partition, part in sorted(self._parts.items()):
            days = {d: sum(c.values()) for d, c in part.days.items()}
            days[part.open_day] = sum(part.today.values())
            out[partition] = days
        return out

    def _close(self, partition: int, part: _Partition, version: int) -> list[DriftReading]:
        """Score the open day, then keep it among the finished ones."""
        day, today = part.open_day, part.today
        part.days[day] = today
        if day - part.first_day < self.reference_days:
            return []  # not yet a full reference behind it
        reference: Counter[str] = Counter()
        for d, counts in part.days.items():
            if day - self.reference_days <= d < day:
                reference.update(counts)
        at_ms = day * DAY_MS
        out: list[DriftReading] = []
        minimum = self.config.input_min_events
        if sum(today.values()) >= minimum and sum(reference.values()) >= minimum:
            expected, actual = shares(reference), shares(today)
            types = sorted(expected.keys() | actual.keys())
            out += divergence_readings(
                f"{EVENT_MIX}:p{partition}", part.arms,
                [expected.get(t, 0.0) for t in types], [actual.get(t, 0.0) for t in types],
                at_ms, None, version,
            )  # fmt: skip
        drops = funnel_drop(reference, today, self.config.funnel_min_count)
        if drops is not None:
            (drop, significant), arm = drops, part.arms[CONVERSION_DROP]
            gated = drop if significant >= arm.alert else min(drop, _below(arm.alert))
            detected = arm.step(gated, at_ms)
            out.append(DriftReading(at_ms, CONVERSION_DROP, f"{FUNNEL}:p{partition}",
                                    finite(drop), arm.alert, detected, arm.rose_ms,
                                    version))  # fmt: skip
        return out

    def snapshot(self) -> dict[str, Any]:
        """The runtime state, detached and picklable (``engine.snapshots``)."""
        return {
            "kind": _KIND,
            "version": SNAPSHOT_VERSION,
            "reference_days": self.reference_days,
            "partitions": {
                p: {
                    "first_day": part.first_day,
                    "open_day": part.open_day,
                    "today": dict(part.today),
                    "days": {d: dict(c) for d, c in part.days.items()},
                    "arms": {name: arm.snapshot() for name, arm in part.arms.items()},
                }
                for p, part in self._parts.items()
            },
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Put a :meth:`snapshot` back into this watcher, built with the same config;
        :class:`~engine.snapshots.SnapshotError` if it does not fit, and then nothing
        changed."""
        check_snapshot(state, _KIND, SNAPSHOT_VERSION)
        parts: dict[int, _Partition] = {}
        try:
            if state["reference_days"] != self.reference_days:
                raise SnapshotError(
                    f"the snapshot is of input drift over {state['reference_days']!r} days, "
                    f"this one is over {self.reference_days!r}"
                )
            for p, saved in state["partitions"].items():
                part = _Partition(self.config, saved["first_day"])
                part.open_day = saved["open_day"]
                part.today = Counter(saved["today"])
                part.days = {d: Counter(c) for d, c in saved["days"].items()}
                for name, arm in part.arms.items():
                    arm.restore(saved["arms"][name])
                parts[p] = part
        except KeyError as e:
            raise SnapshotError(f"an input drift snapshot without {e}") from e
        self._parts = parts


def funnel_drop(
    reference: Mapping[str, int], today: Mapping[str, int], min_count: int
) -> tuple[float, float] | None:
    """The largest relative drop of a funnel step's conversion in ``today`` from
    ``reference``, and the largest of those beyond 3 standard errors (each 0 when no
    step dropped); None when no step has ``min_count`` events to convert from today
    and a reference rate.

    >>> ref = {"page_view": 1000, "add_to_cart": 200, "checkout": 100, "purchase": 80}
    >>> day = {"page_view": 500, "add_to_cart": 100, "checkout": 50, "purchase": 40}
    >>> funnel_drop(ref, day, 50)
    (0.0, 0.0)
    >>> funnel_drop(ref, {"page_view": 500, "add_to_cart": 40}, 50)  # carts: too few to go on
    (0.6, 0.6)
    >>> funnel_drop(ref, {"page_view": 60, "add_to_cart": 7}, 50)  # 12 expected: not beyond 3 SE
    (0.41666666666666663, 0.0)
    >>> funnel_drop(ref, {"page_view": 10, "add_to_cart": 1}, 50) is None
    True
    """
    stages = [[sum(counts.get(t, 0) for t in types) for types in FUNNEL_STEPS]
              for counts in (reference, today)]  # fmt: skip
    (ref, day), worst, significant, scored = stages, 0.0, 0.0, False
    for i in range(len(FUNNEL_STEPS) - 1):
        if day[i] < min_count or ref[i] == 0 or ref[i + 1] == 0:
            continue
        scored = True
        rate = ref[i + 1] / ref[i]
        predicted = day[i] * rate
        drop = max(0.0, 1.0 - day[i + 1] / predicted)
        worst = max(worst, drop)
        if (predicted - day[i + 1]) / math.sqrt(predicted * (1 + rate)) > _Z:
            significant = max(significant, drop)
    return (worst, significant) if scored else None


def _below(x: float) -> float:
    """The float just below ``x``: a score that neither reaches an alert at ``x`` nor,
    above the re-arm level, lets it re-arm."""
    return math.nextafter(x, -math.inf)
