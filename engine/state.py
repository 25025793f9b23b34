"""Per-customer state: lifetime counters, profile attributes and current segment.

State is a small flat record so it can live in a Faust table (as its ``to_dict``)
or in a plain dict during replay.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

Scalar = str | int | float | bool | None


@dataclass(slots=True)
class CustomerState:
    """What the engine remembers about one customer.

    >>> state = CustomerState("c1")
    >>> CustomerState.from_dict(state.to_dict()) == state
    True
    """

    customer_id: str
    first_seen_ms: int | None = None
    last_seen_ms: int | None = None
    last_purchase_ms: int | None = None
    purchase_count: int = 0
    total_spend: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # lifetime events by type
    attributes: dict[str, Scalar] = field(default_factory=dict)
    attribute_times_ms: dict[str, int] = field(default_factory=dict)  # last write wins
    recent_event_ids: list[str] = field(default_factory=list)  # oldest first, bounded
    segment_id: str | None = None
    # After an erasure only this record is kept: events up to this time are dropped,
    # so a late or reordered event cannot bring the erased customer back.
    erased_until_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CustomerState:
        return cls(**data)


class StateStore(Protocol):
    """Where the engine keeps customer state: a Faust table live, a dict in replay."""

    def get(self, customer_id: str) -> CustomerState | None: ...

    def put(self, state: CustomerState) -> None: ...

    def delete(self, customer_id: str) -> None: ...


class MemoryStore:
    """A :class:`StateStore` in a dict."""

    def __init__(self) -> None:
        self.states: dict[str, CustomerState] = {}

    def get(self, customer_id: str) -> CustomerState | None:
        return self.states.get(customer_id)

    def put(self, state: CustomerState) -> None:
        self.states[state.customer_id] = state

    def delete(self, customer_id: str) -> None:
        self.states.pop(customer_id, None)
