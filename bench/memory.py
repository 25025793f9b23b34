"""Part 5 of the suite: resident memory and on-disk state per customer at 1M customers.

    .venv/bin/python -m bench.memory table [--customers 1000000] [--stores memory,rocksdb]
    .venv/bin/python -m bench.memory measure --templates FILE --store rocksdb --customers N

What a worker keeps per customer, for each table store (``store`` setting):

- ``memory://``: the Faust table's entry (key -> the state's JSON bytes,
  ``streams.table_store.encode_state``) and the ``PartitionIndex`` entry used by
  timers and profiles.
- ``rocksdb://``: the worker's own table, built by ``streams.app.create_app`` with
  the default settings (so the RocksDB block cache and write buffers are the
  settings' defaults), written through Faust's RocksDB ``Store`` (Faust's key and
  value codecs, one database per partition, as the worker writes it), then read
  back for a sample of customers so the block cache fills as a live worker's
  would. What stays resident: the ``PartitionIndex`` with its customer-id strings,
  RocksDB's memtables, block cache and table readers (index and bloom blocks).

The segmenter's sample is bounded (4,096 customers) and not counted.

Templates are real states: the engine runs over a small generated stream
(``mature``: every customer after two weeks of activity, so the dedup window is
full; ``new``: each customer after its profile and first three events). A separate
process then builds ``customers`` table entries from them, as the worker would hold
them: shared where the worker shares (dict keys that are field names or event
types, attribute values from pydantic's string cache), fresh where it allocates
per customer (customer and event ids, affinity keys, every number above 256). The
figure is its resident-memory (RSS) growth per customer, after ``gc.collect()``.

On disk: the changelog record the table writes per customer, key and value as
Faust's JSON codec (orjson) encodes them (the topic keeps the latest per key once
compacted), and for ``rocksdb://`` the RocksDB directory after its memtables are
flushed (compressed SST files; each customer written once, so no overwrites wait
for compaction).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import weakref
from itertools import islice
from pathlib import Path
from typing import Any, cast

from faust.streams import _current_event

from bench.source import ROOT, child_cwd, child_env

_FRESH_FLOATS = ("total_spend", "refunded")
_FRESH_INTS = ("first_seen_ms", "last_seen_ms", "last_purchase_ms", "pending_at_ms",
               "last_learned_ms", "erased_until_ms", "purchase_count", "pending_count")  # fmt: skip


def build_templates(
    variant: str, customers: int = 1000, days: float = 14.0
) -> list[dict[str, Any]]:
    """Real customer states from the engine, ``mature`` or ``new`` (three events)."""
    from collections import Counter

    from engine import MemoryStore, SegmentEngine
    from schemas import EngineConfig
    from schemas.events import BehaviourEvent, ProfileUpdate
    from synthetic import generate

    engine, store = SegmentEngine(EngineConfig()), MemoryStore()
    seen: Counter[str] = Counter()
    batch: list[Any] = []
    for message in generate(customers, days, seed=11):
        if variant == "new":
            if seen[message["key"]] >= 4:  # the profile and three behaviour events
                continue
            seen[message["key"]] += 1
        model = BehaviourEvent if message["topic"] == "behaviour" else ProfileUpdate
        batch.append(model.model_validate(message["value"]))
        if len(batch) == 500:
            engine.process(batch, store)
            batch = []
    engine.process(batch, store)
    return [state.to_dict() for state in store.states.values()]


def clone(template: dict[str, Any], customer_id: str) -> dict[str, Any]:
    """``template`` as another customer's table value, allocated as the worker would."""
    old = template["customer_id"]
    out = dict(template)  # field-name keys are shared, as in dataclasses.asdict
    out["customer_id"] = customer_id
    out["recent_event_ids"] = [e.replace(old, customer_id) for e in template["recent_event_ids"]]
    out["windowed"] = [x * 1.0 for x in template["windowed"]]
    # Affinity keys are f-strings built per event: one object per customer.
    out["affinities"] = {"{}:{}".format(*k.split(":", 1)): v * 1.0
                         for k, v in template["affinities"].items()}  # fmt: skip
    out["counts"] = {k: v + 0 for k, v in template["counts"].items()}
    out["attributes"] = dict(template["attributes"])
    out["attribute_times_ms"] = {k: v + 0 for k, v in template["attribute_times_ms"].items()}
    out["rule_segments"] = list(template["rule_segments"])
    for name in _FRESH_INTS:
        if out[name] is not None:
            out[name] = out[name] + 0
    for name in _FRESH_FLOATS:
        out[name] = out[name] * 1.0
    return out


