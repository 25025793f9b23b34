"""The replay report: one self-contained, byte-for-byte reproducible HTML page."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import matplotlib
import pytest

from engine.drift import DriftReading
from replay.model import ReplayOutcome, TimelinePoint
from replay.report import render

DAY_MS = 86_400_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00Z
HOSTILE = "<script>alert('x')</script> & \"$5 off\""
VOID = {"meta", "br", "hr", "img", "input", "link", "wbr"}


def make_outcome(
    name: str = "baseline", days: int = 12, segment: str = "Browsers"
) -> ReplayOutcome:
    names = {"s0": "Big spenders", "s1": segment, "r:vip": "VIP"}
    kinds = {"s0": "learned", "s1": "learned", "r:vip": "rule"}
    timeline = [
        TimelinePoint(T0 + d * DAY_MS, {"s0": 40 + d, "s1": 60 - d, "r:vip": 9}, d % 5, 500 + d)
        for d in range(1, days + 1)
    ]
    drift = [
        DriftReading(
            at_ms=T0 + d * DAY_MS,
            detector=detector,
            subject=subject,
            score=score,
            threshold=threshold,
            detected=score > threshold,
            since_ms=T0 + (d - 1) * DAY_MS if score > threshold else None,
            model_version=1,
        )
        for d in range(1, days + 1)
        for detector, subject, threshold, score in (
            ("adwin", "spend_30d", 0.002, 0.0005 * (d % 6)),
            ("adwin", "sessions_7d", 0.002, 0.0001 * d),
            ("page_hinkley", "spend_30d", 50.0, 9.0 * (d % 7)),
            ("psi", "segment_sizes", 0.25, 0.05 * (d % 8)),
        )
    ]
    profiles = [
        {
            "segment": {"id": sid, "name": names[sid], "kind": kinds[sid]},
            "size": size,
            "means": {"spend_30d": 10.0},
            "spreads": {"spend_30d": 2.0},
            "distinguishing": [
                {"feature": "spend_30d", "z": 1.5},
                {"feature": "recency", "z": -0.7},
            ],
            "kpis": {"conversion_rate": 0.12, "revenue_per_customer": 88.5, "lapsed_share": 0.05},
        }
        for sid, size in (("s0", 52), ("s1", 48), ("r:vip", 9))
    ]
    stats = {"events": 6_000, "customers": 100, "flapping": 0.031, "ari": 0.81}
    return ReplayOutcome(name, names, kinds, timeline, drift, profiles, stats)


class Page(HTMLParser):
    """Checks nesting and gathers what the tests count."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []
        self.ids: list[str] = []
        self.detection_rows = 0
        self.markers: dict[str, int] = {}  # detector -> <use> under its detections group
        self._marking: tuple[str, int] | None = None  # (detector, depth of its group)
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._element(tag, dict(attrs))
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._element(tag, dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:]}")
            return
        self.open.pop()
        if self._marking and len(self.open) < self._marking[1]:
            self._marking = None

    def _element(self, tag: str, attrs: dict[str, str | None]) -> None:
        ident = attrs.get("id") or ""
        if ident:
            self.ids.append(ident)
        if match := re.search(r"-detections-(\w+)$", ident):
            self._marking = (match.group(1), len(self.open) + 1)
            self.markers.setdefault(match.group(1), 0)
        if tag == "use" and self._marking:
            self.markers[self._marking[0]] += 1
        if tag == "tr" and attrs.get("class") == "detection":
            self.detection_rows += 1


def test_same_input_gives_the_same_bytes() -> None:
    first = render([make_outcome()], title="Replay")
    render([make_outcome("other", days=3)])  # nothing carries over from one page to the next
    assert render([make_outcome()], title="Replay") == first


def test_leaves_matplotlib_settings_alone() -> None:
    before = dict(matplotlib.rcParams)
    render([make_outcome(days=2)])
    assert dict(matplotlib.rcParams) == before


def test_page_is_self_contained_and_well_formed() -> None:
    page = render([make_outcome(), make_outcome("k6", days=5)], comparison=[{"name": "k6"}])
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r'(?:src|href)="(?!#)', page)  # only links within the page
    assert set(re.findall(r"https?://[^\"'\s]*", page)) <= {
        "http://www.w3.org/2000/svg",  # SVG namespace declarations, never fetched
        "http://www.w3.org/1999/xlink",
    }
    assert page.isascii()
    parsed = Page(page)
    assert parsed.problems == [] and parsed.open == []
    assert len(parsed.ids) == len(set(parsed.ids))  # several SVGs, still unique ids


def test_names_of_segments_and_detectors_appear() -> None:
    page = render([make_outcome()])
    for name in ("Big spenders", "Browsers", "VIP", "adwin", "page_hinkley", "psi"):
        assert name in page
    assert "spend_30d" in page and "segment_sizes" in page
    assert page.count("<svg") == 3  # sizes, changes, drift


def test_hostile_names_are_escaped() -> None:
    page = render([make_outcome(HOSTILE, segment=HOSTILE)], title=HOSTILE)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert Page(page).problems == []


def test_every_detection_is_marked() -> None:
    outcome = make_outcome()
    detected: dict[str, int] = {}
    for reading in outcome.drift:
        detected[reading.detector] = detected.get(reading.detector, 0) + reading.detected
    parsed = Page(render([outcome]))
    assert parsed.markers == {d: n for d, n in detected.items() if n}
    assert parsed.detection_rows == sum(detected.values()) > 0


@pytest.mark.parametrize(
    "outcomes",
    [[], [ReplayOutcome("empty")], [make_outcome(days=1)]],
    ids=["no outcomes", "empty outcome", "one sweep"],
)
def test_thin_inputs_render(outcomes: list[ReplayOutcome]) -> None:
    page = render(outcomes)
    assert Page(page).problems == []
    if not outcomes or not outcomes[0].timeline:
        assert "<svg" not in page and 'class="note"' in page


def test_comparison_comes_first_with_overlaid_curves() -> None:
    rows = [
        {"name": "baseline", "flapping": 0.03, "ari": 0.81, "detections": 4},
        {"name": "k6", "flapping": 0.05, "ari": 0.72, "detections": 7},
    ]
    page = render([make_outcome(), make_outcome("k6", days=6)], comparison=rows)
    comparison, first = page.index('id="comparison"'), page.index('id="outcome-1"')
    assert comparison < first < page.index('id="outcome-2"')
    section = page[comparison:first]
    assert "<th>flapping</th>" in section and "0.72" in section and "<svg" in section
