"""The replay report's figures, and their inline SVG: reproducible to the byte.

matplotlib's SVG ids come from content and a fixed salt (not uuid4), the SVG carries no
date or version metadata, and every figure's ids get a prefix numbered in page order
(:class:`Svg`), so ids stay unique in the page without depending on the run. Figures
are drawn under :func:`style`, which leaves the caller's matplotlib settings alone.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import matplotlib
from matplotlib import dates as mdates  # ships no type hints: calls marked below
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

if TYPE_CHECKING:  # only read, never built here
    from engine.drift import DriftReading
    from replay.model import ReplayOutcome

__all__ = [
    "Svg",
    "changes_figure",
    "comparison_figure",
    "drift_figure",
    "sizes_figure",
    "style",
]

DAY_MS = 86_400_000
_DETECTORS = ("adwin", "page_hinkley", "psi", "js")  # panel order; others follow, sorted
_TAB18 = [c for i, c in enumerate(matplotlib.color_sequences["tab20"]) if i not in (6, 7)]
_PALETTE = [*_TAB18[0::2], *_TAB18[1::2]]  # strong shades first; no red: that marks detections
_DETECTION_COLOR = "#d62728"
_RC: dict[Any, Any] = {
    "svg.hashsalt": "segment-engine-report",  # ids from content, not from uuid4
    "svg.fonttype": "none",  # text stays text: smaller, and searchable in the page
    "text.parse_math": False,  # a "$" in a segment name is a dollar sign, not TeX
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_Curve = tuple[str, list[float], Sequence[float]]  # label, date numbers, values
_NO_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
_TAG = re.compile(r"<[^>]+>")  # matplotlib escapes "<" in text and attributes
_ID_REF = re.compile(r'(\bid="|url\(#|xlink:href="#)')


def style() -> AbstractContextManager[None]:
    """The report's matplotlib settings, for the figures drawn and saved inside it."""
    return matplotlib.rc_context(_RC)


class Svg:
    """Turns figures into inline SVG whose ids are unique in the page."""

    def __init__(self) -> None:
        self._count = 0

    def __call__(self, fig: Figure) -> str:
        self._count += 1
        prefix = f"f{self._count}-"
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata=_NO_METADATA)
        text = buffer.getvalue()
        text = text[text.index("<svg") :]  # no XML prolog or DOCTYPE inside HTML
        return _TAG.sub(lambda tag: _ID_REF.sub(rf"\g<1>{prefix}", tag.group(0)), text)


def sizes_figure(outcome: ReplayOutcome) -> Figure:
    """Customers per segment over event time: learned ones stacked, rule ones dashed."""
    fig = Figure(figsize=(9, 3.2))
    ax = fig.add_subplot()
    x = _days(p.at_ms for p in outcome.timeline)
    ids = sorted({sid for p in outcome.timeline for sid in p.sizes})
    learned = [s for s in ids if outcome.segment_kinds.get(s) != "rule"]
    rules = [s for s in ids if outcome.segment_kinds.get(s) == "rule"]
    handles: list[Any] = []
    if learned:  # learned segments partition the customers: stacked
        series = [[p.sizes.get(s, 0) for p in outcome.timeline] for s in learned]
        band = x
        if len(x) == 1:  # one sweep: a band a day wide, as a single point has no area
            band, series = [x[0] - 0.4, x[0] + 0.4], [row * 2 for row in series]
        colors = [_color(i) for i in range(len(learned))]
        handles += ax.stackplot(band, series, colors=colors, alpha=0.85)
    for i, sid in enumerate(rules, len(learned)):  # rule segments overlap them: lines
        sizes = [p.sizes.get(sid, 0) for p in outcome.timeline]
        handles += ax.plot(x, sizes, "--", color=_color(i), marker=_marker(x))
    labels = [_label(outcome.segment_names.get(s, s)) for s in learned]
    labels += [_label(outcome.segment_names.get(s, s)) + " (rule)" for s in rules]
    _legend(ax, handles, labels)
    ax.set_title("customers per segment (learned stacked, rule segments dashed)")
    _date_axis(ax, x)
    return fig


def changes_figure(outcome: ReplayOutcome) -> Figure:
    """Segment changes per day and per 1,000 input events."""
    x = _days(p.at_ms for p in outcome.timeline)
    per_day, per_1k = [("", x, _per_day(outcome))], [("", x, _per_1k_events(outcome))]
    return _curves_figure({"changes per day": per_day, "changes per 1k events": per_1k})


def comparison_figure(outcomes: Sequence[ReplayOutcome]) -> Figure:
    """Learned segments and change rates of several replays, overlaid."""
    counts: list[_Curve] = []
    rates: list[_Curve] = []
    for outcome in outcomes:
        x, kinds = _days(p.at_ms for p in outcome.timeline), outcome.segment_kinds
        learned = [sum(1 for s, n in p.sizes.items() if n and kinds.get(s) != "rule")
                   for p in outcome.timeline]  # fmt: skip
        counts.append((outcome.name, x, learned))
        rates.append((outcome.name, x, _per_1k_events(outcome)))
    return _curves_figure({"learned segments": counts, "changes per 1k events": rates})


