"""The replay report: one self-contained HTML page, its plots inline SVG.

The page is byte-for-byte the same for the same outcomes, so a replay's output files
can be compared: the figures come from :mod:`replay.plots`, whose SVG is reproducible
with ids unique in the page; the HTML around them depends on the outcomes alone.
Each figure sits in a ``<figure class="chart">`` that names its kind and its number of
panels: what a browser holds the drawing to (``tests/replay/test_report_browser.py``).
The page loads nothing: no script, stylesheet, font or image from anywhere.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from replay.plots import (
    Svg,
    changes_figure,
    comparison_figure,
    drift_figure,
    sizes_figure,
    style,
)

if TYPE_CHECKING:  # only read, never built here
    from matplotlib.figure import Figure

    from engine.drift import DriftReading
    from replay.model import ReplayOutcome

__all__ = ["render"]

_MAX_DETECTION_ROWS = 100
_CSS = """
body{font:14px/1.4 system-ui,sans-serif;color:#222;max-width:1200px;margin:1em auto;padding:0 1em}
h2{border-bottom:2px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#777;font-style:italic}svg{max-width:100%;height:auto}figure{margin:0 0 1em}
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
    svg = Svg()
    parts = [f"<h1>{_e(title)}</h1>"]
    with style():
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


def _outcome(outcome: ReplayOutcome, anchor: str, svg: Svg) -> str:
    timeline, drift, stats = outcome.timeline, outcome.drift, outcome.stats
    no_timeline = _note("No timeline: the replay saw no sweep boundary.")
    no_drift = _note("No drift readings.")
    stats_rows = [[k.replace("_", " "), v] for k, v in stats.items()]
    parts = [
        f'<section id="{anchor}"><h2>{_e(outcome.name)}</h2>',
        _summary(outcome),
        _table(["statistic", "value"], stats_rows) if stats else _note("No statistics."),
        "<h3>Segment sizes</h3>",
        _chart("sizes", sizes_figure(outcome), svg) if timeline else no_timeline,
        "<h3>Segment changes</h3>",
        _chart("changes", changes_figure(outcome), svg) if timeline else no_timeline,
        "<h3>Drift signals</h3>",
        _chart("drift", drift_figure(drift), svg) + _detections(drift) if drift else no_drift,
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
    rows: Sequence[Mapping[str, object]], outcomes: Sequence[ReplayOutcome], svg: Svg
) -> str:
    keys = list(dict.fromkeys(k for row in rows for k in row))
    cells = [[row.get(k) for k in keys] for row in rows]
    table = _table([k.replace("_", " ") for k in keys], cells)
    drawn = [o for o in outcomes if o.timeline]
    nothing = _note("No timelines to overlay.")
    figure = _chart("comparison", comparison_figure(drawn), svg) if drawn else nothing
    return f'<section id="comparison"><h2>Comparison</h2>\n{table}\n{figure}</section>'


def _chart(name: str, fig: Figure, svg: Svg) -> str:
    """A figure as the page declares it: its kind and its number of panels, which a
    browser test holds the drawing to (a panel that draws nothing is caught)."""
    panels = len(fig.axes)
    return f'<figure class="chart" data-chart="{name}" data-panels="{panels}">{svg(fig)}</figure>'


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
