"""A single-node Apache Kafka (KRaft, broker and controller in one JVM) from the jars
``make apache-kafka`` fetches with Maven (``brokers/kafka-pom.xml``).

The tests and benchmarks run it beside the embedded broker: it is what users run, with
transactions, a time index, compaction and group joins that do not wait.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from brokers.embedded import BrokerError, free_port, stop_process, wait_for_port

# The Makefile's cache folder; SEGMENT_ENGINE_KAFKA_LIB points elsewhere.
DEFAULT_LIB = Path(__file__).resolve().parent.parent / ".cache" / "apache-kafka" / "lib"


def kafka_lib() -> Path:
    return Path(os.environ.get("SEGMENT_ENGINE_KAFKA_LIB", DEFAULT_LIB))


def missing_parts() -> str | None:
    """Why an Apache Kafka node cannot start here, or None."""
    if shutil.which("java") is None:
        return "java is not installed (Java 17 runs Apache Kafka)"
    lib = kafka_lib()
    if not any(lib.glob("kafka_2.13-*.jar")):
        return f"no Apache Kafka jars in {lib} (make apache-kafka fetches them with Maven)"
    return None


@dataclass
class ApacheKafka:
    """One KRaft node on loopback, as a child process; its data lives in ``workdir``.

    ``with ApacheKafka(workdir) as broker:`` formats the storage (once per workdir),
    starts the node and stops it on the way out. ``stop()`` then ``start()`` again
    brings back the same node with its data, on the same ports (an outage).
    ``properties`` adds to or overrides the server.properties written here.
    """

    workdir: Path
    host: str = "127.0.0.1"
    port: int = 0
    controller_port: int = 0
    properties: dict[str, str] = field(default_factory=dict)
    heap: str = "1g"
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def log(self) -> Path:
        return self.workdir / "broker.log"

    def server_properties(self) -> dict[str, str]:
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{self.host}:{self.port},"
            f"CONTROLLER://{self.host}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.workdir / "data"),
            # One node: every internal topic has one replica.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            # A group's first member is answered at once, not after three seconds.
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            **self.properties,
        }

    def start(self, timeout: float = 60.0) -> ApacheKafka:
        missing = missing_parts()
        if missing:
            raise BrokerError(missing)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port(self.host)
        self.controller_port = self.controller_port or free_port(self.host)
        config = self.workdir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in self.server_properties().items()))
        if not (self.workdir / "data" / "meta.properties").exists():
            # "=": an id may start with "-".
            self._java("kafka.tools.StorageTool", "format", f"--cluster-id={_cluster_id()}",
                       "-c", str(config))  # fmt: skip
        with self.log.open("ab") as out:  # the child keeps its own descriptor
            self._proc = subprocess.Popen(
                self._command("kafka.Kafka", str(config)), stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_for_port(self.host, self.port, timeout, self._proc)
        except BaseException:  # any failure, Ctrl-C included: no broker left behind
            self.kill()
            raise
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """A controlled shutdown (SIGTERM), killed if it takes longer than ``timeout``."""
        if self._proc is not None:
            stop_process(self._proc, timeout)
            self._proc = None

    def kill(self) -> None:
        if self._proc is None:
            return
        self._proc.kill()
        self._proc.wait()
        self._proc = None

    def __enter__(self) -> ApacheKafka:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        # Nothing is kept after the context: a kill is as good as a shutdown, and faster.
        self.kill()

    def _command(self, main: str, *args: str) -> list[str]:
        java = shutil.which("java") or "java"
        return [java, f"-Xmx{self.heap}", "-cp", f"{kafka_lib()}/*", main, *args]

    def _java(self, main: str, *args: str) -> None:
        done = subprocess.run(self._command(main, *args), capture_output=True, timeout=120)
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
            raise BrokerError(f"{main} {args[0]} failed: {tail[0]}")


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
