"""Authentication for real: Apache Kafka with a SASL_SSL listener (SCRAM-SHA-512 and
PLAIN, a certificate from a CA the test makes), reached through the documented
settings by a worker and by the CLI.

- A worker, and ``generate`` feeding it, work over SASL_SSL at DEBUG, and nothing they
  print holds the password (PLAIN is the mechanism whose frames aiokafka would print).
- ``replay --topic ... --shadow ...`` reads and writes over SASL_SSL at DEBUG, likewise.
- A wrong password, a CA that did not sign the broker's certificate, and no CA at all
  (the system's) end the worker and the CLI with one line naming the setting, exit 1.

The secured node is this module's own (the session's ``apache_kafka_node`` stays plain
and fast); the tests' own reads and writes go through its PLAINTEXT listener.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from brokers.apache_kafka import ApacheKafka, make_tls, missing_parts
from brokers.embedded import free_port
from cli.generate import send
from cli.local import WorkerProcess, read_topic, settings_env, wait_for_count, wait_for_metrics
from schemas import SegmentChange
from settings import Settings
from synthetic import generate
from tests.conftest import need

pytestmark = pytest.mark.integration

USER = "segment-engine"
# Random, so that any occurrence in what a process printed is a leak.
PASSWORD = f"pw-{secrets.token_hex(12)}"
# The CLI as a user's script or a debugging session would run it: logging at DEBUG.
AT_DEBUG = (
    "import logging, sys; logging.basicConfig(level=logging.DEBUG); "
    "from cli.main import main; sys.exit(main(sys.argv[1:]))"
)
LEARN_SOON = {"learned": {"warmup_updates": 100, "publish_every": 100}}
# A wrong password or certificate is known at the broker's first answer (0.3 s); the
# bound covers the interpreter's start (2-3 s idle, more while other tests run), and
# stays below the 30 s a connection that is not refused is retried for.
FAIL_WITHIN_SECONDS = 25
EMPTY: Mapping[str, str | None] = {}


@pytest.fixture(scope="module")
def secured_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApacheKafka]:
    """A node with a SASL_SSL listener besides PLAINTEXT, and one user."""
    missing = missing_parts(tls=True)
    if missing:
        need(f"Apache Kafka with TLS: {missing}")
    workdir = tmp_path_factory.mktemp("secured-kafka")
    with ApacheKafka(workdir, sasl_users={USER: PASSWORD}, heap="512m") as node:
        yield node


def secured(
    node: ApacheKafka, mechanism: str = "SCRAM-SHA-512", changes: Mapping[str, str | None] = EMPTY
) -> dict[str, Any]:
    """Settings for the node's SASL_SSL listener, as docs/operations.md documents them; ``changes``
    replaces security settings (None: leaves one out)."""
    values = {
        "protocol": "SASL_SSL",
        "sasl_mechanism": mechanism,
        "sasl_username": USER,
        "sasl_password": PASSWORD,
        "ssl_cafile": str(node.ca_file),
        **changes,
    }
    return {
        "kafka_bootstrap": node.sasl_ssl_bootstrap,
        "kafka_security": {k: v for k, v in values.items() if v is not None},
    }


def topics(prefix: str) -> dict[str, str]:
    """A test's own topic names on the shared node."""
    names = ("behaviour", "profiles", "erasures", "changes", "dead_letters", "drift",
             "memberships", "lessons", "models")  # fmt: skip
    return {name: f"{prefix}-{name}" for name in names}


def plaintext(node: ApacheKafka, **values: Any) -> Settings:
    """The test's own view of the node, through the PLAINTEXT listener."""
    return Settings.model_validate({"kafka_bootstrap": node.bootstrap, **values})


