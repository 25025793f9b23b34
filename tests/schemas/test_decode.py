"""``decode`` turns any message into an event or a rejection with a known reason: never raises."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.dead_letters import DEAD_LETTER_REASONS
from schemas.decode import CONTRACTS, Rejected, decode
from schemas.events import BehaviourEvent, ErasureRequest, ProfileUpdate, allowed_types_context

CONTEXT = allowed_types_context()
SOURCES = sorted(CONTRACTS)
VALID: dict[str, dict[str, Any]] = {
    "behaviour": {
        "event_id": "e1",
        "customer_id": "c1",
        "type": "purchase",
        "timestamp": "2026-01-01T00:00:00+00:00",
        "amount": 10.0,
        "currency": "EUR",
        "properties": {"channel": "web"},
    },
    "profiles": {
        "customer_id": "c1",
        "timestamp": 1_767_225_600_000,
        "attributes": {"city": "Berlin"},
    },
    "erasures": {"customer_id": "c1", "timestamp": "2026-01-01T00:00:00Z", "request_id": "r1"},
}
TYPES = {"behaviour": BehaviourEvent, "profiles": ProfileUpdate, "erasures": ErasureRequest}


def encode(value: Any) -> bytes:
    return json.dumps(value, allow_nan=False).encode()


def check(result: object, source: str) -> None:
    """The one promise of ``decode``: an event of the source's contract, or a known reason."""
    if isinstance(result, Rejected):
        assert result.reason in DEAD_LETTER_REASONS
        assert isinstance(result.error, str) and result.error
    else:
        assert isinstance(result, TYPES[source])


# --- table-driven -------------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
def test_valid_values_with_the_customer_as_key_decode(source: str) -> None:
    event = decode(source, b"c1", encode(VALID[source]), CONTEXT)
    assert isinstance(event, TYPES[source])
    assert event.customer_id == "c1"


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("key", [None, b"c2", b"", b"C1", b"c1 ", "c1".encode("utf-16")])
def test_a_key_other_than_the_customer_is_invalid(source: str, key: bytes | None) -> None:
    result = decode(source, key, encode(VALID[source]), CONTEXT)
    assert isinstance(result, Rejected)
    assert result.reason == "invalid"
    assert "key" in result.error


@pytest.mark.parametrize("source", SOURCES)
def test_no_value_is_undecodable(source: str) -> None:
    assert decode(source, b"c1", None, CONTEXT) == Rejected("undecodable", "message has no value")
    assert decode(source, None, None, CONTEXT).reason == "undecodable"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param(b"", "undecodable", id="empty"),
        pytest.param(b"\xff\xfe{", "undecodable", id="not-utf8"),
        pytest.param(b"{", "undecodable", id="truncated"),
        pytest.param(b"[]", "undecodable", id="array"),
        pytest.param(b"null", "undecodable", id="null"),
        pytest.param(b"42", "undecodable", id="number"),
        pytest.param(b"{}", "invalid", id="empty-object"),
        pytest.param(
            encode({**VALID["behaviour"], "type": "wishlist"}),
            "unknown_event_type",
            id="unknown-type",
        ),
        pytest.param(
            encode({**VALID["behaviour"], "type": "wishlist", "amount": -1}),
            "unknown_event_type",
            id="unknown-type-and-more",
        ),
        pytest.param(encode({**VALID["behaviour"], "amount": -1}), "invalid", id="negative"),
        pytest.param(encode({**VALID["behaviour"], "x": 1}), "invalid", id="extra-key"),
        pytest.param(
            encode({**VALID["behaviour"], "timestamp": 1_767_225_600}),
            "out_of_range",  # as milliseconds: 1970, before the floor
            id="epoch-seconds",
        ),
    ],
)
def test_behaviour_rejections_have_the_right_reason(value: bytes, reason: str) -> None:
    result = decode("behaviour", b"c1", value, CONTEXT)
    assert isinstance(result, Rejected)
    assert result.reason == reason


def test_the_context_admits_extra_types() -> None:
    value = encode({**VALID["behaviour"], "type": "wishlist"})
    event = decode("behaviour", b"c1", value, allowed_types_context(["wishlist"]))
    assert isinstance(event, BehaviourEvent) and event.type == "wishlist"


def test_a_non_ascii_customer_id_matches_its_utf8_key() -> None:
    value = encode({**VALID["erasures"], "customer_id": "kundin-ü-😀"})
    event = decode("erasures", "kundin-ü-😀".encode(), value, CONTEXT)
    assert isinstance(event, ErasureRequest)


@pytest.mark.parametrize(
    "timestamp",
    [
        pytest.param(10**20, id="huge-epoch-ms-oserror"),
        pytest.param(10**400, id="enormous-epoch-ms-overflow"),
        pytest.param("0001-01-01T00:00:00+01:00", id="iso-before-year-1-in-utc"),
        pytest.param("9999-12-31T23:59:59-01:00", id="iso-after-year-9999-in-utc"),
    ],
)
def test_out_of_range_timestamps_are_rejected_not_raised(timestamp: object) -> None:
    value = json.dumps({**VALID["behaviour"], "timestamp": timestamp}).encode()
    result = decode("behaviour", b"c1", value, CONTEXT)
    assert isinstance(result, Rejected) and result.reason == "out_of_range"


# --- properties ---------------------------------------------------------------------------

SAFE_INT = st.integers()
JSON = st.recursive(
    st.none()
    | st.booleans()
    | SAFE_INT
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
KEYS = st.none() | st.sampled_from([b"c1", b"", b"x"]) | st.binary(max_size=8)


@settings(max_examples=150)
@given(source=st.sampled_from(SOURCES), key=KEYS, value=st.binary(max_size=200))
def test_any_bytes(source: str, key: bytes | None, value: bytes) -> None:
    check(decode(source, key, value, CONTEXT), source)


@settings(max_examples=150)
@given(
    source=st.sampled_from(SOURCES),
    key=KEYS,
    text=st.text(max_size=100),
    encoding=st.sampled_from(["utf-8", "utf-16", "utf-32", "utf-8-sig"]),
)
def test_any_encoded_text(source: str, key: bytes | None, text: str, encoding: str) -> None:
    check(decode(source, key, text.encode(encoding), CONTEXT), source)


@settings(max_examples=100)
@given(source=st.sampled_from(SOURCES), key=KEYS, value=JSON)
def test_any_json_value(source: str, key: bytes | None, value: Any) -> None:
    check(decode(source, key, encode(value), CONTEXT), source)


@st.composite
def near_valid(draw: st.DrawFn, source: str) -> dict[str, Any]:
    """A valid value with some fields dropped, replaced by random JSON, or added."""
    out = dict(VALID[source])
    for name in list(out):
        choice = draw(st.sampled_from(["keep", "keep", "drop", "random"]))
        if choice == "drop":
            del out[name]
        elif choice == "random":
            out[name] = draw(JSON)
    out.update(
        draw(st.dictionaries(st.sampled_from(["extra", "type", "amount"]), JSON, max_size=2))
    )
    return out


@settings(max_examples=120)
@given(data=st.data(), source=st.sampled_from(SOURCES), key=st.sampled_from([b"c1", None]))
def test_any_near_valid_object(data: st.DataObject, source: str, key: bytes | None) -> None:
    value = data.draw(near_valid(source))
    result = decode(source, key, encode(value), CONTEXT)
    check(result, source)
    if not isinstance(result, Rejected):
        assert key == result.customer_id.encode()
