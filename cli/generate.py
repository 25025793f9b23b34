"""``segment-engine generate``: the synthetic stream, to Kafka topics or a JSON Lines file."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from brokers.clients import ensure_topics, producer
from settings import Settings
from synthetic import generate, labels

Message = dict[str, Any]


def topic_for(settings: Settings, role: str) -> str:
    return {"behaviour": settings.topics.behaviour, "profile": settings.topics.profiles}[role]


def write_jsonl(messages: Iterable[Message], path: Path) -> int:
    """One input event per line, in event-time order; the role goes in ``_topic``."""
    count = 0
    with path.open("w") as out:
        for message in messages:
            out.write(json.dumps({"_topic": message["topic"], **message["value"]}) + "\n")
            count += 1
    return count


def send(messages: Iterable[Message], settings: Settings) -> int:
    """Produce to the input topics, keyed by customer; returns how many were sent."""
    roles = ("behaviour", "profile")
    ensure_topics(settings, [topic_for(settings, role) for role in roles])
    client = producer(settings)
    count = 0
    try:
        for message in messages:
            client.send(
                topic_for(settings, message["topic"]),
                key=message["key"].encode(),
                value=json.dumps(message["value"]).encode(),
            )
            count += 1
        client.flush()
    finally:
        client.close()
    return count


def write_labels(truth: dict[str, str], path: Path) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["customer_id", "segment"])
        writer.writerows(sorted(truth.items()))


def stream(args: argparse.Namespace) -> Iterator[Message]:
    return generate(customers=args.customers, days=args.days, seed=args.seed)


def generate_command(settings: Settings, args: argparse.Namespace) -> int:
    if args.out is not None:
        count = write_jsonl(stream(args), args.out)
        where = str(args.out)
    else:
        count = send(stream(args), settings)
        where = (
            f"{settings.kafka_bootstrap} ({settings.topics.behaviour}, {settings.topics.profiles})"
        )
    if args.labels is not None:
        write_labels(labels(customers=args.customers, seed=args.seed), args.labels)
    print(f"wrote {count} events for {args.customers} customers to {where}", file=sys.stderr)
    return 0
