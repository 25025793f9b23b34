"""``streams.table_store.TableStore`` reads the changelog's records of every state format."""

from __future__ import annotations

import json
import math
from typing import Any, cast

import orjson
from hypothesis import assume, given, settings

from engine.state import CustomerState
from streams.ports import InputRecord
from streams.table_store import (
    ChangelogWriter,
    PartitionIndex,
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
