"""The separate trainer's checkpoint: where a restarted trainer resumes from.

One message on the one-partition, compacted checkpoint topic (``topics.checkpoints``),
key ``checkpoint``: gzipped JSON of

- ``offsets``: for each lessons partition, the next offset to read;
- ``told``: the latest model record told (as on the models topic), or null;
- ``partitions`` and ``engine``: the trainer's partition count and a digest of its
  ``engine`` settings, which a checkpoint must match to be used;
- ``state``: the trainer's :meth:`~engine.trainer.Trainer.snapshot` and its drift
  watch's :meth:`~engine.drift.monitor.DriftMonitor.snapshot` (the trainer's snapshot
  leaves the drift watch out), pickled and base64-encoded.

A checkpoint is written only after the model records of the lessons it covers were
delivered, so it never claims lessons whose records are not on the models topic. A
trainer restored from it continues as one that never stopped would: the same versions,
models and segment ids, and the same drift detections (the drift watch is restored
too): a restart from a checkpoint loses nothing.

Its size: the segmenter's sample (``sample_size`` customers' latest lessons, 4,096:
about 0.5 MB), the lessons of epochs not learned yet (every lesson of the current
epoch until each partition has sealed it, more while one lags: about 100 bytes each,
gzipped), the clustering's state and the drift reference. Measured: 15 kB for the
tests' 100 customers, 1 MB for 4,096 in the sample and 6,000 lessons waiting. A
checkpoint over ``CHECKPOINT_MAX_BYTES`` (16 MiB, the topic's ``max.message.bytes``
and the producer's ``max_request_size``: about 150,000 lessons waiting) is not
written: the warning says so, and a restart uses the previous one, or reads the
lessons from their start.

The state is a pickle, as the engine's snapshots are (the segmenter's is one already):
whoever may write the checkpoint topic may run code in the trainer. Give the trainer
alone write access to it (ACLs), as to the models topic.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
import pickle
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from brokers.clients import producer
from brokers.last_message import last_value
from brokers.topics import CHECKPOINT_MAX_BYTES
from engine.epochs import ModelRecord
from engine.trainer import Trainer
from schemas.config import EngineConfig
from settings import Settings
from streams.model_wire import decode_record, encode_record

log = logging.getLogger(__name__)

KEY = b"checkpoint"
FORMAT = 1

__all__ = [
    "FORMAT",
    "KEY",
    "Checkpoint",
    "CheckpointError",
    "CheckpointWriter",
    "decode_checkpoint",
    "encode_checkpoint",
    "engine_digest",
    "gzipped",
    "last_value",
    "opened",
    "pickled",
    "restored",
    "start_offsets",
    "unpickled",
]


class CheckpointError(ValueError):
    """A checkpoint that does not decode or does not match; the message is one line."""


@dataclass(frozen=True)
class Checkpoint:
    """What a restarted trainer needs: its state and where in the lessons it stands."""

    partitions: int
    engine: str
    offsets: Mapping[int, int]
    told: ModelRecord | None
    trainer: Mapping[str, Any]
    drift: Mapping[str, Any] | None

    @classmethod
    def of(
        cls, trainer: Trainer, offsets: Mapping[int, int], told: ModelRecord | None
    ) -> Checkpoint:
        drift = None if trainer.drift is None else trainer.drift.snapshot()
        return cls(trainer.lessons.partitions, engine_digest(trainer.config), dict(offsets),
                   told, trainer.snapshot(), drift)  # fmt: skip


def engine_digest(config: EngineConfig) -> str:
    """A digest of the engine settings a trainer learns by."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:32]


def encode_checkpoint(checkpoint: Checkpoint) -> bytes:
    """The checkpoint message's value."""
    state = pickled({"trainer": checkpoint.trainer, "drift": checkpoint.drift})
    told = checkpoint.told
    body = {
        "format": FORMAT,
        "partitions": checkpoint.partitions,
        "engine": checkpoint.engine,
        "offsets": {str(p): offset for p, offset in sorted(checkpoint.offsets.items())},
        "told": None if told is None else orjson.Fragment(encode_record(told)),
        "state": state,
    }
    return gzipped(body)


def gzipped(body: Mapping[str, Any]) -> bytes:
    """A checkpoint's value: ``body`` as gzipped JSON (the same bytes for the same body)."""
    return gzip.compress(orjson.dumps(body), mtime=0)


def opened(data: bytes, version: int) -> dict[str, Any]:
    """The body of a checkpoint's value, of format ``version``; :class:`CheckpointError`
    if it is not one."""
    try:
        body = orjson.loads(gzip.decompress(data))
        found = body["format"]
    except (OSError, EOFError, zlib.error, ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"does not decode: {type(exc).__name__}: {exc}") from None
    if found != version:
        raise CheckpointError(f"format {found!r}, not {version}")
    return dict(body)


def decode_checkpoint(data: bytes) -> Checkpoint:
    """The checkpoint of a message's value; :class:`CheckpointError` if it is not one."""
    body = opened(data, FORMAT)
    try:
        offsets = {int(p): _whole(offset) for p, offset in body["offsets"].items()}
        told = None if body["told"] is None else decode_record(orjson.dumps(body["told"]))
        state = str(body["state"])
        partitions, engine = _whole(body["partitions"]), str(body["engine"])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CheckpointError(f"does not decode: {type(exc).__name__}: {exc}") from None
    snapshots = unpickled(state)
    try:
        trainer, drift = snapshots["trainer"], snapshots["drift"]
    except Exception as exc:  # a state of another shape
        raise CheckpointError(f"its state does not decode: {type(exc).__name__}") from None
    return Checkpoint(partitions, engine, offsets, told, trainer, drift)


