"""Tests of the synthetic stream: contracts, determinism, planted groups and the shift."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import EVENT_TYPES, BehaviourEvent, ProfileUpdate
from synthetic import (
    DEFAULT_PERSONAS,
    DEFAULT_START_MS,
    INCOME_BANDS,
    Persona,
    Shift,
    customer_id,
    generate,
    labels,
)

DAY_MS = 86_400_000
CUSTOMERS, DAYS, SEED = 240, 28, 11
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")
BEHAVIOUR_KEYS = {"event_id", "customer_id", "type", "timestamp", "properties"}
PROPERTY_KEYS = {"category", "channel", "device", "session_id"}
SESSION_TYPES = {"session_start", "page_view", "product_view", "search", "add_to_cart",
                 "remove_from_cart", "checkout", "purchase"}  # fmt: skip
PROFILE_KEYS = {"age", "gender", "country", "city", "income_band", "language"}


def ms(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp).timestamp() * 1000 + 0.5)


@pytest.fixture(scope="module")
def stream() -> list[dict[str, Any]]:
    return list(generate(CUSTOMERS, DAYS, SEED))


@pytest.fixture(scope="module")
def by_persona(stream: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per persona: mean count of each event type per customer, plus spend and activity."""
    truth = labels(CUSTOMERS, SEED)
    sizes = Counter(truth.values())
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for message in stream:
        if message["topic"] != "behaviour":
            continue
        value, persona = message["value"], truth[message["key"]]
        totals[persona][value["type"]] += 1
        totals[persona]["spend"] += value.get("amount", 0) if value["type"] == "purchase" else 0
        first.setdefault(value["customer_id"], ms(value["timestamp"]))
        last[value["customer_id"]] = ms(value["timestamp"])
    out = {}
    for persona, counts in totals.items():
        stats = {key: n / sizes[persona] for key, n in counts.items()}
        members = [c for c in first if truth[c] == persona]
        span = DAYS * DAY_MS
        stats["first"] = sum(first[c] - DEFAULT_START_MS for c in members) / len(members) / span
        stats["last"] = sum(last[c] - DEFAULT_START_MS for c in members) / len(members) / span
        out[persona] = stats
    return out


def test_same_arguments_give_the_same_stream() -> None:
    a = [json.dumps(m) for m in itertools.islice(generate(100, 7, 3), 2000)]
    b = [json.dumps(m) for m in itertools.islice(generate(100, 7, 3), 2000)]
    assert len(a) == 2000
    assert a == b
    assert list(generate(20, 7, 3)) == list(generate(20, 7, 3))


def test_different_seeds_give_different_streams() -> None:
    a = list(itertools.islice(generate(50, 7, 3), 200))
    b = list(itertools.islice(generate(50, 7, 4), 200))
    assert a != b
    assert labels(200, 3) != labels(200, 4)


def test_times_are_ordered_and_inside_the_window(stream: list[dict[str, Any]]) -> None:
    times = [ms(m["value"]["timestamp"]) for m in stream]
    assert all(ISO.match(m["value"]["timestamp"]) for m in stream)
    assert times == sorted(times)
    assert times[0] >= DEFAULT_START_MS
    assert times[-1] <= DEFAULT_START_MS + DAYS * DAY_MS


def test_events_per_customer_day_are_as_documented(stream: list[dict[str, Any]]) -> None:
    events = sum(m["topic"] == "behaviour" for m in stream)
    assert 5.0 < events / (CUSTOMERS * DAYS) < 8.5


def test_behaviour_values_follow_the_contract(stream: list[dict[str, Any]]) -> None:
    for message in stream:
        if message["topic"] != "behaviour":
            continue
        value = message["value"]
        BehaviourEvent.model_validate(value)
        money = value["type"] in {"purchase", "refund"}
        assert set(value) == BEHAVIOUR_KEYS | ({"amount", "currency"} if money else set())
        assert value["type"] in EVENT_TYPES
        assert message["key"] == value["customer_id"]
        assert re.fullmatch(r"c\d{6}", value["customer_id"])
        props = value["properties"]
        assert set(props) <= PROPERTY_KEYS
        assert all(isinstance(v, str) and v for v in props.values())
        if value["type"] in SESSION_TYPES:
            assert {"channel", "device", "session_id"} <= set(props)
        if value["type"].startswith("email_"):
            assert props == {"channel": "email"}
        if money:
            assert value["currency"] == "EUR"
            assert isinstance(value["amount"], float)
            assert value["amount"] >= 0
            assert round(value["amount"], 2) == value["amount"]


def test_event_ids_are_unique(stream: list[dict[str, Any]]) -> None:
    ids = [m["value"]["event_id"] for m in stream if m["topic"] == "behaviour"]
    assert len(ids) == len(set(ids))


def test_refunds_follow_a_purchase_at_least_as_large(stream: list[dict[str, Any]]) -> None:
    biggest: dict[str, float] = {}
    refunds = 0
    for message in stream:
        value = message["value"]
        if message["topic"] == "behaviour" and value["type"] == "purchase":
            biggest[value["customer_id"]] = max(
                biggest.get(value["customer_id"], 0), value["amount"]
            )
        elif message["topic"] == "behaviour" and value["type"] == "refund":
            refunds += 1
            assert value["amount"] <= biggest[value["customer_id"]]
    assert refunds > 0


def test_sessions_follow_the_funnel(stream: list[dict[str, Any]]) -> None:
    sessions: dict[str, list[str]] = defaultdict(list)
    for message in stream:
        value = message["value"]
        if message["topic"] == "behaviour" and "session_id" in value["properties"]:
            sessions[value["properties"]["session_id"]].append(value["type"])
    assert sessions
    for types in sessions.values():
        assert types[0] == "session_start"
        assert types.count("session_start") == 1
        if "purchase" in types:
            assert types.index("add_to_cart") < types.index("checkout") < types.index("purchase")


