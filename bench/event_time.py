"""The cost of time passing: a sparse log beside a dense one of the same event count.

    .venv/bin/python -m bench.event_time [--events 60000] [--days 545] [--src DIR]
    .venv/bin/python -m bench.event_time --worst-batch 100000 [--src DIR]

Sparse: many customers, at most 4 events each, spread over ``--days`` (like a real
purchase log: most customers buy once or twice in 18 months). Dense: the same number
of events from few customers. Both replayed in-process through the engine with the
default config, 4 partitions where the code under test takes them; prints events/s
of each and their ratio (the engine's cost of time passing shows as a sparse/dense
ratio far below 1: before per-customer timers every customer was re-evaluated every
day). ``--worst-batch N``: instead, the longest ``process`` call while N customers,
all active on day 0, cross 30 days of traffic (the stall a live worker's batch sees
when time passes). ``--src DIR`` measures another checkout's engine with this script,
``--config FILE`` with a settings file's engine config.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.source import use

START = datetime(2025, 1, 1, tzinfo=UTC)
TYPES = ("page_view", "product_view", "add_to_cart", "purchase")


def log(customers: int, events: int, days: int, seed: int, cap: int) -> list[Any]:
    """``events`` events of ``customers`` customers (at most ``cap`` each) over ``days``,
    in time order."""
    from schemas.events import BehaviourEvent

    rng = random.Random(seed)
    span = days * 86400
    counts = [0] * customers
    out = []
    for n in range(events):
        index = n if n < customers else rng.randrange(customers)
        while counts[index] >= cap:
            index = rng.randrange(customers)
        counts[index] += 1
        customer = f"c{index:06d}"
        kind = rng.choice(TYPES)
        out.append(BehaviourEvent(
            event_id=f"e{n}", customer_id=customer, type=kind,
            timestamp=START + timedelta(seconds=rng.randrange(span)),
            amount=round(rng.uniform(5, 200), 2) if kind == "purchase" else None,
        ))  # fmt: skip
    out.sort(key=lambda e: (e.timestamp, e.event_id))
    return out


def engine_config(path: Path | None) -> Any:
    """The engine settings of a TOML settings file, or the defaults."""
    from schemas.config import EngineConfig

    if path is None:
        return EngineConfig()
    from settings import load_settings

    return load_settings(path).engine


def replay_rate(events: list[Any], partitions: int, config: Any) -> dict[str, float]:
    """Events/s of the engine over ``events`` (batches of 1,000, as replay's)."""
    from engine.segment_engine import SegmentEngine, epoch_ms
    from engine.state import MemoryStore

    engine, store = SegmentEngine(config), MemoryStore()
    takes_partitions = "partitions" in inspect.signature(engine.process).parameters
    if takes_partitions:
        from engine.partitioning import kafka_partition
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        for start in range(0, len(events), 1000):
            batch = events[start : start + 1000]
            times = [epoch_ms(e) for e in batch]
            if takes_partitions:
                parts = [kafka_partition(e.customer_id, partitions) for e in batch]
                engine.process(batch, store, times, parts)
            else:
                engine.process(batch, store, times)
            gc.freeze()  # as replay does after each batch (replay/run.py)
    finally:
        gc.unfreeze()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"events_per_s": len(events) / wall, "cpu_us": 1e6 * cpu / len(events)}


