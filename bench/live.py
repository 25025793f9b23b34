"""Part 3 of the suite: the product's live pipeline, one worker, full path.

Sustained rate: a ``segment-engine worker`` process starts on topics already
holding the first ``live_events`` events of the log and is timed, through its own
``/metrics`` (``segment_engine_events_total``), from its first counted events to the
last; start-up and group join are not counted, and nor is the first 1% (a
partially filled first scrape interval).

Latency (``paced_latency``): with a worker caught up, events are produced at a
paced rate (the suite uses half the sustained one). Each behaviour event's
produce-ack time is taken as its arrival in Kafka; a manually assigned consumer
(``fetch_max_wait_ms=10``: Tansu holds a fetch for most of the wait) reads
``segment-changes`` as they appear and matches them by ``trigger_event_id``. Only
events that caused a change have a latency (sweep changes have no trigger).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.source import child_cwd, child_env
from bench.workload import Record, topic_of

if TYPE_CHECKING:  # imported where used: the code under test may come from --src
    from cli.local import WorkerProcess

EVENTS = "segment_engine_events_total"
STOP_SECONDS = 30.0  # a cProfile'd worker writes its stats on the way out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def start_worker(
    src: Path, overrides: dict[str, Any], log_path: Path, variants: str | None = None
) -> WorkerProcess:
    """``segment-engine worker`` of the code under test, logging warnings only; run
    through ``bench.worker_variants`` with ``variants`` (even none) when given."""
    from cli.local import WorkerProcess

    if "module" not in WorkerProcess.__dataclass_fields__:  # --src of an older checkout
        raise RuntimeError(f"{src}: its cli.local.WorkerProcess cannot run a bench worker; "
                           "measure that checkout with its own bench/")  # fmt: skip
    env = child_env(src) if variants is None else child_env(src, BENCH_VARIANTS=variants)
    module = "cli.main" if variants is None else "bench.worker_variants"
    return WorkerProcess(overrides, log_path, module=module, loglevel="warning", env=env,
                         cwd=child_cwd(src)).start()  # fmt: skip


def metrics_url(worker: WorkerProcess) -> str:
    return f"http://127.0.0.1:{worker.overrides['web_port']}/metrics"


def counted(worker: WorkerProcess, timeout: float = 10.0) -> float | None:
    """Input messages the worker has counted, or None if /metrics did not answer."""
    return gauge(worker, EVENTS, timeout)


def gauge(worker: WorkerProcess, name: str, timeout: float = 10.0) -> float | None:
    from cli.local import total_at

    return total_at(metrics_url(worker), name, timeout)


def wait_ready(worker: WorkerProcess, timeout: float = 90.0) -> None:
    from cli.local import wait_for_metrics

    wait_for_metrics(metrics_url(worker), worker, timeout)


def worker_overrides(
    bootstrap: str, app_id: str, web_port: int, data_dir: Path, partitions: int = 4,
    session_timeout: float = 2.0,
) -> dict[str, Any]:  # fmt: skip
    return {
        "kafka_bootstrap": bootstrap,
        "topic_partitions": partitions,
        "app_id": app_id,
        "web_port": web_port,
        "data_dir": str(data_dir),
        # As the tests do: Tansu answers a join after half the session timeout (Kafka
        # refuses one under 6 s by default: bench.cluster.BenchCluster.session_timeout).
        "session_timeout_seconds": session_timeout,
        "heartbeat_interval_seconds": session_timeout / 4,
    }


def wait_counted(
    worker: WorkerProcess, expect: int, timeout: float, every: float = 0.5, stall: float = 60.0
) -> list[tuple[float, float, float]]:
    """Poll until the worker counted ``expect`` messages: samples (wall, count, worker CPU)."""
    samples: list[tuple[float, float, float]] = []
    deadline = time.monotonic() + timeout
    last_change = time.monotonic()
    while time.monotonic() < deadline:
        if not worker.running:
            raise RuntimeError(f"worker exited; see {worker.log_path}")
        count = counted(worker)
        now = time.perf_counter()
        if count is not None:
            if not samples or count > samples[-1][1]:
                last_change = time.monotonic()
            samples.append((now, count, cpu_seconds(worker.pid)))
            if count >= expect:
                break
        if time.monotonic() - last_change > stall:
            break
        time.sleep(every)
    return samples


def sustained_rate(samples: list[tuple[float, float, float]], expect: int) -> dict[str, float]:
    """Rate from the first sample past 1% of ``expect`` to the last; CPU per event too."""
    start = next((s for s in samples if s[1] >= 0.01 * expect), None)
    end = samples[-1] if samples else None
    if start is None or end is None or end[1] <= start[1]:
        return {"rate": 0.0, "events": end[1] if end else 0.0, "seconds": 0.0, "cpu_us": 0.0}
    events = end[1] - start[1]
    seconds = end[0] - start[0]
    return {
        "rate": events / seconds,
        "events": end[1],
        "seconds": seconds,
        "cpu_us": (end[2] - start[2]) / events * 1e6,
        "complete": float(end[1] >= expect),
    }


async def paced_latency(
    bootstrap: str,
    records: list[Record],
    rate: float,
    behaviour_topic: str,
    profile_topic: str,
    changes_topic: str,
    worker: WorkerProcess | None,
    expect_counted: int,
    drain_seconds: float = 5.0,
) -> dict[str, Any]:
    """Produce ``records`` at ``rate``/s; p50/p99 from produce-ack to change readable.

    ``worker`` None: a relay (``bench/relay.py``) answers every event; only drain."""
    import orjson
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from bench.cluster import partitions_now

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=10
    )
    # linger 5 ms, Kafka 4.0's default (KIP-1030). With 0, one produce request per
    # event: the embedded broker alone then has a p99 of 150-240 ms per hop at
    # 1,000 ev/s here (bench/PROFILE.md, section 8).
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
    await consumer.start()
    await producer.start()
    acked: dict[str, float] = {}
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = asyncio.Event()

    async def read_changes() -> None:
        while not done.is_set():
            batches = await consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for batch in batches.values():
                for message in batch:
                    trigger = orjson.loads(message.value).get("trigger_event_id")
                    if trigger is not None and trigger not in seen:
                        seen[trigger] = now

    try:
        partitions = await partitions_now(consumer, changes_topic)
        if not partitions:
            raise RuntimeError(f"topic {changes_topic} does not exist")
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve the end offsets now, before producing
            await consumer.position(tp)
        reader = asyncio.create_task(read_changes())
        started = time.perf_counter()
        sent_count = 0
        pending: list[asyncio.Future[Any]] = []
        while sent_count < len(records):
            due = min(len(records), int((time.perf_counter() - started) * rate) + 1)
            while sent_count < due:
                record = records[sent_count]
                topic = topic_of(record.role, behaviour_topic, profile_topic)
                future = await producer.send(topic, record.value, key=record.key)
                if record.event_id is not None:
                    event_id = record.event_id
                    sent[event_id] = time.perf_counter()
                    future.add_done_callback(
                        lambda _f, e=event_id: acked.__setitem__(e, time.perf_counter())
                    )
                pending.append(future)
                sent_count += 1
            await asyncio.sleep(0.002)
        await asyncio.gather(*pending)
        produced_in = time.perf_counter() - started
        # Let the worker catch up, then give the last changes time to arrive.
        deadline = time.monotonic() + 120
        while worker is not None and time.monotonic() < deadline:
            count = await asyncio.to_thread(counted, worker)
            if count is not None and count >= expect_counted:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(drain_seconds)
        done.set()
        await reader
    finally:
        await producer.stop()
        await consumer.stop()
    from_ack = sorted(seen[e] - acked[e] for e in seen if e in acked)
    from_send = sorted(seen[e] - sent[e] for e in seen if e in sent)
    # Per 5 s of the paced run (by ack time): where the tail comes from (stalls or backlog).
    windows: dict[int, list[float]] = {}
    for e in seen:
        if e in acked:
            windows.setdefault(int((acked[e] - started) // 5), []).append(seen[e] - acked[e])
    timeline = [[w * 5, len(v), round(_pct(sorted(v), 50) * 1000), round(max(v) * 1000)]
                for w, v in sorted(windows.items())]  # fmt: skip
    return {
        "produced": len(records),
        "offered_rate": rate,
        "achieved_rate": len(records) / produced_in,
        "matched": len(from_ack),
        "p50_ms": _pct(from_ack, 50) * 1000,
        "p99_ms": _pct(from_ack, 99) * 1000,
        "p999_ms": _pct(from_ack, 99.9) * 1000,
        "max_ms": (from_ack[-1] if from_ack else float("nan")) * 1000,
        "p50_from_send_ms": _pct(from_send, 50) * 1000,
        "p99_from_send_ms": _pct(from_send, 99) * 1000,
        "timeline_s_n_p50ms_maxms": timeline,
    }


def _pct(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    rank = min(len(values) - 1, max(0, round(pct / 100 * len(values) + 0.5) - 1))
    return values[rank]
