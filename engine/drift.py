"""Drift watch: is what the model learns from, or how customers spread over segments,
still like it was when the model settled?

Two kinds of evidence, both on the model's own (log-scaled) view of each lesson:

- **change detectors** (River's ADWIN and Page-Hinkley), one per watched feature, fed
  every lesson from the reference delay on, in units of the reference's standard
  deviation (so one threshold means the same for every feature; the reference's own
  lessons are replayed into them once it is complete). They report the moment they
  fire, with where the change began (a CUSUM's last zero, or Page-Hinkley's own).
- **divergences** of a sliding *current* window of the latest lessons from a frozen
  *reference* window (the first lessons after ``reference_delay_ms``, when the windowed
  features have filled): the population stability index and the Jensen-Shannon
  divergence over the reference's quantile bins, and the same two measures over the
  share of customers in each segment. They are read at each sweep, so they make a
  daily timeline as well as detections (crossing the alert level upwards, re-armed
  when the score falls back low enough).

Pure and deterministic, and bounded: two windows of ``reference_size`` values per
feature and a few numbers per detector, whatever the number of customers.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from river import drift

from schemas.config import DriftConfig

__all__ = ["EPSILON", "DriftMonitor", "DriftReading", "js_divergence", "psi"]

EPSILON = 1e-4  # share given to an empty bin, so PSI stays finite
SEGMENT_SIZES = "segment_sizes"
_MIN_SCALE = 1e-6  # standard deviation of a feature that was constant in the reference
_SLACKS = (0.05, 0.15, 0.5)  # CUSUM slacks, in reference deviations, to date changes by


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


def psi(expected: Sequence[float], actual: Sequence[float], epsilon: float = EPSILON) -> float:
    """Population stability index of ``actual`` against ``expected`` (probability
    vectors over the same bins): ``sum((a - e) * ln(a / e))``, an empty bin counting as
    ``epsilon``. 0 for identical shares; 0.1 is a moderate shift, 0.25 a large one.

    >>> psi([0.5, 0.5], [0.5, 0.5])
    0.0
    >>> round(psi([0.5, 0.5], [0.25, 0.75]), 4)
    0.2747
    >>> round(psi([0.5, 0.5, 0.0], [0.5, 0.0, 0.5]), 2)
    8.52
    """
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, epsilon), max(a, epsilon)
        total += (a - e) * math.log(a / e)
    return total


def js_divergence(p: Sequence[float], q: Sequence[float]) -> float:
    """Jensen-Shannon divergence (base 2) of two probability vectors: symmetric, 0 for
    identical shares, 1 for shares on disjoint bins.

    >>> js_divergence([0.5, 0.5], [0.5, 0.5])
    0.0
    >>> js_divergence([1.0, 0.0], [0.0, 1.0])
    1.0
    >>> round(js_divergence([0.5, 0.5], [0.25, 0.75]), 4)
    0.0488
    """
    total = 0.0
    for a, b in zip(p, q, strict=True):
        m = (a + b) / 2
        if a > 0:
            total += a * math.log2(a / m)
        if b > 0:
            total += b * math.log2(b / m)
    return min(1.0, max(0.0, total / 2))


def adwin_bound(width: float, variance: float, delta: float) -> float:
    """About the mean difference at which ADWIN cuts a window of ``width`` values (of
    this per-value ``variance``) in two halves (Bifet and Gavaldà 2007, Theorem 3.1).

    >>> round(adwin_bound(2000, 1.0, 0.002), 3)
    0.201
    """
    if width < 2:
        return math.inf
    inv_m = 4.0 / width  # 1/m = 1/n0 + 1/n1, with n0 = n1 = width / 2
    log_term = math.log(2 * math.log(width) / delta)
    return math.sqrt(2 * inv_m * variance * log_term) + 2.0 / 3.0 * inv_m * log_term


def _shares(counts: Mapping[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {key: n / total for key, n in counts.items()} if total > 0 else {}


@dataclass(slots=True)
class _Arm:
    """Alert state of one divergence: fires once on crossing ``alert`` upwards and
    is re-armed when the score falls below ``rearm``."""

    alert: float
    rearm: float
    armed: bool = True
    rose_ms: int | None = None  # when the score last rose above ``rearm``

    def step(self, score: float, at_ms: int) -> bool:
        if score < self.rearm:
            self.armed, self.rose_ms = True, None
            return False
        if self.rose_ms is None:
            self.rose_ms = at_ms
        if self.armed and score >= self.alert:
            self.armed = False
            return True
        return False


class _Watch:
    """One feature: its two windows, the reference's summary, its change detectors
    and the bookkeeping that dates a change."""

    __slots__ = ("adwin", "arms", "count", "current", "cusums", "detectors", "edges",
                 "expected", "fired", "marks", "mean", "ph", "ph_high", "ph_low", "reference",
                 "scale", "starts")  # fmt: skip

    def __init__(self, size: int) -> None:
        self.reference: list[float] = []  # emptied once summarised
        self.current: deque[float] = deque(maxlen=size)
        self.marks: deque[tuple[int, int]] = deque(maxlen=size)  # (count, at_ms) changes
        self.count = 0  # values seen since the delay
        self.mean, self.scale = 0.0, 1.0  # of the reference
        self.edges: np.ndarray | None = None  # inner edges of the reference's quantile bins
        self.expected: list[float] = []  # reference share per bin
        self.detectors: dict[str, Any] = {}  # name -> River detector, in configured order
        self.adwin: Any = None
        self.ph: Any = None
        self.ph_low = self.ph_high = 0  # count at Page-Hinkley's last low / high
        # One-sided CUSUMs of the standardised values, rising and falling for each of
        # _SLACKS, and the count at which each last stood at zero: where a rise (or
        # fall) of about twice that slack began.
        self.cusums = (0.0,) * (2 * len(_SLACKS))
        self.starts = [0] * (2 * len(_SLACKS))
        self.fired: dict[str, int] = {}  # detector -> since_ms, since the last evaluate
        self.arms: dict[str, _Arm] = {}

    def freeze(self, config: DriftConfig) -> None:
        """Summarise the reference; start the detectors on it, so they know what normal
        looks like before the first new value."""
        ref = np.asarray(self.reference)
        self.mean = float(ref.mean())
        self.scale = max(float(ref.std()), _MIN_SCALE)
        self.edges = np.unique(np.quantile(ref, np.arange(1, config.bins) / config.bins))
        self.expected = _histogram(ref, self.edges)
        self.arms = _arms(config)
        self.detectors = {name: _detector(name, config) for name in config.detectors}
        self.adwin, self.ph = self.detectors.get("adwin"), self.detectors.get("page_hinkley")
        count = self.count
        for i, x in enumerate(self.reference, start=count - len(self.reference) + 1):
            self.count = i
            self.step((x - self.mean) / self.scale)  # what fires here is history: dropped
        self.starts = [count] * len(self.starts)
        self.reference = []

    def step(self, z: float) -> tuple[str, ...]:
        """Feed one standardised value; the detectors that fired on it."""
        self.cusums = _cusums(self.cusums, z, self.starts, self.count)
        fired: tuple[str, ...] = ()
        if self.adwin is not None:
            self.adwin.update(z)
            if self.adwin.drift_detected:
                fired = ("adwin",)
        ph = self.ph
        if ph is not None:
            ph.update(z)
            # Where its sums last stood at their extremes: the change point if it fires.
            if ph._sum_increase <= ph._min_increase:
                self.ph_low = self.count
            if ph._sum_decrease >= ph._max_decrease:
                self.ph_high = self.count
            if ph.drift_detected:
                fired += ("page_hinkley",)
        return fired

    def change_start(self, name: str) -> int:
        """The value count at which the change a detector just found began."""
        if name == "page_hinkley":
            increase, decrease = _page_hinkley_sums(self.ph)
            return (self.ph_low if increase >= decrease else self.ph_high) + 1
        # ADWIN's own cut keeps much of the old stretch. A CUSUM's last zero estimates
        # a change point best when its slack is half the change: take the closest.
        shift = float(self.adwin.estimation)
        i = max([0] + [k for k, slack in enumerate(_SLACKS) if slack <= abs(shift) / 2])
        start = self.starts[2 * i + (shift < 0)]
        self.cusums = (0.0,) * len(self.cusums)
        self.starts = [self.count] * len(self.starts)
        return start + 1

    def statistic(self, name: str, config: DriftConfig) -> tuple[float, float]:
        """(score, threshold) of a change detector, in reference standard deviations."""
        if name == "page_hinkley":
            return _finite(max(*_page_hinkley_sums(self.ph), 0.0)), config.page_hinkley_threshold
        width = float(self.adwin.width)
        variance = self.adwin.variance / width if width else 0.0
        bound = adwin_bound(width, variance, config.adwin_delta)
        return _finite(abs(self.adwin.estimation)), _finite(bound)

    def since(self, count: int) -> int | None:
        """Event time of value number ``count`` (1-based), as far as the marks reach."""
        if not self.marks:
            return None
        i = bisect.bisect_right(self.marks, (count, math.inf)) - 1
        return self.marks[max(i, 0)][1]


class DriftMonitor:
    """Change detectors and reference divergences over a stream of feature vectors.

    ``observe`` takes each lesson (the model's log-scaled view; ``None`` is missing)
    and returns new ADWIN / Page-Hinkley detections; ``evaluate``, at each sweep,
    returns one timeline reading per detector and subject.

    >>> import random
    >>> from schemas.config import DriftConfig
    >>> monitor = DriftMonitor(["x"], DriftConfig(reference_size=200), reference_delay_ms=0)
    >>> rng, hits = random.Random(1), []
    >>> for i in range(2000):
    ...     x = rng.gauss(0.0 if i < 1000 else 1.0, 1.0)
    ...     hits += monitor.observe({"x": x}, at_ms=i, model_version=1)
    >>> sorted({(r.detector, r.since_ms is not None and r.since_ms >= 900) for r in hits})
    [('adwin', True), ('page_hinkley', True)]
    >>> readings = monitor.evaluate(2000, {"a": 50, "b": 50}, model_version=1)
    >>> [(r.detector, r.detected, r.since_ms is not None) for r in readings if r.subject == "x"]
    [('psi', True, True), ('js', True, True), ('adwin', False, True), ('page_hinkley', False, True)]
    """

    def __init__(
        self, features: Sequence[str], config: DriftConfig, reference_delay_ms: int
    ) -> None:
        self.features = tuple(features)
        self.config = config
        self.reference_delay_ms = reference_delay_ms
        self._watches = {name: _Watch(config.reference_size) for name in self.features}
        self._first_ms: int | None = None
        self._lessons = 0  # lessons since the delay, up to reference_size
        self._ready = False
        self._segments: dict[str, float] | None = None  # shares when the reference was set
        self._segment_arms = _arms(config)

    @property
    def reference_ready(self) -> bool:
        return self._ready

    def observe(
        self, values: Mapping[str, float | None], at_ms: int, model_version: int
    ) -> list[DriftReading]:
        """Take one lesson; return the change detectors' new detections."""
        if self._first_ms is None:
            self._first_ms = at_ms
        if at_ms - self._first_ms < self.reference_delay_ms:
            return []
        found: list[DriftReading] = []
        filling = not self._ready
        for name, watch in self._watches.items():
            x = values.get(name)
            if x is None or not math.isfinite(x):
                continue
            watch.count += 1
            marks = watch.marks
            if not marks or marks[-1][1] != at_ms:
                marks.append((watch.count, at_ms))
            watch.current.append(x)
            if filling:
                watch.reference.append(x)
            elif watch.detectors:
                for detector in watch.step((x - watch.mean) / watch.scale):
                    found.append(self._detection(name, watch, detector, at_ms, model_version))
        if filling:
            self._lessons += 1
            if self._lessons >= self.config.reference_size:
                self._ready = True
                for watch in self._watches.values():
                    if watch.reference:
                        watch.freeze(self.config)
        return found

    def evaluate(
        self, at_ms: int, segment_sizes: Mapping[str, int], model_version: int
    ) -> list[DriftReading]:
        """Timeline readings at a sweep: divergences of every feature and of segment
        sizes from the reference, and each change detector's statistic."""
        if not self._ready:
            return []
        out: list[DriftReading] = []
        for name, watch in self._watches.items():
            if watch.edges is None or not watch.current:
                continue  # never seen once the delay had passed
            current = np.fromiter(watch.current, float, len(watch.current))
            start = watch.since(watch.count - len(watch.current) + 1)
            out += self._divergences(name, watch.arms, watch.expected,
                                     _histogram(current, watch.edges), at_ms, start,
                                     model_version)  # fmt: skip
            for detector in watch.detectors:
                score, threshold = watch.statistic(detector, self.config)
                since = watch.fired.pop(detector, None)
                out.append(DriftReading(at_ms, detector, name, score, threshold,
                                        False, since, model_version))  # fmt: skip
        shares = _shares(segment_sizes)
        if self._segments is None and shares:
            self._segments = shares
        if self._segments is not None:
            ids = sorted(self._segments.keys() | shares.keys())
            expected = [self._segments.get(i, 0.0) for i in ids]
            actual = [shares.get(i, 0.0) for i in ids]
            out += self._divergences(SEGMENT_SIZES, self._segment_arms, expected, actual,
                                     at_ms, None, model_version)  # fmt: skip
        return out

    def _detection(
        self, feature: str, watch: _Watch, detector: str, at_ms: int, model_version: int
    ) -> DriftReading:
        since = watch.since(watch.change_start(detector))
        watch.fired[detector] = since if since is not None else at_ms
        score, threshold = watch.statistic(detector, self.config)
        return DriftReading(at_ms, detector, feature, score, threshold, True, since,
                            model_version)  # fmt: skip

    @staticmethod
    def _divergences(
        subject: str,
        arms: dict[str, _Arm],
        expected: Sequence[float],
        actual: Sequence[float],
        at_ms: int,
        window_ms: int | None,
        model_version: int,
    ) -> list[DriftReading]:
        """PSI and JS readings; ``since_ms`` is the current window's start (or, without
        one, when the score rose), given while the score is raised."""
        out = []
        for name, score in (
            ("psi", psi(expected, actual)),
            ("js", js_divergence(expected, actual)),
        ):
            arm = arms[name]
            detected = arm.step(score, at_ms)
            since = (window_ms or arm.rose_ms) if arm.rose_ms is not None else None
            out.append(DriftReading(at_ms, name, subject, _finite(score), arm.alert, detected,
                                    since, model_version))  # fmt: skip
        return out


def _arms(config: DriftConfig) -> dict[str, _Arm]:
    return {
        "psi": _Arm(config.psi_alert, config.psi_warning),
        "js": _Arm(config.js_alert, config.js_alert / 2),
    }


def _detector(name: str, config: DriftConfig) -> Any:
    if name == "adwin":
        return drift.ADWIN(delta=config.adwin_delta)
    # alpha=1, the classic test. River's default fading (0.9999) turns the sum into an
    # AR(1) walk with a standard deviation of ~70 inputs while its running minimum
    # never fades, so on a stationary stream it fired every ~10k inputs.
    return drift.PageHinkley(
        delta=config.page_hinkley_delta, threshold=config.page_hinkley_threshold, alpha=1.0
    )


def _cusums(sums: tuple[float, ...], z: float, starts: list[int], count: int) -> tuple[float, ...]:
    """One step of the rising and falling CUSUMs for each of ``_SLACKS``; ``starts``
    takes ``count`` where a sum stands at zero. Unrolled: this runs for every value."""
    u1, d1, u2, d2, u3, d3 = sums
    u1, d1, u2, d2 = u1 + z - 0.05, d1 - z - 0.05, u2 + z - 0.15, d2 - z - 0.15
    u3, d3 = u3 + z - 0.5, d3 - z - 0.5
    if u1 <= 0.0:
        u1, starts[0] = 0.0, count
    if d1 <= 0.0:
        d1, starts[1] = 0.0, count
    if u2 <= 0.0:
        u2, starts[2] = 0.0, count
    if d2 <= 0.0:
        d2, starts[3] = 0.0, count
    if u3 <= 0.0:
        u3, starts[4] = 0.0, count
    if d3 <= 0.0:
        d3, starts[5] = 0.0, count
    return u1, d1, u2, d2, u3, d3


def _page_hinkley_sums(ph: Any) -> tuple[float, float]:
    """Page-Hinkley's statistics for an increase and a decrease (River keeps them private)."""
    return ph._sum_increase - ph._min_increase, ph._max_decrease - ph._sum_decrease


def _histogram(values: np.ndarray, edges: np.ndarray) -> list[float]:
    """Shares of ``values`` in the bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)``:
    a value equal to an edge (a point mass such as zero) falls in the bin it closes."""
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    total = counts.sum()
    return [float(c) / total for c in counts] if total else [0.0] * len(counts)


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 1e300
