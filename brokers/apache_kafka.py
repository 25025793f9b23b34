"""A single-node Apache Kafka (KRaft, broker and controller in one JVM) from the jars
``make apache-kafka`` fetches with Maven (``brokers/kafka-pom.xml``).

The tests and benchmarks run it beside the embedded broker: it is what users run, with
transactions, a time index, compaction and group joins that do not wait. With
``sasl_users`` it also has a SASL_SSL listener (SCRAM-SHA-512 and PLAIN, a certificate
from a throwaway CA made with ``openssl``), as secured clusters do.
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


def missing_parts(tls: bool = False) -> str | None:
    """Why an Apache Kafka node (``tls``: with a SASL_SSL listener) cannot start here, or None."""
    if tls and shutil.which("openssl") is None:
        return "openssl is not installed (it makes the test CA and broker certificate)"
    if shutil.which("java") is None:
        return "java is not installed (Java 17 runs Apache Kafka)"
    lib = kafka_lib()
    if not any(lib.glob("kafka_2.13-*.jar")):
        return f"no Apache Kafka jars in {lib} (make apache-kafka fetches them with Maven)"
    return None


@dataclass(frozen=True)
class TlsFiles:
    """A CA and one broker certificate it signed, as PEM files."""

    ca: Path  # what clients trust (``ssl_cafile``)
    keystore: Path  # the broker's private key (PKCS#8), then its certificate


def make_tls(folder: Path, host: str = "127.0.0.1", days: int = 2) -> TlsFiles:
    """A new CA in ``folder`` and a certificate it signs for ``host`` (an IP address or a
    name, in the subject alternative names clients check), with ``openssl``.

    The broker reads them as a PEM keystore (``ssl.keystore.type=PEM``): no keytool,
    no keystore password. The CA's key stays in ``folder``; nothing else is signed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    kind = "IP" if host.replace(".", "").isdigit() or ":" in host else "DNS"
    extensions = folder / "extensions.cnf"
    extensions.write_text(
        "[req]\ndistinguished_name = dn\n[dn]\n"
        "[ca]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n"
        "subjectKeyIdentifier = hash\n"
        "[leaf]\nbasicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\n"
        f"subjectAltName = {kind}:{host}\nauthorityKeyIdentifier = keyid\n"
    )
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    key, request, cert = folder / "broker.key", folder / "broker.csr", folder / "broker.pem"
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *new_key, "-keyout", ca_key, "-out", ca, "-days", days, "-subj",
             "/CN=segment-engine test CA", "-config", extensions, "-extensions", "ca")  # fmt: skip
    _openssl("req", "-new", *new_key, "-keyout", key, "-out", request, "-subj", f"/CN={host}",
             "-config", extensions)  # fmt: skip
    _openssl("x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-set_serial",
             str(uuid.uuid4().int >> 64), "-out", cert, "-days", days, "-extfile", extensions,
             "-extensions", "leaf")  # fmt: skip
    keystore = folder / "broker-keystore.pem"
    keystore.write_text(key.read_text() + cert.read_text())
    return TlsFiles(ca=ca, keystore=keystore)


def _openssl(*args: object) -> None:
    done = subprocess.run(["openssl", *map(str, args)], capture_output=True, timeout=60)
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise BrokerError(f"openssl {args[0]} failed: {tail[0]}")


UNQUOTABLE = ',[]="\\ '  # the storage tool's --add-scram and JAAS's quotes have no escapes


def _checked_user(name: str, password: str) -> tuple[str, str]:
    if not name or not password or any(c in UNQUOTABLE for c in name + password):
        raise ValueError(f"SASL user {name!r}: name and password without any of {UNQUOTABLE!r}")
    return name, password