def environment(values: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENT_ENGINE_")}
    return env | settings_env(values)


def run_cli(args: list[str], values: dict[str, Any], debug: bool = True,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:  # fmt: skip
    start = [sys.executable, "-c", AT_DEBUG] if debug else [sys.executable, "-m", "cli.main"]
    return subprocess.run([*start, *args], env=environment(values), capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def assert_no_password(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text
        assert PASSWORD.encode().hex() not in text  # not even hex-dumped


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
def test_a_worker_fed_by_generate_over_sasl_ssl_at_debug_makes_changes_and_logs_no_password(
    secured_kafka: ApacheKafka, tmp_path: Path, mechanism: str
) -> None:
    prefix = f"worker-{mechanism.lower()}"
    values = {
        **secured(secured_kafka, mechanism),
        "app_id": prefix,
        "topics": topics(prefix),
        "web_port": free_port(),
        "data_dir": str(tmp_path / "data"),
        "engine": LEARN_SOON,
    }
    url = f"http://127.0.0.1:{values['web_port']}/metrics"
    worker = WorkerProcess(values, tmp_path / "worker.log", loglevel="debug").start()
    try:
        wait_for_metrics(url, worker, timeout=90)
        fed = run_cli(["generate", "--customers", "40", "--days", "10", "--seed", "3"], values)
        assert fed.returncode == 0, fed.stderr[-3000:]
        sent = len(list(generate(customers=40, days=10, seed=3)))
        wait_for_count(url, sent, timeout=120)
    finally:
        worker.stop()
    log = (tmp_path / "worker.log").read_text()

    out = read_topic(plaintext(secured_kafka), topics(prefix)["changes"])
    changes = [SegmentChange.model_validate_json(message.value) for message in out]
    assert changes, "no segment changes over SASL_SSL"
    assert f"Authenticated as {USER} via {mechanism}" in log  # aiokafka's INFO line
    assert "[DEBUG]" in log, "the worker did not log at DEBUG"
    assert_no_password(log, fed.stdout, fed.stderr)


def test_replay_reads_a_topic_and_writes_a_shadow_over_sasl_ssl_at_debug(
    secured_kafka: ApacheKafka, tmp_path: Path
) -> None:
    names = topics("replay")
    send(generate(customers=40, days=10, seed=3), plaintext(secured_kafka, topics=names))
    # The documented way (docs/operations.md): security in the file, the password in the env.
    config = tmp_path / "engine.toml"
    config.write_text(
        f'kafka_bootstrap = "{secured_kafka.sasl_ssl_bootstrap}"\n'
        "[kafka_security]\n"
        'protocol = "SASL_SSL"\n'
        'sasl_mechanism = "SCRAM-SHA-512"\n'
        f'sasl_username = "{USER}"\n'
        f'ssl_cafile = "{secured_kafka.ca_file}"\n'
        "[engine.learned]\nwarmup_updates = 100\npublish_every = 100\n"
    )
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)).isoformat(), (now + timedelta(hours=1)).isoformat()
    out, shadow = tmp_path / "out", "replay-shadow"
    args = ["replay", "--topic", names["behaviour"], "--from", start, "--to", end, "--config",
            str(config), "--out", str(out), "--shadow", shadow, "--no-progress"]  # fmt: skip
    done = run_cli(args, {"kafka_security": {"sasl_password": PASSWORD}})

    assert done.returncode == 0, done.stderr[-3000:]
    summary = (out / "summary.json").read_text()
    behaviour = sum(m["topic"] == "behaviour" for m in generate(customers=40, days=10, seed=3))
    assert f'"events": {behaviour}' in summary
    written = list(read_topic(plaintext(secured_kafka), shadow))
    assert written, "no changes on the shadow topic"
    files = [p.read_text(errors="replace") for p in out.rglob("*") if p.is_file()]
    assert_no_password(done.stdout, done.stderr, *files)


@dataclass(frozen=True)
class Refused:
    code: int
    output: str
    seconds: float


PROBLEMS: dict[str, tuple[dict[str, str | None], str]] = {
    # what is wrong -> (security settings, what the one line must name)
    # It holds PASSWORD: a leak of the wrong one is caught as well.
    "wrong-password": ({"sasl_password": "not-" + PASSWORD}, "sasl_password"),
    "ca-that-did-not-sign": ({"ssl_cafile": "{other_ca}"}, "ssl_cafile"),
    "system-cas": ({"ssl_cafile": None}, "ssl_cafile"),
}
REPLAY = ["replay", "--topic", "t", "--from", "2026-01-01", "--to", "2026-01-02"]
COMMANDS = {
    "worker": ["worker", "--loglevel", "debug"],
    "replay": [*REPLAY, "--out", "{out}", "--no-progress"],
}


@pytest.fixture(scope="module")
def refused(
    secured_kafka: ApacheKafka, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], Refused]:
    """Every command under every problem, run together (each is a fresh interpreter)."""
    folder = tmp_path_factory.mktemp("refused")
    other_ca = make_tls(folder / "other-ca").ca  # someone else's CA

    def attempt(problem: str, command: str) -> Refused:
        security, _ = PROBLEMS[problem]
        security = {k: str(other_ca) if v == "{other_ca}" else v for k, v in security.items()}
        values = {**secured(secured_kafka, changes=security), "web_port": free_port(),
                  "data_dir": str(folder / f"{problem}-{command}")}  # fmt: skip
        args = [a.replace("{out}", str(folder / f"{problem}-out")) for a in COMMANDS[command]]
        started = time.monotonic()
        done = run_cli(args, values, debug=False, timeout=120)
        return Refused(done.returncode, done.stdout + done.stderr, time.monotonic() - started)

    cases = [(p, c) for p in PROBLEMS for c in COMMANDS]
    with ThreadPoolExecutor(3) as pool:  # two cores: more only queue
        return dict(zip(cases, pool.map(lambda case: attempt(*case), cases), strict=True))


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("problem", PROBLEMS)
def test_a_refused_connection_is_one_line_naming_the_setting_and_exit_1(
    refused: dict[tuple[str, str], Refused], problem: str, command: str
) -> None:
    result = refused[problem, command]
    lines = result.output.strip().splitlines()
    assert result.code == 1, result.output[-3000:]
    assert len(lines) == 1, result.output[-3000:]
    assert lines[0].startswith(f"segment-engine {command}: Kafka at ")
    assert PROBLEMS[problem][1] in lines[0]
    assert result.seconds < FAIL_WITHIN_SECONDS, f"{result.seconds:.1f} s"
    assert_no_password(result.output)
