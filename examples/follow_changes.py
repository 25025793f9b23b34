"""A personalisation engine's subscriber: follows segment-changes, keeps each customer's
segments, and prints them as JSON at the end (Ctrl-C, or --idle-seconds without a record)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from confluent_kafka import Consumer

# customer id -> {"learned": segment or None, "rules": [segment, ...] by id}, a segment
# being {"id", "name", "kind"} as in schemas/json/segment_change.schema.json.
Members = dict[str, dict[str, Any]]
# The worker sends a change again (same change_id) only after a crash or a rebalance,
# with all it had sent since its last commit: seconds after the original. The last
# 100,000 ids (~12 MB; a dict keeps insertion order, the oldest goes first) reach far past.
SEEN_MAX = 100_000


def apply(change: dict[str, Any], members: Members, seen: dict[str, None]) -> None:
    """Apply one change to ``members``, once per change_id, and say what it did."""
    if change["change_id"] in seen:
        print(change["customer_id"], "duplicate", change["change_id"], "skipped")
        return
    seen[change["change_id"]] = None
    if len(seen) > SEEN_MAX:
        del seen[next(iter(seen))]
    new, old = change["segment"], change["previous_segment"]
    print(change["customer_id"], change["reason"], (new or old)["id"], (new or old)["name"])
    member = members.setdefault(change["customer_id"], {"learned": None, "rules": []})
    if change["reason"] == "erased":  # one per segment left: the customer is gone
        del members[change["customer_id"]]
    elif (new or old)["kind"] == "learned":
        member["learned"] = new
    else:  # entered_rule (new) or left_rule (old)
        rules = [rule for rule in member["rules"] if rule["id"] != (new or old)["id"]]
        member["rules"] = sorted(rules + ([new] if new else []), key=lambda rule: rule["id"])


def follow(consumer: Consumer, members: Members, idle: float | None, since_ms: int = 0) -> None:
    """Apply each change stamped ``since_ms`` or later; print the members at the end."""
    seen: dict[str, None] = {}
    last: float | None = None  # when the partitions came, then each record
    try:
        while idle is None or last is None or time.monotonic() - last < idle:
            msg = consumer.poll(0.5)
            if last is None and consumer.assignment():
                last = time.monotonic()
            if msg is not None and msg.error():
                print(msg.error(), file=sys.stderr)  # librdkafka retries by itself
            elif msg is not None:
                last = time.monotonic()
                value = msg.value()
                if value is not None and msg.timestamp()[1] >= since_ms:
                    apply(json.loads(value), members, seen)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    print(json.dumps(members))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="segment-changes")
    parser.add_argument("--group", default="personalisation")
    parser.add_argument("--idle-seconds", type=float, help="stop after this long with no record")
    args = parser.parse_args()
    # The members live in this process, so it commits no offsets: each start reads the
    # topic from its start (kept output_retention_days, 7 by default) and builds them
    # again. For customers whose last change is older, see bootstrap_then_follow.py.
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         # librdkafka's 45 s makes the embedded broker hold a first join 23 s
                         "session.timeout.ms": 10_000})  # fmt: skip
    consumer.subscribe([args.topic])
    follow(consumer, {}, args.idle_seconds)


if __name__ == "__main__":
    main()
