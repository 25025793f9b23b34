"""Sessions derived from explicit starts, session ids and inactivity gaps
(``FeatureMaker``, see ``engine.features``), and the conversion KPI they feed. No broker.

Each property builds an event sequence whose sessions are known by construction and
checks the count: never a session twice, never one missed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.aggregates import segment_profiles
from engine.features import DAY_MS, OFF_SITE, SESSION_GAP_MS, FeatureMaker
from engine.state import CustomerState
from schemas.changes import SegmentRef
from schemas.events import BehaviourEvent, EventProperties

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T0_MS = 1_767_225_600_000
MINUTE = 60_000
# A window so long nothing decays in a test: sessions_Nd then counts the sessions.
MAKER = FeatureMaker(windows_days=(7, 1_000_000_000))
ON_SITE = ("page_view", "product_view", "search", "add_to_cart", "checkout", "purchase")
SESSION_IDS = st.sampled_from(["s1", "s2", "s3"])
# Gaps between events: often within the session gap, often beyond, sometimes exactly it.
GAPS = st.one_of(
    st.integers(0, SESSION_GAP_MS),
    st.integers(SESSION_GAP_MS, 3 * SESSION_GAP_MS),
    st.just(SESSION_GAP_MS),
    st.just(SESSION_GAP_MS + 1),
)

Act = tuple[str, int, str | None]  # (type, time, session id)


def fold(acts: list[Act], maker: FeatureMaker = MAKER) -> CustomerState:
    state = CustomerState("c1")
    for n, (kind, ts, session_id) in enumerate(acts):
        props = None if session_id is None else EventProperties(session_id=session_id)
        event = BehaviourEvent(
            event_id=f"e{n}",
            customer_id="c1",
            type=kind,
            timestamp=T0 + timedelta(milliseconds=ts - T0_MS),
            amount=10.0 if kind == "purchase" else None,
            properties=props,
        )
        maker.fold_in(state, event, ts)
    return state


def sessions_window(state: CustomerState) -> float:
    assert state.last_seen_ms is not None
    value = MAKER.features(state, state.last_seen_ms)["sessions_1000000000d"]
    assert isinstance(value, float)
    return value


def times(gaps: list[int]) -> list[int]:
    out, t = [], T0_MS
    for gap in gaps:
        t += gap
        out.append(t)
    return out


def runs(values: list[str]) -> int:
    return sum(1 for i, v in enumerate(values) if i == 0 or v != values[i - 1])


@settings(max_examples=150)
@given(
    steps=st.lists(st.tuples(st.sampled_from(ON_SITE), SESSION_IDS, GAPS), min_size=1, max_size=40),
    off_site=st.lists(st.tuples(st.integers(0, 39), st.sampled_from(sorted(OFF_SITE))), max_size=8),
)
def test_ids_without_starts_count_runs_of_distinct_consecutive_ids(
    steps: list[tuple[str, str, int]], off_site: list[tuple[int, str]]
) -> None:
    ts = times([gap for _, _, gap in steps])
    acts: list[Act] = [(kind, t, sid) for (kind, sid, _), t in zip(steps, ts, strict=True)]
    for position, kind in off_site:  # at an on-site event's time: visits go on around them
        at = min(position, len(acts) - 1)
        acts.insert(at, (kind, acts[at][1], "s9"))
    state = fold(acts)
    expected = runs([sid for _, sid, _ in steps])  # ids win over gaps
    assert state.session_count == expected
    assert sessions_window(state) == pytest.approx(expected)


@settings(max_examples=150)
@given(
    steps=st.lists(st.tuples(st.sampled_from(ON_SITE), GAPS), min_size=1, max_size=40),
    off_site=st.lists(st.tuples(st.integers(0, 39), st.sampled_from(sorted(OFF_SITE))), max_size=8),
)
def test_without_ids_or_starts_a_gap_longer_than_30_minutes_begins_a_session(
    steps: list[tuple[str, int]], off_site: list[tuple[int, str]]
) -> None:
    gaps = [gap for _, gap in steps]
    acts: list[Act] = [(kind, t, None) for (kind, _), t in zip(steps, times(gaps), strict=True)]
    for position, kind in off_site:  # off-site events neither begin nor continue a visit
        at = min(position, len(acts) - 1)
        acts.insert(at + 1, (kind, acts[at][1], None))
    state = fold(acts)
    expected = 1 + sum(1 for gap in gaps[1:] if gap > SESSION_GAP_MS)
    assert state.session_count == expected
    assert sessions_window(state) == pytest.approx(expected)


# One explicit session: events after its start (minutes apart), whether they carry the
# session's id, and whether the first of them arrives before the start at the same time.
SESSIONS = st.lists(
    st.tuples(
        st.integers(0, 3 * DAY_MS),  # gap since the previous session's last event
        st.lists(st.tuples(st.sampled_from(ON_SITE), st.integers(0, SESSION_GAP_MS)), max_size=6),
        st.booleans(),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150)
@given(sessions=SESSIONS, ids=st.booleans())
def test_explicit_starts_count_once_each_whatever_follows(
    sessions: list[tuple[int, list[tuple[str, int]], bool, bool]], ids: bool
) -> None:
    acts: list[Act] = []
    t = T0_MS
    for n, (gap, events, with_id, start_second) in enumerate(sessions):
        t += gap
        # With ids on, the start carries its session's id; else only its events may.
        start: Act = ("session_start", t, f"v{n}" if ids else None)
        body: list[Act] = []
        for kind, step in events:
            t += step if ids else min(step, SESSION_GAP_MS)
            body.append((kind, t, f"v{n}" if ids or with_id else None))
        if start_second and ids and body and body[0][1] == start[1]:
            acts += [body[0], start, *body[1:]]  # the start's own event came first
        else:
            acts += [start, *body]
    state = fold(acts)
    assert state.session_count == len(sessions)
    assert sessions_window(state) == pytest.approx(len(sessions))


@settings(max_examples=200)
@given(
    acts=st.lists(
        st.tuples(
            st.sampled_from((*ON_SITE, "session_start", *sorted(OFF_SITE))),
            st.integers(-2 * SESSION_GAP_MS, 3 * SESSION_GAP_MS),  # some arrive late
            st.none() | SESSION_IDS,
        ),
        min_size=1,
        max_size=40,
    )
)
def test_any_sequence_counts_at_most_one_session_per_on_site_event(
    acts: list[tuple[str, int, str | None]],
) -> None:
    sequence: list[Act] = []
    t = T0_MS
    for kind, step, sid in acts:
        t = max(T0_MS, t + step)
        sequence.append((kind, t, sid))
    state = fold(sequence)
    on_site = [a for a in sequence if a[0] not in OFF_SITE]
    assert state.session_count <= len(on_site)
    assert (state.session_count >= 1) == bool(on_site)  # the first visit is a session
    assert sessions_window(state) == pytest.approx(state.session_count)
    assert fold(sequence) == state  # deterministic


@pytest.mark.parametrize(
    ("acts", "sessions", "why"),
    [
        ([("page_view", 10, "a"), ("session_start", 5, "a")], 1, "late start of the current"),
        ([("page_view", 10, "a"), ("product_view", 5, "a")], 1, "late event of the current"),
        ([("page_view", 10, "a"), ("product_view", 5, "b")], 1, "late event: may be counted"),
        ([("page_view", 10, "a"), ("session_start", 5, "b")], 2, "late start of another"),
        ([("page_view", 10, None), ("session_start", 5, None)], 2, "late start, no ids"),
        ([("session_start", 0, None), ("page_view", 1, "a")], 1, "an id names the start"),
        ([("session_start", 0, None), ("page_view", 31, "a")], 2, "after the gap it is new"),
        ([("page_view", 0, "a"), ("page_view", 600, "a")], 1, "ids win over gaps"),
        ([("page_view", 0, "a"), ("page_view", 31, None)], 2, "id-less after a gap"),
        ([("page_view", 0, "a"), ("page_view", 10, None), ("search", 20, "a")], 1, "a gap in ids"),
        ([("page_view", 0, None), ("email_open", 20, None), ("search", 40, None)], 2, "email"),
        ([("email_click", 0, "a"), ("refund", 1, "b"), ("support_contact", 2, None)], 0, "off"),
    ],
)
def test_sessions_in_particular_orders(acts: list[Act], sessions: int, why: str) -> None:
    timed = [(kind, T0_MS + minutes * MINUTE, sid) for kind, minutes, sid in acts]
    assert fold(timed).session_count == sessions, why


def test_the_session_gap_is_a_hyperparameter() -> None:
    acts: list[Act] = [("page_view", T0_MS, None), ("page_view", T0_MS + 10 * MINUTE, None)]
    assert fold(acts).session_count == 1
    assert fold(acts, FeatureMaker(session_gap_ms=5 * MINUTE)).session_count == 2


@settings(max_examples=60)
@given(
    visits=st.lists(
        st.tuples(st.integers(1, 6), st.booleans(), st.integers(SESSION_GAP_MS, DAY_MS)),
        min_size=1,
        max_size=10,
    ).filter(lambda visits: any(bought for _, bought, _ in visits))
)
def test_a_clickstream_with_ids_and_purchases_but_no_session_start_converts(
    visits: list[tuple[int, bool, int]],
) -> None:
    acts: list[Act] = []
    t = T0_MS
    for n, (views, bought, gap) in enumerate(visits):
        t += gap
        for v in range(views):
            acts.append(("product_view", t + v * MINUTE, f"v{n}"))
        if bought:
            acts.append(("purchase", t + views * MINUTE, f"v{n}"))
    state = fold(acts)
    state.segment_id = "seg-1"
    ref = SegmentRef(id="seg-1", name="one", kind="learned")
    (profile,) = segment_profiles([state], {"seg-1": ref}, MAKER, t + DAY_MS)
    purchases = sum(1 for _, b, _ in visits if b)
    conversion = profile.kpis["conversion_rate"]
    assert conversion > 0.0
    assert conversion == pytest.approx(purchases / len(visits))
