"""``streams.live_profiles.LiveProfiles``: a refresh reads only the customers whose
state changed since the last one, and counts only the partitions the worker holds."""

from __future__ import annotations

import asyncio
from typing import Any

from engine import CustomerState, SegmentEngine
from schemas.config import EngineConfig, RuleSegmentConfig
from streams.live_profiles import LiveProfiles
from streams.table_store import PartitionIndex, encode_state

NOW = 1_767_225_600_000
EVERYONE = RuleSegmentConfig(id="all", name="All", expression="tenure_days >= 0")


class CountingTable(dict[str, Any]):
    """A table's ``get``, counting the reads."""

    reads = 0
    data = None  # no RocksDB store behind it: nothing stored to scan

    def get(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)


def put(table: CountingTable, index: PartitionIndex, customer_id: str, partition: int) -> None:
    """Write a state, as a flush does: the index hears it changed."""
    state = CustomerState(customer_id, first_seen_ms=NOW, last_seen_ms=NOW, partition=partition,
                          rule_segments=["all"])  # fmt: skip
    table[customer_id] = encode_state(state)
    index.add(customer_id, partition)
    index.changed.add(customer_id)


def held(
    partitions: set[int], customers: int
) -> tuple[LiveProfiles, CountingTable, PartitionIndex]:
    """A worker holding ``partitions``, with ``customers`` written over partitions 0 and 1."""
    table, index = CountingTable(), PartitionIndex()
    live = LiveProfiles(SegmentEngine(EngineConfig(rules=(EVERYONE,))), table, index, "behaviour")
    live.assigned(partitions)
    for n in range(customers):
        put(table, index, f"c{n}", n % 2)
    return live, table, index


def sizes(live: LiveProfiles) -> dict[str, int]:
    profiles = asyncio.run(live.profiles(NOW, smallest=1))
    return {p.segment.id: p.size for p in profiles}


def test_a_refresh_reads_only_what_changed_since_the_last() -> None:
    live, table, index = held({0, 1}, 50)
    assert sizes(live) == {"all": 50} and table.reads == 50
    assert sizes(live) == {"all": 50} and table.reads == 50  # nothing changed: no read
    put(table, index, "c3", 1)  # written again: replaces, never adds
    put(table, index, "new", 0)
    assert sizes(live) == {"all": 51} and table.reads == 52


def test_revoked_partitions_stop_counting_and_count_again_when_they_come_back() -> None:
    live, table, index = held({0, 1}, 10)
    assert sizes(live) == {"all": 10}
    live.assigned({0})  # a rebalance took partition 1 away
    assert sizes(live) == {"all": 5}
    put(table, index, "c1", 1)  # a late write of a partition held elsewhere
    assert sizes(live) == {"all": 5}
    live.assigned({0, 1})
    assert sizes(live) == {"all": 10}


def test_a_deleted_state_stops_counting() -> None:
    live, table, index = held({0}, 4)  # c0 and c2 on partition 0
    assert sizes(live) == {"all": 2}
    del table["c2"]  # an erasure marker whose time is up: a tombstone
    index.remove("c2")
    index.changed.add("c2")
    assert sizes(live) == {"all": 1}


def test_a_state_that_does_not_decode_is_left_out_and_the_rest_are_counted() -> None:
    live, table, _ = held({0, 1}, 10)
    table["c3"] = b"{not json"
    assert sizes(live) == {"all": 9}


def test_two_reads_at_once_both_answer_with_every_customer() -> None:
    live, _, _ = held({0, 1}, 1000)

    async def both() -> list[dict[str, int]]:
        answers = await asyncio.gather(live.profiles(NOW, 1), live.profiles(NOW, 1))
        return [{p.segment.id: p.size for p in answer} for answer in answers]

    assert asyncio.run(both()) == [{"all": 1000}, {"all": 1000}]


def test_customers_recovered_before_their_records_reach_the_table_count_once_recovered() -> None:
    live, table, index = held({0}, 0)
    index.add("late", 0)
    index.changed.add("late")  # recovery read the record; the table does not hold it yet
    assert sizes(live) == {}
    put(table, index, "late", 0)
    index.changed.clear()  # as if the mark had been spent: only recovery's end brings it
    live.recovered()
    assert sizes(live) == {"all": 1}
