"""``streams.table_store.TableStore`` reads the changelog's records of every state format,
and keeps the states it last read or wrote decoded between batches."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any, cast

import orjson
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.state import CustomerState
from streams.ports import InputRecord
from streams.table_store import (
    ChangelogWriter,
    PartitionIndex,
    RecentStates,
    TableStore,
    decode_state,
    encode_state,
)
from tests.engine.test_state import STATES

T1 = 1_767_225_600_000
# A customer's record as the changelog held it before sessions were derived from
# session ids and gaps: the bytes Faust's JSON codec wrote, no session fields.
BEFORE_SESSIONS = orjson.dumps(
    {
        "customer_id": "c1", "first_seen_ms": T1 - 9_000, "last_seen_ms": T1,
        "last_purchase_ms": T1, "purchase_count": 1, "total_spend": 20.0, "refunded": 0.0,
        "counts": {"session_start": 2, "purchase": 1}, "windowed": [0.25] * 30,
        "affinities": {}, "attributes": {}, "attribute_times_ms": {},
        "recent_event_ids": ["e1"], "applied": {"behaviour:0": 3}, "segment_id": None,
        "pending_segment_id": None, "pending_count": 0, "pending_at_ms": None,
        "rule_segments": [], "last_learned_ms": None, "partition": 0, "timer_ms": None,
        "erased_until_ms": None,
    }
)  # fmt: skip


def test_a_record_written_before_sessions_were_derived_loads_from_the_table() -> None:
    table: dict[str, Any] = {"c1": BEFORE_SESSIONS}  # a table's get: the bytes it holds
    record = InputRecord("behaviour", 0, 4, b'"c1"', b"{}")
    no_writes = cast(ChangelogWriter, None)  # get never writes
    store = TableStore(table, [("c1", record)], PartitionIndex(), no_writes)
    state = store.get("c1")
    assert state is not None
    assert (state.session_count, state.session_key, state.session_seen_ms) == (2, None, T1)
    assert state.windowed == [0.25] * 30 and state.applied == {"behaviour:0": 3}
    assert table["c1"] == BEFORE_SESSIONS  # the stored record is left as it was


@settings(max_examples=100)
@given(state=STATES)
def test_the_table_holds_a_state_as_json_bytes_that_decode_to_the_same_state(
    state: CustomerState,
) -> None:
    # The contracts admit finite numbers only (JSON has no infinity).
    assume(all(not isinstance(v, float) or math.isfinite(v) for v in state.attributes.values()))
    data = encode_state(state)
    assert isinstance(data, bytes) and json.loads(data) == state.to_dict()
    assert decode_state(data) == state


class CountingTable(dict[str, bytes]):
    """A table's get and pop over a dict, counting the reads."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.reads = 0

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.reads += 1
        return super().get(key, default)


class TableWriter:
    """What ChangelogWriter.set does to the store; the changelog send is the broker's."""

    def __init__(self, table: dict[str, bytes]) -> None:
        self.table = table

    async def set(self, key: str, value: bytes, partition: int) -> None:
        self.table[key] = value


def batch_store(table: CountingTable, recent: RecentStates, *customers: str) -> TableStore:
    records = [
        (c, InputRecord("behaviour", 0, i, c.encode(), b"{}")) for i, c in enumerate(customers)
    ]
    writer = cast(ChangelogWriter, TableWriter(table))
    return TableStore(table, records, PartitionIndex(), writer, recent)


def test_a_state_read_or_written_once_is_served_again_without_reading_the_table() -> None:
    table, recent = CountingTable({"c1": BEFORE_SESSIONS}), RecentStates(4)
    read = batch_store(table, recent, "c1").get("c1")
    assert read is not None and table.reads == 1
    later = batch_store(table, recent, "c1", "c2")
    assert later.get("c1") is read and table.reads == 1  # decoded once, not again
    written = CustomerState("c2", first_seen_ms=T1, last_seen_ms=T1)
    later.put(written)
    asyncio.run(later.flush())
    assert decode_state(table["c2"]) == written
    assert batch_store(table, recent, "c2").get("c2") is written and table.reads == 1


def test_a_deleted_state_is_forgotten_and_read_from_the_table_again() -> None:
    table, recent = CountingTable({"c1": BEFORE_SESSIONS}), RecentStates(4)
    store = batch_store(table, recent, "c1")
    assert store.get("c1") is not None
    store.delete("c1")  # an erasure marker whose time is up
    asyncio.run(store.flush())
    assert "c1" not in table and len(recent) == 0
    assert batch_store(table, recent, "c1").get("c1") is None and table.reads == 2


def test_a_state_changed_without_a_put_and_forgotten_is_read_from_the_table_again() -> None:
    table, recent = CountingTable({"c1": BEFORE_SESSIONS}), RecentStates(4)
    store = batch_store(table, recent, "c1")
    state = store.get("c1")
    assert state is not None
    state.applied["behaviour:0"] = 99  # the engine dropped the event: no put
    store.forget(["c1"])
    asyncio.run(store.flush())
    again = batch_store(table, recent, "c1").get("c1")
    assert again is not state and again is not None and again.applied == {"behaviour:0": 3}
    assert table.reads == 2


OPS = st.lists(st.tuples(st.sampled_from(["keep", "get", "discard"]), st.integers(0, 5)))


@settings(max_examples=200)
@given(ops=OPS, size=st.integers(1, 4))
def test_recent_states_keep_the_last_used_up_to_their_size(
    ops: list[tuple[str, int]], size: int
) -> None:
    recent, used = RecentStates(size), list[str]()  # used: least recent first
    states = {f"c{i}": CustomerState(f"c{i}") for i in range(6)}
    for op, i in ops:
        key = f"c{i}"
        if op == "keep" or (op == "get" and key in used):
            if op == "keep":
                recent.keep(states[key])
            else:
                assert recent.get(key) is states[key]
            used = [k for k in used if k != key] + [key]
            used = used[-size:]
        elif op == "get":
            assert recent.get(key) is None
        else:
            recent.discard(key)
            used = [k for k in used if k != key]
        assert len(recent) == len(used)
