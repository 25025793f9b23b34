"""Shared by the benchmarks: feed a synthetic stream through the engine in-process."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

from engine import MemoryStore, SegmentEngine
from engine.changes import Change
from schemas import BehaviourEvent, ProfileUpdate

Message = dict[str, Any]


def decoded(messages: Iterable[Message]) -> Iterator[BehaviourEvent | ProfileUpdate]:
    for message in messages:
        model = BehaviourEvent if message["topic"] == "behaviour" else ProfileUpdate
        yield model.model_validate(message["value"])


def run(
    engine: SegmentEngine,
    events: Iterable[BehaviourEvent | ProfileUpdate],
    store: MemoryStore,
    on_sweep: Callable[[int, int], None] | None = None,
    batch: int = 500,
) -> list[Change]:
    """Process ``events`` in batches, calling ``on_sweep(sweep_ms, events_so_far)``
    after each batch in which the engine swept every customer."""
    changes: list[Change] = []
    seen = 0
    iterator = iter(events)
    while chunk := list(islice(iterator, batch)):
        result = engine.process(chunk, store)
        changes += result.changes
        seen += len(chunk)
        if on_sweep is not None:
            for sweep in result.sweeps:
                on_sweep(sweep, seen)
    return changes
