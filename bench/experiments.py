"""Estimate optimisations before making them: the live worker with run-time patches.

    .venv/bin/python -m bench.experiments [--events 60000] [--src DIR] \
        [--variants "" gcfreeze "gcfreeze,linger=0" ...] [--agent none|kmeans]

Each variant (see ``bench.worker_variants``) gets a fresh broker, the same
pre-filled events (one partition by default, so the order is the log's and the
output deterministic) and one worker; the table gives its sustained rate, the worker's
CPU per event, and digests of what it published, which must match the baseline's:
the segment changes (without ``emitted_at``, the wall clock) and each customer's
final state in the table's changelog. ``--agent`` times the bare (or naive) Faust
agent instead, with the Faust-side variants. ``--src DIR`` measures another checkout
(``bench.source``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.source import ROOT, use
from bench.worker_variants import VariantError, check, parse
from bench.workload import Record, create_topics, ensure_log, prefill, read_records

# The worker's remaining what-ifs (the first rounds' are built in: bench/PROFILE.md).
DEFAULT_VARIANTS = ("", "linger=0", "gc=700", "gcfreeze")


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every record of ``topic`` from the start to its current end."""
    from aiokafka import AIOKafkaConsumer

    from bench.cluster import partitions_now

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = await partitions_now(consumer, topic)
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out: list[Any] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                out.extend(records)
        return out
    finally:
        await consumer.stop()


def digest_changes(records: list[Any], keep: Path | None = None) -> tuple[int, str]:
    rows = []
    for record in records:
        value = json.loads(record.value)
        value.pop("emitted_at", None)
        rows.append(json.dumps(value, sort_keys=True))
    if keep is not None:
        keep.write_text("\n".join(sorted(rows)) + "\n")
    return len(rows), hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()[:12]


def digest_states(records: list[Any]) -> tuple[int, str]:
    last: dict[bytes, Any] = {}
    for record in records:  # per partition in offset order; a key lives in one partition
        last[record.key] = json.loads(record.value) if record.value is not None else None
    rows = sorted(json.dumps([k.decode(), v], sort_keys=True) for k, v in last.items())
    return len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()[:12]


def run_variant(
    src: Path, records: list[Record], variant: str, workdir: Path, partitions: int
) -> dict[str, Any]:
    from bench.live import (
        STOP_SECONDS,
        start_worker,
        sustained_rate,
        wait_counted,
        wait_ready,
        worker_overrides,
    )
    from brokers.embedded import EmbeddedBroker, free_port

    app_id = "bench-exp"
    with EmbeddedBroker() as broker:
        topics = ["behaviour-events", "profile-updates", "erasure-requests"]
        create_topics(broker.bootstrap, topics, partitions)
        asyncio.run(prefill(broker.bootstrap, records, "behaviour-events", "profile-updates"))
        name = variant.replace(",", "+").replace("=", "") or "baseline"
        overrides = worker_overrides(
            broker.bootstrap, app_id, free_port(), workdir / f"data-{name}", partitions
        )
        worker = start_worker(src, overrides, workdir / f"worker-{name}.log", variant)
        try:
            wait_ready(worker)
            figures: dict[str, Any] = sustained_rate(
                wait_counted(worker, len(records), 1800), len(records)
            )
            time.sleep(3)  # let the last changes and changelog writes land
        finally:
            worker.stop(STOP_SECONDS)
        changes = asyncio.run(read_all(broker.bootstrap, "segment-changes"))
        changelog = asyncio.run(read_all(broker.bootstrap, f"{app_id}-customer-state-changelog"))
    figures["changes"], figures["changes_digest"] = digest_changes(
        changes, workdir / f"changes-{name}.txt"
    )
    figures["customers"], figures["states_digest"] = digest_states(changelog)
    figures["changelog_messages"] = len(changelog)
    return figures


def run_agent_variant(
    src: Path, records: list[Record], variant: str, workdir: Path, model: str
) -> dict[str, Any]:
    """The bare (or naive) Faust agent with ``variant``'s Faust-side patches."""
    from bench.limits import naive_command, run_naive
    from brokers.embedded import EmbeddedBroker

    name = variant.replace(",", "+").replace("=", "") or "baseline"
    with EmbeddedBroker() as broker:
        create_topics(broker.bootstrap, ["behaviour-events", "profile-updates"], 4)
        asyncio.run(prefill(broker.bootstrap, records, "behaviour-events", "profile-updates"))
        result = workdir / f"agent-{name}.json"
        command = naive_command(broker.bootstrap, ["behaviour-events", "profile-updates"],
                                len(records), result, "bench-agent", model)  # fmt: skip
        return run_naive(command, result, workdir / f"agent-{name}.log", 900, src, variant)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--log-events", type=int, default=1_000_000)
    parser.add_argument("--src", type=Path, default=ROOT, help="the code to measure")
    # One partition: the worker sees the log's own order, so its output is
    # deterministic and a variant's digests must equal the baseline's. With more,
    # the interleaving of partitions changes what the model learns first.
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--variants", nargs="*", default=list(DEFAULT_VARIANTS))
    parser.add_argument("--agent", choices=("none", "kmeans"),
                        help="time the bare (none) or naive (kmeans) Faust agent instead "
                        "of the worker; only Faust-side variants apply")  # fmt: skip
    args = parser.parse_args()
    for variant in args.variants:  # before any work: a worker would only fail once started
        try:
            check(parse(variant), "agent" if args.agent else "worker")
        except VariantError as exc:
            parser.error(f"argument --variants: {exc}")
    use(args.src)  # before any import of the product's packages
    records = list(read_records(ensure_log(args.log_events, args.customers), 0, args.events))
    workdir = Path(tempfile.mkdtemp(prefix="bench-exp-"))
    print(f"{len(records):,} events; logs in {workdir}", flush=True)
    if args.agent:
        print(f"{'variant':42} {'ev/s':>7} {'CPU µs/ev':>9}")
        for variant in args.variants:
            f = run_agent_variant(args.src, records, variant, workdir, args.agent)
            print(f"{variant or 'baseline':42} {f['rate']:7.0f} {f['cpu_us']:9.0f}", flush=True)
        return
    header = (
        f"{'variant':42} {'ev/s':>7} {'CPU µs/ev':>9} {'changes':>8} {'digest':>12}"
        f" {'states':>12} {'changelog':>9}"
    )
    print(header)
    for variant in args.variants:
        f = run_variant(args.src, records, variant, workdir, args.partitions)
        print(
            f"{variant or 'baseline':42} {f['rate']:7.0f} {f['cpu_us']:9.0f} {f['changes']:8d} "
            f"{f['changes_digest']:>12} {f['states_digest']:>12} {f['changelog_messages']:9d}",
            flush=True,
        )


if __name__ == "__main__":
    main()