def _curves_figure(panels: Mapping[str, Sequence[_Curve]]) -> Figure:
    """Panels side by side, a line per curve; the legend, if needed, on the last one."""
    fig = Figure(figsize=(9, 2.6))
    fig.subplots_adjust(wspace=0.25)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, curves) in zip(axes, panels.items(), strict=True):
        for i, (_, x, y) in enumerate(curves):
            ax.plot(x, y, color=_color(i), marker=_marker(x))
        ax.set_ylim(bottom=0)  # counts and rates: from zero, so a flat line reads as such
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # unless too few integers
        ax.set_title(title)
        _date_axis(ax, [day for _, x, _ in curves for day in x])
    if len(curves) > 1:
        _legend(axes[-1], list(axes[-1].get_lines()), [_label(c[0]) for c in curves])
    return fig


def drift_figure(readings: Sequence[DriftReading]) -> Figure:
    """A panel per detector, a line per subject, its threshold and its detections."""
    by_detector: dict[str, list[DriftReading]] = {}
    for reading in readings:
        by_detector.setdefault(reading.detector, []).append(reading)
    order = [d for d in _DETECTORS if d in by_detector]
    order += sorted(set(by_detector) - set(_DETECTORS))
    fig = Figure(figsize=(9, 2.4 * len(order)))
    fig.subplots_adjust(hspace=0.6)
    all_x = _days(r.at_ms for r in readings)
    for ax, detector in zip(fig.subplots(len(order), 1, squeeze=False)[:, 0], order, strict=True):
        _drift_panel(ax, detector, by_detector[detector])
        _date_axis(ax, all_x)
    return fig


def _drift_panel(ax: Axes, detector: str, readings: list[DriftReading]) -> None:
    by_subject: dict[str, list[DriftReading]] = {}
    for reading in sorted(readings, key=lambda r: (r.subject, r.at_ms)):
        by_subject.setdefault(reading.subject, []).append(reading)
    thresholds = sorted({r.threshold for r in readings})
    handles: list[Any] = []
    labels: list[str] = []
    for i, (subject, series) in enumerate(by_subject.items()):  # sorted by subject
        x = _days(r.at_ms for r in series)
        handles += ax.plot(x, [r.score for r in series], color=_color(i), marker=_marker(x))
        labels.append(_label(subject))
        if len(thresholds) > 1:  # thresholds differ by subject or time: one per subject
            ax.plot(x, [r.threshold for r in series], "--", color=_color(i), lw=0.8)
    if len(thresholds) == 1:
        handles.append(ax.axhline(thresholds[0], color="0.3", ls="--", lw=0.8))
        labels.append("threshold")
    hits = sorted((r for r in readings if r.detected), key=lambda r: (r.at_ms, r.subject))
    if hits:  # the group id lets a test count the markers
        handles += ax.plot(
            _days(r.at_ms for r in hits), [r.score for r in hits], ls="none", marker="v",
            color=_DETECTION_COLOR, gid=f"detections-{detector}",
        )  # fmt: skip
        labels.append("detected")
    ax.set_title(f"{detector}: {len(hits)} detections")
    _legend(ax, handles, labels)


def _per_day(outcome: ReplayOutcome) -> list[float]:
    """Changes per day of event time; the first point counts as one day's worth."""
    rates, previous = [], None
    for point in outcome.timeline:
        gap = point.at_ms - previous if previous is not None else 0
        rates.append(point.changes * DAY_MS / (gap if gap > 0 else DAY_MS))
        previous = point.at_ms
    return rates


def _per_1k_events(outcome: ReplayOutcome) -> list[float]:
    return [1000 * p.changes / p.events if p.events else math.nan for p in outcome.timeline]


def _date_axis(ax: Axes, x: list[float]) -> None:
    locator = mdates.AutoDateLocator(tz=UTC, minticks=3, maxticks=8)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(locator, tz=UTC)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)
    if x:  # one sweep only: give the axis a day's width instead of a zero range
        low, high = min(x), max(x)
        margin = 0.5 if low == high else 0.0
        ax.set_xlim(low - margin, high + margin)
    ax.set_xlabel("date (UTC)")


def _legend(ax: Axes, handles: list[Any], labels: list[str]) -> None:
    if handles:  # explicit labels: a name starting with "_" must not vanish
        ncol = 1 + (len(handles) - 1) // 14
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1), ncol=ncol,
                  fontsize=7, frameon=False)  # fmt: skip


def _days(ms: Iterable[int]) -> list[float]:
    """Matplotlib's date numbers (days since its epoch) for epoch milliseconds."""
    utc = [datetime.fromtimestamp(m / 1000, tz=UTC) for m in ms]
    return [float(d) for d in mdates.date2num(utc)] if utc else []  # type: ignore[no-untyped-call]


def _color(i: int) -> Any:
    return _PALETTE[i % len(_PALETTE)]


def _marker(x: Sequence[float]) -> str | None:
    return "o" if len(x) == 1 else None  # a lone point drawn as a line is invisible


def _label(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
