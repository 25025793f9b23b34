"""``segment-engine`` as a process: a bad argument or setting is exit 2 and one line, no traceback.

Each case is a real ``python -m cli.main`` child. They are started together by a
module fixture (each spends most of a second importing pydantic-settings), and each
test then checks its own result.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    names: tuple[str, ...]  # what the one line must mention
    env: dict[str, str] = field(default_factory=dict)
    config: str | None = None  # TOML text, passed as --config <file>


CASES: dict[str, Case] = {
    "unknown-option": Case(("generate", "--bogus"), ("--bogus",)),
    "customers-not-a-number": Case(("generate", "--customers", "abc"), ("--customers", "abc")),
    "mapping-with-topic": Case(
        (
            "replay",
            "--topic",
            "t",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-02",
            "--out",
            "{out}",
            "--set",
            "type=purchase",
        ),
        ("--set", "--topic"),
    ),
    "config-check-bad-file": Case(("config", "check", "{missing}"), ("{missing}",)),
    "customers-zero": Case(("generate", "--customers", "0"), ("--customers", "positive")),
    "missing-config-generate": Case(("generate", "--config", "{missing}"), ("{missing}",)),
    "missing-config-worker": Case(("worker", "--config", "{missing}"), ("{missing}",)),
    "config-nested": Case(
        ("generate",),
        ("engine.learned.n_segments",),
        config="[engine.learned]\nn_segments = 1000\n",
    ),
    "env-value": Case(
        ("generate", "--out", "{out}"), ("web_port",), env={"SEGMENT_ENGINE_WEB_PORT": "not-a-port"}
    ),
    "bad-rule": Case(
        ("worker",),
        ("rule 'vip'", "column"),
        config='[[engine.rules]]\nid = "vip"\nname = "VIP"\nexpression = "monetary_90d >"\n',
    ),
    "rule-unknown-field": Case(
        ("worker",),
        ("rule 'de'", "cuntry"),
        config='[[engine.rules]]\nid = "de"\nname = "Germany"\nexpression = "cuntry == DE"\n',
    ),
    "unknown-learned-feature": Case(
        ("generate",),
        ("learned.features", "bogus_90d"),
        config='[engine.learned]\nfeatures = ["bogus_90d"]\n',
    ),
    "env-malformed-json": Case(
        ("generate", "--out", "{out}"), ("topics",), env={"SEGMENT_ENGINE_TOPICS": "{not json"}
    ),
}
KNOWN_BUGS: dict[str, str] = {}


@dataclass(frozen=True)
class Ran:
    result: subprocess.CompletedProcess[str]
    names: tuple[str, ...]
    out: Path


def run_case(name: str, case: Case, tmp: Path) -> Ran:
    workdir = tmp / name
    workdir.mkdir()
    paths = {"missing": str(workdir / "missing.toml"), "out": str(workdir / "out.jsonl")}
    args = [arg.format(**paths) for arg in case.args]
    if case.config is not None:
        (workdir / "settings.toml").write_text(case.config)
        args += ["--config", str(workdir / "settings.toml")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENT_ENGINE_")}
    # A bad setting must fail before anything connects; the timeout only turns a
    # regression that tries to reach Kafka into a failure instead of a hang.
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env={**env, **case.env},
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=180,  # the cases start together: slow on two busy cores
    )
    return Ran(result, tuple(n.format(**paths) for n in case.names), Path(paths["out"]))


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    tmp = tmp_path_factory.mktemp("cli")
    with ThreadPoolExecutor(max_workers=len(CASES)) as pool:
        futures = {name: pool.submit(run_case, name, case, tmp) for name, case in CASES.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[name]))
        if name in KNOWN_BUGS
        else name
        for name in CASES
    ],
)
def test_exit_2_with_one_line_naming_the_problem(ran: dict[str, Ran], name: str) -> None:
    result = ran[name].result
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("segment-engine"), lines[0]
    assert result.stdout == ""
    for needle in ran[name].names:
        assert needle in lines[0], lines[0]
    assert not ran[name].out.exists()  # nothing was generated
