"""``python -m bench.suite --smoke``: every part of the benchmark suite runs and prints
its rows, with a number where the table has a ratio. The figures are not judged."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"\d+\.\d\d"
# Measurement (its start) -> the pattern of its ratio, for every row a part must print.
RATIOS = {
    "1. limit: aiokafka getmany + json.loads": r"1\.00",
    "(info) aiokafka + pydantic model_validate_json": NUMBER,
    "2. naive: bare Faust agent + River KMeans": NUMBER,
    "3. live pipeline, sustained (x limit)": NUMBER,
    "live pipeline (x naive)": NUMBER + "x",
    "(info) broker floor: relay, no engine, same pace": NUMBER + "x p99",
    "4. read + decode (replay's reader), no broker": r"1\.00",
    "replay: read, order, engine": NUMBER,
    "5. RSS per customer, memory://, after 2 weeks": NUMBER + " KiB",
    "5. RSS per customer, memory://, after 3 events": NUMBER + " KiB",
    "5. RSS per customer, rocksdb://, after 2 weeks": NUMBER + " KiB",
    "5. RSS per customer, rocksdb://, after 3 events": NUMBER + " KiB",
}
LATENCY = "latency at half the live rate"


def table(output: str) -> dict[str, tuple[str, str]]:
    """The suite's closing table: measurement -> (figure, ratio), cut at the header's
    column starts (the table pads every cell to its column's width)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("measurement "))
    head = lines[start]
    figure, ratio, target = (head.index(name) for name in ("figure", "ratio", "target"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        cells = line[:figure], line[figure:ratio], line[ratio:target]
        rows[cells[0].strip()] = (cells[1].strip(), cells[2].strip())
    return rows


def test_every_part_runs_and_prints_its_ratios(broker_bin: str, tmp_path: Path) -> None:
    env = {**os.environ, "SEGMENT_ENGINE_BENCH_CACHE": str(tmp_path)}  # a fresh log cache
    run = subprocess.run(
        [sys.executable, "-m", "bench.suite", "--smoke"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = table(run.stdout)
    for start, pattern in RATIOS.items():
        found = [ratio for name, (_, ratio) in rows.items() if name.startswith(start)]
        assert len(found) == 1, f"{start!r}: {len(found)} rows in\n{run.stdout}"
        assert re.fullmatch(pattern, found[0]), f"{start!r}: ratio {found[0]!r}"
    latency, _ = rows[LATENCY]
    assert re.match(r"p50 \d+ ms, p99 \d+ ms \([1-9]", latency), latency
