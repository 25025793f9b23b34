"""Fuzzing ``schemas.decode`` beyond ``test_decode.py``: nearly valid objects with edge
values (every year and offset, huge numbers, long and odd strings, oversized bags),
nesting of any depth, and what an accepted event promises: it is well formed, bound to
its key, decided the same way every time, and reads back from its own JSON as itself.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from schemas._types import TIMESTAMP_FLOOR
from schemas.dead_letters import DEAD_LETTER_REASONS
from schemas.decode import CONTRACTS, Rejected, decode
from schemas.events import (
    EVENT_TYPES,
    BehaviourEvent,
    ErasureRequest,
    ProfileUpdate,
    allowed_types_context,
)
from tests.fuzz.strategies import JSON, NEAR_VALID, VALID, deep, json_bytes

CONTEXT = allowed_types_context()
SOURCES = sorted(CONTRACTS)
REFUSED = ("undecodable", "invalid", "too_large")  # a nested value's possible fates


def key_of(value: Any) -> bytes | None:
    customer = value.get("customer_id") if isinstance(value, dict) else None
    return customer.encode() if isinstance(customer, str) else None


def check_accepted(event_: BehaviourEvent | ProfileUpdate | ErasureRequest, key: bytes) -> None:
    """What every accepted event is, whatever it was decoded from."""
    assert key == event_.customer_id.encode()
    assert event_.timestamp.utcoffset() == timedelta(0)
    assert event_.timestamp >= TIMESTAMP_FLOOR
    if isinstance(event_, BehaviourEvent):
        assert event_.type in EVENT_TYPES
        assert event_.amount is None or (math.isfinite(event_.amount) and event_.amount >= 0)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), source=st.sampled_from(SOURCES), ascii_only=st.booleans())
def test_nearly_valid_objects_decode_to_well_formed_events_that_read_back(
    data: st.DataObject, source: str, ascii_only: bool
) -> None:
    value = data.draw(NEAR_VALID[source])
    raw, key = json_bytes(value, ascii_only), key_of(value)
    result = decode(source, key, raw, CONTEXT)
    assert result == decode(source, key, raw, CONTEXT)  # decided alike every time
    event(result.reason if isinstance(result, Rejected) else "accepted")
    if isinstance(result, Rejected):
        assert result.reason in DEAD_LETTER_REASONS and result.error
        return
    assert key is not None
    check_accepted(result, key)
    again = CONTRACTS[source].model_validate_json(result.model_dump_json(), context=CONTEXT)
    assert again == result


@settings(max_examples=200, deadline=None)
@given(source=st.sampled_from(SOURCES), value=JSON, key=st.none() | st.binary(max_size=4))
def test_any_json_value_is_decided(source: str, value: Any, key: bytes | None) -> None:
    result = decode(source, key_of(value) or key, json_bytes(value), CONTEXT)
    if isinstance(result, Rejected):
        assert result.reason in DEAD_LETTER_REASONS and result.error
    else:
        check_accepted(result, key_of(value) or b"")


# The live parser stops at 200 levels; Python's own recursion limit is 1,000.
@pytest.mark.parametrize("depth", [100, 199, 200, 201, 1_000, 40_000])
@pytest.mark.parametrize("source", SOURCES)
def test_nesting_of_any_depth_is_refused(source: str, depth: int) -> None:
    for text in (deep(depth), deep(depth, '{"a":', "}")):
        result = decode(source, b"c1", text.encode(), CONTEXT)
        assert isinstance(result, Rejected) and result.reason in REFUSED
    inside = json_bytes(VALID[source])[:-1] + b', "extra": ' + deep(depth).encode() + b"}"
    result = decode(source, b"c1", inside, CONTEXT)  # deep inside a valid object
    assert isinstance(result, Rejected) and result.reason in REFUSED
