"""Builders shared by the ``SegmentEngine.process`` tests: events, engines, a primed engine.

Event times here are whole seconds after 2026-01-01 unless a test is about milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from engine import BatchResult, MemoryStore, SegmentEngine
from schemas.config import EngineConfig, LearnedSegmentsConfig
from schemas.events import BehaviourEvent, ErasureRequest, InputEvent, ProfileUpdate

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T0_MS = 1_767_225_600_000
HOUR = 3600
NEVER = 10**9  # a warm-up no test reaches: no segments, no changes


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ms(seconds: int) -> int:
    return T0_MS + seconds * 1000


def buy(event_id: str, seconds: int, amount: float = 10.0, customer: str = "c1") -> BehaviourEvent:
    return act(event_id, seconds, "purchase", customer, amount)


def act(
    event_id: str,
    seconds: int,
    type: str = "page_view",
    customer: str = "c1",
    amount: float | None = None,
) -> BehaviourEvent:
    return BehaviourEvent(
        event_id=event_id,
        customer_id=customer,
        type=type,
        timestamp=at(seconds),
        amount=amount,
        currency="EUR" if amount is not None else None,
    )


def profile(seconds: int, customer: str = "c1", **attributes: Any) -> ProfileUpdate:
    return ProfileUpdate.model_validate(
        {"customer_id": customer, "timestamp": at(seconds), "attributes": attributes}
    )


def erase(seconds: int, customer: str = "c1", request_id: str = "r1") -> ErasureRequest:
    return ErasureRequest(customer_id=customer, timestamp=at(seconds), request_id=request_id)


def make(
    warmup: int = NEVER,
    publish_every: int = 1000,
    lateness: float = 7 * 86400,
    learn_every: float = 0,
    sweep_every: float = 0,
    silent_lessons: float = 1.0,
    learned_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> SegmentEngine:
    """An engine that learns from every evaluation and never sweeps, unless told."""
    learned = LearnedSegmentsConfig(
        warmup_updates=warmup, publish_every=publish_every, learn_interval_seconds=learn_every,
        silent_lesson_share=silent_lessons, **(learned_options or {}),
    )  # fmt: skip
    return SegmentEngine(
        EngineConfig(
            allowed_lateness_seconds=lateness,
            sweep_interval_seconds=sweep_every,
            learned=learned,
            **kwargs,
        )
    )


WARMUP = 10  # the smallest warm-up the config allows
PRIMER: list[InputEvent] = [
    buy(f"p{i}", 0, amount=5.0 * (i + 1), customer=f"primer-{i}")
    if i % 2
    else act(f"p{i}", 0, "product_view", customer=f"primer-{i}")
    for i in range(WARMUP)
]


def primed(**kwargs: Any) -> tuple[SegmentEngine, MemoryStore]:
    """An engine past its warm-up (on other customers), so the next event is assigned."""
    engine, store = make(warmup=WARMUP, **kwargs), MemoryStore()
    engine.process(PRIMER, store)
    assert engine.segmenter.model_version == 1
    return engine, store


def run(
    events: Sequence[InputEvent], engine: SegmentEngine | None = None
) -> tuple[BatchResult, MemoryStore]:
    store = MemoryStore()
    return (engine or make()).process(events, store), store
