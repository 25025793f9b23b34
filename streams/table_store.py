"""Customer state in a Faust table, for the engine's :class:`~engine.StateStore`.

Faust routes a table write to the changelog partition of the *current event*, and
the RocksDB store reads from that partition's database. In a batch the current
event is whichever arrived last, so each access here first makes the customer's
own event current; otherwise state would land in another partition's changelog
and be lost to the worker that owns the customer after a rebalance.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event
from faust.types import EventT

from engine.state import CustomerState


class TableStore:
    """A :class:`~engine.StateStore` over a Faust table, for one batch of events."""

    def __init__(self, table: Any, owners: Mapping[str, EventT[Any]]) -> None:
        self._table = table
        self._owners = owners  # customer_id -> the batch event carrying that customer

    @contextmanager
    def _as_current(self, customer_id: str) -> Iterator[None]:
        token = _current_event.set(weakref.ref(self._owners[customer_id]))
        try:
            yield
        finally:
            _current_event.reset(token)

    def get(self, customer_id: str) -> CustomerState | None:
        with self._as_current(customer_id):
            data = self._table.get(customer_id)
        return None if data is None else CustomerState.from_dict(data)

    def put(self, state: CustomerState) -> None:
        with self._as_current(state.customer_id):
            self._table[state.customer_id] = state.to_dict()

    def delete(self, customer_id: str) -> None:
        with self._as_current(customer_id):
            self._table.pop(customer_id, None)
