"""The replay report: one self-contained HTML page, its plots inline SVG.

The page is byte-for-byte the same for the same outcomes, so a replay's output files
can be compared: matplotlib's SVG ids come from content and a fixed salt (not uuid4),
the SVG carries no date or version metadata, and every figure's ids get a prefix
numbered in page order, so ids stay unique in the page without depending on the run.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
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

__all__ = ["render"]

DAY_MS = 86_400_000
_DETECTORS = ("adwin", "page_hinkley", "psi", "js")  # panel order; others follow, sorted
_MAX_DETECTION_ROWS = 100
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
_CSS = """
body{font:14px/1.4 system-ui,sans-serif;color:#222;max-width:1200px;margin:1em auto;padding:0 1em}
h2{border-bottom:2px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#777;font-style:italic}svg{max-width:100%;height:auto}
"""


def render(
    outcomes: Sequence[ReplayOutcome],
    comparison: Sequence[Mapping[str, object]] | None = None,
    title: str = "Replay report",
) -> str:
    """The report for ``outcomes``, with a comparison of configs on top when given.

    ``comparison`` holds one row per config, all with the same keys (name, flapping,
    change rate, ARI, ...); the curves of ``outcomes`` are then also drawn overlaid.

    >>> page = render([], title="Nothing <yet>")
    >>> page.startswith("<!DOCTYPE html>"), "Nothing &lt;yet&gt;" in page
    (True, True)
    """
    svg = _Svg()
    parts = [f"<h1>{_e(title)}</h1>"]
    with matplotlib.rc_context(_RC):
        if comparison:
            parts.append(_comparison(comparison, outcomes, svg))
        if len(outcomes) > 1:
            links = "".join(
                f'<li><a href="#outcome-{i}">{_e(o.name)}</a></li>'
                for i, o in enumerate(outcomes, 1)
            )
            parts.append(f"<ul>{links}</ul>")
        if not outcomes:
            parts.append(_note("No replays to report."))
        for i, outcome in enumerate(outcomes, 1):
            parts.append(_outcome(outcome, f"outcome-{i}", svg))
    head = f'<meta charset="utf-8"><title>{_e(title)}</title><style>{_CSS}</style>'
    body = "\n".join(parts)
    page = f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head>\n<body>\n{body}\n</body></html>\n'
    return page.encode("ascii", "xmlcharrefreplace").decode("ascii")  # any file encoding will do


class _Svg:
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


def _outcome(outcome: ReplayOutcome, anchor: str, svg: _Svg) -> str:
    timeline, drift, stats = outcome.timeline, outcome.drift, outcome.stats
    no_timeline = _note("No timeline: the replay saw no sweep boundary.")
    stats_rows = [[k.replace("_", " "), v] for k, v in stats.items()]
    parts = [
        f'<section id="{anchor}"><h2>{_e(outcome.name)}</h2>',
        _summary(outcome),
        _table(["statistic", "value"], stats_rows) if stats else _note("No statistics."),
        "<h3>Segment sizes</h3>",
        svg(_sizes_figure(outcome)) if timeline else no_timeline,
        "<h3>Segment changes</h3>",
        svg(_changes_figure(outcome)) if timeline else no_timeline,
        "<h3>Drift signals</h3>",
        svg(_drift_figure(drift)) + _detections(drift) if drift else _note("No drift readings."),
        "<h3>Segment profiles</h3>",
        _profiles(outcome.profiles) if outcome.profiles else _note("No segment profiles."),
    ]
    return "\n".join(parts) + "</section>"


def _summary(outcome: ReplayOutcome) -> str:
    detections = sum(r.detected for r in outcome.drift)
    span = "no timeline"
    if outcome.timeline:
        first, last = outcome.timeline[0].at_ms, outcome.timeline[-1].at_ms
        span = f"{_utc(first)[:10]} to {_utc(last)[:10]} ({len(outcome.timeline)} sweeps)"
    text = (
        f"{span}; {len(outcome.segment_names)} segments named; "
        f"{len(outcome.drift)} drift readings, {detections} detections."
    )
    return f"<p>{_e(text)}</p>"


def _sizes_figure(outcome: ReplayOutcome) -> Figure:
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


def _changes_figure(outcome: ReplayOutcome) -> Figure:
    x = _days(p.at_ms for p in outcome.timeline)
    per_day, per_1k = [("", x, _per_day(outcome))], [("", x, _per_1k_events(outcome))]
    return _curves_figure({"changes per day": per_day, "changes per 1k events": per_1k})


def _comparison_figure(outcomes: Sequence[ReplayOutcome]) -> Figure:
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


def _drift_figure(readings: Sequence[DriftReading]) -> Figure:
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


def _detections(readings: Sequence[DriftReading]) -> str:
    hits = [r for r in readings if r.detected]
    hits.sort(key=lambda r: (r.at_ms, r.detector, r.subject))
    if not hits:
        return _note("No detections.")
    rows = [
        [_utc(r.at_ms), r.detector, r.subject, r.score, r.threshold,
         _utc(r.since_ms) if r.since_ms is not None else None, r.model_version]
        for r in hits[:_MAX_DETECTION_ROWS]
    ]  # fmt: skip
    header = ["at (UTC)", "detector", "subject", "score", "threshold", "since (UTC)", "model"]
    more = len(hits) - _MAX_DETECTION_ROWS
    rest = _note(f"And {more} more detections.") if more > 0 else ""
    return _table(header, rows, row_class="detection") + rest


def _profiles(profiles: Sequence[Mapping[str, Any]]) -> str:
    known = ["conversion_rate", "revenue_per_customer", "lapsed_share"]
    present = {k for p in profiles for k in p.get("kpis", {})}
    kpis = [k for k in known if k in present] + sorted(present - set(known))
    rows = []
    for p in sorted(profiles, key=lambda p: (-p.get("size", 0), p["segment"].get("id", ""))):
        segment, values = p["segment"], p.get("kpis", {})
        features = ", ".join(f"{d['feature']} ({d['z']:+.2f})" for d in p.get("distinguishing", []))
        name = segment.get("name") or segment.get("id")
        row = [name, segment.get("kind"), p.get("size"), features]
        rows.append(row + [_kpi(k, values[k]) if k in values else None for k in kpis])
    header = ["segment", "kind", "size", "distinguishing features (z)"]
    return _table(header + [k.replace("_", " ") for k in kpis], rows)


def _comparison(
    rows: Sequence[Mapping[str, object]], outcomes: Sequence[ReplayOutcome], svg: _Svg
) -> str:
    keys = list(dict.fromkeys(k for row in rows for k in row))
    cells = [[row.get(k) for k in keys] for row in rows]
    table = _table([k.replace("_", " ") for k in keys], cells)
    drawn = [o for o in outcomes if o.timeline]
    figure = svg(_comparison_figure(drawn)) if drawn else _note("No timelines to overlay.")
    return f'<section id="comparison"><h2>Comparison</h2>\n{table}\n{figure}</section>'


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


def _kpi(name: str, value: object) -> object:
    if isinstance(value, float) and name.endswith(("_rate", "_share")):
        return f"{value:.1%}"
    return value


def _table(header: Sequence[str], rows: Iterable[Sequence[object]], row_class: str = "") -> str:
    attr = f' class="{row_class}"' if row_class else ""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(f"<tr{attr}>{''.join(_cell(v) for v in row)}</tr>\n" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>"


def _cell(value: object) -> str:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    attr = ' class="num"' if numeric else ""
    return f"<td{attr}>{_e(_fmt(value))}</td>"


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if math.isfinite(value) and abs(value) >= 1e4 else f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
