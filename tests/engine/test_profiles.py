"""``engine.aggregates.segment_profiles`` over hand-built customer states. No broker.

States are built the way the engine builds them: events folded in by a ``FeatureMaker``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from engine.aggregates import segment_profiles
from engine.features import DAY_MS, FeatureMaker, net_spend
from engine.profiles import SegmentProfile
from engine.segment_engine import SegmentEngine
from engine.state import CustomerState, MemoryStore
from schemas.changes import SegmentRef
from schemas.config import EngineConfig, LearnedSegmentsConfig, RuleSegmentConfig
from schemas.events import BehaviourEvent, ErasureRequest, EventProperties

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T0_MS = 1_767_225_600_000
MAKER = FeatureMaker()
NOW = T0_MS + 100 * DAY_MS
MONEY = {"monetary_7d", "monetary_30d", "monetary_90d", "total_spend", "avg_order_value"}
SEGMENTS = {
    "seg-1": SegmentRef(id="seg-1", name="first", kind="learned"),
    "seg-2": SegmentRef(id="seg-2", name="second", kind="learned"),
    "vip": SegmentRef(id="vip", name="VIP", kind="rule"),
    "de": SegmentRef(id="de", name="Germany", kind="rule"),
    "unused": SegmentRef(id="unused", name="nobody", kind="rule"),
}

# (event type, day after T0, amount)
Act = tuple[str, float, float | None]


def customer(
    customer_id: str,
    acts: Sequence[Act] = (("session_start", 90, None),),
    segment: str | None = None,
    rules: Sequence[str] = (),
) -> CustomerState:
    state = CustomerState(customer_id, segment_id=segment, rule_segments=list(rules))
    for n, (type_, day, amount) in enumerate(acts):
        event = BehaviourEvent(
            event_id=f"{customer_id}-{n}",
            customer_id=customer_id,
            type=type_,
            timestamp=T0 + timedelta(days=day),
            amount=amount,
        )
        MAKER.fold_in(state, event, T0_MS + round(day * DAY_MS))
    return state


def tombstone(customer_id: str, segment: str = "seg-1") -> CustomerState:
    """What an erasure leaves behind; here with stale fields that must not count."""
    return CustomerState(
        customer_id,
        segment_id=segment,
        rule_segments=["vip"],
        purchase_count=9,
        total_spend=9e9,
        counts={"purchase": 9, "session_start": 1},
        erased_until_ms=NOW,
    )


def profiles(states: Iterable[CustomerState], **kwargs: Any) -> dict[str, SegmentProfile]:
    result = segment_profiles(list(states), SEGMENTS, MAKER, NOW, **kwargs)
    assert [p.segment.id for p in result] == sorted(p.segment.id for p in result)
    return {p.segment.id: p for p in result}


def numeric(state: CustomerState) -> dict[str, float]:
    return {k: float(v) for k, v in MAKER.features(state, NOW).items() if isinstance(v, float)}


def random_customer(rng: random.Random, customer_id: str, segment: str) -> CustomerState:
    acts: list[Act] = []
    for _ in range(rng.randint(1, 8)):
        type_ = rng.choice(["purchase", "session_start", "product_view", "add_to_cart"])
        amount = round(rng.uniform(1, 300), 2) if type_ == "purchase" else None
        acts.append((type_, rng.uniform(0, 99), amount))
    return customer(customer_id, acts, segment, rules=["vip"] if rng.random() < 0.4 else [])


# --- membership and sizes -----------------------------------------------------------------


def test_sizes_count_learned_and_rule_members_and_skip_unknown_ids() -> None:
    states = [
        customer("a", segment="seg-1", rules=["vip"]),
        customer("b", segment="seg-1"),
        customer("c", segment="seg-1", rules=["vip", "de"]),
        customer("d", segment="seg-2", rules=["de"]),
        customer("e"),  # in no segment: population only
        customer("f", segment="seg-7", rules=["gone-rule"]),  # ids not in ``segments``
    ]
    result = profiles(states)
    assert {sid: p.size for sid, p in result.items()} == {"de": 2, "seg-1": 3, "seg-2": 1, "vip": 2}
    assert result["vip"].segment == SEGMENTS["vip"]
    assert result["seg-2"].segment.kind == "learned"


def test_one_customer_counts_in_its_learned_and_both_rule_segments() -> None:
    result = profiles([customer("a", segment="seg-2", rules=["vip", "de"]), customer("b")])
    assert {sid: p.size for sid, p in result.items()} == {"de": 1, "seg-2": 1, "vip": 1}
    assert result["de"].means == result["seg-2"].means == result["vip"].means


def test_tombstones_are_ignored_entirely() -> None:
    live = [
        customer("a", [("purchase", 10, 50.0)], "seg-1", ["vip"]),
        customer("b", [("purchase", 20, 5.0)], "seg-2"),
        customer("c", [("session_start", 30, None)]),
    ]
    with_dead = [*live[:1], tombstone("x"), *live[1:], tombstone("y", "seg-2")]
    assert profiles(with_dead) == profiles(live)
    assert profiles([tombstone("x"), tombstone("y")]) == {}


# --- means, spreads, what sets a segment apart --------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_means_spreads_and_z_scores_match_numpy(seed: int) -> None:
    rng = random.Random(seed)
    states = [random_customer(rng, f"c{i}", rng.choice(["seg-1", "seg-2"])) for i in range(30)]
    vectors = {s.customer_id: numeric(s) for s in states}
    # Features every customer has (order value is undefined for those who never bought).
    names = sorted(set.intersection(*(set(v) for v in vectors.values())))
    population = np.array([[vectors[s.customer_id][n] for n in names] for s in states])
    result = profiles(states, top=100)
    assert set(result) <= {"seg-1", "seg-2", "vip"}
    for sid, profile in result.items():
        members = [s for s in states if sid in (s.segment_id, *s.rule_segments)]
        rows = np.array([[vectors[s.customer_id][n] for n in names] for s in members])
        assert profile.size == len(members)
        assert sorted(profile.means) == sorted(profile.spreads)
        assert set(names) <= set(profile.means)
        np.testing.assert_allclose(
            [profile.means[n] for n in names], rows.mean(axis=0), rtol=1e-9, atol=1e-9
        )
        np.testing.assert_allclose(
            [profile.spreads[n] for n in names], rows.std(axis=0), rtol=1e-6, atol=1e-6
        )
        spread = population.std(axis=0)
        z = {
            n: (rows[:, i].mean() - population[:, i].mean()) / spread[i]
            for i, n in enumerate(names)
            if spread[i] > 1e-9
        }
        got = dict(profile.distinguishing)
        assert set(z) <= set(got)
        for n, value in z.items():
            assert got[n] == pytest.approx(value, abs=1.5e-3)
        strengths = [abs(v) for _, v in profile.distinguishing]
        assert strengths == sorted(strengths, reverse=True)


def test_big_spenders_stand_out_by_money() -> None:
    def shopper(customer_id: str, amount: float, segment: str) -> CustomerState:
        acts: list[Act] = [("session_start", 80, None), ("purchase", 80, amount)]
        return customer(customer_id, acts, segment)

    states = [shopper(f"rich{i}", 1000.0 + i, "seg-1") for i in range(4)]
    states += [shopper(f"thrifty{i}", 10.0 + i, "seg-2") for i in range(12)]
    result = profiles(states)
    rich, thrifty = result["seg-1"].distinguishing, result["seg-2"].distinguishing
    assert len(rich) == 3  # top=3 by default
    for feature, z in rich:
        assert feature in MONEY and z > 1.0
    assert thrifty[0][0] in MONEY and thrifty[0][1] < 0
    assert result["seg-1"].means["total_spend"] == pytest.approx(1001.5)


def test_a_feature_some_members_lack_is_averaged_over_those_who_have_it() -> None:
    aged = customer("a", segment="seg-1")
    aged.attributes["age"] = 40
    unknown = customer("b", segment="seg-1")  # no age on file: features()["age"] is None
    assert MAKER.features(unknown, NOW)["age"] is None
    result = profiles([aged, unknown])
    assert result["seg-1"].means["age"] == pytest.approx(40.0)
    assert result["seg-1"].spreads["age"] == pytest.approx(0.0)


# --- KPIs ---------------------------------------------------------------------------------


def test_kpis_sum_over_members() -> None:
    day = (NOW - T0_MS) / DAY_MS
    states = [
        customer(
            "a",
            [("session_start", 90, None)] * 4
            + [("purchase", 90, 100.0), ("purchase", 91, 50.0), ("refund", 92, 30.0)],
            "seg-1",
        ),
        # Last seen exactly 30 days before now: not yet lapsed (lapsed means longer).
        customer("b", [("session_start", day - 30, None), ("purchase", day - 30, 20.0)], "seg-1"),
        # Last seen 31 days ago, refunded more than spent: net spend counts as zero.
        customer("c", [("purchase", day - 31, 5.0), ("refund", day - 31, 8.0)], "seg-1"),
        customer("d", [("session_start", 1, None)] * 3, "seg-2"),  # no purchase
    ]
    result = profiles(states, lapsed_after_days=30)
    one = result["seg-1"].kpis
    # Purchases 2+1+1; sessions 4+1+0 started explicitly, and two more begun by a gap:
    # a's purchase on day 91 and c's purchase, with no session_start before either.
    assert one["conversion_rate"] == pytest.approx(4 / 7)
    assert one["revenue_per_customer"] == pytest.approx((120.0 + 20.0 + 0.0) / 3)
    assert sum(net_spend(s) for s in states[:3]) == pytest.approx(140.0)
    assert one["lapsed_share"] == pytest.approx(1 / 3)
    two = result["seg-2"].kpis
    assert two == {"conversion_rate": 0.0, "revenue_per_customer": 0.0, "lapsed_share": 1.0}
    assert profiles(states, lapsed_after_days=200)["seg-2"].kpis["lapsed_share"] == 0.0


def test_no_sessions_means_zero_conversion_not_a_division_error() -> None:
    # Email and support are no visit: a segment of such customers has no sessions.
    acts: list[Act] = [("email_open", 90, None), ("support_contact", 91, None)]
    result = profiles([customer("a", acts, "seg-1")])
    assert result["seg-1"].kpis["conversion_rate"] == 0.0


def test_a_clickstream_without_session_start_converts() -> None:
    # The issue: session_id on every event, no session_start; conversion read 0.0.
    def clickstream(customer_id: str, sessions: int, bought: int) -> CustomerState:
        state = CustomerState(customer_id, segment_id="seg-1")
        for s in range(sessions):
            props = EventProperties(session_id=f"{customer_id}-s{s}")
            kinds = ["page_view", "product_view"] + ["purchase"] * (s < bought)
            for n, kind in enumerate(kinds):
                ts = T0_MS + s * DAY_MS + n * 60_000
                event = BehaviourEvent(
                    event_id=f"{customer_id}-{s}-{n}", customer_id=customer_id, type=kind,
                    timestamp=T0 + timedelta(milliseconds=ts - T0_MS), properties=props,
                    amount=10.0 if kind == "purchase" else None,
                )  # fmt: skip
                MAKER.fold_in(state, event, ts)
        return state

    states = [clickstream("a", 4, 1), clickstream("b", 6, 2)]
    assert [s.counts.get("session_start", 0) for s in states] == [0, 0]
    assert profiles(states)["seg-1"].kpis["conversion_rate"] == pytest.approx(3 / 10)


# --- output -------------------------------------------------------------------------------


def test_to_dict_is_json_and_round_trips_the_numbers() -> None:
    rng = random.Random(4)
    states = [random_customer(rng, f"c{i}", "seg-1" if i % 3 else "seg-2") for i in range(12)]
    for profile in profiles(states).values():
        data = profile.to_dict()
        back = json.loads(json.dumps(data, allow_nan=False))
        assert back == data
        assert back["size"] == profile.size
        assert back["segment"] == {
            "id": profile.segment.id,
            "name": profile.segment.name,
            "kind": profile.segment.kind,
        }
        assert back["means"] == profile.means and back["spreads"] == profile.spreads
        assert back["kpis"] == profile.kpis
        assert [(d["feature"], d["z"]) for d in back["distinguishing"]] == profile.distinguishing


# --- through the engine -------------------------------------------------------------------


def test_engine_profiles_include_rule_segments_from_config() -> None:
    config = EngineConfig(
        rules=[RuleSegmentConfig(id="big", name="Big spenders", expression="total_spend >= 100")],
        learned=LearnedSegmentsConfig(warmup_updates=10, publish_every=1000),
        sweep_interval_seconds=0,
    )
    engine, store = SegmentEngine(config), MemoryStore()
    events = []
    for i in range(24):
        amount = 500.0 if i % 4 == 0 else 20.0
        for n in range(2):  # a second event assigns those seen before the warm-up ended
            events.append(
                BehaviourEvent(
                    event_id=f"e{i}-{n}",
                    customer_id=f"c{i}",
                    type="purchase",
                    timestamp=T0 + timedelta(hours=i + 100 * n),
                    amount=amount,
                )
            )
    events.sort(key=lambda e: e.timestamp)
    erase = ErasureRequest(customer_id="c0", timestamp=T0 + timedelta(days=10), request_id="r")
    result = engine.process([*events, erase], store)
    assert set(result.outcomes) == {"accepted", "erased"}
    now = T0_MS + 11 * DAY_MS
    by_id = {p.segment.id: p for p in engine.profiles(store.states.values(), now)}
    assert by_id["big"].segment == SegmentRef(id="big", name="Big spenders", kind="rule")
    assert by_id["big"].size == 5  # c4, c8, ..., c20; c0 was erased
    assert by_id["big"].kpis["revenue_per_customer"] == pytest.approx(1000.0)
    learned = [p for p in by_id.values() if p.segment.kind == "learned"]
    assert learned and set(engine.segmenter.segments) >= {p.segment.id for p in learned}
    assigned = [s for s in store.states.values() if s.segment_id and s.last_seen_ms]
    assert sum(p.size for p in learned) == len(assigned) == 23
