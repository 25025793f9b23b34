"""``segment-engine replay`` and ``segment-engine backtest``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from replay import sources
from replay.model import ReplayOutcome
from replay.outputs import write_all, write_comparison
from replay.quality import ari_against, read_labels
from replay.report import render
from replay.run import Ordered, Replay, order, run
from replay.sources import Record, Reject, SourceError
from schemas.config import EngineConfig
from settings import Settings, load_settings


def replay_command(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    args.partitions = args.partitions or settings.topic_partitions
    ordered = _read(args, settings, settings.engine.extra_event_types)
    replay = _run(_name(args.config), settings.engine, ordered, args)
    write_all(replay, ordered.rejects, args.out)
    if args.shadow:
        from replay.kafka_range import write_shadow

        write_shadow(settings, args.shadow, replay.changes)
    _print_summary(replay, ordered, args.out)
    return 0


def backtest_command(args: argparse.Namespace) -> int:
    configs = [(path, load_settings(path)) for path in args.config]
    if len({s.engine.input_bounds for _, s in configs}) > 1:
        # The log is read and ordered once, under one set of bounds.
        raise SourceError("engine.input_bounds: the backtest's configs must agree")
    args.partitions = args.partitions or configs[0][1].topic_partitions
    extra = sorted({t for _, s in configs for t in s.engine.extra_event_types})
    ordered = _read(args, configs[0][1], tuple(extra))
    outcomes: list[ReplayOutcome] = []
    rows: list[dict[str, Any]] = []
    for name, (_, settings) in zip(_unique([_name(p) for p, _ in configs]), configs, strict=True):
        replay = _run(name, settings.engine, ordered, args)
        write_all(replay, ordered.rejects, args.out / name)
        outcomes.append(replay.outcome)
        rows.append(comparison_row(replay))
        _print_summary(replay, ordered, args.out / name)
    write_comparison(rows, args.out / "comparison.csv")
    (args.out / "report.html").write_text(render(outcomes, rows, title="Backtest"))
    print(f"comparison of {len(rows)} configs in {args.out}", file=sys.stderr)
    return 0


def comparison_row(replay: Replay) -> dict[str, Any]:
    stats = replay.outcome.stats
    learned = replay.status.learned_sizes
    total = sum(learned.values())
    keys = ["events_accepted", "customers", "model_version", "segments_live", "changes",
            "changes_per_1k_events", "reassignments", "flapping_share", "silhouette", "ari",
            "drift_detections"]  # fmt: skip
    row: dict[str, Any] = {"config": replay.name}
    row.update({key: stats.get(key) for key in keys})
    row.update({k: v for k, v in sorted(stats.items()) if k.startswith("drift_detections_")})
    row["largest_segment_share"] = round(max(learned.values()) / total, 4) if total else None
    row["segment_sizes"] = " ".join(f"{k}:{n}" for k, n in sorted(learned.items()))
    return row


def _run(name: str, config: EngineConfig, ordered: Ordered, args: argparse.Namespace) -> Replay:
    with _progress(len(ordered.events), f"replay {name}", args.no_progress) as bar:
        replay = run(name, config, ordered.events, bar.update, args.partitions)
    if args.labels is not None:
        assigned = {s.customer_id: s.segment_id for s in replay.store.states.values()
                    if s.segment_id is not None}  # fmt: skip
        score = ari_against(assigned, read_labels(args.labels))
        replay.outcome.stats["ari"] = None if score is None else round(score, 4)
    return replay


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse flags that would be ignored, before anything connects."""
    if args.topic is None:
        return
    mapping_flags = {"--map": args.map, "--map-file": args.map_file,
                     "--type-map": args.type_map, "--set": args.sets}  # fmt: skip
    if given := [flag for flag, value in mapping_flags.items() if value]:
        # A topic holds the contract's own events: there is nothing to map.
        raise SourceError(f"{', '.join(given)}: for file inputs, not with --topic")


def _read(args: argparse.Namespace, settings: Settings, extra: Sequence[str]) -> Ordered:
    items: Iterable[Record | Reject]
    if args.topic is not None:
        if args.input is not None:
            raise SourceError("give an input file or --topic, not both")
        if args.from_ is None or args.to is None:
            raise SourceError("--topic needs --from and --to")
        from replay.kafka_range import read_topic_range

        start, end = sources.parse_range_time(args.from_), sources.parse_range_time(args.to)
        items = read_topic_range(settings, args.topic, start, end, extra_event_types=tuple(extra))
    else:
        if args.input is None:
            raise SourceError("give an input file (JSON Lines, CSV or Parquet) or --topic")
        mapping = sources.ColumnMap.parse(args.map, args.type_map, args.map_file, args.sets)
        items = sources.read_log(
            args.input, mapping.columns, mapping.types, tuple(extra),
            settings.engine.input_bounds, mapping.constants,
        )  # fmt: skip
    with _progress(None, "read", args.no_progress) as bar:
        jump_ms = int(settings.engine.input_bounds.max_replay_jump_seconds * 1000)
        return order(_counting(items, bar), args.partitions, jump_ms)


def _counting(items: Iterable[Record | Reject], bar: Any) -> Iterator[Record | Reject]:
    for n, item in enumerate(items, 1):
        if n % 10_000 == 0:
            bar.update(10_000)
        yield item


def _progress(total: int | None, label: str, off: bool) -> Any:
    # tqdm hides itself when stderr is not a terminal (disable=None).
    return tqdm(total=total, desc=label, unit="ev", unit_scale=True, file=sys.stderr,
                disable=True if off else None, mininterval=0.5)  # fmt: skip


def _print_summary(replay: Replay, ordered: Ordered, out: Path) -> None:
    stats = replay.outcome.stats
    print(
        f"{replay.name}: {stats['events']} events ({stats['events_accepted']} accepted, "
        f"{len(ordered.rejects)} rejected), {stats['customers']} customers, "
        f"{stats['changes']} changes, {stats['drift_detections']} drift detections "
        f"-> {out}",
        file=sys.stderr,
    )


def _name(config: Path | None) -> str:
    return config.stem if config is not None else "replay"


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return out
