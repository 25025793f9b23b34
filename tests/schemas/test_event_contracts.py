"""The input event contracts: event time, behaviour events, profile updates and erasure
requests, valid and invalid."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from schemas.events import (
    EVENT_TYPES,
    BehaviourEvent,
    ErasureRequest,
    ProfileUpdate,
    allowed_types_context,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
T0 = datetime(2026, 1, 1, tzinfo=UTC)

BEHAVIOUR: dict[str, Any] = {
    "event_id": "e1",
    "customer_id": "c1",
    "type": "purchase",
    "timestamp": "2026-01-01T00:00:00+00:00",
    "amount": 12.5,
    "currency": "EUR",
    "properties": {"category": "books", "channel": "web"},
}
PROFILE: dict[str, Any] = {
    "customer_id": "c1",
    "timestamp": "2026-01-01T00:00:00+00:00",
    "attributes": {"age": 40, "country": "DE"},
}
ERASURE: dict[str, Any] = {
    "customer_id": "c1",
    "timestamp": "2026-01-01T00:00:00+00:00",
    "request_id": "r1",
}
BASES: dict[type[BaseModel], dict[str, Any]] = {
    BehaviourEvent: BEHAVIOUR,
    ProfileUpdate: PROFILE,
    ErasureRequest: ERASURE,
}
MODELS = list(BASES)


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


# --- event time ---------------------------------------------------------------------------

TIMESTAMPS_OK = [
    ("2026-01-01T00:00:00+00:00", T0),
    ("2026-01-01T01:00:00+01:00", T0),
    ("2025-12-31T19:00:00-05:00", T0),
    ("2026-01-01T00:00:00Z", T0),
    ("2026-01-01T00:00:00.123+00:00", T0 + timedelta(milliseconds=123)),
    (T0_MS, T0),
    (T0_MS + 1, T0 + timedelta(milliseconds=1)),
    (946_684_800_000, datetime(2000, 1, 1, tzinfo=UTC)),
    # One floor, 1990-01-01Z, for every form: epoch ms before 2000 are no longer refused.
    (631_152_000_000, datetime(1990, 1, 1, tzinfo=UTC)),
    ("1990-01-01T01:00:00+01:00", datetime(1990, 1, 1, tzinfo=UTC)),
    ("9999-12-31T23:59:59Z", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),  # live: skew
]
TIMESTAMPS_BAD = [
    pytest.param("2026-01-01T00:00:00", id="naive-iso"),
    pytest.param("2026-01-01", id="naive-date"),
    pytest.param("yesterday", id="not-iso"),
    pytest.param("", id="empty"),
    pytest.param(1_767_225_600, id="epoch-seconds"),
    pytest.param(631_151_999_999, id="just-before-1990"),
    pytest.param("1989-12-31T23:59:59.999Z", id="iso-just-before-1990"),
    pytest.param("1969-12-31T23:59:59Z", id="iso-1969"),
    pytest.param(0, id="zero"),
    pytest.param(-1, id="negative"),
    pytest.param(True, id="bool-true"),
    pytest.param(False, id="bool-false"),
    pytest.param(float(T0_MS), id="float-ms"),
    pytest.param(None, id="null"),
    pytest.param([T0_MS], id="list"),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize(("timestamp", "instant"), TIMESTAMPS_OK)
def test_accepted_timestamps_parse_to_the_utc_instant(
    model: type[BaseModel], timestamp: Any, instant: datetime
) -> None:
    parsed = model.model_validate(with_(BASES[model], timestamp=timestamp))
    assert parsed.timestamp == instant  # type: ignore[attr-defined]
    assert parsed.timestamp.utcoffset() == timedelta(0)  # type: ignore[attr-defined]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("timestamp", TIMESTAMPS_BAD)
def test_rejected_timestamps(model: type[BaseModel], timestamp: Any) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate(with_(BASES[model], timestamp=timestamp))
    assert [error["loc"] for error in info.value.errors()] == [("timestamp",)]


@settings(max_examples=200)
@given(ms=st.integers(631_152_000_000, 4_102_444_800_000 - 1))
def test_any_epoch_ms_parses_to_the_same_instant(ms: int) -> None:
    event = BehaviourEvent.model_validate(with_(BEHAVIOUR, timestamp=ms))
    assert event.timestamp == EPOCH + timedelta(milliseconds=ms)


# --- behaviour events ---------------------------------------------------------------------

BEHAVIOUR_OK = [
    pytest.param({}, id="as-is"),
    pytest.param({"amount": 0}, id="zero-amount"),
    pytest.param({"amount": None, "currency": None}, id="no-money"),
    pytest.param({"properties": None}, id="no-properties"),
    pytest.param({"type": "page_view"}, id="other-type"),
    pytest.param(
        {"properties": {"coupon": "X", "score": 1.5, "n": 3, "flag": True, "gone": None}},
        id="extra-scalar-properties",
    ),
]
BEHAVIOUR_BAD = [
    pytest.param({"amount": -0.01}, "amount", id="negative-amount"),
    pytest.param({"amount": math.nan}, "amount", id="nan-amount"),
    pytest.param({"amount": math.inf}, "amount", id="inf-amount"),
    pytest.param({"amount": -math.inf}, "amount", id="minus-inf-amount"),
    pytest.param({"amount": True}, "amount", id="true-amount"),  # not 1.0
    pytest.param({"amount": False}, "amount", id="false-amount"),
    pytest.param({"currency": "eur"}, "currency", id="lowercase-currency"),
    pytest.param({"currency": "EURO"}, "currency", id="long-currency"),
    pytest.param({"type": "wishlist"}, "type", id="unknown-type"),
    pytest.param({"event_id": ""}, "event_id", id="empty-event-id"),
    pytest.param({"customer_id": "x" * 257}, "customer_id", id="long-customer-id"),
    pytest.param({"colour": "red"}, "colour", id="extra-top-level-key"),
    pytest.param({"properties": {"nested": {"a": 1}}}, "properties", id="nested-property"),
    pytest.param({"properties": {"tags": ["a"]}}, "properties", id="list-property"),
    pytest.param({"properties": {"category": 3}}, "properties", id="typed-property"),
]


@pytest.mark.parametrize("changes", BEHAVIOUR_OK)
def test_valid_behaviour_events(changes: dict[str, Any]) -> None:
    data = with_(BEHAVIOUR, **changes)
    event = BehaviourEvent.model_validate(data)
    if isinstance(data.get("properties"), dict):
        assert event.properties is not None
        assert event.properties.model_dump(exclude_unset=True) == data["properties"]


@pytest.mark.parametrize(("changes", "field"), BEHAVIOUR_BAD)
def test_invalid_behaviour_events(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        BehaviourEvent.model_validate(with_(BEHAVIOUR, **changes))
    assert {error["loc"][0] for error in info.value.errors()} == {field}


def test_unknown_type_is_its_own_error_kind() -> None:
    with pytest.raises(ValidationError) as info:
        BehaviourEvent.model_validate(with_(BEHAVIOUR, type="wishlist"))
    assert [error["type"] for error in info.value.errors()] == ["unknown_event_type"]


def test_unknown_type_is_admitted_by_context() -> None:
    data = with_(BEHAVIOUR, type="wishlist")
    event = BehaviourEvent.model_validate(data, context=allowed_types_context(["wishlist"]))
    assert event.type == "wishlist"
    with pytest.raises(ValidationError):
        BehaviourEvent.model_validate(data, context=allowed_types_context(["other"]))
    # The context adds to the vocabulary; it does not replace it.
    purchase = BehaviourEvent.model_validate(BEHAVIOUR, context=allowed_types_context(["x"]))
    assert purchase.type == "purchase"
    assert allowed_types_context()["event_types"] == EVENT_TYPES


# --- profile updates and erasures ---------------------------------------------------------

PROFILE_OK = [
    pytest.param({"age": 40, "country": "DE"}, id="typed"),
    pytest.param({"city": None}, id="null-clears"),
    pytest.param({}, id="empty"),
    pytest.param({"loyalty_tier": "gold", "score": 0.5, "vip": False, "n": 2}, id="extra-scalars"),
]
PROFILE_BAD = [
    pytest.param({"attributes": {"age": -1}}, "attributes", id="negative-age"),
    pytest.param({"attributes": {"age": 131}}, "attributes", id="age-over-130"),
    pytest.param({"attributes": {"age": True}}, "attributes", id="true-age"),  # not 1
    pytest.param({"attributes": {"country": "Germany"}}, "attributes", id="country-not-iso"),
    pytest.param({"attributes": {"income_band": "rich"}}, "attributes", id="income-band"),
    pytest.param({"attributes": {"company_size": "big"}}, "attributes", id="company-size"),
    pytest.param({"attributes": {"address": {"street": "x"}}}, "attributes", id="nested-attr"),
    pytest.param({"attributes": {"tags": ["a", "b"]}}, "attributes", id="list-attr"),
    pytest.param({"attributes": None}, "attributes", id="null-attributes"),
    pytest.param({"event_id": "e1"}, "event_id", id="extra-top-level-key"),
    pytest.param({"customer_id": ""}, "customer_id", id="empty-customer-id"),
]


@pytest.mark.parametrize("attributes", PROFILE_OK)
def test_valid_profile_updates(attributes: dict[str, Any]) -> None:
    update = ProfileUpdate.model_validate(with_(PROFILE, attributes=attributes))
    assert update.changed() == attributes


@pytest.mark.parametrize(("changes", "field"), PROFILE_BAD)
def test_invalid_profile_updates(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        ProfileUpdate.model_validate(with_(PROFILE, **changes))
    assert {error["loc"][0] for error in info.value.errors()} == {field}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"request_id": ""}, "request_id", id="empty-request-id"),
        pytest.param({"reason": "gdpr"}, "reason", id="extra-top-level-key"),
        pytest.param({"customer_id": None}, "customer_id", id="null-customer"),
    ],
)
def test_invalid_erasure_requests(changes: dict[str, Any], field: str) -> None:
    assert ErasureRequest.model_validate(ERASURE).request_id == "r1"
    with pytest.raises(ValidationError) as info:
        ErasureRequest.model_validate(with_(ERASURE, **changes))
    assert {error["loc"][0] for error in info.value.errors()} == {field}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("missing", ["customer_id", "timestamp"])
def test_required_fields(model: type[BaseModel], missing: str) -> None:
    data = {k: v for k, v in BASES[model].items() if k != missing}
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    assert [error["type"] for error in info.value.errors()] == ["missing"]


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_open_bags_reject_non_finite_numbers(value: float) -> None:
    with pytest.raises(ValidationError):
        ProfileUpdate.model_validate(with_(PROFILE, attributes={"score": value}))
    with pytest.raises(ValidationError):
        BehaviourEvent.model_validate(with_(BEHAVIOUR, properties={"score": value}))
