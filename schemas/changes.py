"""Output contract: a customer's segment changed."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas._types import Identifier

SegmentKind = Literal["learned", "rule"]
ChangeReason = Literal["assigned", "reassigned", "entered_rule", "left_rule", "erased"]


class SegmentRef(BaseModel):
    """A segment as subscribers see it: stable id, readable name, and where it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier
    name: str
    kind: SegmentKind


class LifetimeCounters(BaseModel):
    """The customer's undecayed lifetime counters at the time of the change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    purchase_count: int = Field(ge=0)
    total_spend: float = Field(ge=0, allow_inf_nan=False, description="Net of refunds.")
    first_seen: datetime | None
    last_seen: datetime | None
    last_purchase_at: datetime | None


class SegmentChange(BaseModel):
    """Published on ``segment-changes`` (key ``customer_id``) when a segment changes.

    ``change_id`` is derived from the input, so a replayed or redelivered event
    yields the same id and consumers can deduplicate.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    change_id: Identifier
    customer_id: Identifier
    previous_segment: SegmentRef | None
    segment: SegmentRef | None
    changed_at: datetime = Field(description="Event time of the input that caused the change.")
    emitted_at: datetime = Field(description="Wall-clock time the change was published.")
    model_version: int = Field(ge=0)
    reason: ChangeReason
    trigger_event_id: str | None = Field(None, description="The input event that caused it.")
    features: dict[str, float] = Field(description="Feature snapshot behind the decision.")
    lifetime: LifetimeCounters | None = Field(
        None, description="Lifetime counters; null on erasure, which must not echo data."
    )
