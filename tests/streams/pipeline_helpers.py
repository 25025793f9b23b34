"""A pipeline with everything it talks to in reach, and the input it is fed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.segment_engine import SegmentEngine
from schemas.config import EngineConfig, LearnedSegmentsConfig, RuleSegmentConfig
from settings import TopicNames
from streams.metrics import Metrics
from streams.pipeline import Pipeline
from streams.ports import InputRecord
from streams.testing import Feed, MemoryStores, RecordingPublisher, Sent

T = TopicNames()
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = 86400
NOW = T0 + timedelta(days=30)  # the wall clock the pipeline reads: after every T0 + day
RECENT = RuleSegmentConfig(id="recent", name="Recent", expression="recency_days < 7")
CONFIG = EngineConfig(
    allowed_lateness_seconds=3600,
    sweep_interval_seconds=0,  # no sweeps: only the batch's own customers change
    learned=LearnedSegmentsConfig(warmup_updates=10**9),  # no model: only the rule decides
    rules=(RECENT,),
)

BODIES_BY_ROLE: dict[str, dict[str, Any]] = {  # a valid value for c1 on each input topic,
    "behaviour": {"event_id": "e1", "customer_id": "c1", "type": "purchase"},  # but its time
    "profiles": {"customer_id": "c1", "attributes": {"age": 40}},
    "erasures": {"customer_id": "c1", "request_id": "r-1"},
}


@dataclass
class Worker:
    """A pipeline with everything it talks to in reach."""

    pipeline: Pipeline
    publisher: RecordingPublisher
    stores: MemoryStores
    metrics: Metrics
    feed: Feed = field(default_factory=Feed)

    def run(self, *records: InputRecord) -> None:
        asyncio.run(self.pipeline.handle(records))

    def sample(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)

    def behaviour(self, key: bytes | None, value: bytes | None, **kw: Any) -> InputRecord:
        return self.feed.record(T.behaviour, key, value, **kw)


def worker(
    engine: SegmentEngine | None = None,
    stores: MemoryStores | None = None,
    clock: Callable[[], float] = NOW.timestamp,
) -> Worker:
    publisher, metrics, stores = RecordingPublisher(), Metrics(), stores or MemoryStores()
    engine = engine or SegmentEngine(CONFIG)
    highwater = lambda topic, partition: 10  # noqa: E731
    pipeline = Pipeline(engine, T, stores, publisher, metrics, highwater=highwater, clock=clock)
    return Worker(pipeline, publisher, stores, metrics)


def event(customer: str, event_id: str, type: str = "purchase", day: float = 0, **kw: Any) -> bytes:
    timestamp = (T0 + timedelta(days=day)).isoformat()
    body: dict[str, Any] = {
        "event_id": event_id,
        "customer_id": customer,
        "type": type,
        "timestamp": timestamp,
    }
    if type == "purchase":
        body |= {"amount": 20.0, "currency": "EUR"}
    return json.dumps(body | kw).encode()


def erasure(customer: str, day: float) -> bytes:
    timestamp = (T0 + timedelta(days=day)).isoformat()
    body = {"customer_id": customer, "timestamp": timestamp, "request_id": "r-1"}
    return json.dumps(body).encode()


def headers_of(letter: Sent) -> dict[str, bytes]:
    assert letter.headers is not None
    return dict(letter.headers)
