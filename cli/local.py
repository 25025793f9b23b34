"""Run and watch a worker on this machine: used by the demo and the integration tests."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from brokers.clients import client_options
from brokers.embedded import stop_process
from settings import Settings


def settings_env(values: Mapping[str, Any], prefix: str = "SEGMENT_ENGINE_") -> dict[str, str]:
    """Nested settings as environment variables.

    >>> settings_env({"web_port": 1, "engine": {"learned": {"seed": 2}}})
    {'SEGMENT_ENGINE_WEB_PORT': '1', 'SEGMENT_ENGINE_ENGINE__LEARNED__SEED': '2'}
    """
    env: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key.upper()}"
        if isinstance(value, Mapping):
            env.update(settings_env(value, name + "__"))
        elif isinstance(value, list | tuple):  # pydantic-settings reads lists as JSON
            env[name] = json.dumps(value)
        else:
            env[name] = str(value)
    return env


@dataclass
class WorkerProcess:
    """``segment-engine worker`` as a child process, configured through its environment.

    ``module`` is run with ``python -m`` and the worker's command line (the
    benchmarks pass one that patches the worker first); ``env`` is the environment
    the settings are added to (default: this process's), either way without its
    ``SEGMENT_ENGINE_*`` variables; ``cwd`` is the child's working directory;
    ``command``: ``worker`` or ``trainer``.
    """

    overrides: Mapping[str, Any]
    log_path: Path
    module: str = "cli.main"
    loglevel: str = "info"
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    command: str = "worker"
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> WorkerProcess:
        base = os.environ if self.env is None else self.env
        env = {k: v for k, v in base.items() if not k.startswith("SEGMENT_ENGINE_")}
        env.update(settings_env(self.overrides))
        command = [sys.executable, "-m", self.module, self.command, "--loglevel", self.loglevel]
        with self.log_path.open("w") as log:  # the child keeps its own descriptor
            self._proc = subprocess.Popen(
                command, env=env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        """The child's process id (for its CPU time and memory); it must have started."""
        if self._proc is None:
            raise RuntimeError("the worker is not started")
        return self._proc.pid

    def stop(self, timeout: float = 20.0) -> int | None:
        if self._proc is None:
            return None
        code = stop_process(self._proc, timeout)
        self._proc = None
        return code


def scrape(url: str, timeout: float = 10.0) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample at a ``/metrics`` URL, keyed by name and sorted labels."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(
    samples: Mapping[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    """Sum of ``name`` over the samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and wanted <= set(lab))


def total_at(url: str, name: str, timeout: float = 10.0, **labels: str) -> float | None:
    """:func:`total` of ``name`` at a ``/metrics`` URL; None when it does not answer
    (not up yet, or busy with a batch)."""
    try:
        return total(scrape(url, timeout=timeout), name, **labels)
    except OSError:  # URLError, a refused or reset connection, a timeout
        return None


def wait_for_count(url: str, expected: float, timeout: float = 120,
                   name: str = "segment_engine_events_total") -> float:  # fmt: skip
    """Poll ``/metrics`` until ``name`` sums to at least ``expected``; returns the sum."""
    deadline = time.monotonic() + timeout
    counted = 0.0
    while time.monotonic() < deadline:
        try:
            counted = total(scrape(url), name)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            continue  # busy with a batch; a slow answer is not a wrong one
        if counted >= expected:
            return counted
        time.sleep(0.2)
    raise TimeoutError(f"{name} reached {counted} of {expected} within {timeout:.0f} s")


def wait_for_metrics(url: str, worker: WorkerProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not worker.running:
            raise RuntimeError(f"worker exited early; see {worker.log_path}")
        try:
            scrape(url)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise TimeoutError(f"no metrics at {url} within {timeout:.0f} s")


@contextlib.contextmanager
def assigned_consumer(settings: Settings, topic: str, **options: Any) -> Iterator[KafkaConsumer]:
    """A consumer of every partition of ``topic`` from its start, closed on the way out
    (also when finding or assigning the partitions fails)."""
    # Manual assignment: group consumers of kafka-python wait ~23 s to join on Tansu.
    consumer = KafkaConsumer(**client_options(settings), enable_auto_commit=False, **options)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        if partitions:
            consumer.seek_to_beginning()
        yield consumer
    finally:
        consumer.close()


def read_topic(settings: Settings, topic: str, idle_seconds: float = 1.0) -> Iterator[Any]:
    """Every message of ``topic`` from the start, until none arrives for ``idle_seconds``."""
    idle_ms = int(idle_seconds * 1000)
    with assigned_consumer(settings, topic, consumer_timeout_ms=idle_ms) as consumer:
        if consumer.assignment():
            yield from consumer


def follow_topic(settings: Settings, topic: str, stop: threading.Event) -> Iterator[Any]:
    """Messages of an existing ``topic`` from the start, as they arrive, until ``stop`` is set."""
    with assigned_consumer(settings, topic) as consumer:
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=200).values():
                yield from records
