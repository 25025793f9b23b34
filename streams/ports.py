"""What :class:`~streams.pipeline.Pipeline` takes: plain input records, a publisher
and a state-store factory, so that it runs without Kafka or Faust.

The worker adapts Faust's messages and producer to these (``streams.faust_adapters``)
and gives a table-backed store (``streams.table_store``); tests give the in-memory
ones of ``streams.testing``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.state import StateStore

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class InputRecord:
    """One message of an input topic, as the broker delivered it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()


class Publisher(Protocol):
    """Where the pipeline's messages go: segment changes, drift, dead letters."""

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers | None = None
    ) -> None: ...

    async def flush(self) -> None:
        """Wait until the broker has every message sent so far that the worker's state
        depends on (segment changes, memberships, lessons); raise if one failed."""
        ...


class BatchStore(StateStore, Protocol):
    """The engine's state store for one batch; :meth:`flush` writes what it changed."""

    def forget(self, customer_ids: Iterable[str] | None) -> None:
        """Keep nothing of these customers (None: of anyone) beyond this batch: their
        states may have been changed without being put (an event the engine dropped or
        failed on), so the next batch reads what the table holds."""
        ...

    async def flush(self) -> None: ...


# Called once per batch with ``(customer_id, record)`` of every decoded record: the
# record says which partition (and so which changelog partition) the customer is in.
StoreFactory = Callable[[Sequence[tuple[str, InputRecord]]], BatchStore]
