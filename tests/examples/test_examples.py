"""The subscriber examples (``examples/``) against a real worker on the embedded broker.

Each example runs as its own process, as a subscriber would run it. What it ends with
must equal the worker's own answer, the compacted ``customer-segments`` topic; a copy
of a real change sent again is applied once; the bootstrap reads every customer the
topic held. The README's subscriber section shows ``follow_changes.py`` as it is.
"""

from __future__ import annotations

import ast
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from brokers.clients import ensure_topics, producer
from brokers.embedded import EmbeddedBroker
from cli.generate import send
from cli.local import wait_for_count
from synthetic import generate

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ENGINE = {
    "learned": {"warmup_updates": 100, "publish_every": 100, "learn_interval_seconds": 3600},
    # Rules that customers enter and leave within the run, so both kinds of change flow.
    "rules": [
        {"id": "seen-today", "name": "Seen today", "expression": "days_since_last_seen < 1"},
        {"id": "spender", "name": "Spender", "expression": "monetary_7d > 50"},
    ],
}
Members = dict[str, dict[str, Any]]


@pytest.fixture
def broker(tansu: EmbeddedBroker) -> EmbeddedBroker:
    return tansu


class Example:
    """An example script as a child process, its output lines gathered as they come."""

    def __init__(self, script: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-u", str(EXAMPLES / script), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None and self.process.stderr is not None
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self.out.extend, args=(self.process.stdout,)),
            threading.Thread(target=self.err.extend, args=(self.process.stderr,)),
        ]
        for reader in self._readers:
            reader.start()

    def wait_for(self, what: str, ready: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"{what}: not within {timeout:.0f} s; stderr: {''.join(self.err)}")
            time.sleep(0.1)

    def stop(self, interrupt: bool = False, timeout: float = 60) -> None:
        """Ctrl-C if asked, then wait for the exit (kill it past ``timeout``)."""
        if interrupt and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join()
        for pipe in (self.process.stdout, self.process.stderr):
            assert pipe is not None
            pipe.close()

    def members(self) -> Members:
        """The JSON it printed last, once it has exited cleanly."""
        assert self.process.returncode == 0, "".join(self.err)
        final: Members = json.loads(self.out[-1])
        return final

    def duplicates(self) -> list[str]:
        return [line.split()[2] for line in self.out[:-1] if line.split()[1] == "duplicate"]

    def applied(self) -> int:
        return len(self.out) - 1 - len(self.duplicates())


def memberships(worker: Any) -> Members:
    """What the worker says each customer is in now: customer-segments, latest per key."""
    members: Members = {}
    for record in worker.read(worker.settings.topics.memberships):
        if record.value is None:
            members.pop(record.key.decode(), None)
        else:
            value = json.loads(record.value)
            members[value["customer_id"]] = {"learned": value["learned"], "rules": value["rules"]}
    return members


def ids(members: Members) -> dict[str, tuple[str | None, list[str]]]:
    """Each customer's learned segment id and rule ids. Names are left out: a segment
    may be renamed at a publication without a change, so a subscriber holds the name
    the last change brought while customer-segments may hold a newer one."""
    return {
        customer: ((m["learned"] or {}).get("id"), [rule["id"] for rule in m["rules"]])
        for customer, m in members.items()
    }


def stale(change: dict[str, Any], members: Members) -> bool:
    """Whether applying ``change`` again now would leave a customer somewhere else."""
    member = members.get(change["customer_id"])
    new, old = change["segment"], change["previous_segment"]
    if member is None or change["reason"] == "erased":
        return False
    rules = {rule["id"] for rule in member["rules"]}
    if (new or old)["kind"] == "learned":
        return (new or {}).get("id") != (member["learned"] or {}).get("id")
    return new["id"] not in rules if new else old["id"] in rules


@pytest.fixture
def run_example() -> Iterator[Callable[..., Example]]:
    """Start an example script; whatever a test leaves running is stopped after it."""
    started: list[Example] = []

    def run(script: str, *args: str) -> Example:
        started.append(Example(script, *args))
        return started[-1]

    yield run
    for example in started:
        example.stop(timeout=0)


