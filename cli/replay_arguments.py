"""Arguments of ``segment-engine replay`` and ``backtest`` (kept light: the CLI's
parser imports this before it knows which command runs)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser, backtest: bool) -> None:
    parser.add_argument("input", nargs="?", type=Path, help="JSON Lines, CSV or Parquet log")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    if backtest:
        parser.add_argument("--config", type=Path, action="append", required=True,
                            help="TOML settings file; give two or more to compare")  # fmt: skip
    else:
        parser.add_argument("--config", type=Path, help="TOML settings file (engine config)")
    parser.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                        help="input column (or JSON key) for a schema field")  # fmt: skip
    parser.add_argument("--map-file", type=Path, help="TOML or JSON column and type mapping")
    parser.add_argument("--type-map", action="append", default=[], metavar="FROM=TO",
                        help="rename an event type, e.g. view=page_view")  # fmt: skip
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="FIELD=VALUE",
                        help="give a field the file lacks one value for every row, e.g. "
                        "type=purchase (a field is mapped or set, not both)")  # fmt: skip
    parser.add_argument("--labels", type=Path, help="CSV customer_id,segment to score ARI against")
    parser.add_argument("--topic", help="read a Kafka topic instead of a file")
    parser.add_argument("--from", dest="from_", metavar="TIME", help="start of the topic range")
    parser.add_argument("--to", metavar="TIME", help="end of the topic range (exclusive)")
    if not backtest:
        parser.add_argument("--shadow", metavar="TOPIC",
                            help="also write the replay's changes to this Kafka topic")  # fmt: skip
    parser.add_argument("--partitions", type=_at_least_one, metavar="N",
                        help="partitions to route customers to, as Kafka's default partitioner"
                        " would (default: the settings' topic_partitions)")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
