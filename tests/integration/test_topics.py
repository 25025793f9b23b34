"""``segment-engine topics create`` / ``check`` and the worker's start checks, on both
brokers:

- ``create`` then ``check`` on an empty cluster: every declared topic is created, then
  found as declared (exit 0); ``create`` again finds them all existing (exit 0). On
  Tansu, whose DescribeConfigs reports only the configs a topic was created with, both
  say so in a note line.
- Topics made beforehand in a wrong shape (an input with too few partitions, the
  compacted ``customer-segments`` without its configs) are reported by ``check`` and by
  ``create`` (exit 1, one line per difference), and the worker refuses to start, naming
  the co-partitioned topics and their counts.
- With ``create_topics = false`` on an empty cluster, the worker and the trainer refuse
  to start with one line naming every missing topic and the command that creates them,
  and create nothing; after ``topics create`` the worker starts.

The commands run in this process (``cli.main.main``); the worker and the trainer run as
the CLI does, ``segment-engine worker --config FILE``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient

from brokers.embedded import free_port, stop_process
from brokers.topics import co_partitioned, declaration, ensure_topics
from cli.local import scrape
from cli.main import main
from settings import Settings
from tests.conftest import Broker, on_tansu, worker_timeouts

pytestmark = pytest.mark.integration

SEGMENT_ENGINE = str(Path(sys.executable).with_name("segment-engine"))
# Every topic, the trainer's included.
SEPARATE = {"trainer": "separate", "engine": {"learned": {"epoch_seconds": 86_400}}}


def toml(values: Mapping[str, Any], prefix: str = "") -> str:
    """A TOML document of plain values and nested tables.

    >>> print(toml({"a": 1, "b": {"c": True, "d": "x"}}))
    a = 1
    [b]
    c = true
    d = "x"
    """
    lines = [f"{k} = {json.dumps(v)}" for k, v in values.items() if not isinstance(v, Mapping)]
    for key, value in values.items():
        if isinstance(value, Mapping):
            lines += [f"[{prefix}{key}]", toml(value, f"{prefix}{key}.")]
    return "\n".join(line for line in lines if line)


def config(tmp_path: Path, broker: Broker, **values: Any) -> tuple[Path, Settings]:
    """A settings file for this test's broker, and the settings it holds."""
    full = {
        "kafka_bootstrap": broker.bootstrap,
        "app_id": "topics-test",
        "web_port": free_port(),
        "data_dir": str(tmp_path / "data"),
        **worker_timeouts(broker),
        **values,
    }
    path = tmp_path / "settings.toml"
    path.write_text(toml(full) + "\n")
    return path, Settings.model_validate(full)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    """``segment-engine *argv`` in this process: the exit status and the lines printed."""
    code = main(list(argv))
    captured = capsys.readouterr()
    assert captured.err == "", captured.err
    return code, captured.out.splitlines()


def start(command: str, path: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENT_ENGINE_")}
    with log.open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen([SEGMENT_ENGINE, command, "--config", str(path)], env=env,
                                stdout=subprocess.DEVNULL, stderr=out)  # fmt: skip


def refusal(command: str, path: Path, log: Path, timeout: float = 60) -> str:
    """The one line ``segment-engine <command>`` ends with (exit 1)."""
    process = start(command, path, log)
    try:
        code = process.wait(timeout=timeout)
    finally:
        stop_process(process, 10)
    lines = log.read_text().splitlines()
    assert code == 1, lines
    assert len(lines) == 1, lines
    return lines[0]


def topics_on(settings: Settings) -> set[str]:
    with KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap) as admin:
        return {name for name in admin.list_topics() if not name.startswith("__")}


def statuses(lines: list[str]) -> dict[str, str]:
    """``name: status (...)`` lines, as {name: status}."""
    found = {}
    for line in lines:
        name, colon, rest = line.partition(": ")
        if colon and name != "note" and not line.startswith(" ") and " (" in rest:
            found[name] = rest.split(" (")[0]
    return found


