"""The performance benchmark suite: five measurements in one run, ratios side by side.

    .venv/bin/python -m bench.suite [--events 500000] [--customers 10000]
        [--only limit,naive,live,latency,replay,memory] [--smoke] [--src DIR]
        [--bootstrap HOST:PORT [--replication-factor N]]

1. limit    plain aiokafka consume + json decode of the pre-filled benchmark topics
            (500k events of the generated log; pre-filled with aiokafka batches)
2. naive    a bare Faust agent, event by event, feeding River's KMeans
            (timed over its first --naive-events, in the agent)
3. live     one ``segment-engine worker``, full path, on the pre-filled topics:
            sustained events/s from its /metrics, over at most --live-seconds
   latency  a second worker on topics of its own, warmed up on the start of the
            log, then fed what follows at half the live rate: p50/p99 from each
            event's produce-ack to its segment change being readable (matched by
            trigger_event_id on a manually assigned consumer); beside it, the broker
            floor: the same load through bench.relay, which only copies ids
4. replay   ``segment-engine replay``'s path (read, order, engine) over a >= 1M-event
            log, beside replay's own read + decode of the same file
5. memory   resident memory (RSS growth) and bytes on disk per customer of the
            worker's table at 1M customers, memory:// and rocksdb:// (bench.memory)

Prints a table (measurement, figure, ratio, target, pass/fail) and saves every
figure as JSON next to the cached log (/tmp/segment-engine-bench). ``--src``
measures another checkout (e.g. a ``git archive`` of a commit) with this suite
(``bench.source``). ``--bootstrap`` runs parts 1-3 on an existing Kafka cluster
instead of a fresh embedded broker (``bench.cluster``): the run's topics and consumer
groups are named ``bench-<run id>-*`` and deleted at the end.
``--smoke`` shrinks every size for a check that every part runs and prints its rows
(``tests/bench/test_smoke.py``, in ``make test``); its figures mean nothing.
``--worker-variants`` runs the live and latency workers with run-time patches
(``bench.worker_variants``): what the table would say with an optimisation.
Takes about 14 minutes at the default sizes on two cores; the machine should be
otherwise idle (the load average is printed: figures from a busy machine are low).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import render, say, table
from bench.source import ROOT, use
from bench.worker_variants import VariantError, check, parse

PARTS = ("limit", "naive", "live", "latency", "replay", "memory")
BROKER_PARTS = {"limit", "naive", "live", "latency"}
# --smoke: every part at a size that runs in seconds; a check that it runs, no figures.
# The latency worker's warm-up still publishes a model (about 1,000 lessons); its pace
# is fixed, and the live worker sampled often, as it drains 20k events in a second.
SMOKE = {
    "events": 20_000, "customers": 1_000, "replay_events": 40_000, "naive_events": 2_000,
    "live_seconds": 30.0, "live_every": 0.05, "latency_seconds": 2.0,
    "latency_rate": 5_000.0, "latency_warmup": 20_000, "latency_idle": 0.5,
    "latency_drain": 1.0, "memory_customers": 2_000,
}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from bench.cluster import Parser, add_arguments

    parser = Parser(prog="bench.suite", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events",
        type=int,
        default=500_000,
        help="events pre-filled for limit, naive and live (default 500k)",
    )
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--replay-events", type=int, default=1_000_000)
    parser.add_argument(
        "--naive-events",
        type=int,
        default=100_000,
        help="events the naive agent is timed over (it is slow)",
    )
    parser.add_argument(
        "--live-seconds",
        type=float,
        default=300.0,
        help="cap on the sustained-rate window (the topic keeps its backlog)",
    )
    parser.add_argument("--latency-seconds", type=float, default=60.0)
    parser.add_argument(
        "--latency-rate",
        type=float,
        help="pace the latency run at this many events/s instead of half the live rate",
    )
    parser.add_argument(
        "--latency-warmup",
        type=int,
        default=20_000,
        help="events the latency worker learns from before the paced load",
    )
    parser.add_argument("--memory-customers", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--only", default=",".join(PARTS), help="comma-separated subset of " + ",".join(PARTS)
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: does it all run?")
    parser.add_argument("--src", type=Path, default=ROOT, help="the code to measure")
    add_arguments(parser, "limit, naive, live and latency",
                  "the input and output topics of two workers and of the relay; the workers "
                  "and the naive agent add their consumer groups and Faust topics (changelog, "
                  "leader: one replica, the worker has no setting for it)")  # fmt: skip
    parser.add_argument(
        "--worker-variants",
        default="",
        help="what-if: run the live worker with bench.worker_variants patches",
    )
    # Not options: how often the live worker is sampled, the latency worker's idle pause
    # before the paced load and its wait for the last changes after it.
    parser.set_defaults(live_every=0.5, latency_idle=2.0, latency_drain=5.0)
    args = parser.parse_args(argv)
    try:  # before any work: the worker would only fail once started
        check(parse(args.worker_variants), "worker")
    except VariantError as exc:
        parser.error(f"argument --worker-variants: {exc}")
    if args.smoke:
        vars(args).update(SMOKE)
    args.only = {p.strip() for p in args.only.split(",") if p.strip()}
    if unknown := args.only - set(PARTS):
        parser.error(f"argument --only: unknown parts: {', '.join(sorted(unknown))}")
    if "latency" in args.only and not args.latency_rate:
        args.only.add("live")  # paced at half the live rate, on the same worker
    args.src = args.src.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use(args.src)  # before any import of the product's packages
    from cli.compiled import stale_engine_message

    if stale := stale_engine_message():
        sys.exit(f"bench.suite: {stale}")
    from bench.broker_parts import broker_parts
    from bench.cluster import cluster_problem
    from bench.workload import CACHE_DIR, ensure_log

    # Before the log is generated: a wrong address should not cost minutes.
    if args.only & BROKER_PARTS and (problem := cluster_problem(args)):
        print(f"bench.suite: {problem}", file=sys.stderr)
        return 2
    print(f"segment-engine benchmark suite: {', '.join(p for p in PARTS if p in args.only)}")
    if args.worker_variants:
        print(f"  WHAT-IF: live worker patched with {args.worker_variants}")
    print(f"  code {args.src}; Python {platform.python_version()}; {os.cpu_count()} CPUs; "
          f"load average {_load()}", flush=True)  # fmt: skip
    log = ensure_log(max(args.replay_events, args.events), args.customers)
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    workdir = Path(tempfile.mkdtemp(prefix="bench-suite-"))
    started = time.perf_counter()
    if args.only & BROKER_PARTS:
        results.update(broker_parts(args, log, workdir))
    if "replay" in args.only:
        results["replay"] = replay_part(args, log)
    if "memory" in args.only:
        results["memory"] = memory_part(args, CACHE_DIR)
    results["load_average_end"] = _load()
    print(f"\nfinished in {time.perf_counter() - started:.0f} s; load average {_load()}; "
          f"worker logs in {workdir}\n")  # fmt: skip
    print(render(table(results)))
    out = CACHE_DIR / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nfigures saved to {out}")
    return 0


def replay_part(args: argparse.Namespace, log: Path) -> dict[str, Any]:
    from bench.replay_rate import read_decode_rate, replay_rate

    out = {"read_decode": read_decode_rate(log, args.replay_events)}
    say("read + decode", out["read_decode"])
    out["replay"] = replay_rate(log, args.replay_events)
    say("replay", out["replay"])
    return out


def memory_part(args: argparse.Namespace, cache: Path) -> dict[str, Any]:
    from bench.memory import run_measurement

    out: dict[str, Any] = {}
    for store in ("memory", "rocksdb"):
        for variant in ("mature", "new"):
            figures = run_measurement(args.src, variant, args.memory_customers, cache, store)
            out.setdefault(store, {})[variant] = figures
            say(f"memory ({store}://, {variant})", figures)
    return out


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    raise SystemExit(main())
