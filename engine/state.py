"""Per-customer state: lifetime counters, decayed windows, affinities, profile, segments.

State is a small flat record so it can live in a Faust table (as its ``to_dict``)
or in a plain dict during replay. Windowed values are all referenced to
``last_seen_ms``; reading them at a later time decays them (see ``engine.features``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from engine.snapshots import check_snapshot

Scalar = str | int | float | bool | None


@dataclass(slots=True)
class CustomerState:
    """What the engine remembers about one customer.

    >>> state = CustomerState("c1")
    >>> CustomerState.from_dict(state.to_dict()) == state
    True
    """

    customer_id: str
    # Lifetime, undecayed.
    first_seen_ms: int | None = None
    last_seen_ms: int | None = None
    last_purchase_ms: int | None = None
    purchase_count: int = 0
    total_spend: float = 0.0  # purchases, gross; see engine.features.net_spend
    refunded: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # events by type
    # Sessions (engine.features): how many began, the current one's id (a CRC-32 of
    # it, not the string: one small int per customer) and its latest on-site event.
    session_count: int = 0
    session_key: int | None = None
    session_seen_ms: int | None = None
    # Exponentially weighted sums at last_seen_ms, quantity-major, one per window.
    windowed: list[float] = field(default_factory=list)
    affinities: dict[str, float] = field(default_factory=dict)  # "category:shoes" -> weight
    attributes: dict[str, Scalar] = field(default_factory=dict)
    attribute_times_ms: dict[str, int] = field(default_factory=dict)  # last write wins
    recent_event_ids: list[str] = field(default_factory=list)  # oldest first, bounded
    # Live: the last offset applied from each input "topic:partition" (redeliveries).
    applied: dict[str, int] = field(default_factory=dict)
    # Segments: the learned one, a challenger waiting out hysteresis, and rule segments.
    segment_id: str | None = None
    pending_segment_id: str | None = None
    pending_count: int = 0
    pending_at_ms: int | None = None
    # The model version of the latest evaluation, but of a silent re-check that the
    # model of the one before held (engine.segmenter): a silent re-check measures
    # against it, so a customer moves when they did, not when only the model did.
    placed_version: int | None = None
    # When their silence last moved them (engine.timers, Rechecks.record_move): a
    # second such move before their next visit needs learned.silent_again_margin.
    silent_moved_ms: int | None = None
    rule_segments: list[str] = field(default_factory=list)
    last_learned_ms: int | None = None
    # Event time: the partition the customer's events arrive on, and when the engine
    # should next look at them if they stay silent (engine.timers).
    partition: int = 0
    timer_ms: int | None = None
    # After an erasure only this record is kept: events up to this time are dropped,
    # so a late or reordered event cannot bring the erased customer back.
    erased_until_ms: int | None = None
    # Derived, never serialised: a set of ``recent_event_ids`` (and the list it mirrors),
    # so the duplicate check is one hash lookup, not a scan of up to 64 cold strings.
    _recent_index: tuple[list[str], set[str]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def to_dict(self, copy: bool = True) -> dict[str, Any]:
        """The fields as plain data; ``copy=False`` shares the containers (for a caller
        that encodes them at once)."""
        if not copy:
            return {name: getattr(self, name) for name in _FIELDS}
        # Containers hold only scalars, so one-level copies are a deep copy;
        # dataclasses.asdict recurses generically and cost ~40x more (425 us a call,
        # once per event in the live worker).
        out: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            out[name] = value.copy() if isinstance(value, list | dict) else value
        return out

    def apply_attributes(self, changed: Mapping[str, Scalar], ts: int) -> None:
        """A profile update's attributes: last writer wins per attribute, by event time."""
        for name, value in changed.items():
            if ts >= self.attribute_times_ms.get(name, ts):
                self.attributes[name] = value
                self.attribute_times_ms[name] = ts

    def has_seen(self, event_id: str) -> bool:
        """Whether ``event_id`` is among the recent event ids."""
        return event_id in self._recent_set()

    def remember(self, event_id: str, window: int) -> None:
        """Add ``event_id`` to the recent ids, keeping the latest ``window`` of them."""
        ids, seen = self.recent_event_ids, self._recent_set()
        ids.append(event_id)
        seen.add(event_id)
        if len(ids) > window:
            seen.difference_update(ids[:-window])
            del ids[:-window]

    def _recent_set(self) -> set[str]:
        index = self._recent_index
        ids = self.recent_event_ids
        # Rebuilt when the list was replaced or holds repeats (not the engine's doing).
        if index is None or index[0] is not ids or len(index[1]) != len(ids):
            index = self._recent_index = (ids, set(ids))
        return index[1]

    @classmethod
    def from_dict(cls, data: dict[str, Any], copy: bool = True) -> CustomerState:
        """A state from :meth:`to_dict`'s data; ``copy=False`` takes its containers (for
        data just decoded, which nothing else holds)."""
        # Copies the containers, as to_dict does: a snapshot or an in-memory store may
        # hold the very dict, which the engine must not edit.
        copied: dict[str, Any] = (
            {k: v.copy() if isinstance(v, list | dict) else v for k, v in data.items()}
            if copy
            else data
        )
        if "session_count" not in copied:
            _sessions_from_before(copied)
        return cls(**copied)


_FIELDS = tuple(f.name for f in fields(CustomerState) if f.init)  # not the derived index


def _sessions_from_before(data: dict[str, Any]) -> None:
    """Session fields for a record written before sessions were derived from ids and
    gaps: then every ``session_start`` was one, and the latest event is taken as the
    current session's, so an event that continues it does not count a second one."""
    counts = data.get("counts") or {}
    data["session_count"] = counts.get("session_start", 0)
    data.setdefault("session_seen_ms", data.get("last_seen_ms"))


class StateStore(Protocol):
    """Where the engine keeps customer state: a Faust table live, a dict in replay."""

    def get(self, customer_id: str) -> CustomerState | None: ...

    def put(self, state: CustomerState) -> None: ...

    def delete(self, customer_id: str) -> None: ...

    def partition_customers(self, partition: int) -> Iterable[str]:
        """The customers the store holds for ``partition`` (read once per partition,
        to index the timers their states hold)."""
        ...


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

    def partition_customers(self, partition: int) -> Iterable[str]:
        return sorted(cid for cid, state in self.states.items() if state.partition == partition)

    def snapshot(self) -> dict[str, Any]:
        """Every customer's state, detached (see :mod:`engine.snapshots`)."""
        states = [state.to_dict() for state in self.states.values()]
        return {"kind": "memory_store", "version": 1, "states": states}

    def restore(self, state: Mapping[str, Any]) -> None:
        check_snapshot(state, "memory_store", 1)
        # from_dict copies every list and dict (the restored states share none with the
        # snapshot) and reads a state written before a field was added.
        restored = (CustomerState.from_dict(data) for data in state["states"])
        self.states = {s.customer_id: s for s in restored}
