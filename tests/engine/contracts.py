"""Checks every stateful engine part must pass, shaped like River's estimator checks.

A case names how to build a fresh part, how to feed it a list of inputs (returning
what it decided, comparably), and two input streams. Each check is a plain function,
so a test module parametrises them over its own cases.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.snapshots import Snapshottable


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], Snapshottable]
    feed: Callable[[Any, Sequence[Any]], Any]  # part, inputs -> comparable outputs
    first: Sequence[Any]  # inputs before the snapshot
    then: Sequence[Any]  # inputs after it

    def __repr__(self) -> str:
        return self.name


def state_bytes(part: Snapshottable) -> bytes:
    return pickle.dumps(part.snapshot())


def check_restore_continues_like_the_original(case: Case) -> None:
    original = case.make()
    case.feed(original, case.first)
    restored = case.make()
    restored.restore(pickle.loads(pickle.dumps(original.snapshot())))
    assert state_bytes(restored) == state_bytes(original)
    assert case.feed(restored, case.then) == case.feed(original, case.then)
    assert state_bytes(restored) == state_bytes(original)


def check_snapshot_is_detached(case: Case) -> None:
    part = case.make()
    case.feed(part, case.first)
    snapshot = part.snapshot()
    frozen = pickle.dumps(snapshot)
    case.feed(part, case.then)
    assert pickle.dumps(snapshot) == frozen, "a later update changed an earlier snapshot"


def check_input_not_mutated(case: Case) -> None:
    inputs = [*case.first, *case.then]
    before = copy.deepcopy(inputs)
    case.feed(case.make(), inputs)
    assert inputs == before


def check_same_inputs_same_result(case: Case) -> None:
    a, b = case.make(), case.make()
    assert case.feed(a, case.first) == case.feed(b, case.first)
    assert case.feed(a, case.then) == case.feed(b, case.then)
    assert state_bytes(a) == state_bytes(b)


CHECKS = (
    check_restore_continues_like_the_original,
    check_snapshot_is_detached,
    check_input_not_mutated,
    check_same_inputs_same_result,
)
