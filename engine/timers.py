"""Event-time timers per customer, fired by their partition's watermark.

Time passing re-evaluates only the customers it can change, when it can change them
(the anchor is Flink's keyed event-time timers): after each evaluation the engine
asks :class:`Rechecks` when this customer's segments could next change if they stay
silent, stores that time on the customer's state, and indexes it here by partition.
Each partition keeps its own watermark (the latest event time seen on it); a timer
fires once its partition's watermark passes it, so the cost of time passing grows
with the customers whose timers are due, not with customers x days.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.features import DAY_MS
from engine.rules import Rule
from engine.snapshots import check_snapshot
from engine.state import CustomerState, StateStore
from schemas.config import EngineConfig
from schemas.events import InputEvent

__all__ = [
    "DAY_MS",
    "GROWING_ANCHORS",
    "Rechecks",
    "TimerIndex",
    "epoch_ms",
    "stored_states",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def epoch_ms(event: InputEvent) -> int:
    """An event's time in epoch milliseconds, exactly."""
    # Integer arithmetic: float seconds * 1000 loses a millisecond for some times.
    return (event.timestamp - _EPOCH) // _MS


# Features that grow while a customer is silent, and the state time each counts from.
GROWING_ANCHORS = {
    "recency_days": "last_purchase_ms",
    "days_since_last_seen": "last_seen_ms",
    "tenure_days": "first_seen_ms",
}


