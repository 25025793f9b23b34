"""Replay throughput beside the rate the same log can merely be read and decoded.

    .venv/bin/python -m bench.replay_throughput [--customers 10000] [--days 15] [--seed 7]

Generates (once, cached under /tmp) a JSON Lines log of at least 1M events, then in
one run: (1) reads and decodes it with replay's own reader (parse + validate into
the event contracts); (2) replays it as ``segment-engine replay`` does (read, order
by event time, the engine over every event), without writing the output files;
(3) writes the outputs, timed apart. Prints events/s (wall and CPU) and the ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cli.generate import write_jsonl
from replay.outputs import write_all
from replay.run import Replay, order, run
from replay.sources import Reject, read_log
from schemas import EngineConfig
from synthetic import generate

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """``fn()``, its wall time and its CPU time."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    log = (
        Path(tempfile.gettempdir()) / f"replay-{args.customers}c-{args.days:g}d-s{args.seed}.jsonl"
    )
    if not log.exists():
        print(f"generating {log} ...", file=sys.stderr)
        write_jsonl(generate(args.customers, args.days, args.seed), log)

    def read() -> int:
        return sum(1 for item in read_log(log) if not isinstance(item, Reject))

    n, read_wall, read_cpu = timed(read)

    def replay() -> Replay:
        return run("bench", EngineConfig(), order(read_log(log)).events)

    result, replay_wall, replay_cpu = timed(replay)
    out = Path(tempfile.mkdtemp(prefix="replay-out-"))
    _, write_wall, _ = timed(lambda: write_all(result, [], out))
    rows = [
        ("read + decode", n / read_wall, n / read_cpu),
        ("replay (read, order, engine)", n / replay_wall, n / replay_cpu),
    ]
    print(f"log: {log} ({n:,} events, {result.outcome.stats['customers']:,} customers)")
    print(f"{'path':32} {'events/s':>10} {'events/s CPU':>13}")
    for name, wall, cpu in rows:
        print(f"{name:32} {wall:10,.0f} {cpu:13,.0f}")
    wall_ratio, cpu_ratio = rows[1][1] / rows[0][1], rows[1][2] / rows[0][2]
    print(f"replay / read-and-decode: {wall_ratio:.3f} (CPU {cpu_ratio:.3f})")
    print(f"writing the outputs: {write_wall:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
