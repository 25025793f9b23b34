"""Every Prometheus metric the worker exports, in one registry per app.

Labels come from small fixed sets only: topic roles, the event-type vocabulary
(anything else is ``other``), outcomes, reasons, segment kinds, detectors, watched
features and partitions. Never a customer id. Segment ids are never reused, so a
series labelled by segment exists only while its segment is live (or still holds
customers): the pipeline removes it after, so the series stay bounded however long
the worker runs.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from engine.profiles import SegmentProfile
from schemas.dead_letters import DEAD_LETTER_REASONS
from schemas.decode import CONTRACTS

# The *_created series double every counter's exposition and nothing here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Seconds from an event's own time to the decision on it: replays and backfills
# legitimately sit days behind, so the buckets reach a week.
EVENT_TIME_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400, 604800)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
DISTANCE_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 10.0)


class Metrics:
    """The worker's metrics. A registry of its own keeps test apps apart."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # Throughput and outcomes
        self.events = Counter(
            "segment_engine_events_total",
            "Input messages by source topic, event type and outcome.",
            ["source", "type", "outcome"],
            registry=r,
        )
        self.changes = Counter(
            "segment_engine_segment_changes_total",
            "Segment-change events emitted, by segment kind and reason.",
            ["kind", "reason"],
            registry=r,
        )
        self.segment_entries = Counter(
            "segment_engine_segment_entries_total",
            "Customers who entered each live segment (a change into it).",
            ["segment", "kind"],
            registry=r,
        )
        self.segment_exits = Counter(
            "segment_engine_segment_exits_total",
            "Customers who left each live segment (a change out of it, erasures included).",
            ["segment", "kind"],
            registry=r,
        )
        self.dead_letters = Counter(
            "segment_engine_dead_letters_total",
            "Messages sent to the dead-letter topic, by source topic and reason.",
            ["source", "reason"],
            registry=r,
        )
        # Every (source, reason) starts at 0: a series born with its first dead letter
        # hides that one from rate() and increase(), and a rare reason may never show.
        for source in CONTRACTS:
            for reason in DEAD_LETTER_REASONS:
                self.dead_letters.labels(source, reason)
        self.output_failures = Counter(
            "segment_engine_output_failures_total",
            "Batches whose outputs (segment changes, dead letters, lessons, state "
            "changelog) the broker did not take: the worker stops without committing.",
            ["output"],
            registry=r,
        )
        self.start_time = Gauge(
            "segment_engine_start_time_seconds",
            "When this worker process started (Unix seconds): restarts show as changes.",
            registry=r,
        )
        self.start_time.set_to_current_time()
        self.sweep_failures = Counter(
            "segment_engine_sweep_failures_total",
            "Customers a periodic re-evaluation could not refresh (see the worker log).",
            registry=r,
        )
        self.batch_seconds = Histogram(
            "segment_engine_batch_duration_seconds",
            "Time to decode, decide and emit one batch of input messages.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.event_time_lag = Histogram(
            "segment_engine_event_time_lag_seconds",
            "From an event's own timestamp to the decision on it (wall clock).",
            buckets=EVENT_TIME_BUCKETS,
            registry=r,
        )
        self.emit_latency = Histogram(
            "segment_engine_emit_latency_seconds",
            "From receiving a batch to its segment changes being handed to the producer.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "segment_engine_consumer_lag_messages",
            "Messages on an input partition not yet processed (high watermark - position).",
            ["topic", "partition"],
            registry=r,
        )
        self.model_conflicts = Counter(
            "segment_engine_model_conflicts_total",
            "Records of the models topic that gave one model version two different models.",
            registry=r,
        )
        self.assigned_partitions = Gauge(
            "segment_engine_assigned_partitions",
            "Input topic-partitions this worker holds (after the latest rebalance).",
            registry=r,
        )
        self.held_events = Gauge(
            "segment_engine_held_events",
            "Events waiting for the slower partitions to pass their model epoch.",
            registry=r,
        )
        self.watermark = Gauge(
            "segment_engine_event_time_watermark_seconds",
            "Latest event time processed (Unix seconds).",
            registry=r,
        )
        # Model
        self.model_version = Gauge(
            "segment_engine_model_version",
            "Version of the published learned-segment model.",
            registry=r,
        )
        self.segment_size = Gauge(
            "segment_engine_segment_size_customers",
            "Customers in each live segment (this worker's share).",
            ["segment", "kind"],
            registry=r,
        )
        self.centroid_shift = Histogram(
            "segment_engine_centroid_shift",
            "How far each continuing segment's centroid moved at a model update "
            "(standardised feature units).",
            buckets=DISTANCE_BUCKETS,
            registry=r,
        )
        self.assignment_distance = Histogram(
            "segment_engine_assignment_distance",
            "Distance from a customer to their segment's centroid at each evaluation "
            "(standardised feature units).",
            buckets=DISTANCE_BUCKETS,
            registry=r,
        )
        self.silhouette = Gauge(
            "segment_engine_silhouette",
            "Online silhouette of the learned segments (River), -1 to 1; higher is better.",
            registry=r,
        )
        self.near_boundary = Gauge(
            "segment_engine_near_boundary_ratio",
            "Share of recent evaluations whose two nearest segments are within the "
            "hysteresis margin of each other.",
            registry=r,
        )
        # Drift
        self.drift_score = Gauge(
            "segment_engine_drift_score",
            "Latest drift statistic by detector (adwin, page_hinkley, psi, js) and subject "
            "(a feature, or segment_sizes).",
            ["detector", "subject"],
            registry=r,
        )
        self.drift_threshold = Gauge(
            "segment_engine_drift_threshold",
            "Score at which each detector fires.",
            ["detector"],
            registry=r,
        )
        self.drift_detections = Counter(
            "segment_engine_drift_detections_total",
            "Drift detections by detector and subject (also sent to the drift topic).",
            ["detector", "subject"],
            registry=r,
        )
        # Per-segment KPIs
        self.segment_conversion = Gauge(
            "segment_engine_segment_conversion_ratio",
            "Purchases per session in the segment (conversion rate).",
            ["segment"],
            registry=r,
        )
        self.segment_revenue = Gauge(
            "segment_engine_segment_revenue_per_customer",
            "Net lifetime revenue per customer in the segment (input currency).",
            ["segment"],
            registry=r,
        )
        self.segment_lapsed = Gauge(
            "segment_engine_segment_lapsed_ratio",
            "Share of the segment's customers inactive for lapsed_after_days or more.",
            ["segment"],
            registry=r,
        )

    def record_kpis(self, profiles: Iterable[SegmentProfile]) -> None:
        """Per-segment KPI gauges; segments without members lose their series."""
        gauges = {
            "conversion_rate": self.segment_conversion,
            "revenue_per_customer": self.segment_revenue,
            "lapsed_share": self.segment_lapsed,
        }
        for gauge in gauges.values():
            gauge.clear()
        for profile in profiles:
            for kpi, gauge in gauges.items():
                if kpi in profile.kpis:
                    gauge.labels(profile.segment.id).set(profile.kpis[kpi])

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
