"""Event-time timers: silent customers are re-evaluated when their partition's time
passes the moment their segments can change, and only then."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.state import CustomerState, MemoryStore
from engine.timers import DAY_MS, Rechecks, TimerIndex
from schemas.config import RuleSegmentConfig
from tests.engine.engine_helpers import T0_MS, act, buy, make, primed

DAY = 86400
RECENT = RuleSegmentConfig(id="recent", name="Recent", expression="recency_days < 7")


def left_recent(changes: list) -> list[int]:  # type: ignore[type-arg]
    return [c.changed_at_ms for c in changes if c.reason == "left_rule" and c.customer_id == "a"]


def test_a_silent_customer_leaves_a_recency_rule_at_the_threshold() -> None:
    engine, store = make(sweep_every=DAY, rules=[RECENT]), MemoryStore()
    engine.process([buy("e0", 0, customer="a")], store, partitions=[0])
    assert store.states["a"].rule_segments == ["recent"]
    # Partition 0 has traffic every day, one batch at a time, from someone else.
    changes = []
    for day in range(1, 12):
        result = engine.process([act(f"b{day}", day * DAY, customer="b")], store, partitions=[0])
        changes += result.changes
    assert left_recent(changes) == [T0_MS + 7 * DAY_MS + 1]
    assert store.states["a"].rule_segments == []


def test_a_partition_without_traffic_is_moved_on_by_the_others() -> None:
    # Customer a is alone on partition 0; all later traffic is on partition 1.
    engine, store = make(sweep_every=DAY, rules=[RECENT]), MemoryStore()
    engine.process([buy("e0", 0, customer="a")], store, partitions=[0])
    changes = []
    for day in range(1, 12):
        result = engine.process([act(f"b{day}", day * DAY, customer="b")], store, partitions=[1])
        changes += result.changes
    # Idle for more than a day behind a tick: partition 0 follows, a's timer fires.
    assert left_recent(changes) == [T0_MS + 7 * DAY_MS + 1]


def test_a_partition_within_the_idle_allowance_keeps_its_own_time() -> None:
    engine, store = make(sweep_every=DAY, rules=[RECENT]), MemoryStore()
    engine.process(
        [buy("e0", 0, customer="a"), act("c", DAY, customer="c")], store, partitions=[0, 0]
    )
    # Partition 1 runs most of a day ahead: within the idle allowance, 0 keeps its time.
    engine.process([act("b1", 2 * DAY - 60, customer="b")], store, partitions=[1])
    assert engine.timers.watermarks == {0: T0_MS + DAY_MS, 1: T0_MS + (2 * DAY - 60) * 1000}


def test_time_passing_costs_only_the_customers_due() -> None:
    engine, store = make(sweep_every=DAY, learn_every=DAY), MemoryStore()
    events = [act(f"e{i}", 0, customer=f"c{i}") for i in range(200)]
    engine.process(events, store, partitions=[0] * 200)
    evaluated_before = engine.segmenter.updates
    # Half a day later nobody is due: no customer is evaluated on the way.
    engine.process([act("x", DAY // 2, customer="c0")], store, partitions=[0])
    assert engine.segmenter.updates - evaluated_before <= 1
    # Past the first re-check everyone is due once, and then not again for days.
    engine.process([act("y", DAY + 60, customer="c1")], store, partitions=[0])
    after_first = engine.segmenter.updates
    engine.process([act("z", DAY + 120, customer="c2")], store, partitions=[0])
    assert engine.segmenter.updates - after_first <= 1
    assert after_first - evaluated_before >= 199


def test_silent_re_checks_teach_the_model_from_a_fixed_hashed_share_of_customers() -> None:
    taught: list[set[str]] = []
    for _ in range(2):  # two engines: the same customers teach in both
        engine, store = make(sweep_every=DAY, learn_every=DAY, silent_lessons=0.25), MemoryStore()
        engine.process([act(f"e{i}", 0, customer=f"c{i}") for i in range(400)], store)
        before = engine.segmenter.updates
        engine.process([act("y", DAY + 60, customer="c0")], store)  # every timer fires
        assert all(s.timer_ms is not None and s.timer_ms > T0_MS + DAY_MS + 60_000
                   for s in store.states.values())  # fmt: skip
        lessons = engine.segmenter.updates - before  # the sample's latest are who taught
        taught.append(set(engine.segmenter.sampled[-lessons:]) - {"c0"})
    assert taught[0] == taught[1]
    assert 60 <= len(taught[0]) <= 140  # about a quarter of 399 silent customers


def test_no_ticks_means_no_timers() -> None:
    engine, store = make(sweep_every=0, rules=[RECENT]), MemoryStore()
    engine.process([buy("e0", 0, customer="a")], store)
    result = engine.process([act("b", 30 * DAY, customer="b")], store)
    assert left_recent(result.changes) == [] and store.states["a"].timer_ms is None


def test_timers_survive_in_the_state_and_are_found_again() -> None:
    """A new engine over a store that holds timers (a restarted worker) fires them."""
    first, store = make(sweep_every=DAY, rules=[RECENT]), MemoryStore()
    first.process([buy("e0", 0, customer="a")], store, partitions=[2])
    assert store.states["a"].timer_ms is not None and store.states["a"].partition == 2
    second = make(sweep_every=DAY, rules=[RECENT])
    result = second.process([act("b", 9 * DAY, customer="b")], store, partitions=[2])
    assert left_recent(result.changes) == [T0_MS + 7 * DAY_MS + 1]


def test_the_index_fires_in_time_order_and_skips_nothing_due() -> None:
    index = TimerIndex()
    index.index(0, [CustomerState("a", timer_ms=30), CustomerState("b", timer_ms=10)])
    index.add(0, 20, "c")
    index.add(0, 40, "d")
    index.advance(0, 30)
    assert list(index.due(0)) == [(10, "b"), (20, "c"), (30, "a")]
    assert list(index.due(0)) == []
    assert not index.advance(0, 25) and index.watermarks[0] == 30


@settings(max_examples=200, deadline=None)
@given(
    last=st.integers(0, 10**12),
    silent=st.integers(0, 2000 * DAY_MS),
    growth=st.floats(1, 8),
    first=st.floats(0.01, 10),
    longest=st.floats(0.01, 200),
    pending=st.booleans(),
)
def test_the_next_check_is_after_now_and_never_further_than_the_longest_gap(
    last: int, silent: int, growth: float, first: float, longest: float, pending: bool
) -> None:
    checks = Rechecks(first, growth, longest, 6 * 3600 * 1000, [("recency_days", 7.0)], 365)
    state = CustomerState("c", last_seen_ms=last, last_purchase_ms=last, first_seen_ms=last)
    now = last + silent
    due = checks.next(state, now, pending)
    assert due is not None and now < due
    assert due - now <= max(int(first * DAY_MS), int(longest * DAY_MS)) + 1


def test_a_regular_customer_is_re_checked_once_their_silence_outgrows_their_rhythm() -> None:
    # Three visits over ten days: a mean gap of five, so overdue after fifteen silent.
    checks = Rechecks(1, 4, 128, 0, [], 365, overdue_gaps=3.0)
    state = CustomerState("c", first_seen_ms=0, last_seen_ms=10 * DAY_MS, session_count=3,
                          session_seen_ms=10 * DAY_MS)  # fmt: skip
    overdue = 25 * DAY_MS + 1
    assert checks.overdue_ms(state) == overdue
    # Between the re-checks at 5 and 21 days silent, the overdue moment comes first.
    assert checks.next(state, 15 * DAY_MS, False) == overdue
    assert checks.next(state, overdue, False) == 31 * DAY_MS  # then the schedule again
    # One visit has no rhythm yet: it is given first_gap_days (none here), and 0 turns
    # the rule off.
    once = CustomerState("d", first_seen_ms=0, last_seen_ms=0, session_count=1, session_seen_ms=0)
    assert checks.overdue_ms(once) is None
    given = Rechecks(1, 4, 128, 0, [], 365, overdue_gaps=3.0, first_gap_days=30)
    assert given.overdue_ms(once) == 90 * DAY_MS + 1
    assert Rechecks(1, 4, 128, 0, [], 365).overdue_ms(state) is None
    # Email opens since the latest visit neither stretch the rhythm nor end the silence.
    emails = CustomerState("e", first_seen_ms=0, last_seen_ms=300 * DAY_MS, session_count=3,
                           session_seen_ms=10 * DAY_MS)  # fmt: skip
    assert checks.overdue_ms(emails) == overdue


def _walked(first: int, growth: float, most: int, silent: int) -> int:
    """The re-check offsets walked one by one (what ``_gap_after`` must equal)."""
    gap, offset = first, first
    while offset <= silent:
        gap = min(most, max(gap + 1, int(gap * growth)))
        offset += gap
    return offset


@settings(max_examples=300, deadline=None)  # the reference walks up to 200k steps
@given(
    first=st.integers(1, 1000),
    growth=st.floats(1.0, 8.0),
    most=st.integers(1, 5000),
    silent=st.integers(-10, 200_000),
)
def test_the_next_recheck_offset_is_the_walked_one_without_the_walk(
    first: int, growth: float, most: int, silent: int
) -> None:
    rechecks = Rechecks.__new__(Rechecks)
    rechecks.first_ms, rechecks.growth, rechecks.max_ms = first, growth, most
    assert rechecks._gap_after(silent) == _walked(first, growth, most, silent)


def test_a_partition_taken_away_is_indexed_again_from_its_stored_states() -> None:
    index = TimerIndex()
    index.index(0, [CustomerState("a", timer_ms=100), CustomerState("b", timer_ms=200)])
    index.index(1, [CustomerState("c", timer_ms=150)])
    index.forget(0)  # a rebalance took it; another worker moved a's timer meanwhile
    assert not index.indexed(0) and index.indexed(1)
    index.index(0, [CustomerState("a", timer_ms=300), CustomerState("b", timer_ms=200)])
    index.advance(0, 1_000)
    index.advance(1, 1_000)
    assert list(index.due(0)) == [(200, "b"), (300, "a")]
    assert list(index.due(1)) == [(150, "c")]


def test_a_silent_re_check_before_the_customer_is_overdue_does_not_count() -> None:
    engine, store = primed(sweep_every=DAY)
    # Visits on days 0, 2 and 4: a mean gap of 2 days, overdue 6 days after day 4.
    engine.process([act(f"r{d}", d * DAY, customer="r") for d in (0, 2, 4)], store)
    state = store.states["r"]
    overdue = T0_MS + 10 * DAY_MS + 1
    assert engine.rechecks.overdue_ms(state) == overdue
    state.placed_version = None  # what an early re-check must leave as it is
    engine.process([act("o1", 9 * DAY, customer="other")], store)  # fires day 5, day 9
    assert store.states["r"].placed_version is None and store.states["r"].timer_ms == overdue
    engine.process([act("o2", 11 * DAY, customer="other")], store)  # fires the overdue one
    assert store.states["r"].placed_version == engine.segmenter.model_version


@settings(max_examples=300, deadline=None)
@given(
    visits=st.integers(0, 5),
    span=st.integers(0, 400 * DAY_MS),
    silent=st.integers(0, 3000 * DAY_MS),
    moved_at=st.none() | st.floats(0, 1),
    gaps=st.floats(0, 10),
    first_gap=st.integers(0, 100),
)
def test_silence_counts_once_overdue_and_a_move_in_it_counts_until_the_next_visit(
    visits: int, span: int, silent: int, moved_at: float | None, gaps: float, first_gap: int
) -> None:
    checks = Rechecks(1, 4, 128, 0, [], 365, gaps, first_gap)
    now = span + silent
    # A silent move made at some point of the silence so far, or none.
    moved = None if moved_at is None else span + int(moved_at * silent)
    state = CustomerState("c", first_seen_ms=0, last_seen_ms=span, session_count=visits,
                          session_seen_ms=span, silent_moved_ms=moved)  # fmt: skip
    overdue = checks.overdue_ms(state)
    if overdue is None:  # the rule is off, or a customer with one visit is given no gap
        assert not checks.early(state, now) and not checks.moved(state)
        assert not gaps or (visits < 2 and not first_gap)
        return
    # Overdue by the customer's own gaps, or the given one with a single visit.
    gap = (span / (visits - 1)) if visits >= 2 else first_gap * DAY_MS
    assert abs(overdue - (span + gaps * gap)) <= 2
    assert checks.early(state, now) == (now < overdue)
    assert checks.moved(state) == (moved is not None and moved >= overdue)
    # A visit starts a new silence: a move in the old one no longer counts.
    later = span + silent + 1
    state.session_seen_ms = state.last_seen_ms = later
    state.session_count = max(visits, 1) + 1
    renewed = checks.overdue_ms(state)
    assert renewed is not None and renewed > later
    assert not checks.moved(state)
    # Only a move opened and made once overdue in this silence is recorded.
    checks.record_move(state, renewed, opened_ms=renewed - 1)
    assert not checks.moved(state)
    checks.record_move(state, renewed + 1, opened_ms=renewed)
    assert checks.moved(state)


def test_a_second_silent_move_in_one_silence_needs_the_wider_margin() -> None:
    def farthest_and_moved(again: float) -> tuple[str | None, str]:
        # Visits on days 0, 2 and 4 (overdue at day 10), put in the segment farthest
        # from theirs, and already moved once in this silence: the overdue re-check
        # opens the move home only past ``again``.
        engine, store = primed(sweep_every=DAY, learned_options={"silent_again_margin": again})
        engine.process([act(f"r{d}", d * DAY, customer="r") for d in (0, 2, 4)], store)
        state, model = store.states["r"], engine.segmenter.published_model
        assert model is not None and state.segment_id in model.ids
        home = model.centroids[model.ids.index(state.segment_id)]
        far = max(range(len(model.ids)),
                  key=lambda i: float(((model.centroids[i] - home) ** 2).sum()))  # fmt: skip
        state.segment_id = model.ids[far]
        state.silent_moved_ms = engine.rechecks.overdue_ms(state)
        assert engine.rechecks.moved(state)
        engine.process([act("o1", 20 * DAY, customer="other")], store)
        return store.states["r"].segment_id, model.ids[far]

    now, far = farthest_and_moved(1.0)  # 1: not again in this silence
    assert now == far
    now, far = farthest_and_moved(0.3)  # no wider than the first move's margin
    assert now != far


def test_a_move_out_of_a_retired_segment_is_not_the_silence_s() -> None:
    engine, store = primed(sweep_every=DAY)
    engine.process([act(f"r{d}", d * DAY, customer="r") for d in (0, 2, 4)], store)
    engine.process([act("o0", 12 * DAY, customer="other")], store)  # past overdue (day 10)
    store.states["r"].segment_id = "seg-retired"  # no longer in the model
    engine.process([act("o1", 30 * DAY, customer="other")], store)  # the re-check of day 25
    state = store.states["r"]
    assert state.segment_id in engine.segmenter.live_ids  # moved at once ...
    assert state.silent_moved_ms is None  # ... but not by their silence


def test_a_customer_moved_by_silence_is_marked_for_the_rest_of_it() -> None:
    engine, store = primed(sweep_every=DAY)
    engine.process([act(f"r{d}", d * DAY, customer="r") for d in (0, 2, 4)], store)
    state = store.states["r"]
    model = engine.segmenter.published_model
    assert model is not None and state.segment_id in model.ids
    assert state.silent_moved_ms is None
    # Put them in the segment farthest from theirs: the overdue re-check (day 10)
    # opens the move back, the pending re-check three days later confirms it.
    home = model.centroids[model.ids.index(state.segment_id)]
    far = max(range(len(model.ids)), key=lambda i: float(((model.centroids[i] - home) ** 2).sum()))
    state.segment_id = model.ids[far]
    engine.process([act("o1", 20 * DAY, customer="other")], store)
    state = store.states["r"]
    assert state.segment_id != model.ids[far]
    assert state.silent_moved_ms is not None and engine.rechecks.moved(state)
    assert state.silent_moved_ms > T0_MS + 10 * DAY_MS
