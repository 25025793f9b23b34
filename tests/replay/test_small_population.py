"""A small, short log (the demo's size) still ends with the planted groups found.

Guards the model's cadence: with timers, silent customers teach the model rarely, so
a small population gathers ``publish_every`` lessons slowly; ticks publish early.
"""

from __future__ import annotations

from replay.quality import ari_against
from replay.run import run
from schemas.config import EngineConfig
from schemas.events import BehaviourEvent, InputEvent, ProfileUpdate
from synthetic import generate, labels


def test_150_customers_over_60_days_reach_the_planted_groups() -> None:
    events: list[InputEvent] = []
    for message in generate(150, 60, seed=3):
        contract = BehaviourEvent if message["topic"] == "behaviour" else ProfileUpdate
        events.append(contract.model_validate(message["value"]))
    events.sort(key=lambda e: e.timestamp)  # generate() is already in event-time order
    replay = run("small", EngineConfig(), events, partitions=4)
    assigned = {s.customer_id: s.segment_id for s in replay.store.states.values()
                if s.segment_id is not None}  # fmt: skip
    assert len(assigned) >= 140
    score = ari_against(assigned, labels(150, 3))
    assert score is not None and score >= 0.9, score
    assert replay.status.model_version >= 5
