"""Bounded, strictly typed input: one event-time floor for every timestamp form, set by
the validation context, and no boolean where a number is expected, on every topic."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas._types import TIMESTAMP_FLOOR
from schemas.decode import CONTRACTS, Rejected, decode
from schemas.events import BehaviourEvent, InputEvent, ProfileUpdate, allowed_types_context

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
BODIES: dict[str, dict[str, Any]] = {  # a valid value for c1 on each topic, but its time
    "behaviour": {"event_id": "e1", "customer_id": "c1", "type": "purchase", "amount": 5},
    "profiles": {"customer_id": "c1", "attributes": {"age": 40, "vip": True}},
    "erasures": {"customer_id": "c1", "request_id": "r1"},
}
ROLES = sorted(BODIES)
OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


def ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def forms(moment: datetime, offset: timezone) -> list[object]:
    """The instant as each contract form writes it: ISO with an offset, epoch ms."""
    return [moment.astimezone(offset).isoformat(), ms(moment)]


def decoded(
    role: str, timestamp: object, context: dict[str, Any] | None = None, **more: Any
) -> InputEvent | Rejected:
    value = json.dumps({**BODIES[role], "timestamp": timestamp, **more}).encode()
    return decode(role, b"c1", value, allowed_types_context() if context is None else context)


def reason(role: str, timestamp: object, context: dict[str, Any] | None = None) -> str | None:
    result = decoded(role, timestamp, context)
    return result.reason if isinstance(result, Rejected) else None


# --- the floor -----------------------------------------------------------------------------


@settings(max_examples=150)
@given(
    role=st.sampled_from(ROLES),
    before=st.integers(1, ms(TIMESTAMP_FLOOR) + 10**12),  # as far back as 1958
    offset=OFFSETS,
)
def test_any_instant_before_the_floor_is_out_of_range_in_every_form(
    role: str, before: int, offset: timezone
) -> None:
    moment = TIMESTAMP_FLOOR - timedelta(milliseconds=before)
    for timestamp in forms(moment, offset):
        result = decoded(role, timestamp)
        assert isinstance(result, Rejected), timestamp
        assert result.reason == "out_of_range" and "floor" in result.error


@settings(max_examples=150)
@given(
    role=st.sampled_from(ROLES),
    after=st.integers(0, ms(LATEST - timedelta(days=1)) - ms(TIMESTAMP_FLOOR)),
    offset=OFFSETS,
)
def test_any_instant_from_the_floor_on_is_accepted_in_every_form(
    role: str, after: int, offset: timezone
) -> None:
    moment = TIMESTAMP_FLOOR + timedelta(milliseconds=after)
    for timestamp in forms(moment, offset):
        result = decoded(role, timestamp)
        assert not isinstance(result, Rejected), (timestamp, result)
        assert result.timestamp == moment  # far future too: the worker bounds it by its clock


@pytest.mark.parametrize("role", ROLES)
def test_the_floor_comes_from_the_context_and_defaults_without_one(role: str) -> None:
    floor = datetime(2020, 1, 1, tzinfo=UTC)
    context = allowed_types_context(timestamp_floor=floor)
    early = "2019-12-31T23:59:59.999Z"
    assert isinstance(decoded(role, early), CONTRACTS[role])
    assert reason(role, early, context) == "out_of_range"
    assert isinstance(decoded(role, floor.isoformat(), context), CONTRACTS[role])
    assert reason(role, ms(floor) - 1, context) == "out_of_range"
    model = CONTRACTS[role]
    assert model.model_validate({**BODIES[role], "timestamp": early})  # no context: 1990
    with pytest.raises(ValidationError) as info:
        model.model_validate({**BODIES[role], "timestamp": "1989-12-31T23:59:59Z"})
    assert [e["type"] for e in info.value.errors()] == ["out_of_range"]


def test_epoch_seconds_are_below_the_floor_and_told_so() -> None:
    result = decoded("behaviour", 1_767_225_600)
    assert isinstance(result, Rejected) and result.reason == "out_of_range"
    assert "epoch seconds" in result.error


def test_the_floor_must_be_aware() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        allowed_types_context(timestamp_floor=datetime(2020, 1, 1))


def test_out_of_range_decides_the_reason_and_its_error_is_the_one_reported() -> None:
    result = decoded("behaviour", "1980-01-01T00:00:00Z", amount=-1)
    assert result == Rejected(
        "out_of_range",
        "timestamp: timestamp 1980-01-01T00:00:00+00:00 is before the floor "
        "1990-01-01T00:00:00+00:00 (and 1 more)",
    )


# --- booleans are not numbers -----------------------------------------------------------------

NUMBERS = [  # (role, where a number is expected)
    ("behaviour", {"amount": None}),
    ("profiles", {"attributes": {"age": None}}),
    *((role, {"timestamp": None}) for role in ROLES),
]


def with_bool(fields: dict[str, Any], flag: bool) -> dict[str, Any]:
    return {k: with_bool(v, flag) if isinstance(v, dict) else flag for k, v in fields.items()}


@settings(max_examples=60)
@given(case=st.sampled_from(NUMBERS), flag=st.booleans(), ms_form=st.booleans())
def test_a_boolean_where_a_number_is_expected_is_invalid(
    case: tuple[str, dict[str, Any]], flag: bool, ms_form: bool
) -> None:
    role, fields = case
    fine = ms(datetime(2026, 1, 1, tzinfo=UTC)) if ms_form else "2026-01-01T00:00:00Z"
    value = {**BODIES[role], "timestamp": fine, **with_bool(fields, flag)}
    result = decode(role, b"c1", json.dumps(value).encode(), allowed_types_context())
    assert isinstance(result, Rejected) and result.reason == "invalid"
    assert "boolean" in result.error or "timestamp" in result.error


def test_booleans_stay_booleans_where_the_contract_takes_any_scalar() -> None:
    event = BehaviourEvent.model_validate(
        {**BODIES["behaviour"], "timestamp": 631_152_000_000, "properties": {"gift": True}}
    )
    assert event.properties is not None and event.properties.model_extra == {"gift": True}
    update = ProfileUpdate.model_validate({**BODIES["profiles"], "timestamp": "2026-01-01T00:00Z"})
    assert update.changed() == {"age": 40, "vip": True}


# --- sizes ---------------------------------------------------------------------------------


def sized(role: str, bag: dict[str, Any]) -> bytes:
    field = "properties" if role == "behaviour" else "attributes"
    return json.dumps({**BODIES[role], "timestamp": "2026-01-01T00:00:00Z", field: bag}).encode()


@settings(max_examples=60)
@given(role=st.sampled_from(["behaviour", "profiles"]), limit=st.integers(1, 20),
       extra=st.integers(-3, 3))  # fmt: skip
def test_a_bag_over_its_entry_limit_is_too_large_and_one_within_it_is_not(
    role: str, limit: int, extra: int
) -> None:
    bag = {f"k{i}": i for i in range(max(0, limit + extra))}
    result = decode(role, b"c1", sized(role, bag), allowed_types_context(max_attributes=limit))
    if len(bag) > limit:
        assert isinstance(result, Rejected) and result.reason == "too_large"
        assert f"{len(bag)} entries; the limit is {limit}" in result.error
    else:
        assert not isinstance(result, Rejected), result


@settings(max_examples=60)
@given(role=st.sampled_from(["behaviour", "profiles"]), limit=st.integers(1, 300),
       length=st.integers(1, 400), in_name=st.booleans())  # fmt: skip
def test_a_name_or_string_value_over_the_length_limit_is_too_large(
    role: str, limit: int, length: int, in_name: bool
) -> None:
    text = "x" * length
    bag = {text: 1} if in_name else {"n": text}
    result = decode(role, b"c1", sized(role, bag), allowed_types_context(max_value_length=limit))
    if length > limit:
        assert isinstance(result, Rejected) and result.reason == "too_large"
    else:
        assert not isinstance(result, Rejected), result


@settings(max_examples=40)
@given(role=st.sampled_from(ROLES), pad=st.integers(0, 3_000), limit=st.integers(1_000, 3_000))
def test_a_message_over_the_byte_limit_is_too_large_before_it_is_parsed(
    role: str, pad: int, limit: int
) -> None:
    value = json.dumps({**BODIES[role], "timestamp": "2026-01-01T00:00:00Z"}).encode()
    value += b" " * pad  # trailing whitespace: valid JSON of any size
    result = decode(role, b"c1", value, allowed_types_context(max_message_bytes=limit))
    if len(value) > limit:
        assert result == Rejected(
            "too_large", f"message is {len(value):,} bytes; the limit is {limit:,}"
        )
    else:
        assert not isinstance(result, Rejected), result


def test_amounts_stay_below_what_sums_can_hold() -> None:
    for amount, accepted in ((1e15, True), (1.5e15, False), (1e308, False)):
        value = json.dumps({**BODIES["behaviour"], "timestamp": 631_152_000_000, "amount": amount})
        result = decode("behaviour", b"c1", value.encode(), allowed_types_context())
        assert isinstance(result, Rejected) != accepted, (amount, result)
