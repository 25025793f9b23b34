"""Parts 1-3 of the suite, on one Kafka cluster: limit, naive, live and latency.

The cluster is a fresh embedded broker, or the one ``--bootstrap`` names
(``bench.cluster``); every part gets topics of its own, named for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.live import STOP_SECONDS
from bench.report import say
from bench.source import child_cwd, child_env

if TYPE_CHECKING:
    from bench.cluster import BenchCluster
    from bench.workload import Record
    from cli.local import WorkerProcess


def broker_parts(args: argparse.Namespace, log: Path, workdir: Path) -> dict[str, Any]:
    from bench.cluster import BenchCluster
    from bench.limits import (
        consume_rate,
        json_decoder,
        naive_command,
        pydantic_decoder,
        run_naive,
    )
    from bench.workload import prefill, read_records

    out: dict[str, Any] = {}
    records = list(read_records(log, 0, args.events))
    with BenchCluster(args.bootstrap, args.replication_factor, args.apache_kafka) as cluster:
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
            say("limit", out["limit"])
            out["limit_pydantic"] = asyncio.run(consume_rate(
                cluster.bootstrap, topics, len(records), pydantic_decoder(topics[0])))  # fmt: skip
            say("limit + pydantic", out["limit_pydantic"])
        if "naive" in args.only:
            expect = min(args.naive_events, len(records))
            result = workdir / "naive.json"
            app_id, session = cluster.name("naive"), cluster.session_timeout
            command = naive_command(
                cluster.bootstrap, topics, expect, result, app_id, "kmeans", session
            )
            out["naive"] = run_naive(command, result, workdir / "naive.log", 900, args.src)
            say("naive", out["naive"])
        if "live" in args.only or "latency" in args.only:
            out.update(live_parts(args, cluster, live, log, records, workdir))
    return out


def run_topics(cluster: BenchCluster, part: str, partitions: int) -> dict[str, str]:
    """A worker's set of topics (``settings.TopicNames``) for one part of this run,
    created up front: a cluster need not create topics on first use as Tansu does."""
    from brokers.topics import declaration
    from settings import Settings, TopicNames

    defaults = TopicNames().model_dump()
    names = {role: cluster.name(f"{part}-{name}") for role, name in defaults.items()}
    # Those read as one (models, checkpoints) have one partition, as the product declares.
    single = {spec.name for trainer in (False, True)
              for spec in declaration(Settings(), trainer) if spec.partitions == 1}  # fmt: skip
    cluster.create_topics([names[r] for r, n in defaults.items() if n not in single], partitions)
    cluster.create_topics([names[r] for r, n in defaults.items() if n in single], 1)
    return names


def live_parts(
    args: argparse.Namespace, cluster: BenchCluster, topics: dict[str, str], log: Path,
    records: list[Record], workdir: Path,
) -> dict[str, Any]:  # fmt: skip
    """Sustained rate on the pre-filled topics; then latency on a second, warmed-up worker."""
    from bench.live import rss_bytes, sustained_rate, wait_counted, wait_ready

    out: dict[str, Any] = {}
    if "live" in args.only:
        worker = part_worker(args, cluster, "live", workdir / "live", topics)
        try:
            wait_ready(worker)
            # Time-capped: the rate is sustained over the window, the backlog stays >= 500k.
            samples = wait_counted(worker, len(records), args.live_seconds, args.live_every)
            out["live"] = sustained_rate(samples, len(records))
            out["live"]["worker_rss_mb"] = rss_bytes(worker.pid) / 1e6
            say("live", out["live"])
        finally:
            worker.stop(STOP_SECONDS)
    pace = args.latency_rate or out.get("live", {}).get("rate", 0) / 2
    if "latency" in args.only and pace > 0:
        out["latency"] = latency_part(args, cluster, log, pace, workdir)
        say("latency", out["latency"])
    return out


def latency_part(
    args: argparse.Namespace, cluster: BenchCluster, log: Path, pace: float, workdir: Path
) -> dict[str, Any]:
    """A fresh worker on its own topics: warmed up on the start of the log (its model
    must be published before it assigns anyone), then fed what follows at ``pace``."""
    from bench.live import gauge, paced_latency, wait_counted, wait_ready
    from bench.workload import prefill, read_records

    bootstrap = cluster.bootstrap
    topics = run_topics(cluster, "lat", args.partitions)
    warm = list(read_records(log, 0, args.latency_warmup))
    asyncio.run(prefill(bootstrap, warm, topics["behaviour"], topics["profiles"]))
    more = list(read_records(log, len(warm), len(warm) + int(pace * args.latency_seconds)))
    worker = part_worker(args, cluster, "latency", workdir / "latency", topics)
    try:
        wait_ready(worker)
        wait_counted(worker, len(warm), timeout=600)
        time.sleep(args.latency_idle)  # let it go idle
        version = gauge(worker, "segment_engine_model_version")
        if not version:
            print("  WARNING: the latency worker has no published model after its warm-up; "
                  "raise --latency-warmup", flush=True)  # fmt: skip
        result = asyncio.run(paced_latency(
            bootstrap, more, pace, topics["behaviour"], topics["profiles"], topics["changes"],
            worker, len(warm) + len(more), args.latency_drain))  # fmt: skip
        result["model_version_at_start"] = version
    finally:
        worker.stop(STOP_SECONDS)
    result["floor"] = latency_floor(args, cluster, more, pace)
    return result


def latency_floor(
    args: argparse.Namespace, cluster: BenchCluster, records: list[Record], pace: float
) -> dict[str, Any]:
    """The same paced load and reader through ``bench.relay`` instead of a worker:
    what the broker and the two client hops cost before any processing."""
    from bench.live import paced_latency
    from brokers.embedded import stop_process
    from settings import Settings
    from streams.app import PRODUCER_LINGER_SECONDS

    bootstrap = cluster.bootstrap
    topics = run_topics(cluster, "floor", args.partitions)
    behaviour, profiles, changes = topics["behaviour"], topics["profiles"], topics["changes"]
    fetch_wait = Settings.model_fields["fetch_max_wait_ms"].default
    command = [sys.executable, "-m", "bench.relay", bootstrap, behaviour, changes,
               "--fetch-wait-ms", str(fetch_wait),
               "--linger-ms", str(round(PRODUCER_LINGER_SECONDS * 1000))]  # fmt: skip
    relay = subprocess.Popen(command, cwd=child_cwd(args.src), env=child_env(args.src),
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        if relay.stdout is None or relay.stdout.readline().strip() != "ready":
            raise RuntimeError("bench.relay did not start")
        return asyncio.run(paced_latency(bootstrap, records, pace, behaviour, profiles, changes,
                                         None, 0, drain_seconds=2.0))  # fmt: skip
    finally:
        stop_process(relay, 10)


def part_worker(
    args: argparse.Namespace, cluster: BenchCluster, part: str, where: Path, topics: dict[str, str]
) -> WorkerProcess:
    """A worker of the code under test on ``topics``, as one part of this run."""
    from bench.live import start_worker, worker_overrides
    from brokers.embedded import free_port

    overrides = worker_overrides(cluster.bootstrap, cluster.name(part), free_port(), where / "data",
                                 args.partitions, cluster.session_timeout)  # fmt: skip
    overrides["topics"] = topics
    where.mkdir(parents=True, exist_ok=True)
    return start_worker(args.src, overrides, where / "worker.log", args.worker_variants or None)
