"""The engine compiled by Cython (setup.py) decides exactly what the pure modules do.

Each flavour replays the same generated log in its own process: the pure one from a
copy of ``engine/`` that holds only the ``.py`` files. Their changes, final states
and replay outcome (timeline, drift, profiles, scores) must be identical.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import engine
from cli.compiled import (
    ENGINE_DIR,
    compiled_engine_files,
    stale_engine_message,
    stale_engine_sources,
)
from cli.generate import write_jsonl
from schemas import EngineConfig
from synthetic import generate
from tests.conftest import need

ROOT = ENGINE_DIR.parent

# Run in a child process over the log: both digests of bench.replay_rate, and one of the
# whole outcome. Two partitions, so per-partition watermarks and timers take part.
REPLAY = """
import hashlib, json, sys
from pathlib import Path
import engine.segment_engine
from bench.replay_rate import changes_digest, states_digest
from replay.run import order, run
from replay.sources import read_log
from schemas import EngineConfig

events = order(read_log(Path(sys.argv[1])), partitions=2).events
replay = run("compiled", EngineConfig.model_validate_json(sys.argv[2]), events, partitions=2)
outcome = hashlib.sha256(repr(replay.outcome).encode()).hexdigest()[:12]
print(json.dumps({
    "module": engine.segment_engine.__file__,
    "events": len(events),
    "changes": len(replay.changes),
    "changes_digest": changes_digest(replay.changes),
    "states_digest": states_digest(replay.store),
    "outcome_digest": outcome,
}))
"""


def replay_digests(log: Path, config: str, pythonpath: list[Path]) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in pythonpath)}
    done = subprocess.run(
        [sys.executable, "-c", REPLAY, str(log), config],
        cwd=pythonpath[0],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def require_compiled() -> None:
    if not compiled_engine_files(ENGINE_DIR):
        need("the compiled engine (make compile)")


def test_every_engine_module_is_compiled() -> None:
    require_compiled()
    sources = {p for p in ENGINE_DIR.rglob("*.py") if p.name != "__init__.py"}
    assert sources == {source for _, source in compiled_engine_files(ENGINE_DIR)}
    assert Path(engine.segment_engine.__file__).suffix != ".py"


# The default, and one that takes other modules in: rule segments, DBSTREAM, one drift
# detector with a reference after two days.
CONFIGS = {
    "default": EngineConfig(),
    "rules-dbstream-drift": EngineConfig.model_validate(
        {
            "rules": [
                {"id": "buyers", "name": "Buyers", "expression": "purchase_count >= 1"},
                {"id": "big", "name": "Big spenders", "expression": "total_spend > 300"},
            ],
            "learned": {"model": "dbstream"},
            "drift": {"detectors": ["page_hinkley"], "reference_delay_seconds": 172_800},
        }
    ),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_compiled_and_pure_replays_are_identical(name: str, tmp_path: Path) -> None:
    require_compiled()
    pure = tmp_path / "pure"
    shutil.copytree(
        ENGINE_DIR, pure / "engine", ignore=shutil.ignore_patterns("*.so", "__pycache__")
    )

    log = tmp_path / "log.jsonl"
    write_jsonl(generate(customers=600, days=12.0, seed=11), log)
    config = CONFIGS[name].model_dump_json()
    compiled_run = replay_digests(log, config, [ROOT])
    pure_run = replay_digests(log, config, [pure, ROOT])

    assert str(compiled_run["module"]).endswith(tuple(EXTENSION_SUFFIXES))
    assert str(pure_run["module"]) == str(pure / "engine" / "segment_engine.py")
    assert int(str(compiled_run["changes"])) > 100  # a log where segments actually move
    del compiled_run["module"], pure_run["module"]
    assert compiled_run == pure_run


def test_a_stale_compiled_module_is_found_in_a_source_checkout(tmp_path: Path) -> None:
    package = tmp_path / "engine"
    package.mkdir()
    source, extension = package / "state.py", package / f"state{EXTENSION_SUFFIXES[0]}"
    extension.write_bytes(b"")
    source.write_text("")
    os.utime(extension, (1_000, 1_000))
    os.utime(source, (2_000, 2_000))
    assert stale_engine_sources(package) == [source]
    assert stale_engine_message(package) is None  # not a checkout: no setup.py beside it
    (tmp_path / "setup.py").write_text("")
    assert "engine/state.py changed after it was compiled" in str(stale_engine_message(package))

    os.utime(extension, (3_000, 3_000))
    assert stale_engine_sources(package) == []
    assert stale_engine_message(package) is None

    source.unlink()  # a compiled module left behind by a deleted source
    assert "engine/state.py is gone" in str(stale_engine_message(package))