def test_create_then_check_finds_every_topic_as_declared(
    broker: Broker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, settings = config(tmp_path, broker, **SEPARATE)
    declared = [spec.name for spec in declaration(settings)]
    assert len(declared) == 13

    # A tool (the demo, the generator) made one already: in its declared shape too.
    ensure_topics(settings, [settings.topics.changes])

    code, lines = run(capsys, "topics", "create", "--config", str(path))
    assert code == 0, lines
    assert statuses(lines) == {**dict.fromkeys(declared, "created"),
                               settings.topics.changes: "exists"}  # fmt: skip
    assert lines[-1] == "all 13 topics as declared (created 12)"
    assert topics_on(settings) == set(declared)

    code, lines = run(capsys, "topics", "check", "--config", str(path))
    assert code == 0, lines
    assert statuses(lines) == dict.fromkeys(declared, "ok")
    assert lines[-1] == "all 13 topics as declared"
    # Tansu's gap is said, not passed over in silence.
    notes = [line for line in lines if line.startswith("note: ")]
    assert len(notes) == (1 if on_tansu(broker) else 0), lines
    if on_tansu(broker):
        assert "Tansu" in notes[0] and "without ever compacting" in notes[0]

    code, lines = run(capsys, "topics", "create", "--config", str(path))
    assert code == 0, lines
    assert statuses(lines) == dict.fromkeys(declared, "exists")


def test_topics_of_a_wrong_shape_are_reported_and_the_worker_refuses_to_start(
    broker: Broker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, settings = config(tmp_path, broker)
    t = settings.topics
    with KafkaAdminClient(bootstrap_servers=broker.bootstrap) as admin:
        admin.create_topics(
            {
                t.profiles: {"num_partitions": 2, "replication_factor": 1},
                t.memberships: {"num_partitions": 4, "replication_factor": 1},  # no configs
            },
            wait_for_metadata=True,
        )
    # Kafka reports its default for a config the topic was not given; Tansu none at all.
    not_compacted = (
        "cleanup.policy not set, declared compact"
        if on_tansu(broker)
        else "cleanup.policy=delete, declared compact"
    )
    expected = [
        f"  {t.profiles}: 2 partitions, declared 4 (topic_partitions)",
        f"  {t.memberships}: {not_compacted}",
    ]

    code, lines = run(capsys, "topics", "check", "--config", str(path))
    assert code == 1, lines
    assert statuses(lines)[t.profiles] == "differs"
    assert statuses(lines)[t.memberships] == "differs"
    assert statuses(lines)[t.behaviour] == "missing"
    assert all(line in lines for line in expected), lines
    assert f"  {t.memberships}: 4 partitions" not in "\n".join(lines)

    code, lines = run(capsys, "topics", "create", "--config", str(path))
    assert code == 1, lines  # what exists is not changed, nor passed over
    assert statuses(lines)[t.profiles] == "exists, differs"
    assert statuses(lines)[t.memberships] == "exists, differs"
    assert statuses(lines)[t.behaviour] == "created"
    assert all(line in lines for line in expected), lines
    # With trainer = "in_worker": the model checkpoints topic too, not the trainer's three.
    assert statuses(lines)[t.model_checkpoints] == "created"
    assert lines[-1] == "2 of 11 topics missing or not as declared (created 9)"

    # The worker (create_topics on: it has nothing left to create) will not start on
    # inputs that are not co-partitioned with its table's changelog.
    line = refusal("worker", path, tmp_path / "worker.log")
    counts = ", ".join(f"{name} {2 if name == t.profiles else 4}"
                       for name in co_partitioned(settings))  # fmt: skip
    assert line == (
        f"segment-engine worker: co-partitioned topics differ in partition count: {counts} "
        "(topic_partitions = 4); each needs 4 partitions"
    )


def test_without_create_topics_nothing_starts_until_topics_create(
    broker: Broker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, settings = config(tmp_path, broker, create_topics=False, **SEPARATE)
    t = settings.topics
    command = f"create them with: segment-engine topics create --config {path}"
    with ThreadPoolExecutor(2) as pool:  # each spends seconds importing
        worker = pool.submit(refusal, "worker", path, tmp_path / "refused-worker.log")
        trainer = pool.submit(refusal, "trainer", path, tmp_path / "refused-trainer.log")
    everything = ", ".join(spec.name for spec in declaration(settings))
    assert worker.result() == (
        f"segment-engine worker: topics missing (create_topics = false): {everything}; {command}"
    )
    its_own = ", ".join([t.dead_letters, t.drift, t.catalog, t.lessons, t.models, t.checkpoints])
    assert trainer.result() == (
        f"segment-engine trainer: topics missing (create_topics = false): {its_own}; {command}"
    )
    assert topics_on(settings) == set()  # nothing was created, by either

    code, lines = run(capsys, "topics", "create", "--config", str(path))
    assert code == 0, lines
    process = start("worker", path, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "the worker did not start"
            try:
                scrape(f"http://{settings.web_bind}:{settings.web_port}/metrics")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
    finally:
        stop_process(process, 20)
    # Nothing beyond the declaration: Faust created none of its own either.
    assert topics_on(settings) == {spec.name for spec in declaration(settings)}
