"""Segment changes as the engine decides them, before they are stamped and published."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from engine.features import net_spend
from engine.state import CustomerState
from schemas.changes import ChangeReason, LifetimeCounters, SegmentChange, SegmentRef


def lifetime(state: CustomerState) -> Lifetime:
    """The customer's undecayed counters, as a change carries them."""
    return Lifetime(state.purchase_count, net_spend(state), state.first_seen_ms,
                    state.last_seen_ms, state.last_purchase_ms)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Lifetime:
    """Undecayed counters, copied from state when a change is decided."""

    purchase_count: int
    total_spend: float
    first_seen_ms: int | None
    last_seen_ms: int | None
    last_purchase_ms: int | None

    def to_message(self) -> LifetimeCounters:
        return LifetimeCounters(
            purchase_count=self.purchase_count,
            total_spend=self.total_spend,
            first_seen=_time(self.first_seen_ms),
            last_seen=_time(self.last_seen_ms),
            last_purchase_at=_time(self.last_purchase_ms),
        )


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True, slots=True)
class Change:
    """A decided segment change. ``change_id`` depends only on what caused it."""

    customer_id: str
    previous: SegmentRef | None
    segment: SegmentRef | None
    changed_at_ms: int
    model_version: int
    reason: ChangeReason
    trigger_event_id: str | None
    features: dict[str, float]
    lifetime: Lifetime | None = None

    @property
    def change_id(self) -> str:
        parts = (
            self.customer_id,
            self.trigger_event_id,
            self.changed_at_ms,
            self.reason,
            self.previous.id if self.previous else None,
            self.segment.id if self.segment else None,
            self.model_version,
        )
        # JSON keeps the parts apart whatever characters the ids contain.
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]

    def to_message(self, emitted_at: datetime) -> SegmentChange:
        """The published form; ``emitted_at`` is the caller's clock, never the engine's."""
        return SegmentChange(
            change_id=self.change_id,
            customer_id=self.customer_id,
            previous_segment=self.previous,
            segment=self.segment,
            changed_at=datetime.fromtimestamp(self.changed_at_ms / 1000, tz=UTC),
            emitted_at=emitted_at,
            model_version=self.model_version,
            reason=self.reason,
            trigger_event_id=self.trigger_event_id,
            features=self.features,
            lifetime=self.lifetime.to_message() if self.lifetime else None,
        )
