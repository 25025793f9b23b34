"""The cost of time passing: a sparse log beside a dense one of the same event count.

    .venv/bin/python -m bench.event_time [--events 60000] [--days 545] [--src DIR]

Sparse: many customers, at most 4 events each, spread over ``--days`` (like a real
purchase log: most customers buy once or twice in 18 months). Dense: the same number
of events from few customers. Both replayed in-process through the engine with the
default config, 4 partitions where the code under test takes them; prints events/s
of each and their ratio (the engine's cost of time passing shows as a sparse/dense
ratio far below 1: before per-customer timers every customer was re-evaluated every
day). ``--src DIR`` measures another checkout's engine with this script.
"""

from __future__ import annotations

import argparse
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


def replay_rate(events: list[Any], partitions: int) -> dict[str, float]:
    """Events/s of the engine over ``events`` (batches of 1,000, as replay's)."""
    from engine.segment_engine import SegmentEngine, epoch_ms
    from engine.state import MemoryStore
    from schemas.config import EngineConfig

    engine, store = SegmentEngine(EngineConfig()), MemoryStore()
    takes_partitions = "partitions" in inspect.signature(engine.process).parameters
    if takes_partitions:
        from engine.partitioning import kafka_partition
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(events), 1000):
        batch = events[start : start + 1000]
        times = [epoch_ms(e) for e in batch]
        if takes_partitions:
            parts = [kafka_partition(e.customer_id, partitions) for e in batch]
            engine.process(batch, store, times, parts)
        else:
            engine.process(batch, store, times)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"events_per_s": len(events) / wall, "cpu_us": 1e6 * cpu / len(events)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--days", type=int, default=545)
    parser.add_argument("--dense-customers", type=int, default=300)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--src", type=Path, default=None, help="checkout to measure")
    args = parser.parse_args()
    if args.src is not None:
        use(args.src)
    sparse_customers = args.events * 2 // 5  # 2.5 events each on average, at most 4
    runs = {
        "dense": log(args.dense_customers, args.events, args.days, args.seed, args.events),
        "sparse": log(sparse_customers, args.events, args.days, args.seed, 4),
    }
    figures = {name: replay_rate(events, args.partitions) for name, events in runs.items()}
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
