"""The ``customer-segments`` topic: each customer's current segments, compacted by key.

Subscribers that want to know where a customer is now (rather than every move, which
``segment-changes`` tells) read this topic: the latest value per customer id is their
learned segment and rule segments; a tombstone (no value) once the customer is erased.
``GET /customers/{id}/segments`` on any worker answers the same body.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.changes import SegmentRef

__all__ = ["CustomerSegments"]


class CustomerSegments(BaseModel):
    """A customer's segments as of their latest evaluation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: str = Field(min_length=1, max_length=256)
    learned: SegmentRef | None = Field(description="The learned segment; none before a model.")
    rules: tuple[SegmentRef, ...] = Field(description="Rule segments, by id.")
    model_version: int = Field(ge=0, description="The model the learned segment was decided by.")
    as_of: AwareDatetime = Field(description="Event time of the latest evaluation.")

    @classmethod
    def example(cls) -> CustomerSegments:
        """A customer in a learned segment and no rule segment.

        >>> CustomerSegments.example().learned.kind
        'learned'
        """
        ref = SegmentRef(id="seg-1", name="high-value loyal", kind="learned")
        return cls(customer_id="c1", learned=ref, rules=(), model_version=3,
                   as_of=datetime.fromisoformat("2026-01-01T00:00:00+00:00"))  # fmt: skip