def table_value(value: dict[str, Any]) -> bytes:
    """A table value as the worker writes it (``streams.table_store.encode_state``)."""
    from engine.state import CustomerState
    from streams.table_store import encode_state

    return encode_state(CustomerState.from_dict(value, copy=False))


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _Current:
    """Stands in for the event Faust's RocksDB store takes the partition from."""

    def __init__(self, partition: int) -> None:
        self.message = type("Message", (), {"partition": partition})()


def measure(
    templates: list[dict[str, Any]],
    customers: int,
    store: str = "memory",
    data_dir: Path | None = None,
) -> dict[str, Any]:
    """RSS growth and bytes on disk per customer for ``customers`` table entries."""
    from synthetic import customer_id

    table = MemoryTable() if store == "memory" else RocksDBTable(data_dir or Path("."))
    index = table.index
    gc.collect()
    before = rss()
    started = time.perf_counter()
    for i in range(customers):
        cid = customer_id(i, customers)
        table.put(cid, i % PARTITIONS, clone(templates[i % len(templates)], cid))
        index.add(cid, i % PARTITIONS)
    table.read_sample(customers)
    gc.collect()
    after = rss()
    built = time.perf_counter() - started
    return {
        "store": store,
        "customers": customers,
        "rss_bytes_per_customer": (after - before) / customers,
        "rss_total_mb": (after - before) / 1e6,
        "index_bytes_per_customer": index_bytes(index) / customers,
        **table.figures(customers),
        "build_seconds": built,
        "event_ids_per_customer": sum(len(t["recent_event_ids"]) for t in templates)
        / len(templates),
    }


PARTITIONS = 4  # the default topic_partitions
READ_SAMPLE = 100_000


class MemoryTable:
    """The ``memory://`` store: Faust keeps the values themselves in a dict."""

    def __init__(self) -> None:
        from streams.table_store import PartitionIndex

        self.index = PartitionIndex()
        self.data: dict[str, bytes] = {}

    def put(self, customer_id: str, partition: int, value: dict[str, Any]) -> None:
        self.data[customer_id] = table_value(value)

    def read_sample(self, customers: int) -> None:
        pass  # reads allocate nothing that stays

    def figures(self, customers: int) -> dict[str, float]:
        import orjson

        sample = list(islice(self.data.items(), READ_SAMPLE))
        record = sum(len(orjson.dumps(k)) + len(v) for k, v in sample)
        return {"changelog_bytes_per_customer": record / len(sample)}


class RocksDBTable:
    """The worker's customer-state table on ``rocksdb://``, through Faust's own Store."""

    def __init__(self, data_dir: Path) -> None:
        from settings import Settings
        from streams.app import create_app

        app = create_app(Settings(store="rocksdb://", data_dir=data_dir))
        # The app's own index; before the app exposed it, the pipeline's (--src).
        index = getattr(app, "partition_index", None)
        self.index = index if index is not None else app.pipeline.index  # type: ignore[attr-defined]
        self.table = cast(Any, app.tables["customer-state"])  # its store: Faust's internals
        self.store = self.table.data
        self._events = [_Current(p) for p in range(PARTITIONS)]
        self.dbs = [self.store._db_for_partition(p) for p in range(PARTITIONS)]  # opened now
        self._recorded = 0
        self.record_bytes = 0

    def _current(self, partition: int) -> Any:
        # A stand-in: Faust's store reads only ``.message.partition`` of the event.
        return _current_event.set(weakref.ref(self._events[partition]))  # type: ignore[arg-type]

    def put(self, customer_id: str, partition: int, state: dict[str, Any]) -> None:
        token = self._current(partition)
        value = table_value(state)
        self.store[customer_id] = value  # Faust's codecs, then the partition's database
        _current_event.reset(token)
        if self._recorded < READ_SAMPLE:  # the changelog record holds the same bytes
            self._recorded += 1
            key, encoded = self.store._encode_key(customer_id), self.store._encode_value(value)
            self.record_bytes += len(key) + len(encoded or b"")

    def read_sample(self, customers: int) -> None:
        """Reads as events and timers would: the block cache fills up to its bound."""
        from streams.table_store import decode_state
        from synthetic import customer_id

        for i in random.Random(5).sample(range(customers), min(READ_SAMPLE, customers)):
            cid = customer_id(i, customers)
            token = self._current(i % PARTITIONS)
            assert decode_state(self.store[cid]).customer_id == cid
            _current_event.reset(token)

    def figures(self, customers: int) -> dict[str, float]:
        from streams.table_store import PartitionIndex

        def total(name: str) -> int:
            return sum(db.property_int_value(name) or 0 for db in self.dbs)

        resident = {
            "block_cache_mb": total("rocksdb.block-cache-usage") / 1e6,
            "memtables_mb": total("rocksdb.cur-size-all-mem-tables") / 1e6,
            "table_readers_mb": total("rocksdb.estimate-table-readers-mem") / 1e6,
        }
        # What a restarted worker does once per partition before its first sweep.
        started = time.perf_counter()
        index = PartitionIndex()
        for partition in range(PARTITIONS):
            index.scan(self.table, partition)
        assert len(index.partition_of) == customers
        resident["index_scan_seconds"] = time.perf_counter() - started
        for db in self.dbs:
            db.flush()
        disk = sum(f.stat().st_size for f in Path(self.store.path).rglob("*") if f.is_file())
        return {
            **resident,
            "changelog_bytes_per_customer": self.record_bytes / min(customers, READ_SAMPLE),
            "disk_bytes_per_customer": disk / customers,
        }


