"""The latency floor: the worker's two broker hops without the worker.

    .venv/bin/python -m bench.relay BOOTSTRAP SOURCE_TOPIC TARGET_TOPIC [--fetch-wait-ms 10]
        [--linger-ms 5]

Reads every partition of SOURCE_TOPIC from its end, with the worker's fetch wait, and
for each behaviour event produces ``{"trigger_event_id": ...}`` to TARGET_TOPIC with
the worker's linger. Paced latency measured through it, with the same producer and
reader as the worker's measurement, is what the broker and the client hops cost
before any processing. Prints ``ready`` once positioned.
"""

from __future__ import annotations

import argparse
import asyncio


async def relay(
    bootstrap: str, source: str, target: str, fetch_wait_ms: int, linger_ms: int
) -> None:
    import orjson
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from bench.cluster import partitions_now

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=fetch_wait_ms,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=linger_ms)
    await consumer.start()
    await producer.start()
    try:
        partitions = await partitions_now(consumer, source)
        if not partitions:
            raise SystemExit(f"relay: topic {source} does not exist")
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)
        print("ready", flush=True)
        while True:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    event_id = orjson.loads(record.value).get("event_id")
                    value = orjson.dumps({"trigger_event_id": event_id})
                    await producer.send(target, value, key=record.key)
    finally:
        await producer.stop()
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bootstrap")
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--fetch-wait-ms", type=int, default=10)
    parser.add_argument("--linger-ms", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(relay(args.bootstrap, args.source, args.target, args.fetch_wait_ms, args.linger_ms))


if __name__ == "__main__":
    main()
