"""Every Prometheus metric the worker exports, in one registry per app.

Labels come from small fixed sets only: topic roles, the event-type vocabulary
(anything else is ``other``), outcomes, reasons and segment kinds.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# The *_created series double every counter's exposition and nothing here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

SOURCES = ("behaviour", "profiles", "erasures")


class Metrics:
    """The worker's metrics. A registry of its own keeps test apps apart."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.events = Counter(
            "segment_engine_events_total",
            "Input messages by source topic, event type and outcome.",
            ["source", "type", "outcome"],
            registry=self.registry,
        )
        self.changes = Counter(
            "segment_engine_segment_changes_total",
            "Segment-change events emitted, by segment kind and reason.",
            ["kind", "reason"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "segment_engine_dead_letters_total",
            "Messages sent to the dead-letter topic, by source topic and reason.",
            ["source", "reason"],
            registry=self.registry,
        )
        self.sweep_failures = Counter(
            "segment_engine_sweep_failures_total",
            "Customers a periodic re-evaluation could not refresh (see the worker log).",
            registry=self.registry,
        )
        self.model_version = Gauge(
            "segment_engine_model_version",
            "Version of the published learned-segment model.",
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "segment_engine_batch_duration_seconds",
            "Time to decode, decide and emit one batch of input messages.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
