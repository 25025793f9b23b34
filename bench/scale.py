"""One worker against two, side by side in one run, on the same pre-filled topics.

Each run gets a fresh embedded broker and topics pre-filled with the same generated
log, then a ``segment-engine trainer`` and ``workers`` worker processes (model epochs,
four partitions, the separate trainer) process it. Timed through the workers' own
``/metrics`` from the first counted events to the last; CPU is the workers' and the
trainer's, per event. Prints events/s and CPU per event for each, and the ratios::

    python -m bench.scale --customers 2000 --days 30
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.live import cpu_seconds
from bench.workload import Record, prefill

EVENTS = "segment_engine_events_total"
ENGINE = {"learned": {"epoch_seconds": 86400}}


def run(workers: int, records: list[Record], workdir: Path, timeout: float) -> dict[str, float]:
    from brokers.clients import ensure_topics
    from brokers.embedded import EmbeddedBroker, free_port
    from cli.local import WorkerProcess, scrape, total, wait_for_metrics
    from settings import Settings

    with EmbeddedBroker() as broker:
        values: dict[str, Any] = {
            "kafka_bootstrap": broker.bootstrap, "app_id": f"scale-{workers}",
            "topic_partitions": 4, "trainer": "separate", "engine": ENGINE,
            "session_timeout_seconds": 2, "heartbeat_interval_seconds": 0.5,
        }  # fmt: skip
        settings = Settings.model_validate(values)
        t = settings.topics
        ensure_topics(settings, [t.behaviour, t.profiles, t.erasures])
        asyncio.run(prefill(broker.bootstrap, records, t.behaviour, t.profiles))
        trainer = WorkerProcess(values, workdir / f"trainer-{workers}.log", command="trainer",
                                loglevel="warning").start()  # fmt: skip
        procs, urls = [], []
        try:
            for n in range(workers):
                port = free_port()
                data_dir = str(workdir / f"w{workers}-{n}")
                overrides = {**values, "web_port": port, "data_dir": data_dir}
                log = workdir / f"worker-{workers}-{n}.log"
                procs.append(WorkerProcess(overrides, log, loglevel="warning").start())
                urls.append(f"http://127.0.0.1:{port}/metrics")
            for proc, url in zip(procs, urls, strict=True):
                wait_for_metrics(url, proc, timeout=60)
            deadline, first = time.monotonic() + timeout, None
            cpu_before = 0.0
            while True:
                counted = sum(total(scrape(url), EVENTS) for url in urls)
                now = time.monotonic()
                if counted and first is None:
                    first = (now, counted)
                    cpu_before = sum(cpu_seconds(p.pid) for p in [*procs, trainer])
                if counted >= len(records):
                    break
                if now > deadline:
                    raise TimeoutError(f"{workers} worker(s): {counted} of {len(records)}")
                time.sleep(0.1)
            assert first is not None
            cpu = sum(cpu_seconds(p.pid) for p in [*procs, trainer]) - cpu_before
            events = len(records) - first[1]
            return {"rate": events / (now - first[0]), "cpu_us": cpu / events * 1e6}
        finally:
            for proc in [*procs, trainer]:
                proc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=480.0, help="per run, seconds")
    args = parser.parse_args(argv)
    from synthetic import generate

    records = [Record(m["topic"], m["key"].encode(), _json(m["value"]),
                      m["value"].get("event_id"))
               for m in generate(args.customers, args.days, args.seed)]  # fmt: skip
    print(f"{len(records):,} events, {args.customers:,} customers, 4 partitions", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        one = run(1, records, Path(tmp), args.timeout)
        print(f"  1 worker : {one['rate']:,.0f} events/s, {one['cpu_us']:,.0f} us CPU/event",
              flush=True)  # fmt: skip
        two = run(2, records, Path(tmp), args.timeout)
        print(f"  2 workers: {two['rate']:,.0f} events/s, {two['cpu_us']:,.0f} us CPU/event")
    print(
        f"  events/s 2 vs 1: {two['rate'] / one['rate']:.2f}x (goal >= 1.6x); "
        f"CPU/event 2 vs 1: {two['cpu_us'] / one['cpu_us']:.2f}x (goal <= 1.15x)"
    )
    return 0


def _json(value: dict[str, Any]) -> bytes:
    import orjson

    return orjson.dumps(value)


if __name__ == "__main__":
    raise SystemExit(main())
