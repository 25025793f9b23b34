"""The files a replay leaves in its output directory.

Every writer is deterministic: rows in a fixed order, floats in ``repr`` form,
JSON with sorted keys, times as ISO-8601 UTC.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.changes import lifetime
from replay.model import ReplayOutcome
from replay.report import render
from replay.run import Replay
from replay.sources import Reject

CHANGES = "segment_changes.jsonl"
ASSIGNMENTS = "assignments.csv"
SEGMENTS = "segments.json"
DRIFT = "drift.csv"
REJECTS = "rejects.csv"
SUMMARY = "summary.json"
REPORT = "report.html"


def iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def write_all(replay: Replay, rejects: Sequence[Reject], out: Path) -> None:
    """Everything for one replay: changes, assignments, segments, drift, rejects,
    summary and the report."""
    out.mkdir(parents=True, exist_ok=True)
    write_changes(replay, out / CHANGES)
    write_assignments(replay, out / ASSIGNMENTS)
    write_json(segments_document(replay), out / SEGMENTS)
    write_drift(replay.outcome, out / DRIFT)
    write_rejects(rejects, out / REJECTS)
    write_json(replay.outcome.stats, out / SUMMARY)
    (out / REPORT).write_text(render([replay.outcome], title=f"Replay: {replay.name}"))


def write_changes(replay: Replay, path: Path) -> None:
    with path.open("w") as f:
        for change in replay.changes:
            at = datetime.fromtimestamp(change.changed_at_ms / 1000, UTC)
            f.write(change.to_message(emitted_at=at).model_dump_json() + "\n")


def assignment_rows(replay: Replay) -> Iterable[dict[str, Any]]:
    """One row per customer with behaviour (erasure tombstones are left out)."""
    status = replay.status
    now, features = status.watermark_ms, status.learned_features
    names = {s.id: s.name for s in status.segments if s.kind == "learned"}
    for customer_id in sorted(replay.store.states):
        state = replay.store.states[customer_id]
        if state.last_seen_ms is None or now is None:
            continue
        life = lifetime(state)
        x = replay.engine.learned_features(state, now)
        yield {
            "customer_id": customer_id,
            "segment_id": state.segment_id or "",
            "segment_name": names.get(state.segment_id or "", ""),
            "rule_segments": ";".join(sorted(state.rule_segments)),
            "purchase_count": life.purchase_count,
            "total_spend": repr(life.total_spend),
            "first_seen": iso(life.first_seen_ms),
            "last_seen": iso(life.last_seen_ms),
            "last_purchase_at": iso(life.last_purchase_ms),
            **{name: _cell(x.get(name)) for name in features},
        }


def write_assignments(replay: Replay, path: Path) -> None:
    header = ["customer_id", "segment_id", "segment_name", "rule_segments", "purchase_count",
              "total_spend", "first_seen", "last_seen", "last_purchase_at",
              *replay.status.learned_features]  # fmt: skip
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(assignment_rows(replay))


def segments_document(replay: Replay) -> dict[str, Any]:
    status = replay.status
    return {
        "as_of": iso(status.watermark_ms),
        "model_version": status.model_version,
        "segments": replay.outcome.profiles,
        "lineage": [
            {
                "version": e.version,
                "kind": e.kind,
                "sources": list(e.sources),
                "targets": list(e.targets),
            }
            for e in status.lineage
        ],
        "config": replay.config.model_dump(mode="json"),
    }


def write_drift(outcome: ReplayOutcome, path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["event_time", "detector", "feature", "score", "threshold",
                         "detected", "since", "model_version"])  # fmt: skip
        for r in outcome.drift:
            writer.writerow([iso(r.at_ms), r.detector, r.subject, repr(r.score),
                             repr(r.threshold), int(r.detected), iso(r.since_ms),
                             r.model_version])  # fmt: skip


def write_rejects(rejects: Sequence[Reject], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["position", "origin", "reason", "error", "raw"])
        for r in rejects:
            writer.writerow([r.position, r.origin, r.reason, r.error, r.raw])


def write_json(document: Mapping[str, Any], path: Path) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_comparison(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    header = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)


def _cell(value: object) -> object:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else value