class Rechecks:
    """When a silent customer should next be evaluated.

    Two kinds of moments: a rule's threshold on a growing feature (``recency_days <
    7`` flips 7 days after the last purchase, to the millisecond), and a re-check
    of everything that decays (windowed counts, the learned segment) at geometrically
    growing gaps after the customer's last event: ``first_days``, then each gap
    ``growth`` times the last, at most ``max_days`` apart. A decision waiting out
    hysteresis is re-checked after ``pending_ms``.

    >>> checks = Rechecks(first_days=1, growth=2, max_days=8, pending_ms=0,
    ...                   thresholds=[("recency_days", 7.0)], recency_cap_days=365)
    >>> state = CustomerState("c1", last_seen_ms=0, last_purchase_ms=0, first_seen_ms=0)
    >>> [checks.next(state, t * DAY_MS, False) for t in (0, 1, 3, 7, 15, 23)]
    [86400000, 259200000, 604800000, 604800001, 1987200000, 2678400000]
    """

    def __init__(
        self, first_days: float, growth: float, max_days: float, pending_ms: int,
        thresholds: Iterable[tuple[str, float]], recency_cap_days: float,
        overdue_gaps: float = 0.0, first_gap_days: float = 0.0,
    ) -> None:  # fmt: skip
        self.overdue_gaps = overdue_gaps
        self.first_gap_ms = int(first_gap_days * DAY_MS)
        self.first_ms = int(first_days * DAY_MS)
        self.growth = growth
        self.max_ms = int(max_days * DAY_MS)
        self.pending_ms = pending_ms
        self.recency_cap_days = recency_cap_days
        # (state field the feature counts from, ms after it that the feature crosses).
        self.crossings = sorted(
            {
                (GROWING_ANCHORS[name], int(days * DAY_MS) + 1)
                for name, days in thresholds
                if name in GROWING_ANCHORS
                and days >= 0
                and (name == "tenure_days" or days < recency_cap_days)
            }
        )

    @classmethod
    def from_config(cls, config: EngineConfig, rules: Iterable[Rule]) -> Rechecks:
        """The re-checks an engine of ``config`` makes, with its rules' thresholds."""
        return cls(
            config.recheck_first_days, config.recheck_growth, config.recheck_max_days,
            int(config.learned.hysteresis_spacing_seconds * 1000),
            [t for rule in rules for t in rule.thresholds], config.recency_cap_days,
            config.learned.silent_overdue_gaps, config.learned.silent_first_gap_days,
        )  # fmt: skip

    def next(self, state: CustomerState, now_ms: int, pending: bool) -> int | None:
        """The first moment after ``now_ms`` worth an evaluation, or None."""
        last = state.last_seen_ms
        if last is None:
            return None
        due = last + self._gap_after(now_ms - last)
        if pending and self.pending_ms:
            due = min(due, now_ms + self.pending_ms)
        for anchor, after in self.crossings:
            start = getattr(state, anchor)
            if start is not None and now_ms < start + after < due:
                due = start + after
        overdue = self.overdue_ms(state)
        if overdue is not None and now_ms < overdue < due:
            due = overdue
        return due

    def early(self, state: CustomerState, now_ms: int) -> bool:
        """Whether a re-check without an event of their own at ``now_ms`` is too early
        to move ``state``: before they are overdue (:meth:`overdue_ms`).

        >>> checks = Rechecks(1, 4, 128, 0, [], 365, overdue_gaps=3, first_gap_days=30)
        >>> state = CustomerState("c1", first_seen_ms=0, session_seen_ms=0, session_count=1)
        >>> [checks.early(state, day * DAY_MS) for day in (10, 90, 91, 200)]
        [True, True, False, False]
        """
        overdue = self.overdue_ms(state)
        return overdue is not None and now_ms < overdue

    def record_move(self, state: CustomerState, now_ms: int, opened_ms: int | None) -> None:
        """Note a move of ``state`` at ``now_ms`` between live segments, opened at
        ``opened_ms`` (None: made at once), if their silence made it: opened and made
        once they were overdue, with no visit since. A move their own visit opened, or
        one out of a retired segment (the caller's to leave out), is not.

        >>> checks = Rechecks(1, 4, 128, 0, [], 365, overdue_gaps=3, first_gap_days=30)
        >>> state = CustomerState("c1", first_seen_ms=0, session_seen_ms=0, session_count=1)
        >>> checks.record_move(state, 93 * DAY_MS, opened_ms=88 * DAY_MS)  # opened early
        >>> state.silent_moved_ms is None
        True
        >>> checks.record_move(state, 93 * DAY_MS, opened_ms=90 * DAY_MS + 1)
        >>> state.silent_moved_ms == 93 * DAY_MS and checks.moved(state)
        True
        """
        overdue = self.overdue_ms(state)
        opened = now_ms if opened_ms is None else opened_ms
        if overdue is not None and now_ms >= overdue and opened >= overdue:
            state.silent_moved_ms = now_ms

    def moved(self, state: CustomerState) -> bool:
        """Whether a re-check without an event of their own already moved ``state`` in
        this silence, once overdue: another opens a move only for a segment
        ``learned.silent_again_margin`` closer. A lapsing customer lapses once per
        silence, not once per re-check as their windows decay.

        >>> checks = Rechecks(1, 4, 128, 0, [], 365, overdue_gaps=3, first_gap_days=30)
        >>> state = CustomerState("c1", first_seen_ms=0, session_seen_ms=0, session_count=1,
        ...                       silent_moved_ms=91 * DAY_MS)
        >>> checks.moved(state)
        True
        >>> state.session_seen_ms = 100 * DAY_MS  # a visit since: a new silence
        >>> checks.moved(state)
        False
        """
        overdue, moved = self.overdue_ms(state), state.silent_moved_ms
        return overdue is not None and moved is not None and moved >= overdue

    def overdue_ms(self, state: CustomerState) -> int | None:
        """When the silence since ``state``'s latest visit outgrows ``overdue_gaps`` of
        their own mean gap between visits (None when off): a silent re-check before
        then does not move them. Visits are sessions, so email opens and support
        contacts neither stretch the gap nor end the silence (the first visit is taken
        as the first event). A customer with one visit has no gap of their own yet and
        is given ``first_gap_ms`` (None when that is 0)."""
        first, last, visits = state.first_seen_ms, state.session_seen_ms, state.session_count
        if not self.overdue_gaps or first is None or last is None:
            return None
        if visits < 2 and not self.first_gap_ms:
            return None
        gap = self.first_gap_ms if visits < 2 else max(0, last - first) / (visits - 1)
        return last + int(self.overdue_gaps * gap) + 1

    def _gap_after(self, silent_ms: int) -> int:
        """The first re-check offset (from the last event) beyond ``silent_ms``."""
        gap, offset = self.first_ms, self.first_ms
        while offset <= silent_ms:
            gap = min(self.max_ms, max(gap + 1, int(gap * self.growth)))
            if gap == self.max_ms:  # equal gaps from here on: step over them at once
                return offset + ((silent_ms - offset) // gap + 1) * gap
            offset += gap
        return offset


class TimerIndex:
    """Timers by partition, each partition with its watermark.

    Entries are ``(due, customer_id)`` in a heap per partition. A customer's timer
    moves at each evaluation; the entry it replaces stays in the heap but is dropped
    when popped (``_queued`` holds each customer's latest), without a state read.
    """

    def __init__(self) -> None:
        self.watermarks: dict[int, int] = {}
        self._heaps: dict[int, list[tuple[int, str]]] = {}
        self._queued: dict[str, int] = {}  # customer -> the due time that counts

    def indexed(self, partition: int) -> bool:
        return partition in self._heaps

    def index(self, partition: int, states: Iterable[CustomerState]) -> None:
        """Start indexing ``partition``, with the timers its stored states hold."""
        heap = self._heaps.setdefault(partition, [])
        for state in states:
            if state.timer_ms is not None:
                heap.append((state.timer_ms, state.customer_id))
                self._queued[state.customer_id] = state.timer_ms
        heapq.heapify(heap)

    def forget(self, partition: int) -> None:
        """Stop indexing ``partition`` (taken away): indexed again from its stored
        states when it comes back, with the timers another worker set meanwhile."""
        for _, customer_id in self._heaps.pop(partition, ()):
            self._queued.pop(customer_id, None)

    def add(self, partition: int, due: int, customer_id: str) -> None:
        self._queued[customer_id] = due
        heapq.heappush(self._heaps.setdefault(partition, []), (due, customer_id))

    def advance(self, partition: int, to_ms: int) -> bool:
        """Move ``partition``'s watermark forward to ``to_ms``; whether it moved."""
        current = self.watermarks.get(partition)
        if current is not None and to_ms <= current:
            return False
        self.watermarks[partition] = to_ms
        return True

    def due(self, partition: int) -> Iterator[tuple[int, str]]:
        """Pop the entries of ``partition`` its watermark has passed, earliest first
        (ties by customer id). Entries added while iterating are seen too."""
        heap, until = self._heaps.get(partition), self.watermarks.get(partition)
        while heap and until is not None and heap[0][0] <= until:
            due, customer_id = heapq.heappop(heap)
            if self._queued.get(customer_id) == due:
                del self._queued[customer_id]
                yield due, customer_id

    def pending(self, partition: int) -> bool:
        """Whether an entry of ``partition`` is due (stale ones included: cheap)."""
        heap, until = self._heaps.get(partition), self.watermarks.get(partition)
        return heap is not None and len(heap) > 0 and until is not None and heap[0][0] <= until

    def snapshot(self) -> dict[str, Any]:
        heaps = {p: sorted(heap) for p, heap in sorted(self._heaps.items())}
        return {"kind": "timer_index", "version": 1, "queued": dict(sorted(self._queued.items())),
                "watermarks": dict(sorted(self.watermarks.items())), "heaps": heaps}  # fmt: skip

    def restore(self, state: Mapping[str, Any]) -> None:
        check_snapshot(state, "timer_index", 1)
        self.watermarks = {int(p): int(w) for p, w in state["watermarks"].items()}
        self._heaps = {int(p): [(int(d), str(c)) for d, c in h] for p, h in state["heaps"].items()}
        self._queued = {str(c): int(d) for c, d in state["queued"].items()}


def stored_states(store: StateStore, partition: int, errors: list[str]) -> Iterator[CustomerState]:
    """The states ``store`` holds for ``partition``; one it cannot read is reported."""
    for customer_id in store.partition_customers(partition):
        try:
            state = store.get(customer_id)
        except Exception as exc:  # a corrupt entry: its timer is lost, the rest are not
            errors.append(f"{customer_id}: {type(exc).__name__}: {exc}")
            continue
        if state is not None:
            yield state
