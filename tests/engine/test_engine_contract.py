"""The engine as a whole, and the memory store, pass the stateful-part contract.

A restored engine (with its store restored beside it) continues exactly like the
original: same outcomes, changes, drift readings and status, byte for byte.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.segment_engine import SegmentEngine
from engine.snapshots import SnapshotError
from engine.state import CustomerState, MemoryStore
from schemas.config import EngineConfig
from schemas.events import BehaviourEvent, ErasureRequest, InputEvent, ProfileUpdate
from synthetic import generate
from tests.engine.contracts import CHECKS, Case

STAMP = datetime(2030, 1, 1, tzinfo=UTC)


class EngineAndStore:
    """An engine with the store it works on: one part, as a worker restarts both."""

    def __init__(self, config: EngineConfig) -> None:
        self.engine, self.store = SegmentEngine(config), MemoryStore()

    def snapshot(self) -> dict[str, Any]:
        return {"engine": self.engine.snapshot(), "store": self.store.snapshot()}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.engine.restore(state["engine"])
        self.store.restore(state["store"])


def feed(part: EngineAndStore, events: Sequence[InputEvent]) -> Any:
    result = part.engine.process(list(events), part.store)
    changes = [c.to_message(STAMP).model_dump_json() for c in result.changes]
    return result.outcomes, changes, result.drift, result.sweeps, part.engine.status()


def events(customers: int, days: int) -> list[InputEvent]:
    decoded: list[InputEvent] = []
    for message in generate(customers, days, seed=7):
        contract = BehaviourEvent if message["topic"] == "behaviour" else ProfileUpdate
        decoded.append(contract.model_validate(message["value"]))
    return sorted(decoded, key=lambda e: e.timestamp)


def config(**drift: Any) -> EngineConfig:
    return EngineConfig.model_validate(
        {
            "learned": {"n_segments": 3, "warmup_updates": 50, "publish_every": 100},
            "drift": {"reference_delay_seconds": 86400, "reference_size": 100, **drift},
            "rules": [{"id": "vip", "name": "VIP", "expression": "purchase_count >= 2"}],
        }
    )


LOG = events(40, 30)
HALF = len(LOG) // 2
ERASURE = ErasureRequest(
    customer_id=LOG[0].customer_id,
    request_id="r1",
    timestamp=LOG[HALF].timestamp + timedelta(seconds=1),
)


def put_states(store: MemoryStore, states: Sequence[CustomerState]) -> list[Any]:
    # Copies: a store keeps what it is given, and the inputs must stay untouched.
    for state in states:
        store.put(CustomerState.from_dict(state.to_dict()))
    return sorted((cid, s.to_dict()) for cid, s in store.states.items())


def customer_states() -> list[CustomerState]:
    part = EngineAndStore(config())
    feed(part, LOG[:HALF])
    return list(part.store.states.values())


STATES = customer_states()
CASES = [
    Case("engine", lambda: EngineAndStore(config()), feed, LOG[:HALF], [ERASURE, *LOG[HALF:]]),
    Case(
        "engine-no-drift", lambda: EngineAndStore(config(enabled=False)), feed, LOG[:300], LOG[300:]
    ),
    Case("memory-store", MemoryStore, put_states, STATES[:20], STATES[20:]),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_contract(case: Case, check: Any) -> None:
    check(case)


def test_the_log_exercises_what_a_snapshot_must_carry() -> None:
    part = EngineAndStore(config())
    _, changes, _, sweeps, status = feed(part, LOG[:HALF])
    assert status.model_version >= 2 and changes and sweeps
    assert "erased" in feed(part, [ERASURE])[0]
    assert feed(part, LOG[HALF:])[2], "drift readings after the reference froze"


def test_a_snapshot_of_another_kind_or_config_is_refused() -> None:
    with_drift, without = EngineAndStore(config()), EngineAndStore(config(enabled=False))
    with pytest.raises(SnapshotError, match="drift"):
        without.engine.restore(with_drift.engine.snapshot())
    with pytest.raises(SnapshotError, match="memory_store"):
        MemoryStore().restore(with_drift.engine.snapshot())


def test_a_store_snapshot_pickles_and_restores_every_customer() -> None:
    part = EngineAndStore(config())
    feed(part, LOG)
    copy = MemoryStore()
    copy.restore(pickle.loads(pickle.dumps(part.store.snapshot())))
    assert copy.states == part.store.states
    first = next(iter(copy.states.values()))
    first.counts["x"] = 1  # a restored state shares nothing with the original
    assert "x" not in part.store.states[first.customer_id].counts
