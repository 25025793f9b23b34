"""Part 4 of the suite: replay without a broker, beside reading and decoding the same file.

Both go through replay's own code. The reference reads the cached JSON Lines log
(``segment-engine generate --out`` format) with ``replay.sources.read_log``: parse
and validate every line into its event contract. Replay is what ``segment-engine
replay`` does before writing its outputs: read, order by event time, then the
engine over every event (``replay.run.run``). Digests of the changes (their
published form, with a fixed ``emitted_at``) and of the final states are printed
so that an optimisation can be shown to keep the output identical: run
``bench/suite.py --only replay`` before and after and compare.
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


def records(path: Path, limit: int | None = None) -> Iterator[Any]:
    from replay.sources import read_log

    return islice(read_log(path), limit)


def read_decode_rate(path: Path, limit: int | None = None) -> dict[str, float]:
    from replay.sources import Reject

    started, cpu = time.perf_counter(), time.process_time()
    count = sum(1 for item in records(path, limit) if not isinstance(item, Reject))
    seconds = time.perf_counter() - started
    return {"events": count, "seconds": seconds, "rate": count / seconds,
            "cpu_us": (time.process_time() - cpu) / count * 1e6}  # fmt: skip


def replay_rate(path: Path, limit: int | None = None) -> dict[str, Any]:
    from replay.run import order, run
    from schemas import EngineConfig

    started, cpu = time.perf_counter(), time.process_time()
    replay = run("bench", EngineConfig(), order(records(path, limit)).events)
    seconds = time.perf_counter() - started
    cpu_s = time.process_time() - cpu
    count = replay.outcome.stats["events"]
    return {
        "events": count,
        "seconds": seconds,
        "rate": count / seconds,
        "cpu_us": cpu_s / count * 1e6,
        "changes": len(replay.changes),
        "customers": len(replay.store.states),
        "changes_digest": changes_digest(replay.changes),
        "states_digest": states_digest(replay.store),
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
