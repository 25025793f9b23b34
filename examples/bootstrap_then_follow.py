"""A subscriber that starts with everyone: reads each customer's segments from
customer-segments (compacted: the latest record per customer, a tombstone once erased)
to its end, then follows segment-changes from there as follow_changes.py does, and
prints the segments as JSON at the end (Ctrl-C, or --idle-seconds without a record)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime

from confluent_kafka import Consumer, TopicPartition
from follow_changes import Members, follow


def consumer(bootstrap: str) -> Consumer:
    # librdkafka wants a group.id, but assign() joins no group and nothing is committed.
    return Consumer({"bootstrap.servers": bootstrap, "group.id": "bootstrap-then-follow",
                     "enable.auto.commit": False})  # fmt: skip


def read_to_end(bootstrap: str, topic: str) -> Members:
    """Each customer's segments on ``topic``, read from its start to its end."""
    reader = consumer(bootstrap)
    members: Members = {}
    ends: dict[int, int] = {}  # per partition, fixed by its first fetch
    partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
    listed = {
        p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in partitions
    }
    waiting = {p for p, (low, high) in listed.items() if high > low}
    reader.assign([TopicPartition(topic, p, listed[p][0]) for p in waiting])
    while waiting:
        msg = reader.poll(1.0)
        if msg is not None and msg.error():
            print(msg.error(), file=sys.stderr)  # librdkafka retries by itself
        if msg is None or msg.error():
            continue
        # The end: the high watermark the partition's first fetch brings. On Kafka the
        # listed one is the same or lower; the embedded broker (Tansu 0.6) lists the base
        # offset of the last record batch + 1, short of the rest of that batch.
        p, offset, value = msg.partition(), msg.offset(), msg.value()
        assert p is not None and offset is not None  # set on every record
        fetched = reader.get_watermark_offsets(TopicPartition(topic, p), cached=True)[1]
        end = ends.setdefault(p, max(listed[p][1], fetched))
        if value is None:  # a tombstone: the customer was erased
            members.pop((msg.key() or b"").decode(), None)
        else:  # rules come sorted by id, as follow() keeps them
            found = json.loads(value)
            members[found["customer_id"]] = {"learned": found["learned"], "rules": found["rules"]}
        if offset + 1 >= end:
            waiting.discard(p)
    reader.close()
    return members


def starts(follower: Consumer, topic: str, since_ms: int) -> list[TopicPartition]:
    """Each partition's first record stamped ``since_ms`` or later, or its end if none."""
    partitions = follower.list_topics(topic, timeout=10).topics[topic].partitions
    # Listed before the search: a record sent in between is at or after the end.
    ends = {
        p: follower.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
        for p in partitions
    }
    wanted = [TopicPartition(topic, p, since_ms) for p in partitions]
    # The embedded broker answers the log start whatever the time; follow() then skips
    # what is stamped earlier (on Kafka, nothing).
    found = follower.offsets_for_times(wanted, timeout=10)
    return [TopicPartition(topic, tp.partition, tp.offset if tp.offset >= 0 else ends[tp.partition])
            for tp in found]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--memberships-topic", default="customer-segments")
    parser.add_argument("--changes-topic", default="segment-changes")
    parser.add_argument("--overlap-seconds", type=float, default=60.0)
    parser.add_argument("--idle-seconds", type=float, help="stop after this long with no record")
    args = parser.parse_args()
    # Where to follow from. The two topics share no offsets: the worker sends a batch's
    # changes, then the memberships they lead to, and waits for both. A change the
    # snapshot lacks therefore has its membership record after the bootstrap began, and
    # was sent shortly before it (the same batch: milliseconds, unless the broker held
    # that one write back; the worker's producer retries for up to 20 minutes). So follow
    # from the first change stamped --overlap-seconds (60) before the bootstrap began, by
    # record time (the worker's clock: the overlap covers clock skew too). Changes the
    # snapshot holds already are applied again: harmless for the members (a customer's
    # changes come in order, and the last one for a segment says where they are), but
    # acted on twice. 0 repeats none and may miss a change sent as the bootstrap began.
    since_ms = int((time.time() - args.overlap_seconds) * 1000)
    members = read_to_end(args.bootstrap, args.memberships_topic)
    follower = consumer(args.bootstrap)
    follower.assign(starts(follower, args.changes_topic, since_ms))
    since = datetime.fromtimestamp(since_ms / 1000, UTC).isoformat(timespec="seconds")
    print(f"{len(members)} customers from {args.memberships_topic}; "
          f"following {args.changes_topic} from {since}", file=sys.stderr)  # fmt: skip
    follow(follower, members, args.idle_seconds, since_ms)


if __name__ == "__main__":
    main()
