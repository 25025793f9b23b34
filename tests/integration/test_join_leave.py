"""A worker joining and then leaving the cluster rebalances partitions without
changing any customer's segment: on Apache Kafka, with model epochs and the separate
trainer, one worker takes the first third of the input, two the second (a join: half
the partitions move), one again the last (a leave: they move back), and the end is a
4-partition replay of the whole input, change for change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cli.generate import send, write_jsonl
from cli.local import WorkerProcess
from settings import Settings
from synthetic import generate
from tests.integration.test_cluster import CLUSTER, _all_committed, _settle
from tests.integration.test_crash import (  # broker, trainer: the crash test's fixtures
    TIMEOUTS,
    _in_time_order,
    assert_ends_as_replay,
    broker,  # noqa: F401
    trainer,  # noqa: F401
)

pytestmark = pytest.mark.integration

SEED = 23


def test_a_worker_joining_and_leaving_changes_no_segment(
    start_worker: Callable[..., Any],
    trainer: WorkerProcess,  # noqa: F811
    tmp_path: Path,
) -> None:
    messages = list(generate(customers=60, days=45, seed=SEED, with_profiles=False))
    log = tmp_path / "events.jsonl"
    write_jsonl(messages, log)
    first, second, third = _in_time_order(messages, 3)
    deadline = time.monotonic() + 300

    stays = start_worker(**CLUSTER, **TIMEOUTS)
    settings: Settings = stays.settings
    send(first, settings)
    _all_committed(settings, deadline)

    joins = start_worker(**CLUSTER, **TIMEOUTS)
    _settle([stays, joins], deadline)  # each holds some partitions now
    send(second, settings)
    _all_committed(settings, deadline)

    assert joins.process.stop() == 0  # a graceful leave: its partitions move back
    _settle([stays], deadline)
    send(third, settings)
    _all_committed(settings, deadline)
    assert trainer.running, f"the trainer exited; see {trainer.log_path}"

    changes, repeats = assert_ends_as_replay(stays, log, tmp_path, customers=60)
    print(f"{len(messages)} events; {changes} changes, {repeats} repeats")
