"""Parts 1 and 2 of the suite: the aiokafka limit and the naive Faust baseline.

1. The limit: plain aiokafka (manually assigned, no group) reading the benchmark
   topics from the start with ``getmany`` and decoding every value with
   ``json.loads``. Beside it, for context, the same read with the pydantic
   validation the product needs (``model_validate_json``).
2. The naive baseline: a bare Faust agent (``bench.naive_agent``, a separate
   worker process) iterating the same topics event by event, feeding River's
   KMeans ``learn_one``/``predict_one``. Timed inside the agent from its first
   event to its last, so the group join and start-up are not counted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.source import child_cwd, child_env


async def consume_rate(
    bootstrap: str, topics: list[str], expect: int, decode: Callable[[str, bytes], Any]
) -> dict[str, float]:
    """Read ``expect`` messages of ``topics`` from the start, decoding each; events/s."""
    from aiokafka import AIOKafkaConsumer

    from bench.cluster import partitions_now

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 << 20,
        fetch_max_bytes=64 << 20,
    )
    await consumer.start()
    try:
        partitions = [tp for topic in topics for tp in await partitions_now(consumer, topic)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen = 0
        cpu = time.process_time()
        started = time.perf_counter()
        while seen < expect:
            batches = await consumer.getmany(timeout_ms=1000, max_records=20_000)
            if not batches:
                break
            for tp, records in batches.items():
                topic = tp.topic
                for record in records:
                    decode(topic, record.value)
                seen += len(records)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    finally:
        await consumer.stop()
    return {"events": seen, "seconds": elapsed, "rate": seen / elapsed, "cpu_us": cpu / seen * 1e6}


def json_decoder(topic: str, value: bytes) -> Any:
    return json.loads(value)


def pydantic_decoder(behaviour_topic: str) -> Callable[[str, bytes], Any]:
    from schemas.events import EVENT_TYPES, BehaviourEvent, ProfileUpdate

    context = {"event_types": EVENT_TYPES}

    def decode(topic: str, value: bytes) -> Any:
        model = BehaviourEvent if topic == behaviour_topic else ProfileUpdate
        return model.model_validate_json(value, context=context)

    return decode


def naive_command(
    bootstrap: str, topics: list[str], expect: int, result: Path, app_id: str,
    model: str = "kmeans", session_timeout: float = 2.0,
) -> list[str]:  # fmt: skip
    return [
        sys.executable, "-m", "bench.naive_agent",
        "--bootstrap", bootstrap,
        "--topics", ",".join(topics),
        "--expect", str(expect),
        "--result", str(result),
        "--app-id", app_id,
        "--model", model,
        "--session-timeout", str(session_timeout),
    ]  # fmt: skip


def run_naive(
    command: list[str], result: Path, log: Path, timeout: float, src: Path,
    variants: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Run a naive agent command (maybe wrapped by a profiler) on the code of ``src``, with
    ``bench.worker_variants``' Faust-side ``variants`` if any, until it writes ``result``."""
    from brokers.embedded import stop_process

    env = child_env(src) if variants is None else child_env(src, BENCH_VARIANTS=variants)
    result.unlink(missing_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=child_cwd(src)
        )
        try:
            deadline = time.monotonic() + timeout
            while not result.exists():
                if proc.poll() is not None:
                    raise RuntimeError(f"naive agent exited early; see {log}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"naive agent did not finish in {timeout:.0f} s; see {log}")
                time.sleep(0.2)
            time.sleep(0.2)  # the file is written in one go, but let it close
            data: dict[str, Any] = json.loads(result.read_text())
            # The agent stops its own worker (SIGTERM to itself); wait for a clean exit
            # so a wrapping profiler writes its output.
            proc.wait(timeout=60)
        finally:
            stop_process(proc, 20)
    return data
