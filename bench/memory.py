"""Part 5 of the suite: resident memory and on-disk state per customer at 1M customers.

    python bench/memory.py measure --templates FILE --customers 1000000

What a worker keeps per customer with the default ``memory://`` store: the Faust
table's entry (key -> ``CustomerState.to_dict()``, a dict of lists, dicts and
numbers, see ``streams/table_store.py``) and the ``PartitionIndex`` entry used by
sweeps. The segmenter's sample is bounded (4,096 customers) and not counted.

Templates are real states: the engine runs over a small generated stream
(``mature``: every customer after two weeks of activity, so the dedup window is
full; ``new``: each customer after its profile and first three events). A separate
process then builds ``customers`` table entries from them, as the worker would hold
them: shared where the worker shares (dict keys that are field names or event
types, attribute values from pydantic's string cache), fresh where it allocates
per customer (customer and event ids, affinity keys, every number above 256). The
figure is its resident-memory (RSS) growth per customer, after ``gc.collect()``.

On disk: the changelog record the table writes per customer, key and value as
Faust's JSON codec (orjson) encodes them; the topic keeps the latest per key once
compacted.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
_FRESH_FLOATS = ("total_spend", "refunded")
_FRESH_INTS = ("first_seen_ms", "last_seen_ms", "last_purchase_ms", "pending_at_ms",
               "last_learned_ms", "erased_until_ms", "purchase_count", "pending_count")  # fmt: skip


def build_templates(
    variant: str, customers: int = 1000, days: float = 14.0
) -> list[dict[str, Any]]:
    """Real customer states from the engine, ``mature`` or ``new`` (three events)."""
    from collections import Counter

    from engine import MemoryStore, SegmentEngine
    from engine.synthetic import generate
    from schemas import EngineConfig
    from schemas.events import BehaviourEvent, ProfileUpdate

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


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(templates: list[dict[str, Any]], customers: int) -> dict[str, float]:
    """RSS growth and changelog bytes per customer for ``customers`` table entries."""
    import orjson

    from engine.synthetic import customer_id
    from streams.table_store import PartitionIndex

    gc.collect()
    before = rss()
    started = time.perf_counter()
    table: dict[str, dict[str, Any]] = {}
    index = PartitionIndex()
    for i in range(customers):
        cid = customer_id(i, customers)
        table[cid] = clone(templates[i % len(templates)], cid)
        index.add(cid, i % 4)
    gc.collect()
    after = rss()
    built = time.perf_counter() - started
    disk = sum(
        len(orjson.dumps(k)) + len(orjson.dumps(v)) for k, v in islice(table.items(), 100_000)
    )
    sample = min(customers, 100_000)
    return {
        "customers": customers,
        "rss_bytes_per_customer": (after - before) / customers,
        "rss_total_mb": (after - before) / 1e6,
        "disk_bytes_per_customer": disk / sample,
        "build_seconds": built,
        "event_ids_per_customer": sum(len(t["recent_event_ids"]) for t in templates)
        / len(templates),
    }


def run_measurement(src: Path, variant: str, customers: int, cache: Path) -> dict[str, float]:
    """Templates built here, measured in a fresh process (a clean RSS baseline)."""
    from bench.limits import subprocess_env

    path = cache / f"templates-{variant}.json"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(build_templates(variant)))
    out = subprocess.run(
        [sys.executable, str(BENCH_DIR / "memory.py"), "measure", "--templates", str(path),
         "--customers", str(customers)],
        env=subprocess_env(src), cwd=src, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"memory measurement failed:\n{out.stderr[-2000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=("measure",))
    parser.add_argument("--templates", type=Path, required=True)
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args()
    templates = json.loads(args.templates.read_text())
    print(json.dumps(measure(templates, args.customers)))


if __name__ == "__main__":
    main()