def test_one_profile_per_customer_with_its_first_event(stream: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for message in stream:
        cid, value = message["key"], message["value"]
        if message["topic"] == "profile":
            ProfileUpdate.model_validate(value)
            assert set(value) == {"customer_id", "timestamp", "attributes"}
            assert value["customer_id"] == cid and cid not in seen
            attributes = value["attributes"]
            assert set(attributes) == PROFILE_KEYS
            assert isinstance(attributes["age"], int) and 0 <= attributes["age"] <= 130
            assert attributes["gender"] in {"female", "male", "other"}
            assert re.fullmatch(r"[A-Z]{2}", attributes["country"])
            assert attributes["income_band"] in INCOME_BANDS
        else:
            assert message["topic"] == "behaviour"
            assert cid in seen, "a customer's profile comes before its first event"
        seen.add(cid)


def test_profiles_can_be_left_out() -> None:
    assert all(m["topic"] == "behaviour" for m in generate(30, 3, 1, with_profiles=False))


def test_labels_cover_every_customer_that_appears(stream: list[dict[str, Any]]) -> None:
    truth = labels(CUSTOMERS, SEED)
    assert list(truth) == [customer_id(i, CUSTOMERS) for i in range(CUSTOMERS)]
    assert {m["key"] for m in stream} <= set(truth)
    assert set(truth.values()) <= {p.name for p in DEFAULT_PERSONAS}


def test_personas_are_separated(by_persona: dict[str, dict[str, float]]) -> None:
    loyal, bargain = by_persona["high_value_loyal"], by_persona["bargain_hunters"]
    window, email = by_persona["window_shoppers"], by_persona["email_engaged"]
    lapsed, new = by_persona["lapsed"], by_persona["new_visitors"]
    assert loyal["purchase"] > 5 * window.get("purchase", 0.0)
    assert loyal["spend"] / loyal["purchase"] > 3 * bargain["spend"] / bargain["purchase"]
    assert bargain["purchase"] > 5 * window.get("purchase", 0.0)
    assert window["product_view"] > 1.3 * loyal["product_view"]
    assert email["email_open"] > 3 * max(s.get("email_open", 0) for s in by_persona.values()
                                         if s is not email)  # fmt: skip
    assert lapsed["last"] < 0.45 < 0.6 < new["first"]


def test_shifted_customers_behave_like_their_new_persona_after_the_shift() -> None:
    customers, days, seed = 400, 14, 9
    shift = Shift(0.5, "window_shoppers", "high_value_loyal", share=0.5)
    before = labels(customers, seed, shift=shift, after_shift=False)
    after = labels(customers, seed, shift=shift)
    at = shift.at_ms(days)
    assert at == DEFAULT_START_MS + 7 * DAY_MS
    group = {c: "moved" if before[c] != after[c] else before[c] for c in before}
    buys: Counter[tuple[str, bool]] = Counter()
    for message in generate(customers, days, seed, shift=shift, with_profiles=False):
        if message["value"]["type"] == "purchase":
            buys[group[message["key"]], ms(message["value"]["timestamp"]) >= at] += 1
    size = Counter(group.values())
    rate = {key: n / size[key[0]] for key, n in buys.items()}
    assert rate.get(("moved", False), 0.0) < 0.2 * rate["moved", True]
    assert rate["moved", True] == pytest.approx(rate["high_value_loyal", True], rel=0.35)
    assert rate.get(("window_shoppers", True), 0.0) < 0.2 * rate["moved", True]


def test_streaming_does_not_build_the_whole_stream() -> None:
    # A century of 3,000 customers is far more than memory holds; the head still comes.
    head = list(itertools.islice(generate(3000, 36_500, 1), 1000))
    assert len(head) == 1000


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        generate(10, 0, 1)
    with pytest.raises(ValueError):
        generate(-1, 1, 1)
    with pytest.raises(ValueError):
        generate(10, 1, 1, shift=Shift(0.5, "nobody", "lapsed", 0.5))
    with pytest.raises(ValueError):
        generate(10, 1, 1, personas=DEFAULT_PERSONAS + DEFAULT_PERSONAS[:1])
    with pytest.raises(ValueError):
        Shift(1.5, "lapsed", "new_visitors", 0.5)
    with pytest.raises(ValueError):
        Persona(
            "x", 1, 1, 1, 2.0, 0.5, 10, 1, 0.5, 0, 0, ("a",), ("web",), ("pc",), ("DE",), (1, 2)
        )
    assert list(generate(0, 1, 1)) == []


@settings(max_examples=25, deadline=None)
@given(
    customers=st.integers(0, 8),
    days=st.floats(0.2, 6.0),
    seed=st.integers(-(2**40), 2**40),
    start_ms=st.integers(946_684_800_000, 4_000_000_000_000),
)
def test_any_small_stream_is_well_formed(
    customers: int, days: float, seed: int, start_ms: int
) -> None:
    messages = list(generate(customers, days, seed, start_ms=start_ms))
    times = [ms(m["value"]["timestamp"]) for m in messages]
    assert times == sorted(times)
    assert all(start_ms <= t <= start_ms + days * DAY_MS for t in times)
    ids = [m["value"]["event_id"] for m in messages if m["topic"] == "behaviour"]
    assert len(ids) == len(set(ids))
    assert {m["key"] for m in messages} <= set(labels(customers, seed))
