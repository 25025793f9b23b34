"""The live worker and replay run the same engine: same log, same assignments.

With one partition the worker sees the log in the order replay sorts it into; with
four, the worker's partitions interleave as Faust fetches them, and model epochs make
the result independent of that. The worker decides in batches of whatever size Faust
hands it, replay in its own.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from brokers.clients import ensure_topics
from cli.generate import send, write_jsonl
from cli.local import wait_for_count
from cli.main import main
from schemas import SegmentChange
from settings import Settings
from synthetic import generate

pytestmark = pytest.mark.integration

ENGINE = {
    "learned": {"warmup_updates": 150, "publish_every": 300},
    "drift": {"reference_delay_seconds": 604800, "reference_size": 200},
    "rules": [{"id": "engaged", "name": "Engaged", "expression": "email_opens_30d >= 2"}],
}


EPOCHS = {**ENGINE, "learned": {**ENGINE["learned"], "epoch_seconds": 86400}}  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("partitions", "engine"), [(1, ENGINE), (4, EPOCHS)], ids=["one-partition", "four-epochs"]
)
def test_replay_ends_with_the_assignments_the_worker_reached(
    start_worker: Callable[..., Any], tmp_path: Path, partitions: int, engine: dict[str, Any]
) -> None:
    messages = list(generate(customers=50, days=40, seed=5, with_profiles=False))
    log = tmp_path / "events.jsonl"
    write_jsonl(messages, log)
    config = tmp_path / "engine.toml"
    config.write_text("engine = " + _toml_inline(engine) + "\n")

    worker = start_worker(engine=engine, topic_partitions=partitions)
    settings: Settings = worker.settings
    t = settings.topics
    ensure_topics(settings, [t.behaviour, t.profiles, t.erasures])
    send(messages, settings)
    wait_for_count(worker.metrics_url, len(messages))
    live: dict[tuple[str, str], str | None] = {}
    for m in worker.read(t.changes):
        change = SegmentChange.model_validate_json(m.value)
        ref = change.segment or change.previous_segment
        assert ref is not None
        live[(change.customer_id, ref.kind)] = change.segment.id if change.segment else None
        if ref.kind == "rule":
            live[(change.customer_id, ref.id)] = change.segment.id if change.segment else None

    out = tmp_path / "replay"
    assert main(["replay", str(log), "--out", str(out), "--config", str(config),
                 "--partitions", str(partitions), "--no-progress"]) == 0  # fmt: skip
    with (out / "assignments.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 50
    replayed_learned = {r["customer_id"]: r["segment_id"] or None for r in rows}
    live_learned = {c: live.get((c, "learned")) for c in replayed_learned}
    assert sum(1 for s in live_learned.values() if s) >= 40, "the model published and assigned"
    assert live_learned == replayed_learned
    replayed_rules = {r["customer_id"]: r["rule_segments"] for r in rows}
    live_rules = {c: "engaged" if live.get((c, "engaged")) else "" for c in replayed_rules}
    assert live_rules == replayed_rules


def _toml_inline(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_inline(v) for v in value) + "]"
    return json.dumps(value)
