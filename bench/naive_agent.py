"""The naive baseline: a bare Faust agent, event by event, feeding River's KMeans.

    .venv/bin/python -m bench.naive_agent --bootstrap HOST:PORT --topics a,b --expect N
        --result FILE [--session-timeout 2]

Runs its own Faust worker (new group, so it reads from the start), times the
agent from its first event to its ``expect``-th (start-up and group join are not
counted), writes the figures to ``--result`` as JSON and stops. ``--model none``
gives a bare consuming agent (what the profile of Faust's own per-message cost
uses); ``--cprofile FILE`` profiles the event loop from the first event to the last.
``BENCH_VARIANTS`` in the environment applies the Faust-side experiments of
``bench.worker_variants`` (quietlog, fastdrain, nomonitor, uvloop, linger=S, maxpoll=N).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import signal
import tempfile
import time
from typing import Any

import faust
from river import cluster

_TYPES = ("page_view", "product_view", "search", "add_to_cart", "checkout", "purchase")


def features(value: dict[str, Any]) -> dict[str, float]:
    """Eight numbers straight from the event: what a first attempt would feed River."""
    kind = value.get("type")
    x = {name: float(kind == name) for name in _TYPES}
    x["amount"] = float(value.get("amount") or 0.0)
    x["properties"] = float(len(value.get("properties") or ()))
    return x


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topics", required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--app-id", default="bench-naive")
    parser.add_argument("--model", choices=("kmeans", "none"), default="kmeans")
    parser.add_argument("--cprofile")
    parser.add_argument("--session-timeout", type=float, default=2.0)
    args = parser.parse_args()
    if os.environ.get("BENCH_VARIANTS"):
        from bench.worker_variants import apply, variants_from_env

        apply(variants_from_env(), "agent")

    app = faust.App(
        args.app_id,
        broker=f"kafka://{args.bootstrap}",
        value_serializer="json",
        key_serializer="raw",
        topic_partitions=4,
        # Tansu answers a join after half the session timeout; Kafka refuses one under 6 s.
        broker_session_timeout=args.session_timeout,
        broker_heartbeat_interval=args.session_timeout / 4,
        web_enabled=False,
        store="memory://",
        datadir=tempfile.mkdtemp(prefix="bench-naive-"),
    )
    topic = app.topic(*args.topics.split(","))
    model = cluster.KMeans(n_clusters=6, halflife=0.02, seed=42)
    learn = args.model == "kmeans"
    profiler = cProfile.Profile(time.thread_time) if args.cprofile else None
    marks: dict[str, float] = {}

    @app.agent(topic)
    async def consume(stream: Any) -> None:
        seen = 0
        async for value in stream:
            if seen == 0:
                marks["wall"], marks["cpu"] = time.perf_counter(), time.process_time()
                if profiler is not None:
                    profiler.enable()
            if learn:
                x = features(value)
                model.learn_one(x)
                model.predict_one(x)
            seen += 1
            if seen == args.expect:
                wall = time.perf_counter() - marks["wall"]
                cpu = time.process_time() - marks["cpu"]
                if profiler is not None:
                    profiler.disable()
                    profiler.dump_stats(args.cprofile)
                # The first event is the start mark: seen - 1 events in between.
                result = {"events": seen, "seconds": wall, "rate": (seen - 1) / wall,
                          "cpu_us": cpu / (seen - 1) * 1e6, "model": args.model}  # fmt: skip
                tmp = args.result + ".tmp"
                with open(tmp, "w") as out:
                    json.dump(result, out)
                os.replace(tmp, args.result)
                os.kill(os.getpid(), signal.SIGTERM)  # a clean Faust shutdown

    worker = faust.Worker(app, loglevel="warning", quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