@dataclass
class ApacheKafka:
    """One KRaft node on loopback, as a child process; its data lives in ``workdir``.

    ``with ApacheKafka(workdir) as broker:`` formats the storage (once per workdir),
    starts the node and stops it on the way out. ``stop()`` then ``start()`` again
    brings back the same node with its data, on the same ports (an outage).
    ``properties`` adds to or overrides the server.properties written here.

    ``sasl_users`` (name -> password) adds a SASL_SSL listener on ``sasl_ssl_port`` that
    lets those users in with SCRAM-SHA-512 or PLAIN, its certificate for ``host`` signed
    by a CA made in ``workdir/tls`` (``ca_file``); the PLAINTEXT listener stays. KRaft
    creates SCRAM users when it formats the storage: a restarted node keeps the first
    set for SCRAM (PLAIN takes the current one).
    """

    workdir: Path
    host: str = "127.0.0.1"
    port: int = 0
    controller_port: int = 0
    properties: dict[str, str] = field(default_factory=dict)
    heap: str = "1g"
    sasl_users: dict[str, str] = field(default_factory=dict, repr=False)
    sasl_ssl_port: int = 0
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def sasl_ssl_bootstrap(self) -> str:
        """Where the SASL_SSL listener is (with ``sasl_users`` only)."""
        if not self.sasl_users:
            raise BrokerError("this node has no SASL_SSL listener (no sasl_users)")
        return f"{self.host}:{self.sasl_ssl_port}"

    @property
    def ca_file(self) -> Path:
        """The CA that signed the SASL_SSL listener's certificate (PEM)."""
        return self.workdir / "tls" / "ca.pem"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def log(self) -> Path:
        return self.workdir / "broker.log"

    def server_properties(self) -> dict[str, str]:
        plaintext = f"PLAINTEXT://{self.host}:{self.port}"
        secured = f",SASL_SSL://{self.host}:{self.sasl_ssl_port}" if self.sasl_users else ""
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{self.controller_port}",
            "listeners": f"{plaintext},CONTROLLER://{self.host}:{self.controller_port}{secured}",
            "advertised.listeners": plaintext + secured,
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
            + (",SASL_SSL:SASL_SSL" if self.sasl_users else ""),
            **(self._sasl_ssl_properties() if self.sasl_users else {}),
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

    def _users(self) -> list[tuple[str, str]]:
        return [_checked_user(name, password) for name, password in self.sasl_users.items()]

    def _sasl_ssl_properties(self) -> dict[str, str]:
        listener = "listener.name.sasl_ssl."
        plain = " ".join(f'user_{name}="{password}"' for name, password in self._users())
        return {
            listener + "sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
            listener + "scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            listener + "plain.sasl.jaas.config":
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain};",
            listener + "ssl.keystore.type": "PEM",
            listener + "ssl.keystore.location": str(self.workdir / "tls" / "broker-keystore.pem"),
        }  # fmt: skip

    def start(self, timeout: float = 60.0) -> ApacheKafka:
        missing = missing_parts(tls=bool(self.sasl_users))
        if missing:
            raise BrokerError(missing)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port(self.host)
        self.controller_port = self.controller_port or free_port(self.host)
        users: list[str] = []
        if self.sasl_users:
            users = [f"--add-scram=SCRAM-SHA-512=[name={name},password={password}]"
                     for name, password in self._users()]  # fmt: skip
            self.sasl_ssl_port = self.sasl_ssl_port or free_port(self.host)
            if not self.ca_file.exists():
                make_tls(self.ca_file.parent, self.host)
        config = self.workdir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in self.server_properties().items()))
        if not (self.workdir / "data" / "meta.properties").exists():
            # "=": an id may start with "-".
            self._java("kafka.tools.StorageTool", "format", f"--cluster-id={_cluster_id()}",
                       "-c", str(config), *users)  # fmt: skip
        with self.log.open("ab") as out:  # the child keeps its own descriptor
            self._proc = subprocess.Popen(
                self._command("kafka.Kafka", str(config)), stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_for_port(self.host, self.port, timeout, self._proc)
            if self.sasl_users:
                wait_for_port(self.host, self.sasl_ssl_port, timeout, self._proc)
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
