"""The segmentation engine's single entry point: a batch of events in, outcomes out.

The live worker and replay both call :meth:`SegmentEngine.process`; one event is a
batch of one. Time is the events' own: the engine reads no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from engine.changes import Change
from engine.features import features
from engine.segmenter import LearnedSegmenter
from engine.state import CustomerState, StateStore
from schemas.changes import ChangeReason, SegmentRef
from schemas.config import EngineConfig
from schemas.events import BehaviourEvent, ErasureRequest, InputEvent, ProfileUpdate

Outcome = Literal["accepted", "duplicate", "late", "erased", "failed"]


@dataclass(slots=True)
class BatchResult:
    """One outcome per input event, in input order, and the changes they caused.

    ``errors`` maps the index of each ``failed`` event to what went wrong, so one
    poison event cannot take the rest of its batch down with it.
    """

    outcomes: list[Outcome] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)


def epoch_ms(event: InputEvent) -> int:
    return int(event.timestamp.timestamp() * 1000)


class SegmentEngine:
    """Keeps customer state and segments up to date from events.

    >>> from datetime import datetime, UTC
    >>> from engine.state import MemoryStore
    >>> engine = SegmentEngine(EngineConfig())
    >>> event = BehaviourEvent(event_id="e1", customer_id="c1", type="purchase",
    ...                        timestamp=datetime(2026, 1, 1, tzinfo=UTC), amount=20.0)
    >>> store = MemoryStore()
    >>> engine.process([event, event], store).outcomes
    ['accepted', 'duplicate']
    >>> store.get("c1").purchase_count
    1
    """

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        learned = config.learned
        self.segmenter = LearnedSegmenter(
            learned.features,
            n_segments=learned.n_segments,
            seed=learned.seed,
            halflife=learned.halflife,
            warmup_updates=learned.warmup_updates,
            publish_every=learned.publish_every,
        )
        self._lateness_ms = int(config.allowed_lateness_seconds * 1000)

    def _segment(self, segment_id: str | None) -> SegmentRef | None:
        return None if segment_id is None else self.segmenter.segments[segment_id]

    def process(self, events: Sequence[InputEvent], store: StateStore) -> BatchResult:
        result = BatchResult()
        for index, event in enumerate(events):
            try:
                outcome = self._one(event, store, result.changes)
            except Exception as exc:  # a bug, not bad input: report it, keep going
                outcome = "failed"
                result.errors[index] = f"{type(exc).__name__}: {exc}"
            result.outcomes.append(outcome)
        return result

    def _one(self, event: InputEvent, store: StateStore, out: list[Change]) -> Outcome:
        if isinstance(event, BehaviourEvent):
            return self._behaviour(event, store, out)
        if isinstance(event, ProfileUpdate):
            return self._profile(event, store)
        return self._erase(event, store, out)

    def _behaviour(self, event: BehaviourEvent, store: StateStore, out: list[Change]) -> Outcome:
        state = store.get(event.customer_id) or CustomerState(event.customer_id)
        if event.event_id in state.recent_event_ids:
            return "duplicate"
        ts = epoch_ms(event)
        if state.erased_until_ms is not None and ts <= state.erased_until_ms:
            return "erased"
        if state.last_seen_ms is not None and ts < state.last_seen_ms - self._lateness_ms:
            return "late"
        fold_in(state, event, ts, self.config.dedup_window)
        x = features(state, max(ts, state.last_seen_ms or ts))
        self.segmenter.learn(x)
        segment = self.segmenter.assign(x)
        if segment is not None and segment.id != state.segment_id:
            previous = self._segment(state.segment_id)
            reason: ChangeReason = "assigned" if previous is None else "reassigned"
            out.append(
                Change(
                    event.customer_id,
                    previous,
                    segment,
                    ts,
                    self.segmenter.model_version,
                    reason,
                    event.event_id,
                    x,
                )
            )
            state.segment_id = segment.id
        store.put(state)
        return "accepted"

    def _profile(self, event: ProfileUpdate, store: StateStore) -> Outcome:
        state = store.get(event.customer_id) or CustomerState(event.customer_id)
        ts = epoch_ms(event)
        if state.erased_until_ms is not None and ts <= state.erased_until_ms:
            return "erased"
        for name, value in event.changed().items():
            if ts >= state.attribute_times_ms.get(name, ts):
                state.attributes[name] = value
                state.attribute_times_ms[name] = ts
        store.put(state)
        return "accepted"

    def _erase(self, event: ErasureRequest, store: StateStore, out: list[Change]) -> Outcome:
        ts = epoch_ms(event)
        state = store.get(event.customer_id)
        if state is not None and state.segment_id is not None:
            out.append(
                Change(
                    event.customer_id,
                    self._segment(state.segment_id),
                    None,
                    ts,
                    self.segmenter.model_version,
                    "erased",
                    event.request_id,
                    {},
                )
            )
        until = max(ts, state.erased_until_ms or ts) if state else ts
        store.put(CustomerState(event.customer_id, erased_until_ms=until))
        return "erased"


def fold_in(state: CustomerState, event: BehaviourEvent, ts: int, dedup_window: int) -> None:
    """Add one event to the lifetime counters; order-independent within lateness."""
    state.first_seen_ms = ts if state.first_seen_ms is None else min(state.first_seen_ms, ts)
    state.last_seen_ms = ts if state.last_seen_ms is None else max(state.last_seen_ms, ts)
    state.counts[event.type] = state.counts.get(event.type, 0) + 1
    amount = event.amount or 0.0
    if event.type == "purchase":
        state.purchase_count += 1
        state.total_spend += amount
        if state.last_purchase_ms is None or ts > state.last_purchase_ms:
            state.last_purchase_ms = ts
    elif event.type == "refund":
        state.total_spend = max(0.0, state.total_spend - amount)
    state.recent_event_ids.append(event.event_id)
    del state.recent_event_ids[:-dedup_window]
