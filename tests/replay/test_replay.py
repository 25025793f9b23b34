"""Replay end to end through the CLI: outputs, determinism and one-line errors."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import pytest

from cli.generate import write_jsonl, write_labels
from cli.main import main
from schemas import SegmentChange
from synthetic import Shift, generate, labels

CUSTOMERS, DAYS = 60, 50
CONFIG = """
[engine]

[engine.learned]
warmup_updates = 150
publish_every = 300

[engine.drift]
reference_delay_seconds = 604800
reference_size = 200

[[engine.rules]]
id = "big-spenders"
name = "Big spenders"
expression = "monetary_30d > 200"
"""


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("log") / "events.jsonl"
    shift = Shift(0.5, "bargain_hunters", "high_value_loyal", 0.6)
    write_jsonl(generate(CUSTOMERS, DAYS, seed=3, shift=shift), path)
    return path


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "small.toml"
    path.write_text(CONFIG)
    return path


def replay(log: Path, config: Path, out: Path, *extra: str) -> int:
    return main(["replay", str(log), "--out", str(out), "--config", str(config),
                 "--no-progress", *extra])  # fmt: skip


def test_same_log_and_config_give_byte_identical_outputs(
    log: Path, config: Path, tmp_path: Path
) -> None:
    assert replay(log, config, tmp_path / "a") == 0
    assert replay(log, config, tmp_path / "b") == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["assignments.csv", "drift.csv", "rejects.csv", "report.html",
                     "segment_changes.jsonl", "segments.json", "summary.json"]  # fmt: skip
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_outputs_follow_their_contracts(log: Path, config: Path, tmp_path: Path) -> None:
    assert replay(log, config, tmp_path) == 0
    lines = (tmp_path / "segment_changes.jsonl").read_text().splitlines()
    changes = [SegmentChange.model_validate_json(line) for line in lines]
    assert changes, "a 50-day log with a published model must move customers"
    assert all(c.emitted_at == c.changed_at for c in changes)
    # Each partition keeps its own event time, so order holds per customer, not overall.
    by_customer: dict[str, list[datetime]] = {}
    for change in changes:
        by_customer.setdefault(change.customer_id, []).append(change.changed_at)
    assert all(times == sorted(times) for times in by_customer.values())
    with (tmp_path / "assignments.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == CUSTOMERS
    assert {"purchase_count", "total_spend", "first_seen", "last_seen", "last_purchase_at",
            "frequency_30d"} <= rows[0].keys()  # fmt: skip
    # Each customer's learned segment is the one their last learned change named.
    last: dict[str, str | None] = {}
    for change in changes:
        if (change.segment or change.previous_segment).kind == "learned":  # type: ignore[union-attr]
            last[change.customer_id] = change.segment.id if change.segment else None
    assert {r["customer_id"]: r["segment_id"] or None for r in rows} == {
        r["customer_id"]: last.get(r["customer_id"]) for r in rows
    }
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["events"] == len(log.read_text().splitlines())
    assert summary["changes"] == len(changes)
    segments = json.loads((tmp_path / "segments.json").read_text())
    assert {s["segment"]["id"] for s in segments["segments"]} >= {
        r["segment_id"] for r in rows if r["segment_id"]
    }
    with (tmp_path / "drift.csv").open() as f:
        drift = list(csv.DictReader(f))
    assert drift, "the reference completes within the log, so sweeps score drift"
    assert {d["detector"] for d in drift} >= {"psi", "js"}


def test_unreadable_lines_are_rejected_with_reasons_not_dropped(
    log: Path, config: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    lines = log.read_text().splitlines()
    bad.write_text("\n".join([lines[0], "{oops", lines[1], '{"_topic": "behaviour"}', *lines[2:]]))
    assert replay(bad, config, tmp_path / "out") == 0
    with (tmp_path / "out" / "rejects.csv").open() as f:
        rejects = list(csv.DictReader(f))
    assert [r["origin"].rsplit(":", 1)[-1] for r in rejects] == ["2", "4"]
    assert all(r["reason"] and r["error"] for r in rejects)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["events"] == len(lines)


def test_backtest_compares_configs_side_by_side(log: Path, config: Path, tmp_path: Path) -> None:
    other = tmp_path / "four.toml"
    other.write_text(CONFIG.replace("publish_every = 300", "publish_every = 300\nn_segments = 4"))
    truth = tmp_path / "labels.csv"
    write_labels(labels(CUSTOMERS, seed=3), truth)
    out = tmp_path / "bt"
    code = main(["backtest", str(log), "--config", str(config), "--config", str(other),
                 "--out", str(out), "--labels", str(truth), "--no-progress"])  # fmt: skip
    assert code == 0
    with (out / "comparison.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["config"] for r in rows] == ["small", "four"]
    assert all(-1 <= float(r["ari"]) <= 1 for r in rows)
    assert rows[0]["segment_sizes"] != rows[1]["segment_sizes"]
    assert (out / "small" / "assignments.csv").exists() and (out / "four" / "report.html").exists()
    report = (out / "report.html").read_text()
    assert "small" in report and "four" in report


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["replay", "missing.jsonl", "--out", "o"], "missing.jsonl"),
        (["replay", "--out", "o"], "input file"),
        (["replay", "x.jsonl", "--out", "o", "--config", "nope.toml"], "nope.toml"),
        (["replay", "--topic", "t", "--out", "o"], "--from"),
        (["backtest", "x.jsonl", "--out", "o"], "--config"),
    ],
)
def test_bad_arguments_get_one_line(
    argv: list[str], names: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.jsonl").write_text("")
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and names in err


def test_a_backtest_refuses_configs_whose_input_bounds_differ(
    log: Path, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "bounds.toml"
    other.write_text(CONFIG + "\n[engine.input_bounds]\nmax_replay_jump_seconds = 86400\n")
    code = main(["backtest", str(log), "--config", str(config), "--config", str(other),
                 "--out", str(tmp_path / "bt"), "--no-progress"])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "segment-engine: engine.input_bounds: the backtest's configs must agree"
    ]
    assert not (tmp_path / "bt").exists()