def pickled(state: Any) -> str:
    """``state`` as a checkpoint's JSON holds it: pickled, base64-encoded."""
    return base64.b64encode(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)).decode()


def unpickled(text: str) -> Any:
    """The state :func:`pickled` made of it; :class:`CheckpointError` if it is none."""
    try:
        # trusted: whoever may write a checkpoint topic may run code (module docstring)
        return pickle.loads(base64.b64decode(text, validate=True))
    except Exception as exc:  # unpickling raises whatever the bytes lead it to
        raise CheckpointError(f"its state does not decode: {type(exc).__name__}") from None


def _whole(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"{value!r} is not a whole number")
    return value


def restored(checkpoint: Checkpoint, config: EngineConfig, partitions: int) -> Trainer:
    """A trainer built from the settings, restored from ``checkpoint`` (its drift watch
    too); :class:`CheckpointError` if the checkpoint does not match them."""
    if checkpoint.partitions != partitions:
        raise CheckpointError(f"it is of {checkpoint.partitions} partitions, not {partitions}")
    if checkpoint.engine != engine_digest(config):
        raise CheckpointError("it is of other engine settings")
    trainer = Trainer(config, partitions)
    if (checkpoint.drift is None) != (trainer.drift is None):
        raise CheckpointError("its drift watch is on where the trainer's is off, or off where on")
    try:
        trainer.restore(checkpoint.trainer)
        if trainer.drift is not None and checkpoint.drift is not None:
            trainer.drift.restore(checkpoint.drift)
    except Exception as exc:  # a snapshot that decoded may still fail anywhere inside
        raise CheckpointError(
            f"its snapshot does not restore: {type(exc).__name__}: {exc}"
        ) from None
    return trainer


def start_offsets(checkpoint: Checkpoint, ends: Mapping[int, int]) -> dict[int, int]:
    """Where to read each lessons partition from (``ends``: each one's end offset), as
    the checkpoint says; a partition absent from the result is read from its start.
    :class:`CheckpointError` if the topic is not the one the checkpoint read.

    >>> ckpt = Checkpoint(4, "", {0: 5, 1: 0}, None, {}, None)
    >>> start_offsets(ckpt, {0: 7, 1: 2, 2: 3})
    {0: 5, 1: 0}
    >>> start_offsets(ckpt, {0: 4, 1: 2})
    Traceback (most recent call last):
    ...
    streams.trainer_checkpoint.CheckpointError: lessons partition 0 ends at 4, before its offset 5 (was the topic made anew?)
    """  # noqa: E501
    if missing := sorted(set(checkpoint.offsets) - set(ends)):
        raise CheckpointError(f"it has offsets of lessons partitions {missing}, the topic has not")
    for partition, offset in sorted(checkpoint.offsets.items()):
        if offset > ends[partition]:
            end = ends[partition]
            raise CheckpointError(f"lessons partition {partition} ends at {end}, before its "
                                  f"offset {offset} (was the topic made anew?)")  # fmt: skip
    return dict(sorted(checkpoint.offsets.items()))


class CheckpointWriter:
    """Writes the trainer's checkpoint when the lessons read moved on: at most every
    ``trainer_checkpoint_seconds`` (wall clock), and once more at a clean stop. A
    failed or oversized write is a warning: the previous checkpoint stays, and the next
    is tried in due time. Call it only once the records of what it covers were
    delivered."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self._topic = settings.topics.checkpoints
        self._every = settings.trainer_checkpoint_seconds
        self._clock = clock
        self._next = clock() + self._every
        self._written: dict[int, int] = {}  # the offsets of the checkpoint on the topic
        self._producer = None
        if self._every > 0:
            self._producer = producer(settings, acks="all", max_request_size=CHECKPOINT_MAX_BYTES,
                                      request_timeout_ms=10000)  # fmt: skip

    def resumed_at(self, offsets: Mapping[int, int]) -> None:
        """The trainer resumed from a checkpoint at ``offsets``: none is due before it
        reads further."""
        self._written = dict(offsets)

    def write(
        self, trainer: Trainer, offsets: Mapping[int, int], told: ModelRecord | None,
        final: bool = False,
    ) -> None:  # fmt: skip
        """Write a checkpoint if one is due (``final``: at a clean stop, whenever)."""
        if self._producer is None or dict(offsets) == self._written:
            return
        if not final and self._clock() < self._next:
            return
        self._next = self._clock() + self._every
        value = encode_checkpoint(Checkpoint.of(trainer, offsets, told))
        if len(value) > CHECKPOINT_MAX_BYTES:
            log.warning("trainer: checkpoint not written: %d bytes, over %d",
                        len(value), CHECKPOINT_MAX_BYTES)  # fmt: skip
            return
        sent = self._producer.send(self._topic, key=KEY, value=value)
        self._producer.flush()
        if sent.failed():
            log.warning("trainer: checkpoint not written: %s", sent.exception)
            return
        self._written = dict(offsets)
        log.info("trainer: checkpoint written (%d bytes) at lessons offsets %s",
                 len(value), self._written)  # fmt: skip

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
