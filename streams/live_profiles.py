"""The worker's segment profiles and KPIs, kept from the states that change.

``/segments`` and the KPI gauges read :class:`engine.SegmentAggregates`. Before each
read, the customers whose state was written (or recovered) since the previous read
are counted again from the table, in slices so events keep flowing: the cost of a
read grows with the customers that changed, never with the table (a walk of every
customer took ~0.2 ms each, minutes per refresh at a million customers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from engine import SegmentEngine, SegmentProfile
from streams.faust_compat import current_partition
from streams.table_store import PartitionIndex, decode_state

__all__ = ["PROFILE_SLICE", "LiveProfiles"]

PROFILE_SLICE = 100  # customers counted between two turns of the event loop


class LiveProfiles:
    """Profiles of the customers of the partitions this worker holds.

    ``table``: the state table (its ``get``); ``topic``: an input topic, whose
    partitions route a read to the customer's partition (RocksDB keeps one database
    per partition). The index says which customers changed since the last read.
    """

    def __init__(
        self, engine: SegmentEngine, table: Any, index: PartitionIndex, topic: str
    ) -> None:
        self.engine, self.table, self.index, self.topic = engine, table, index, topic
        self.aggregates = engine.aggregates()
        self.held: set[int] = set()

    def assigned(self, partitions: Iterable[int]) -> None:
        """The worker now holds ``partitions`` (all of them: a rebalance's outcome)."""
        partitions = set(partitions)
        self.revoked(self.held - partitions)
        for partition in partitions - self.held:  # their stored customers count again
            self.index.changed.update(self.index.customers.get(partition, ()))
        self.held = partitions

    def revoked(self, partitions: Iterable[int]) -> None:
        """``partitions`` were taken away: their customers count on another worker."""
        for partition in partitions:
            self.held.discard(partition)
            for customer_id in self.index.customers.get(partition, ()):
                self.aggregates.remove(customer_id)

    async def profiles(self, now_ms: int, smallest: int) -> list[SegmentProfile]:
        """Profiles of the segments of ``smallest`` customers or more, the customers
        that changed counted as of event time ``now_ms``."""
        changed = sorted(self.index.changed)
        self.index.changed.clear()
        for start in range(0, len(changed), PROFILE_SLICE):
            for customer_id in changed[start : start + PROFILE_SLICE]:
                self._count(customer_id, now_ms)
            await asyncio.sleep(0)
        profiles = self.aggregates.profiles(self.engine.segment_refs())
        return [p for p in profiles if p.size >= smallest]

    def _count(self, customer_id: str, now_ms: int) -> None:
        partition = self.index.partition_of.get(customer_id)
        if partition is None or partition not in self.held:
            self.aggregates.remove(customer_id)  # erased, or held elsewhere
            return
        with current_partition(self.topic, partition):
            data = self.table.get(customer_id)
        if data is None:
            self.aggregates.remove(customer_id)
        else:
            self.aggregates.update(decode_state(data), now_ms)
