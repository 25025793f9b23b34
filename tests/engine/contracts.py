"""Checks every stateful engine part must pass, shaped like River's estimator checks.

A case names how to build a fresh part, how to feed it a list of inputs (returning
what it decided, comparably), and two input streams. Each check is a plain function,
so a test module parametrises them over its own cases.
"""

from __future__ import annotations

import copy
import pickle
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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


def plain(value: Any, _seen: frozenset[int] = frozenset()) -> Any:
    """``value`` as nested tuples of scalars, comparable with ``==``: numpy arrays,
    random generators and plain objects (River's estimators) included, order kept.

    Pickled bytes will not do: pickle shares equal objects only when they are the same
    object, so a restored copy pickles differently from its equal original.
    """
    if isinstance(value, str | int | bool | bytes | None):
        return value
    if isinstance(value, float):
        return ("float", value.hex())
    if id(value) in _seen:
        return ("cycle", type(value).__qualname__)
    seen = _seen | {id(value)}
    if isinstance(value, np.ndarray):
        return ("ndarray", str(value.dtype), value.shape, plain(value.tolist(), seen))
    if isinstance(value, np.generic):
        return plain(value.item(), seen)
    if isinstance(value, random.Random):
        return ("random", value.getstate())
    if isinstance(value, Mapping):
        return ("map", tuple((plain(k, seen), plain(v, seen)) for k, v in value.items()))
    if isinstance(value, list | tuple | deque):
        return (type(value).__name__, tuple(plain(item, seen) for item in value))
    if isinstance(value, set | frozenset):
        return ("set", tuple(sorted(repr(plain(item, seen)) for item in value)))
    if callable(value) and not hasattr(value, "__dict__"):
        return ("callable", getattr(value, "__qualname__", repr(value)))
    fields = dict(getattr(value, "__dict__", {}))
    for cls in type(value).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if hasattr(value, name):
                fields[name] = getattr(value, name)
    return ("object", type(value).__qualname__, plain(fields, seen))


def state_bytes(part: Snapshottable) -> Any:
    """A comparable form of the part's snapshot (see :func:`plain`)."""
    return plain(part.snapshot())


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
    frozen = plain(snapshot)
    case.feed(part, case.then)
    assert plain(snapshot) == frozen, "a later update changed an earlier snapshot"


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
