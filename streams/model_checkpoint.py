"""The worker's model checkpoint: what a restarted ``in_worker`` worker restores its model from.

With ``trainer = "in_worker"`` and no model epochs (``engine.learned.epoch_seconds``
unset), the worker's :class:`~engine.segment_engine.SegmentEngine` learns the model in
its own process. Every ``trainer_checkpoint_seconds`` (a Faust timer, ``streams.app``)
the worker writes the model parts of the engine's snapshot to the one-partition,
compacted ``topics.model_checkpoints``, key ``checkpoint``: gzipped JSON of

- ``format`` (1), ``engine``: a digest of the ``engine`` settings
  (:func:`~streams.trainer_checkpoint.engine_digest`), which a restarted worker's must
  match; ``model_version`` and ``lessons``: the model's version and the lessons it
  learned, for the log line;
- ``state``: the snapshot's ``segmenter``, ``health``, ``drift``, ``inputs`` and
  ``placed_models``, pickled and base64-encoded as the trainer's checkpoint is (the
  same trust: give the workers alone write access to the topic).

The rest of the snapshot is left out on purpose. The timers and each partition's
watermark are rebuilt from the customer states when partitions are assigned (the
table recovers them from its changelog), and segment sizes are counted from changes:
restoring them from a checkpoint would contradict the recovered table. At start, the
worker restores the latest checkpoint before it processes an event
(:func:`restore_latest`); one that does not decode or does not match is ignored with
one warning, and the model then learns afresh, as it did before checkpoints.

A checkpoint is written only when it differs from the last one written: the model
learned, or forgot an erased customer, whose lessons then leave the topic as the
state's do (compacted within ``compaction_lag_hours``). Its cost, at every timer: the
model parts are snapshotted on the event loop between two batches (the segmenter's
snapshot is a pickle of its sample), then pickled and gzipped in a thread (which
still holds the GIL for most of it), and sent if the bytes differ. Measured, for a
model with a full sample (4,096 customers, default engine settings): 10 ms on the
event loop, 45 ms to encode, 0.26 MB gzipped (60,000 events of 10,000
customers through ``SegmentEngine``, then :meth:`ModelCheckpoint.of` and
:func:`encode_model_checkpoint` timed). The whole ``SegmentEngine.snapshot()`` would
add ~1.5 ms per 1,000 customers the worker holds (its timer index), hence
``SegmentEngine.model_snapshot()``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from brokers.clients import producer
from brokers.last_message import last_value
from brokers.topics import CHECKPOINT_MAX_BYTES
from engine.segment_engine import SegmentEngine
from settings import Settings
from streams.trainer_checkpoint import (
    KEY,
    CheckpointError,
    engine_digest,
    gzipped,
    opened,
    pickled,
    unpickled,
)

log = logging.getLogger(__name__)

FORMAT = 1
# The parts a checkpoint holds: SegmentEngine.model_snapshot() (see the module docstring).
MODEL_PARTS = ("segmenter", "health", "drift", "inputs", "placed_models")

__all__ = [
    "FORMAT",
    "KEY",
    "MODEL_PARTS",
    "ModelCheckpoint",
    "ModelCheckpointWriter",
    "decode_model_checkpoint",
    "encode_model_checkpoint",
    "keeps_model_checkpoints",
    "restore_latest",
    "restore_model",
]


@dataclass(frozen=True)
class ModelCheckpoint:
    """The model parts of an engine's snapshot, and the settings they were learned by."""

    engine: str
    model_version: int
    lessons: int
    parts: Mapping[str, Any]

    @classmethod
    def of(cls, engine: SegmentEngine) -> ModelCheckpoint:
        """Of ``engine`` as it stands (its parts detached: later learning leaves them)."""
        status = engine.status()
        # Not engine.snapshot(): its timers alone cost ~1.5 ms per 1,000 customers the
        # worker holds, on the event loop.
        return cls(engine_digest(engine.config), status.model_version, status.lessons,
                   engine.model_snapshot())  # fmt: skip


def keeps_model_checkpoints(settings: Settings) -> bool:
    """Whether the worker writes and reads a model checkpoint: its model is learned in
    the worker without epochs, and checkpoints are on."""
    return (
        settings.trainer == "in_worker"
        and not settings.engine.learned.epoch_seconds
        and settings.trainer_checkpoint_seconds > 0
    )


def encode_model_checkpoint(checkpoint: ModelCheckpoint) -> bytes:
    """The checkpoint message's value."""
    body = {
        "format": FORMAT,
        "engine": checkpoint.engine,
        "model_version": checkpoint.model_version,
        "lessons": checkpoint.lessons,
        "state": pickled(dict(checkpoint.parts)),
    }
    return gzipped(body)


