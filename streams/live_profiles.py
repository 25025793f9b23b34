"""The worker's segment profiles and KPIs, kept from the states that change.

``/segments`` and the KPI gauges read :class:`engine.SegmentAggregates`. Before each
read, the customers whose state was written (or recovered) since the previous read
are counted again from the table, in slices so events keep flowing: the cost of a
read grows with the customers that changed, never with the table (a walk of every
customer took ~0.2 ms each, minutes per refresh at a million customers).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from engine import SegmentEngine, SegmentProfile
from streams.faust_compat import current_partition
from streams.table_store import PartitionIndex, decode_state

__all__ = ["PROFILE_SLICE", "LiveProfiles"]

log = logging.getLogger(__name__)

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
        self._counting = asyncio.Lock()  # a KPI refresh and a request: one count at a time

    def assigned(self, partitions: Iterable[int]) -> None:
        """The worker now holds ``partitions`` (all of them: a rebalance's outcome).
        Partitions it keeps keep their sums: a rebalance revokes everything first."""
        partitions = set(partitions)
        for partition in self.held - partitions:  # their customers count elsewhere now
            for customer_id in self.index.customers.get(partition, ()):
                self.aggregates.remove(customer_id)
        self._count_again(partitions - self.held)
        self.held = partitions

    def recovered(self) -> None:
        """The table's recovery is complete: count its customers again. Recovery marks a
        customer when it reads their record, before the record is in the table."""
        self._count_again(self.held)

    def _count_again(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.index.changed.update(self.index.customers.get(partition, ()))

    async def profiles(self, now_ms: int, smallest: int) -> list[SegmentProfile]:
        """Profiles of the segments of ``smallest`` customers or more, the customers
        that changed counted as of event time ``now_ms``."""
        async with self._counting:
            for partition in sorted(self.held):
                # rocksdb://: the customers a restarted worker has on disk, once.
                self.index.scan(self.table, partition)
            changed = sorted(self.index.changed)
            self.index.changed.clear()
            done = 0
            try:
                while done < len(changed):
                    for customer_id in changed[done : done + PROFILE_SLICE]:
                        self._count(customer_id, now_ms)
                        done += 1
                    await asyncio.sleep(0)
            finally:  # cancelled or failed: the rest are counted next time
                self.index.changed.update(changed[done:])
        profiles = self.aggregates.profiles(self.engine.segment_refs(), now_ms)
        return [p for p in profiles if p.size >= smallest]

    def _count(self, customer_id: str, now_ms: int) -> None:
        partition = self.index.partition_of.get(customer_id)
        if partition is None or partition not in self.held:
            self.aggregates.remove(customer_id)  # erased, or held elsewhere
            return
        try:
            with current_partition(self.topic, partition):
                data = self.table.get(customer_id)
            if data is None:
                self.aggregates.remove(customer_id)
            else:
                self.aggregates.update(decode_state(data), now_ms)
        except Exception as exc:  # a state that does not decode: left out, the rest go on
            self.aggregates.remove(customer_id)
            log.warning("profiles: customer %r left out: %s: %s",
                        customer_id, type(exc).__name__, exc)  # fmt: skip
