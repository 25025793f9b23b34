"""Part 4 of the suite: replay without a broker, beside reading and decoding the same file.

Both read the cached JSON Lines log (``segment-engine generate --out`` format) and
decode each line as a replay must: ``json.loads``, then pydantic validation into
the event model of its ``_topic``. Replay then feeds the events to
``SegmentEngine.process`` in batches of 500 with a ``MemoryStore``. Digests of the
changes (their published form, with a fixed ``emitted_at``) and of the final
states are printed so that an optimisation can be shown to keep the output
identical: run ``bench/suite.py --only replay`` before and after and compare.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

BATCH = 500


def decoded(path: Path, limit: int | None = None) -> Iterator[Any]:
    from schemas.events import EVENT_TYPES, BehaviourEvent, ProfileUpdate

    models = {"behaviour": BehaviourEvent, "profile": ProfileUpdate}
    context = {"event_types": EVENT_TYPES}
    with path.open() as lines:
        for line in islice(lines, limit):
            value = json.loads(line)
            yield models[value.pop("_topic")].model_validate(value, context=context)


def read_decode_rate(path: Path, limit: int | None = None) -> dict[str, float]:
    started, cpu = time.perf_counter(), time.process_time()
    count = sum(1 for _ in decoded(path, limit))
    seconds = time.perf_counter() - started
    return {"events": count, "seconds": seconds, "rate": count / seconds,
            "cpu_us": (time.process_time() - cpu) / count * 1e6}  # fmt: skip


def replay_rate(path: Path, limit: int | None = None, batch: int = BATCH) -> dict[str, Any]:
    from engine import MemoryStore, SegmentEngine
    from schemas import EngineConfig

    engine = SegmentEngine(EngineConfig())
    store = MemoryStore()
    changes: list[Any] = []
    count = 0
    events = decoded(path, limit)
    started, cpu = time.perf_counter(), time.process_time()
    while chunk := list(islice(events, batch)):
        changes += engine.process(chunk, store).changes
        count += len(chunk)
    seconds = time.perf_counter() - started
    cpu_s = time.process_time() - cpu
    return {
        "events": count,
        "seconds": seconds,
        "rate": count / seconds,
        "cpu_us": cpu_s / count * 1e6,
        "changes": len(changes),
        "customers": len(store.states),
        "changes_digest": changes_digest(changes),
        "states_digest": states_digest(store),
    }


def changes_digest(changes: list[Any]) -> str:
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    h = hashlib.sha256()
    for change in changes:
        h.update(change.to_message(stamp).model_dump_json().encode())
    return h.hexdigest()[:12]


def states_digest(store: Any) -> str:
    h = hashlib.sha256()
    for customer_id in sorted(store.states):
        h.update(json.dumps(store.states[customer_id].to_dict(), sort_keys=True).encode())
    return h.hexdigest()[:12]
