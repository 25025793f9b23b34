"""``SegmentEngine.process`` returns one outcome per input, in order, and an input that
raises fails alone: the rest of the batch, and its sweep, carry on.

Event times are whole seconds after 2026-01-01 (see ``engine_helpers``).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import CustomerState, MemoryStore
from schemas.events import EVENT_TYPES, ErasureRequest, InputEvent, ProfileUpdate
from tests.engine.engine_helpers import HOUR, WARMUP, act, buy, erase, make, ms, profile, run

# --- outcomes and failures ----------------------------------------------------------------


def test_one_outcome_per_input_in_order() -> None:
    events: list[InputEvent] = [
        buy("e1", 10 * HOUR),
        buy("e1", 10 * HOUR),
        act("e2", 0),
        profile(5, city="Rome"),
        erase(11 * HOUR),
        act("e3", 10 * HOUR),
        act("e4", 12 * HOUR),
        erase(0, customer="nobody"),
    ]
    result, _ = run(events, make(lateness=HOUR))
    assert result.outcomes == [
        "accepted",
        "duplicate",
        "late",
        "accepted",
        "erased",
        "erased",
        "accepted",
        "erased",
    ]
    assert result.errors == {}


class ExplodingStore(MemoryStore):
    """A store whose reads fail for one customer, as a broken table partition would."""

    def get(self, customer_id: str) -> CustomerState | None:
        if customer_id == "boom":
            raise RuntimeError(f"cannot read state of {customer_id}")
        return super().get(customer_id)


def test_an_event_that_raises_fails_alone() -> None:
    events: list[InputEvent] = [
        buy("e1", 0, customer="a"),
        buy("e2", 0, customer="boom"),
        buy("e3", 0, customer="b"),
        profile(0, customer="boom", city="x"),
        erase(0, customer="boom"),
        buy("e4", 1, customer="a"),
    ]
    store = ExplodingStore()
    result = make().process(events, store)
    assert result.outcomes == ["accepted", "failed", "accepted", "failed", "failed", "accepted"]
    assert sorted(result.errors) == [1, 3, 4]
    for message in result.errors.values():
        assert message == "RuntimeError: cannot read state of boom"
    assert store.states["a"].purchase_count == 2
    assert store.states["b"].purchase_count == 1
    assert "boom" not in store.states


class HalfBrokenStore(MemoryStore):
    """Holds state for "boom" that cannot be read back, as a corrupt table entry would."""

    def __init__(self) -> None:
        super().__init__()
        self.states["boom"] = CustomerState("boom", first_seen_ms=ms(0), last_seen_ms=ms(0))

    def get(self, customer_id: str) -> CustomerState | None:
        if customer_id == "boom":
            raise RuntimeError("corrupt state for boom")
        return super().get(customer_id)


def test_a_failing_sweep_does_not_take_the_batch_down() -> None:
    engine = make(sweep_every=86400)
    events = [
        act("e1", 0, customer="a"),
        act("e2", 86400 + 60, customer="a"),
        act("e3", 86400 + 120, customer="b"),
    ]
    result = engine.process(events, HalfBrokenStore())
    assert len(result.outcomes) == 3
    assert result.outcomes[2] == "accepted"
    assert [e.split(":")[0] for e in result.sweep_errors] == ["boom"]


@settings(max_examples=30, deadline=None)
@given(
    events=st.lists(
        st.one_of(
            st.builds(
                act,
                event_id=st.sampled_from(["e1", "e2", "e3", "e4"]),
                seconds=st.integers(0, 10 * 86400),
                type=st.sampled_from(sorted(EVENT_TYPES)),
                customer=st.sampled_from(["a", "b", "boom"]),
                amount=st.none() | st.floats(0, 100),
            ),
            st.builds(
                profile,
                st.integers(0, 10 * 86400),
                customer=st.sampled_from(["a", "boom"]),
                city=st.sampled_from(["x", "y"]),
            ),
            st.builds(erase, st.integers(0, 10 * 86400), st.sampled_from(["a", "b", "boom"])),
        ),
        max_size=30,
    )
)
def test_outcomes_line_up_with_inputs(events: list[InputEvent]) -> None:
    engine = make(warmup=WARMUP, publish_every=5, lateness=86400, sweep_every=86400)
    result = engine.process(events, ExplodingStore())
    assert len(result.outcomes) == len(events)
    failed = {i for i, o in enumerate(result.outcomes) if o == "failed"}
    assert (
        failed == set(result.errors) == {i for i, e in enumerate(events) if e.customer_id == "boom"}
    )
    for i, outcome in enumerate(result.outcomes):
        if isinstance(events[i], ErasureRequest) and outcome != "failed":
            assert outcome == "erased"
        if isinstance(events[i], ProfileUpdate):
            assert outcome in {"accepted", "erased", "failed"}
