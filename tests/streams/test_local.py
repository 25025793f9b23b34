"""``cli.local`` leaves nothing open when starting a worker or a consumer fails."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from brokers.embedded import EmbeddedBroker
from cli.local import WorkerProcess, assigned_consumer
from settings import Settings
from tests.conftest import open_descriptors, open_sockets


def test_a_worker_that_cannot_start_leaves_its_log_closed(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    worker = WorkerProcess({"app_id": "nul\0byte"}, log)  # no environment holds a NUL
    with pytest.raises(ValueError, match="null byte"):
        worker.start()
    assert str(log) not in open_descriptors()
    assert worker.stop() is None


def test_the_consumer_is_closed_when_finding_the_partitions_fails(tansu: EmbeddedBroker) -> None:
    settings = Settings.model_validate({"kafka_bootstrap": tansu.bootstrap})
    before = open_sockets()
    # A frozen broker takes the connection and never answers, so finding the partitions
    # waits until Ctrl-C. api_version: the consumer is built without asking the broker.
    assert tansu.pid is not None
    os.kill(tansu.pid, signal.SIGSTOP)
    main = threading.main_thread().ident
    assert main is not None
    interrupt = threading.Timer(1.0, signal.pthread_kill, (main, signal.SIGINT))
    interrupt.start()
    try:
        with (
            pytest.raises(KeyboardInterrupt),
            assigned_consumer(settings, "events", api_version=(2, 8, 0)),
        ):
            pass
    finally:
        interrupt.cancel()  # should it fail otherwise: no Ctrl-C for pytest later
        os.kill(tansu.pid, signal.SIGCONT)
    assert open_sockets() == before