class TableLikeStore:
    """Customer states as the worker's table holds them: JSON bytes, read once and
    written once per customer per batch (``streams.table_store.TableStore``), so the
    batch pays the worker's decoding and encoding and the collector walks what it
    walks in a worker (a store of live objects would add full collections that no
    worker makes: ~0.5 s each at 100,000 customers)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self._cache: dict[str, Any] = {}
        self._dirty: set[str] = set()

    def get(self, customer_id: str) -> Any:
        from streams.table_store import decode_state

        if customer_id not in self._cache:
            data = self.data.get(customer_id)
            self._cache[customer_id] = None if data is None else decode_state(data)
        return self._cache[customer_id]

    def put(self, state: Any) -> None:
        self._cache[state.customer_id] = state
        self._dirty.add(state.customer_id)

    def delete(self, customer_id: str) -> None:
        self._cache[customer_id] = None
        self._dirty.add(customer_id)

    def partition_customers(self, partition: int) -> list[str]:
        return sorted(self.data)  # one partition

    def flush(self) -> None:
        """The end of a batch: changed states written, the cache dropped."""
        from streams.table_store import encode_state

        for customer_id in self._dirty:
            state = self._cache[customer_id]
            if state is None:
                self.data.pop(customer_id, None)
            else:
                self.data[customer_id] = encode_state(state)
        self._dirty.clear()
        self._cache.clear()


def worst_batch(
    customers: int, days: int, per_day: int, batch: int, config: Any
) -> dict[str, float]:
    """Every customer active on day 0, then ``per_day`` events a day from random ones:
    the longest and the mean ``process`` call over the following ``days`` (one partition,
    as a worker holding one partition sees it)."""
    from engine.segment_engine import SegmentEngine, epoch_ms
    from schemas.events import BehaviourEvent

    rng = random.Random(11)
    onboarding = [(rng.randrange(86400), c) for c in range(customers)]
    later = [(86400 * (1 + d) + rng.randrange(86400), rng.randrange(customers))
             for d in range(days) for _ in range(per_day)]  # fmt: skip
    stream = sorted(onboarding) + sorted(later)
    engine, store = SegmentEngine(config), TableLikeStore()
    durations = []
    for start in range(0, len(stream), batch):
        events = [BehaviourEvent(event_id=f"e{start + i}", customer_id=f"c{c:06d}",
                                 type="page_view", timestamp=START + timedelta(seconds=t))
                  for i, (t, c) in enumerate(stream[start : start + batch])]  # fmt: skip
        times = [epoch_ms(e) for e in events]
        began = time.perf_counter()
        engine.process(events, store, times)
        store.flush()
        if start >= customers:  # after onboarding: the days that pass
            durations.append(time.perf_counter() - began)
    return {"worst_ms": 1000 * max(durations), "mean_ms": 1000 * sum(durations) / len(durations)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--days", type=int, default=545)
    parser.add_argument("--dense-customers", type=int, default=300)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--src", type=Path, default=None, help="checkout to measure")
    parser.add_argument("--config", type=Path, help="TOML settings file (its engine config)")
    parser.add_argument(
        "--worst-batch", type=int, metavar="CUSTOMERS", default=0,
        help="instead: the longest batch while CUSTOMERS cross 30 days",
    )  # fmt: skip
    args = parser.parse_args()
    if args.src is not None:
        use(args.src)
    config = engine_config(args.config)
    if args.worst_batch:
        f = worst_batch(args.worst_batch, 30, 10_000, 500, config)
        print(
            f"{args.worst_batch:,} customers, 30 days of 10,000 events a day, batches of 500:"
            f" worst batch {f['worst_ms']:,.0f} ms, mean {f['mean_ms']:,.1f} ms (goal <= 100)"
        )
        return 0
    sparse_customers = args.events * 2 // 5  # 2.5 events each on average, at most 4
    runs = {
        "dense": log(args.dense_customers, args.events, args.days, args.seed, args.events),
        "sparse": log(sparse_customers, args.events, args.days, args.seed, 4),
    }
    figures = {name: replay_rate(events, args.partitions, config) for name, events in runs.items()}
    print(
        f"{args.events:,} events over {args.days} days; sparse: {sparse_customers:,} "
        f"customers (at most 4 events each), dense: {args.dense_customers} customers"
    )
    for name, f in figures.items():
        print(f"  {name:6s} {f['events_per_s']:>10,.0f} ev/s  {f['cpu_us']:>8.1f} us CPU/ev")
    ratio = figures["sparse"]["events_per_s"] / figures["dense"]["events_per_s"]
    print(f"  ratio sparse/dense: {ratio:.3f}  (goal >= 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