def index_bytes(index: Any) -> int:
    """Python objects the ``PartitionIndex`` holds: dicts, sets and customer-id strings."""
    total = sys.getsizeof(index.partition_of) + sys.getsizeof(index.customers)
    total += sum(sys.getsizeof(s) for s in index.customers.values())
    return total + sum(sys.getsizeof(c) for c in index.partition_of)


def run_measurement(
    src: Path, variant: str, customers: int, cache: Path, store: str = "memory"
) -> dict[str, float]:
    """Templates built here, measured in a fresh process (a clean RSS baseline)."""
    path = cache / f"templates-{variant}.json"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(build_templates(variant)))
    with tempfile.TemporaryDirectory(prefix="memory-", dir=cache) as data_dir:
        out = subprocess.run(
            [sys.executable, "-m", "bench.memory", "measure", "--templates", str(path),
             "--customers", str(customers), "--store", store, "--data-dir", data_dir],
            env=child_env(src), cwd=child_cwd(src), capture_output=True, text=True, check=False,
        )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"memory measurement failed:\n{out.stderr[-2000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def render(results: list[dict[str, Any]]) -> str:
    """Both stores side by side: RSS per customer against the 1 KiB target."""
    head = ("store", "state", "customers", "RSS B/cust", "of 1 KiB", "index B/cust",
            "RocksDB MB (cache/memtables/readers)", "disk B/cust", "changelog B/cust")  # fmt: skip
    rows = [head]
    for r in results:
        rocks = r["store"] == "rocksdb"
        rows.append((
            f"{r['store']}://", r["variant"], f"{r['customers']:,}",
            f"{r['rss_bytes_per_customer']:,.0f}", f"{r['rss_bytes_per_customer'] / 1024:.2f}x",
            f"{r['index_bytes_per_customer']:,.0f}",
            f"{r['block_cache_mb']:.0f} / {r['memtables_mb']:.0f} / {r['table_readers_mb']:.0f}"
            if rocks else "-",
            f"{r['disk_bytes_per_customer']:,.0f}" if rocks else "-",
            f"{r['changelog_bytes_per_customer']:,.0f}",
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=("table", "measure"))
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--stores", default="memory,rocksdb", help="for table")
    parser.add_argument("--templates", type=Path, help="for measure")
    parser.add_argument("--store", choices=("memory", "rocksdb"), default="memory")
    parser.add_argument("--data-dir", type=Path, help="for measure, rocksdb")
    args = parser.parse_args()
    if args.command == "measure":
        templates = json.loads(args.templates.read_text())
        print(json.dumps(measure(templates, args.customers, args.store, args.data_dir)))
        return
    from bench.workload import CACHE_DIR

    results = []
    for store in args.stores.split(","):
        for variant in ("mature", "new"):
            result = run_measurement(ROOT, variant, args.customers, CACHE_DIR, store)
            results.append({**result, "variant": variant})
            print(f"  {store} {variant}: {result}", flush=True)
    print(render(results))


if __name__ == "__main__":
    main()
