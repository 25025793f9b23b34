"""One broker hop under paced load, no processing: how latency moves as topics grow.

    .venv/bin/python -m bench.broker_latency [--rate 1000] [--linger-ms 5]
        [--seconds 90] [--bootstrap HOST:PORT [--replication-factor N]]

A producer sends ~240-byte records at ``--rate``/s to a fresh 4-partition topic; a
manually assigned consumer (``fetch_max_wait_ms=10``, as the worker's) reads them.
Every 10 s it prints the broker's CPU share (the embedded broker only), fetches per
second and the p50/p99 from send to read. Without ``--bootstrap`` it starts the
embedded broker, fresh, so nothing else loads it; with it, the topic is named for the
run and deleted at the end (``bench/cluster.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.cluster import BenchCluster


async def measure(cluster: BenchCluster, args: argparse.Namespace) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from bench.live import cpu_seconds

    bootstrap, broker_pid = cluster.bootstrap, cluster.broker_pid

    def broker_cpu() -> float:
        return 0.0 if broker_pid is None else cpu_seconds(broker_pid)

    topic = cluster.name("broker-latency")
    cluster.create_topics([topic], 4)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=10)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=args.linger_ms)
    await consumer.start()
    await producer.start()
    partitions = [TopicPartition(topic, p) for p in range(4)]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for tp in partitions:
        await consumer.position(tp)
    sent: dict[int, float] = {}
    done = asyncio.Event()

    async def produce() -> None:
        count, started = 0, time.perf_counter()
        while not done.is_set():
            due = int((time.perf_counter() - started) * args.rate)
            while count < due:
                sent[count] = time.perf_counter()
                await producer.send(topic, b"v" * 240, key=str(count).encode())
                count += 1
            await asyncio.sleep(0.002)

    sender = asyncio.create_task(produce())
    started, window, fetches = time.perf_counter(), 1, 0
    latencies: list[float] = []
    cpu = broker_cpu()
    print("  s  broker CPU  fetches/s  p50 ms  p99 ms")
    try:
        while time.perf_counter() - started < args.seconds:
            batches = await consumer.getmany(timeout_ms=100)
            fetches += 1
            now = time.perf_counter()
            for records in batches.values():
                latencies += [now - sent[int(r.key)] for r in records]
            if now - started >= window * 10:
                latencies.sort()
                p50 = latencies[len(latencies) // 2] if latencies else float("nan")
                p99 = latencies[int(len(latencies) * 0.99)] if latencies else float("nan")
                used, cpu = broker_cpu() - cpu, broker_cpu()
                share = f"{used * 10:9.0f}%" if broker_pid else "       n/a"
                print(f"{window * 10:>3} {share} {fetches / 10:10.0f} {p50 * 1000:7.1f} "
                      f"{p99 * 1000:7.1f}", flush=True)  # fmt: skip
                window, fetches, latencies = window + 1, 0, []
    finally:
        done.set()
        await sender
        await producer.stop()
        await consumer.stop()


def main() -> int:
    from bench.cluster import BenchCluster, Parser, add_arguments, cluster_problem

    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--linger-ms", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=90.0)
    add_arguments(parser, "one hop", "one topic")
    args = parser.parse_args()
    if problem := cluster_problem(args):
        parser.error(problem)
    with BenchCluster(args.bootstrap, args.replication_factor, args.apache_kafka) as cluster:
        print(f"{cluster.description}: rate {args.rate:,.0f}/s, producer linger "
              f"{args.linger_ms} ms; load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        asyncio.run(measure(cluster, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
