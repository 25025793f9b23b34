"""The performance benchmark suite: five measurements in one run, ratios side by side.

    .venv/bin/python bench/suite.py [--events 500000] [--customers 10000]
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
            floor: the same load through bench/relay.py, which only copies ids
4. replay   ``segment-engine replay``'s path (read, order, engine) over a >= 1M-event
            log, beside replay's own read + decode of the same file
5. memory   resident memory (RSS growth) and bytes on disk per customer of the
            worker's table at 1M customers, memory:// and rocksdb:// (bench/memory.py)

Prints a table (measurement, figure, ratio, target, pass/fail) and saves every
figure as JSON next to the cached log (/tmp/segment-engine-bench). ``--src``
measures another checkout (e.g. a ``git archive`` of a commit) with this suite.
``--bootstrap`` runs parts 1-3 on an existing Kafka cluster instead of a fresh
embedded broker (``bench/cluster.py``): the run's topics and consumer groups are
named ``bench-<run id>-*`` and deleted at the end.
``--smoke`` shrinks every size for a quick check that it all runs (~1.5 min).
``--worker-variants`` runs the live and latency workers with run-time patches
(``bench/worker_variants.py``): what the table would say with an optimisation.
Takes about 14 minutes at the default sizes on two cores; the machine should be
otherwise idle (the load average is printed: figures from a busy machine are low).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.cluster import BenchCluster

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this suite; main() puts the code under test before it
PARTS = ("limit", "naive", "live", "latency", "replay", "memory")
BROKER_PARTS = {"limit", "naive", "live", "latency"}


@dataclass
class Row:
    measurement: str
    figure: str
    ratio: str = ""
    target: str = ""
    verdict: str = ""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from bench.cluster import Parser, add_arguments

    parser = Parser(description=__doc__.splitlines()[0])
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
        help="what-if: run the live worker with bench/worker_variants.py patches",
    )
    args = parser.parse_args(argv)  # fmt: skip
    if args.smoke:
        args.events, args.customers, args.replay_events = 20_000, 1_000, 40_000
        args.naive_events, args.latency_seconds, args.memory_customers = 5_000, 10.0, 20_000
        args.live_seconds = 60.0
    args.only = {p.strip() for p in args.only.split(",") if p.strip()}
    if unknown := args.only - set(PARTS):
        parser.error(f"argument --only: unknown parts: {', '.join(sorted(unknown))}")
    if "latency" in args.only and not args.latency_rate:
        args.only.add("live")  # paced at half the live rate, on the same worker
    args.src = args.src.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The code under test first, then this suite (bench/ is a namespace package).
    sys.path.insert(0, str(args.src))
    from bench.cluster import ClusterError, describe
    from bench.workload import CACHE_DIR, ensure_log

    if args.bootstrap and args.only & BROKER_PARTS:
        try:  # before the log is generated: a wrong address should not cost minutes
            describe(args.bootstrap)
        except ClusterError as exc:
            print(f"suite.py: argument --bootstrap: {exc}", file=sys.stderr)
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


def broker_parts(args: argparse.Namespace, log: Path, workdir: Path) -> dict[str, Any]:
    from bench.cluster import BenchCluster
    from bench.limits import (
        consume_rate,
        json_decoder,
        naive_command,
        pydantic_decoder,
        run_naive,  # fmt: skip
        subprocess_env,
    )
    from bench.workload import prefill, read_records

    out: dict[str, Any] = {}
    records = list(read_records(log, 0, args.events))
    with BenchCluster(args.bootstrap, args.replication_factor) as cluster:
        out["broker"], out["run_id"] = cluster.description, cluster.run_id
        print(f"  broker: {cluster.description}; this run's topics and groups: "
              f"{cluster.prefix}*", flush=True)  # fmt: skip
        live = run_topics(cluster, "live", args.partitions)
        topics = [live["behaviour"], live["profiles"]]
        rate = asyncio.run(prefill(cluster.bootstrap, records, *topics))
        out["prefill"] = {"events": len(records), "rate": rate}
        print(f"  pre-filled {len(records):,} events at {rate:,.0f}/s", flush=True)
        if "limit" in args.only:
            out["limit"] = asyncio.run(
                consume_rate(cluster.bootstrap, topics, len(records), json_decoder)
            )
            _say("limit", out["limit"])
            out["limit_pydantic"] = asyncio.run(consume_rate(
                cluster.bootstrap, topics, len(records), pydantic_decoder(topics[0])))  # fmt: skip
            _say("limit + pydantic", out["limit_pydantic"])
        if "naive" in args.only:
            expect = min(args.naive_events, len(records))
            result = workdir / "naive.json"
            app_id, session = cluster.name("naive"), cluster.session_timeout
            command = naive_command(
                cluster.bootstrap, topics, expect, result, app_id, "kmeans", session
            )
            out["naive"] = run_naive(
                command, result, workdir / "naive.log", 900, subprocess_env(args.src)
            )
            _say("naive", out["naive"])
        if "live" in args.only or "latency" in args.only:
            out.update(live_parts(args, cluster, live, log, records, workdir))
    return out


def run_topics(cluster: BenchCluster, part: str, partitions: int) -> dict[str, str]:
    """A worker's set of topics (``settings.TopicNames``) for one part of this run,
    created up front: a cluster need not create topics on first use as Tansu does."""
    from settings import TopicNames

    defaults = TopicNames().model_dump()
    names = {role: cluster.name(f"{part}-{name}") for role, name in defaults.items()}
    cluster.create_topics(list(names.values()), partitions)
    return names


def live_parts(
    args: argparse.Namespace, cluster: BenchCluster, topics: dict[str, str], log: Path,
    records: list[Any], workdir: Path,
) -> dict[str, Any]:  # fmt: skip
    """Sustained rate on the pre-filled topics; then latency on a second, warmed-up worker."""
    from bench.live import rss_bytes, sustained_rate, wait_counted

    out: dict[str, Any] = {}
    if "live" in args.only:
        worker = start_worker(args, cluster, "live", workdir / "live", topics)
        try:
            worker.wait_ready()
            # Time-capped: the rate is sustained over the window, the backlog stays >= 500k.
            samples = wait_counted(worker, len(records), timeout=args.live_seconds)
            out["live"] = sustained_rate(samples, len(records))
            out["live"]["worker_rss_mb"] = rss_bytes(worker.pid) / 1e6
            _say("live", out["live"])
        finally:
            worker.stop()
    pace = args.latency_rate or out.get("live", {}).get("rate", 0) / 2
    if "latency" in args.only and pace > 0:
        out["latency"] = latency_part(args, cluster, log, pace, workdir)
        _say("latency", out["latency"])
    return out


def latency_part(
    args: argparse.Namespace, cluster: BenchCluster, log: Path, pace: float, workdir: Path
) -> dict[str, Any]:
    """A fresh worker on its own topics: warmed up on the start of the log (its model
    must be published before it assigns anyone), then fed what follows at ``pace``."""
    from bench.live import paced_latency, wait_counted
    from bench.workload import prefill, read_records

    bootstrap = cluster.bootstrap
    topics = run_topics(cluster, "lat", args.partitions)
    warm = list(read_records(log, 0, args.latency_warmup))
    asyncio.run(prefill(bootstrap, warm, topics["behaviour"], topics["profiles"]))
    more = list(read_records(log, len(warm), len(warm) + int(pace * args.latency_seconds)))
    worker = start_worker(args, cluster, "latency", workdir / "latency", topics)
    try:
        worker.wait_ready()
        wait_counted(worker, len(warm), timeout=600)
        time.sleep(2)  # let it go idle
        version = worker.gauge("segment_engine_model_version")
        if not version:
            print("  WARNING: the latency worker has no published model after its warm-up; "
                  "raise --latency-warmup", flush=True)  # fmt: skip
        result = asyncio.run(paced_latency(
            bootstrap, more, pace, topics["behaviour"], topics["profiles"], topics["changes"],
            worker, len(warm) + len(more)))  # fmt: skip
        result["model_version_at_start"] = version
    finally:
        worker.stop()
    result["floor"] = latency_floor(args, cluster, more, pace)
    return result


def latency_floor(
    args: argparse.Namespace, cluster: BenchCluster, records: list[Any], pace: float
) -> dict[str, Any]:
    """The same paced load and reader through ``bench/relay.py`` instead of a worker:
    what the broker and the two client hops cost before any processing."""
    import subprocess

    from bench.limits import subprocess_env
    from bench.live import paced_latency
    from settings import Settings
    from streams.app import PRODUCER_LINGER_SECONDS

    bootstrap = cluster.bootstrap
    topics = run_topics(cluster, "floor", args.partitions)
    behaviour, profiles, changes = topics["behaviour"], topics["profiles"], topics["changes"]
    fetch_wait = Settings.model_fields["fetch_max_wait_ms"].default
    command = [sys.executable, "-m", "bench.relay", bootstrap, behaviour, changes,
               "--fetch-wait-ms", str(fetch_wait),
               "--linger-ms", str(round(PRODUCER_LINGER_SECONDS * 1000))]  # fmt: skip
    relay = subprocess.Popen(command, cwd=ROOT, env=subprocess_env(args.src),
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        if relay.stdout is None or relay.stdout.readline().strip() != "ready":
            raise RuntimeError("bench/relay.py did not start")
        return asyncio.run(paced_latency(bootstrap, records, pace, behaviour, profiles, changes,
                                         None, 0, drain_seconds=2.0))  # fmt: skip
    finally:
        relay.terminate()
        relay.wait(10)


def start_worker(
    args: argparse.Namespace, cluster: BenchCluster, part: str, where: Path, topics: dict[str, str]
) -> Any:
    from bench.live import Worker, worker_overrides
    from brokers.embedded import free_port

    overrides = worker_overrides(cluster.bootstrap, cluster.name(part), free_port(), where / "data",
                                 args.partitions, cluster.session_timeout)  # fmt: skip
    overrides["topics"] = topics
    where.mkdir(parents=True, exist_ok=True)
    if args.worker_variants:
        return Worker(args.src, overrides, where / "worker.log", module="bench.worker_variants",
                      extra_env={"BENCH_VARIANTS": args.worker_variants}).start()  # fmt: skip
    return Worker(args.src, overrides, where / "worker.log").start()


def replay_part(args: argparse.Namespace, log: Path) -> dict[str, Any]:
    from bench.replay_rate import read_decode_rate, replay_rate

    out = {"read_decode": read_decode_rate(log, args.replay_events)}
    _say("read + decode", out["read_decode"])
    out["replay"] = replay_rate(log, args.replay_events)
    _say("replay", out["replay"])
    return out


def memory_part(args: argparse.Namespace, cache: Path) -> dict[str, Any]:
    from bench.memory import run_measurement

    out: dict[str, Any] = {}
    for store in ("memory", "rocksdb"):
        for variant in ("mature", "new"):
            figures = run_measurement(args.src, variant, args.memory_customers, cache, store)
            out.setdefault(store, {})[variant] = figures
            _say(f"memory ({store}://, {variant})", figures)
    return out


def table(r: dict[str, Any]) -> list[Row]:
    rows = [Row("   broker (parts 1-3)", r["broker"])] if "broker" in r else []
    limit = r.get("limit", {}).get("rate")
    if "limit" in r:
        rows.append(
            Row("1. limit: aiokafka getmany + json.loads", _rate(r["limit"]), "1.00", "reference")
        )
        pydantic = r["limit_pydantic"]
        rows.append(Row("   (info) aiokafka + pydantic model_validate_json", _rate(pydantic),
                        _ratio(pydantic["rate"], limit)))  # fmt: skip
    naive = r.get("naive", {}).get("rate")
    if "naive" in r:
        rows.append(Row("2. naive: bare Faust agent + River KMeans", _rate(r["naive"]),
                        _ratio(naive, limit), "reference"))  # fmt: skip
    if "live" in r:
        live = r["live"]
        partial = "" if live.get("complete") else f" (first {live['events']:,.0f} events)"
        rows.append(
            Row(
                "3. live pipeline, sustained (x limit)",
                _rate(live) + partial,
                _ratio(live["rate"], limit),
                ">= 0.30",
                _verdict(live["rate"], limit, 0.30),
            )
        )
        rows.append(Row("   live pipeline (x naive)", "", _ratio(live["rate"], naive, "x"), ">= 8x",
                        _verdict(live["rate"], naive, 8.0)))  # fmt: skip
    if "latency" in r:
        lat = r["latency"]
        figure = (f"p50 {lat['p50_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms "
                  f"({lat['matched']} changes at {lat['achieved_rate']:,.0f} ev/s)")  # fmt: skip
        ok = lat["matched"] > 0 and lat["p99_ms"] <= 100
        rows.append(Row("   latency at half the live rate", figure, "", "p99 <= 100 ms",
                        "pass" if ok else "FAIL"))  # fmt: skip
        if floor := lat.get("floor"):
            rows.append(Row("   (info) broker floor: relay, no engine, same pace",
                            f"p50 {floor['p50_ms']:.0f} ms, p99 {floor['p99_ms']:.0f} ms",
                            _ratio(lat["p99_ms"], floor["p99_ms"], "x p99")))  # fmt: skip
    if "replay" in r:
        rd, rp = r["replay"]["read_decode"], r["replay"]["replay"]
        rows.append(
            Row("4. read + decode (replay's reader), no broker", _rate(rd), "1.00", "reference")
        )
        rows.append(Row(f"   replay: read, order, engine ({rp['events']:,} events)", _rate(rp),
                        _ratio(rp["rate"], rd["rate"]), ">= 0.25",
                        _verdict(rp["rate"], rd["rate"], 0.25)))  # fmt: skip
    rows += memory_rows(r.get("memory", {}))
    return rows


def memory_rows(memory: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for store, variant in [(s, v) for s in ("memory", "rocksdb") for v in ("mature", "new")]:
        m = memory.get(store, {}).get(variant)
        if not m:
            continue
        what = "after 2 weeks" if variant == "mature" else "after 3 events"
        per = m["rss_bytes_per_customer"]
        rows.append(Row(f"5. RSS per customer, {store}://, {what} ({m['customers']:,})",
                        f"{per:,.0f} B ({m['rss_total_mb']:,.0f} MB)", f"{per / 1024:.2f} KiB",
                        "<= 1 KiB", "pass" if per <= 1024 else "FAIL"))  # fmt: skip
        disk = f"changelog {m['changelog_bytes_per_customer']:,.0f} B"
        if "disk_bytes_per_customer" in m:
            disk += f", RocksDB dir {m['disk_bytes_per_customer']:,.0f} B"
        rows.append(Row(f"   bytes on disk per customer, {store}://, {what}", disk))
    return rows


def render(rows: list[Row]) -> str:
    head = Row("measurement", "figure", "ratio", "target", "pass/fail")
    cells = [[x.measurement, x.figure, x.ratio, x.target, x.verdict] for x in [head, *rows]]
    widths = [max(len(c[i]) for c in cells) for i in range(5)]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(5)).rstrip() for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _rate(figures: dict[str, Any]) -> str:
    cpu = f", {figures['cpu_us']:.0f} µs CPU/ev" if figures.get("cpu_us") else ""
    return f"{figures['rate']:,.0f} ev/s{cpu}"


def _ratio(value: float | None, reference: float | None, suffix: str = "") -> str:
    if not value or not reference:
        return "n/a"
    return f"{value / reference:.2f}{suffix}"


def _verdict(value: float | None, reference: float | None, target: float) -> str:
    if not value or not reference:
        return "n/a"
    return "pass" if value / reference >= target else "FAIL"


def _say(name: str, figures: dict[str, Any]) -> None:
    shown = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in figures.items()}
    print(f"  {name}: {shown}", flush=True)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    raise SystemExit(main())
