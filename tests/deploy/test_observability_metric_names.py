"""The PromQL reader the observability tests rely on, and the series the worker exports:
metric names and labels, with segment labels only on series of live segments.
"""

from __future__ import annotations

import pytest

from tests.deploy.observability_helpers import (
    exported,
    metric_names,
    unknown_names_and_labels,
)


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (job) (rate(a_total{outcome="x", job=~"$job"}[$__rate_interval]))', {"a_total"}),
        ("histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))", {"h_bucket"}),
        ("a > 2 * (a offset 1d) and on (job) b unless ignoring(x) c", {"a", "b", "c"}),
        ("rec:a:rate5m / on (job, kind) group_left sum by (job, kind) (b)", {"rec:a:rate5m", "b"}),
        ('up{job=~"segment-engine.*"} == 0', {"up"}),
        ("time() - max(w) > bool 1.5e3", {"w"}),
        ('label_replace(m, "dst", "$1", "src", "(.*)") or vector(0)', {"m"}),
        ("sum(m) without (instance) > Inf", {"m"}),
        ("topk(10, sum(increase(c[1h]))) or min_over_time(r:x[6h:5m] offset 1h30m)", {"c", "r:x"}),
        ('count_values("version", g) * -0x1f', {"g"}),
    ],
)
def test_metric_names_extracts_only_metrics(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_exported_names_cover_counters_and_histograms() -> None:
    names = exported()
    assert "segment_engine_events_total" in names
    assert "segment_engine_events" not in names
    assert {"segment_engine_batch_duration_seconds_bucket", "up"} <= names.keys()
    assert names["segment_engine_consumer_lag_messages"] == {"topic", "partition"}
    assert "le" in names["segment_engine_emit_latency_seconds_bucket"]


def test_only_series_of_live_segments_carry_a_segment_label() -> None:
    """Segment ids are never reused: a counter labelled by from/to segment would gain
    series for as long as the worker runs. Changes are counted by kind and reason; the
    per-segment series are the ones the pipeline removes when a segment retires."""
    names = exported()
    assert names["segment_engine_segment_changes_total"] == {"kind", "reason"}
    per_segment = {name for name, labels in names.items() if labels & {"segment", "from_segment"}}
    assert per_segment == {
        "segment_engine_segment_size_customers",
        "segment_engine_segment_entries_total",
        "segment_engine_segment_exits_total",
        "segment_engine_segment_conversion_ratio",
        "segment_engine_segment_revenue_per_customer",
        "segment_engine_segment_lapsed_ratio",
    }


def test_unknown_names_and_labels_are_reported() -> None:
    assert unknown_names_and_labels('rate(segment_engine_events_total{outcme="x"}[5m])', set()) == [
        "segment_engine_events_total{outcme}"
    ]
    assert unknown_names_and_labels("segment_engine_event_total", set()) == [
        "segment_engine_event_total"
    ]
    assert unknown_names_and_labels('segment_engine_events_total{reason="x"}', set()) == [
        "segment_engine_events_total{reason}"
    ]
    assert unknown_names_and_labels("x:y", {"x:y"}) == []


def test_unknown_names_and_labels_accepts_real_ones() -> None:
    expr = 'segment_engine_events_total{outcome="x", job="y", pod="z"} + rec:a'
    assert unknown_names_and_labels(expr, {"rec:a"}) == []
