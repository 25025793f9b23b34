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

import numpy as np
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
    """The contributions of one lessons message; ``ValueError`` or ``TypeError`` (the
    trainer dead-letters the message) for anything but the rows above."""
    items: list[Contribution] = []
    for row in _list(orjson.loads(data), "message"):
        row = _list(row, "row")
        kind = row[0] if row else None
        if kind == "sealed" and len(row) == 3:
            items.append(Sealed(_partition(row[1]), _whole(row[2], "epoch")))
        elif kind == "lesson" and len(row) == 6:
            _, partition, epoch, customer_id, at_ms, features = row
            if not isinstance(customer_id, str):
                raise TypeError("customer_id: not a string")
            lesson = Lesson(customer_id, _whole(at_ms, "at_ms"), _features(features))
            items.append(LessonFor(_partition(partition), _whole(epoch, "epoch"), lesson))
        else:
            start = kind[:20] if isinstance(kind, str) else type(kind).__name__
            raise ValueError(f"not a contribution: a row of {len(row)} starting {start!r}")
    return items


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"{what}: not a list")
    return value


def _whole(value: Any, what: str) -> int:
    if type(value) is not int:  # not a bool, not a float
        raise TypeError(f"{what}: not a whole number")
    return value


def _partition(value: Any) -> int:
    if _whole(value, "partition") < 0:
        raise ValueError("partition: negative")
    return int(value)


def _features(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        v is None or type(v) in (str, int, float) for v in value.values()
    ):
        raise TypeError("features: not a map of names to numbers or strings")
    return value


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
    """One model message; ``ValueError``, ``TypeError`` or ``KeyError`` (the follower
    dead-letters it) for a record whose parts are not of their types or disagree."""
    body = orjson.loads(data)
    if not isinstance(body, dict):
        raise TypeError("record: not an object")
    model = body["model"]
    return ModelRecord(
        learned=_whole_or_none(body["learned"], "learned"),
        epoch=_whole_or_none(body["epoch"], "epoch"),
        model=None if model is None else _model(model),
        segments=tuple(
            SegmentRef(id=i, name=n, kind=k) for i, n, k in _list(body["segments"], "segments")
        ),
        lineage=tuple(
            Lineage(_whole(v, "lineage version"), k, _strings(s), _strings(t))
            for v, k, s, t in _list(body["lineage"], "lineage")
        ),
        sealed_max=_whole_or_none(body["sealed_max"], "sealed_max"),
    )


def _whole_or_none(value: Any, what: str) -> int | None:
    return None if value is None else _whole(value, what)


def _strings(value: Any) -> tuple[str, ...]:
    if not all(isinstance(item, str) for item in _list(value, "segment ids")):
        raise TypeError("segment ids: not strings")
    return tuple(value)


def _model(plain: Any) -> PublishedModel:
    version, ids, means, scales, centroids = _list(plain, "model")
    model = PublishedModel.from_plain((_whole(version, "model version"), _strings(ids),
                                       means, scales, centroids))  # fmt: skip
    d = model.means.shape
    k = len(model.ids)
    if (
        model.means.ndim != 1
        or model.scales.shape != d
        or (model.centroids.shape != (k, d[0]) and not (k == 0 and model.centroids.size == 0))
    ):
        raise ValueError("model: means, scales, centroids and ids disagree in shape")
    arrays = (model.means, model.scales, model.centroids)
    if not all(a.dtype.kind == "f" and np.isfinite(a).all() for a in arrays):
        raise ValueError("model: not finite numbers")
    return model


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
