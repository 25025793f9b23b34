"""The trainer's two topics on the wire: lessons and seals in, model records out.

Lessons (``topics.lessons``): one message per batch and source partition, keyed by the
partition (so Kafka keeps each partition's contributions in order), a JSON list of
``["lesson", partition, epoch, customer_id, at_ms, features]`` (features null: the
customer was erased) and ``["sealed", partition, epoch]``.

Model records (``topics.models``, one partition, read whole by every worker): a JSON
object with ``learned``, ``epoch``, ``model`` (version, segment ids, means, scales,
centroids), ``segments``, ``lineage``, ``sealed_max`` and ``hash``, a digest of the
model and its segments: two records of one version with different hashes are a
conflict (``segment_engine_model_conflicts_total``).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from engine.clustering.identity import Lineage
from engine.clustering.published import PublishedModel
from engine.epochs import Contribution, Lesson, LessonFor, ModelRecord, Sealed
from schemas.changes import SegmentRef

__all__ = ["decode_contributions", "decode_record", "encode_contributions", "encode_record"]


def encode_contributions(items: list[Contribution]) -> bytes:
    """One lessons message.

    >>> decode_contributions(encode_contributions([Sealed(1, 5)]))
    [Sealed(partition=1, epoch=5)]
    """
    rows: list[list[Any]] = []
    for item in items:
        if isinstance(item, Sealed):
            rows.append(["sealed", item.partition, item.epoch])
        else:
            lesson = item.lesson
            rows.append(["lesson", item.partition, item.epoch, lesson.customer_id, lesson.at_ms,
                         lesson.features])  # fmt: skip
    return orjson.dumps(rows)


def decode_contributions(data: bytes) -> list[Contribution]:
    items: list[Contribution] = []
    for row in orjson.loads(data):
        if row[0] == "sealed":
            items.append(Sealed(int(row[1]), int(row[2])))
        elif row[0] == "lesson":
            _, partition, epoch, customer_id, at_ms, features = row
            items.append(LessonFor(int(partition), int(epoch),
                                   Lesson(str(customer_id), int(at_ms), features)))  # fmt: skip
        else:
            raise ValueError(f"unknown contribution {row[0]!r}")
    return items


def encode_record(record: ModelRecord) -> bytes:
    """One model message.

    >>> record = ModelRecord(3, None, None, (), (), 4)
    >>> decode_record(encode_record(record)) == record
    True
    """
    body = _plain(record)
    return orjson.dumps({**body, "hash": record_hash(record)})


def record_hash(record: ModelRecord) -> str:
    """A digest of the record's model and segments (not of how far learning got)."""
    body = _plain(record)
    what = orjson.dumps([body["model"], body["segments"]], option=orjson.OPT_SERIALIZE_NUMPY)
    return hashlib.sha256(what).hexdigest()[:32]


def decode_record(data: bytes) -> ModelRecord:
    body = orjson.loads(data)
    model = body["model"]
    return ModelRecord(
        learned=body["learned"],
        epoch=body["epoch"],
        model=None if model is None else PublishedModel.from_plain(tuple(model)),
        segments=tuple(SegmentRef(id=i, name=n, kind=k) for i, n, k in body["segments"]),
        lineage=tuple(Lineage(v, k, tuple(s), tuple(t)) for v, k, s, t in body["lineage"]),
        sealed_max=body["sealed_max"],
    )


def _plain(record: ModelRecord) -> dict[str, Any]:
    model = record.model
    return {
        "learned": record.learned,
        "epoch": record.epoch,
        "model": None if model is None else list(model.to_plain()),
        "segments": [[ref.id, ref.name, ref.kind] for ref in record.segments],
        "lineage": [[x.version, x.kind, list(x.sources), list(x.targets)] for x in record.lineage],
        "sealed_max": record.sealed_max,
    }
