"""``segment-engine demo``: the whole product on this machine, live in the terminal.

Starts the embedded broker and a worker, streams generated customers with planted
segments, prints segment changes as they arrive, then a summary. Ctrl-C stops
everything it started.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import urllib.error
from collections import Counter
from pathlib import Path
from typing import Any

from brokers.clients import ensure_topics
from brokers.embedded import EmbeddedBroker, free_port, port_is_free
from cli.generate import send
from cli.local import WorkerProcess, follow_topic, scrape, total, wait_for_metrics
from settings import Settings
from synthetic import generate, labels, with_timing

EVENTS = "segment_engine_events_total"
# Every planted group shows itself within the demo's short window.
DEMO_PERSONAS = with_timing(new_from=0.3, lapsed_until=0.2)


KAFKA_PORT = 9092


def run_demo(args: argparse.Namespace) -> int:
    with (
        tempfile.TemporaryDirectory(prefix="segment-engine-demo-") as tmp,
        # Kafka's own port when it is free, so a subscriber's defaults reach the demo.
        EmbeddedBroker(port=KAFKA_PORT if port_is_free("127.0.0.1", KAFKA_PORT) else 0) as broker,
    ):
        overrides = {
            "kafka_bootstrap": broker.bootstrap,
            "web_port": args.web_port if port_is_free("127.0.0.1", args.web_port) else free_port(),
            "data_dir": tmp,
            "session_timeout_seconds": 2,
            "heartbeat_interval_seconds": 0.5,
            "engine": {"learned": {"warmup_updates": 500, "publish_every": 500}},
        }
        settings = Settings.model_validate(overrides)
        url = f"http://{settings.web_bind}:{settings.web_port}/metrics"
        print(f"broker  {broker.bootstrap} (embedded, memory only)")
        worker = WorkerProcess(overrides, Path(tmp) / "worker.log").start()
        try:
            wait_for_metrics(url, worker, timeout=60)
            print(f"worker  metrics at {url}\n")
            status = _stream_and_watch(args, settings, url, worker)
            if args.keep_running:
                print(f"\nbroker {broker.bootstrap} and worker keep running; Ctrl-C stops them")
                while worker.running:
                    time.sleep(1)
            return status
        except KeyboardInterrupt:
            print("\nstopping...")
            return 130
        finally:
            worker.stop()


def _stream_and_watch(
    args: argparse.Namespace, settings: Settings, url: str, worker: WorkerProcess
) -> int:
    latest: dict[str, str] = {}  # customer -> learned segment id
    names: dict[str, str] = {}  # segment id -> its latest name (a segment may be renamed)
    changes = 0
    done = threading.Event()
    ensure_topics(settings, [settings.topics.changes])

    def watch() -> None:
        nonlocal changes
        for message in follow_topic(settings, settings.topics.changes, done):
            change = json.loads(message.value)
            changes += 1
            _show(change)
            segment = change["segment"]
            if segment is None:
                latest.pop(change["customer_id"], None)
            elif segment["kind"] == "learned":
                latest[change["customer_id"]] = segment["id"]
                names[segment["id"]] = segment["name"]

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stream = generate(args.customers, args.days, args.seed, personas=DEMO_PERSONAS)
    sent = send(stream, settings)
    processed = _wait_processed(url, sent, worker)
    time.sleep(1.5)  # let the watcher print the last changes
    done.set()
    watcher.join(timeout=5)
    truth = labels(args.customers, args.seed, personas=DEMO_PERSONAS)
    named = {customer: names[segment] for customer, segment in latest.items()}
    _summary(sent, processed, changes, named, truth, url)
    return 0


def _wait_processed(url: str, sent: int, worker: WorkerProcess, timeout: float = 600) -> float:
    deadline = time.monotonic() + timeout
    processed = 0.0
    while time.monotonic() < deadline and worker.running:
        try:
            processed = total(scrape(url, timeout=10), EVENTS)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            continue  # the worker is busy with a batch; ask again
        if processed >= sent:
            break
        time.sleep(0.5)
    return processed


def _show(change: dict[str, Any]) -> None:
    before = (change["previous_segment"] or {}).get("name", "-")
    after = (change["segment"] or {}).get("name", "-")
    print(
        f"{change['changed_at'][:19]}  {change['customer_id']:<9} {before:>24} -> {after:<24}"
        f" {change['reason']} (model v{change['model_version']})"
    )


def _summary(
    sent: int,
    processed: float,
    changes: int,
    latest: dict[str, str],
    truth: dict[str, str],
    url: str,
) -> None:
    print(f"\nevents sent {sent}, processed {processed:.0f}; segment changes {changes}")
    print("segment sizes (planted group most of each segment comes from):")
    for name, size in Counter(latest.values()).most_common():
        planted = Counter(truth[c] for c, seg in latest.items() if seg == name).most_common(1)[0]
        print(f"  {name:<40} {size:>6}   {planted[0]} {planted[1] / size:.0%}")
    print(f"metrics at {url}")
