"""``DriftMonitor`` passes the stateful-part contract, with each change detector alone,
with all of them, with none, and snapshotted while its reference is still filling.

Inputs are the two calls ``engine/segment_engine.py`` makes: ``observe`` with each
lesson's log-scaled features, ``evaluate`` at each sweep with the learned segments'
sizes. The streams are long enough that the reference freezes before the snapshot and
that detections fire on both sides of it.
"""

from __future__ import annotations

import pickle
import random
from collections.abc import Sequence
from typing import Any

import pytest

from engine.drift import DETECTORS, DriftMonitor, DriftReading
from engine.snapshots import SnapshotError
from schemas.config import DriftConfig
from tests.engine.contracts import CHECKS, Case

DAY_MS = 86_400_000
PER_DAY = 100
DELAY_MS = 2 * DAY_MS
FEATURES = ("a", "b")
CONFIG = DriftConfig(reference_size=300, page_hinkley_threshold=30.0)

Call = tuple[Any, ...]  # ("observe", values, now_ms, version) | ("evaluate", at_ms, sizes, version)


def calls(days: int) -> list[Call]:
    """Lessons and daily sweeps: ``a`` jumps by 1.5 deviations on day 8 and back on day
    16; ``b`` is missing one time in ten (or infinite one in a hundred); segment sizes
    tilt from day 12 on, and the model version moves on with them."""
    rng, out = random.Random(11), []
    for day in range(days):
        version = 1 if day < 12 else 2
        if day:
            tilt = 0 if day < 12 else 30
            sizes = {"s1": 50 + tilt, "s2": 50 - tilt, **({"s3": 5} if day >= 20 else {})}
            out.append(("evaluate", day * DAY_MS, sizes, version))
        for i in range(PER_DAY):
            at_ms = day * DAY_MS + i * (DAY_MS // PER_DAY)
            a = rng.gauss(2.0 + (0.75 if 8 <= day < 16 else 0.0), 0.5)
            r = rng.random()
            b = None if r < 0.1 else float("inf") if r < 0.11 else rng.gauss(1.0, 0.3)
            out.append(("observe", {"a": a, "b": b}, at_ms, version))
    return out


CALLS = calls(24)
SPLIT = next(i for i, c in enumerate(CALLS) if c[0] == "evaluate" and c[1] == 12 * DAY_MS)
EARLY = next(i for i, c in enumerate(CALLS) if c[0] == "evaluate" and c[1] == 4 * DAY_MS)


def feed(monitor: DriftMonitor, inputs: Sequence[Call]) -> list[Any]:
    """Replay the calls; what each returned, and whether the reference was ready."""
    out: list[Any] = []
    for call in inputs:
        if call[0] == "observe":
            _, values, now_ms, version = call
            out.append((monitor.observe(values, now_ms, version), monitor.reference_ready))
        else:
            _, at_ms, sizes, version = call
            out.append(monitor.evaluate(at_ms, sizes, version))
    return out


def make(*detectors: str) -> Any:
    config = CONFIG.model_copy(update={"detectors": detectors})
    return lambda: DriftMonitor(FEATURES, config, DELAY_MS)


# Case name -> the change detectors it runs: each alone, all together, none.
RUNS = {**{name: (name,) for name in DETECTORS}, "all-detectors": (*DETECTORS,), "none": ()}
CASES = [
    *(Case(name, make(*run), feed, CALLS[:SPLIT], CALLS[SPLIT:]) for name, run in RUNS.items()),
    Case("while-filling", make(*DETECTORS), feed, CALLS[:EARLY], CALLS[EARLY:]),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_contract(case: Case, check: Any) -> None:
    check(case)


def detections(outputs: list[Any]) -> set[tuple[str, str]]:
    readings: list[DriftReading] = []
    for out in outputs:
        readings += out[0] if isinstance(out, tuple) else out
    return {(r.detector, r.subject) for r in readings if r.detected}


@pytest.mark.parametrize(("name", "run"), RUNS.items())
def test_the_streams_exercise_what_a_snapshot_must_carry(name: str, run: tuple[str, ...]) -> None:
    """Every change detector of a case fires on ``a`` before the snapshot and after it;
    the divergences fire on ``a`` before, on the segment sizes after."""
    monitor = make(*run)()
    before = detections(feed(monitor, CALLS[:SPLIT]))
    assert monitor.reference_ready
    after = detections(feed(monitor, CALLS[SPLIT:]))
    assert {(d, "a") for d in (*run, "psi", "js")} <= before
    assert {(d, "a") for d in run} | {("psi", "segment_sizes"), ("js", "segment_sizes")} <= after


def test_the_early_snapshot_is_taken_while_the_reference_fills() -> None:
    monitor = make(*DETECTORS)()
    feed(monitor, CALLS[:EARLY])
    assert not monitor.reference_ready
    assert monitor.snapshot()["watches"]["a"]["reference"]


# -- snapshots that do not fit -------------------------------------------------


def fed(*detectors: str) -> DriftMonitor:
    monitor: DriftMonitor = make(*detectors)()
    feed(monitor, CALLS[:SPLIT])
    return monitor


@pytest.mark.parametrize(
    ("other", "match"),
    [
        (lambda: DriftMonitor(("a", "c"), CONFIG, DELAY_MS), "features"),
        (lambda: DriftMonitor(FEATURES, CONFIG.model_copy(update={"detectors": ("adwin",)}),
                              DELAY_MS), "detectors"),
        (lambda: DriftMonitor(FEATURES, CONFIG.model_copy(update={"reference_size": 400}),
                              DELAY_MS), "reference_size"),
        (lambda: DriftMonitor(FEATURES, CONFIG.model_copy(update={"adwin_delta": 0.01}),
                              DELAY_MS), "delta"),
        (lambda: DriftMonitor(FEATURES,
                              CONFIG.model_copy(update={"page_hinkley_threshold": 50.0}),
                              DELAY_MS), "threshold"),
    ],
)  # fmt: skip
def test_a_snapshot_of_another_monitor_is_refused(other: Any, match: str) -> None:
    monitor = other()
    before = pickle.dumps(monitor.snapshot())
    with pytest.raises(SnapshotError, match=match):
        monitor.restore(fed(*DETECTORS).snapshot())
    assert pickle.dumps(monitor.snapshot()) == before, "a refused snapshot changed nothing"


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda s: {**s, "kind": "memory_store"}, "memory_store"),
        (lambda s: {**s, "version": 99}, "version"),
        (lambda s: {k: v for k, v in s.items() if k != "watches"}, "watches"),
        (lambda s: {**s, "watches": {"a": s["watches"]["a"]}}, "'b'"),
    ],
)
def test_a_damaged_snapshot_is_refused(edit: Any, match: str) -> None:
    with pytest.raises(SnapshotError, match=match):
        make(*DETECTORS)().restore(edit(fed(*DETECTORS).snapshot()))


def test_a_detector_snapshot_of_another_kind_is_refused() -> None:
    state = fed(*DETECTORS).snapshot()
    watch = state["watches"]["a"]
    swapped = {
        "adwin": watch["detectors"]["page_hinkley"],
        "page_hinkley": watch["detectors"]["adwin"],
    }
    state["watches"]["a"] = {**watch, "detectors": swapped}
    with pytest.raises(SnapshotError, match="page_hinkley snapshot cannot restore a adwin"):
        make(*DETECTORS)().restore(state)