def erase(client: Any, topic: str, customer: str, timestamp: str, request_id: str) -> None:
    request = {"customer_id": customer, "timestamp": timestamp, "request_id": request_id}
    client.send(topic, key=customer.encode(), value=json.dumps(request).encode())
    client.flush()


def test_the_examples_end_where_the_worker_says_and_apply_a_change_once(
    start_worker: Callable[..., Any], run_example: Callable[..., Example]
) -> None:
    worker = start_worker(engine=ENGINE)
    settings, url = worker.settings, worker.metrics_url
    t = settings.topics
    ensure_topics(settings, [t.behaviour, t.profiles, t.erasures])
    generated = list(generate(customers=40, days=14, seed=5))
    half = len(generated) // 2
    with producer(settings) as client:
        # Phase one and an erasure (a tombstone on customer-segments); then the bootstrap
        # example starts, while the worker is idle.
        send(generated[:half], settings)
        wait_for_count(url, half, timeout=120)
        gone = next(c for c, m in memberships(worker).items() if m["learned"] is not None)
        erase(client, t.erasures, gone, generated[half - 1]["value"]["timestamp"], "r-1")
        wait_for_count(url, half + 1, timeout=60)
        before = {json.loads(r.value)["change_id"] for r in worker.read(t.changes)}
        held = memberships(worker)
        bootstrap = f"--bootstrap={settings.kafka_bootstrap}"
        booting = run_example("bootstrap_then_follow.py", bootstrap, "--overlap-seconds=0")
        booting.wait_for("the bootstrap", lambda: any("following" in line for line in booting.err))

        # Phase two, another erasure, and a copy of a change sent again after the customer
        # moved on.
        send(generated[half:], settings)
        erased = next(c for c, m in held.items() if m["learned"] is not None)
        erase(client, t.erasures, erased, generated[-1]["value"]["timestamp"], "r-2")
        wait_for_count(url, len(generated) + 2, timeout=120)
        records = worker.read(t.changes)
        truth = memberships(worker)
        after = [r for r in records if json.loads(r.value)["change_id"] not in before]
        copy = next(r for r in after if stale(json.loads(r.value), truth))
        client.send(t.changes, key=copy.key, value=copy.value, partition=copy.partition)
        client.flush()
    copied = json.loads(copy.value)["change_id"]
    booting.wait_for("the changes", lambda: len(booting.out) >= len(after) + 1)
    booting.stop(interrupt=True)

    following = run_example("follow_changes.py", bootstrap, "--group=t", "--idle-seconds=5")
    following.stop()

    assert gone not in held and erased in held and erased not in truth
    assert ids(following.members()) == ids(truth)
    assert following.duplicates() == [copied]
    assert following.applied() == len({json.loads(r.value)["change_id"] for r in records})
    # The bootstrap read every customer the topic held, then followed only what came after.
    summary = next(line for line in booting.err if "following" in line)
    assert summary.startswith(f"{len(held)} customers from {t.memberships};")
    assert ids(booting.members()) == ids(truth)
    assert booting.duplicates() == [copied]
    assert booting.applied() == len(after)


def test_the_examples_need_nothing_of_the_project() -> None:
    """Subscribers do not have our code: confluent-kafka, the standard library, and each
    other (bootstrap_then_follow.py builds on follow_changes.py)."""
    scripts = {path.stem for path in EXAMPLES.glob("*.py")}
    for path in sorted(EXAMPLES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                allowed = top in sys.stdlib_module_names or top in scripts | {"confluent_kafka"}
                assert allowed, f"{path.name} imports {name}"


def readme_code(readme: str, heading: str = "## Subscribing to segment changes") -> str:
    """The first python code block of the README section under ``heading``."""
    assert heading + "\n" in readme, f"README.md has no section {heading!r}"
    start = readme.index(heading + "\n")
    end = readme.find("\n## ", start + len(heading))
    section = readme[start : end if end >= 0 else len(readme)]
    found = re.search(r"^```python\n(.*?)^```$", section, re.DOTALL | re.MULTILINE)
    assert found, f"no python code block under {heading!r}"
    return found.group(1)


def test_the_readme_shows_follow_changes_as_it_is() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme_code(readme) == (EXAMPLES / "follow_changes.py").read_text()