def decode_model_checkpoint(data: bytes) -> ModelCheckpoint:
    """The checkpoint of a message's value; :class:`CheckpointError` if it is not one."""
    body = opened(data, FORMAT)
    try:
        engine, version, lessons = str(body["engine"]), body["model_version"], body["lessons"]
        if type(version) is not int or type(lessons) is not int:
            raise ValueError(f"model_version {version!r} or lessons {lessons!r} is not whole")
        state = str(body["state"])
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"does not decode: {type(exc).__name__}: {exc}") from None
    parts = unpickled(state)
    if not isinstance(parts, dict) or set(parts) != set(MODEL_PARTS):
        raise CheckpointError(f"its state holds not the parts {', '.join(MODEL_PARTS)}")
    return ModelCheckpoint(engine, version, lessons, parts)


def restore_model(engine: SegmentEngine, checkpoint: ModelCheckpoint) -> None:
    """Put the checkpoint's model into ``engine``; the rest of its state (timers,
    watermarks, sizes) stays as it is. :class:`CheckpointError`, ``engine`` unchanged,
    if the checkpoint does not match its settings or does not restore."""
    if checkpoint.engine != engine_digest(engine.config):
        raise CheckpointError("it is of other engine settings")
    before = engine.snapshot()
    try:
        engine.restore({**before, **checkpoint.parts})
    except Exception as exc:  # a snapshot that decoded may still fail anywhere inside
        engine.restore(before)  # a part restored before the failure is undone
        raise CheckpointError(
            f"its snapshot does not restore: {type(exc).__name__}: {exc}"
        ) from None


def restore_latest(settings: Settings, engine: SegmentEngine) -> ModelCheckpoint | None:
    """At a worker's start, before any event: restore ``engine``'s model from the latest
    checkpoint; the checkpoint, or None when there is none to restore (one that does
    not decode or match is logged in one line and ignored: the model learns afresh)."""
    if not keeps_model_checkpoints(settings):
        return None
    try:
        data = last_value(settings, settings.topics.model_checkpoints)
        if data is None:
            log.info("worker: no model checkpoint; the model learns afresh")
            return None
        checkpoint = decode_model_checkpoint(data)
        restore_model(engine, checkpoint)
    except (CheckpointError, TimeoutError, KafkaError) as exc:
        log.warning("worker: model checkpoint ignored, the model learns afresh: %s", exc)
        return None
    log.info("worker: model version %d restored from its checkpoint (%d lessons learned)",
             checkpoint.model_version, checkpoint.lessons)  # fmt: skip
    return checkpoint


class ModelCheckpointWriter:
    """Writes the worker's model checkpoint when it differs from the last one written
    (a lesson learned, a customer erased and forgotten); a failed or oversized write is
    a warning, and the previous checkpoint stays."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._topic = settings.topics.model_checkpoints
        self._written: bytes | None = None  # the digest of the value last written
        self._producer: KafkaProducer | None = None  # made at the first write, in a thread

    async def write(self, checkpoint: ModelCheckpoint) -> None:
        """Write ``checkpoint`` (taken between batches) if it is news. A model that has
        learned nothing is not written: it would replace a checkpoint that did not match
        before anything new was learned."""
        if checkpoint.lessons == 0:
            return
        # Pickling and compressing a full sample takes tens of ms: off the event loop.
        await asyncio.to_thread(self._send, checkpoint)

    def _send(self, checkpoint: ModelCheckpoint) -> bool:
        value = encode_model_checkpoint(checkpoint)  # the same bytes for the same model
        digest = hashlib.sha256(value).digest()
        if digest == self._written:
            return False
        if len(value) > CHECKPOINT_MAX_BYTES:
            log.warning("worker: model checkpoint not written: %d bytes, over %d",
                        len(value), CHECKPOINT_MAX_BYTES)  # fmt: skip
            return False
        try:
            if self._producer is None:
                self._producer = producer(self._settings, acks="all",
                                          max_request_size=CHECKPOINT_MAX_BYTES,
                                          request_timeout_ms=10000)  # fmt: skip
            sent = self._producer.send(self._topic, key=KEY, value=value)
            self._producer.flush()
        except KafkaError as exc:
            log.warning("worker: model checkpoint not written: %s", exc)
            return False
        if sent.failed():
            log.warning("worker: model checkpoint not written: %s", sent.exception)
            return False
        self._written = digest
        log.info("worker: model checkpoint written (%d bytes) at model version %d",
                 len(value), checkpoint.model_version)  # fmt: skip
        return True

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
