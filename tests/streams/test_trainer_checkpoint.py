"""The trainer's checkpoint without a broker: it decodes to what was encoded, a trainer
restored from it carries on exactly as the one it was taken from, and a checkpoint that
does not decode or does not match is refused with one line (the trainer then reads
the lessons from their start: ``tests/integration/test_trainer_checkpoint.py``)."""

from __future__ import annotations

import base64
import gzip

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.trainer import Trainer
from schemas.config import DriftConfig
from streams.trainer_checkpoint import (
    Checkpoint,
    CheckpointError,
    decode_checkpoint,
    encode_checkpoint,
    restored,
    start_offsets,
)
from tests.streams.trainer_helpers import CONFIG, PARTITIONS, halves, trained


def test_a_restored_trainer_carries_on_as_the_one_checkpointed() -> None:
    first, second = halves()
    trainer = trained(*first)
    told = trainer.record()
    checkpoint = decode_checkpoint(encode_checkpoint(Checkpoint.of(trainer, {0: 3, 2: 9}, told)))
    assert checkpoint.offsets == {0: 3, 2: 9} and checkpoint.told == told
    again = restored(checkpoint, CONFIG, PARTITIONS)
    assert again.snapshot() == trainer.snapshot()
    assert trainer.drift is not None and again.drift is not None
    assert again.drift.snapshot() == trainer.drift.snapshot()  # the drift watch too
    for part in second:
        assert again.take(part) == trainer.take(part)
    assert again.record() == trainer.record() and again.record().model is not None


@settings(max_examples=30, deadline=None)
@given(
    offsets=st.dictionaries(st.integers(0, 255), st.integers(0, 2**62), max_size=8),
    told=st.booleans(),
)
def test_offsets_and_the_latest_record_round_trip(offsets: dict[int, int], told: bool) -> None:
    trainer = Trainer(CONFIG, PARTITIONS)
    record = trainer.record() if told else None
    checkpoint = decode_checkpoint(encode_checkpoint(Checkpoint.of(trainer, offsets, record)))
    assert checkpoint.offsets == offsets and checkpoint.told == record
    assert checkpoint.partitions == PARTITIONS
    assert restored(checkpoint, CONFIG, PARTITIONS).snapshot() == trainer.snapshot()


def _valid() -> bytes:
    return encode_checkpoint(Checkpoint.of(Trainer(CONFIG, PARTITIONS), {0: 1}, None))


def _edited(**changes: object) -> bytes:
    body = orjson.loads(gzip.decompress(_valid()))
    return gzip.compress(orjson.dumps({**body, **changes}))


CORRUPT = {
    "empty": b"",
    "not gzip": b"not a checkpoint",
    "cut short": _valid()[:-12],
    "not json": gzip.compress(b"{not json"),
    "not an object": gzip.compress(b"[1, 2]"),
    "another format": _edited(format=2),
    "no offsets": _edited(offsets=None),
    "a negative offset": _edited(offsets={"0": -1}),
    "a bad partition": _edited(offsets={"zero": 1}),
    "a bad record": _edited(told={"learned": 1}),
    "not base64": _edited(state="@@@"),
    "not a pickle": _edited(state=base64.b64encode(b"\x80\x05junk").decode()),
    "a pickle of something else": _edited(state=base64.b64encode(b"\x80\x04K\x01.").decode()),
}


@pytest.mark.parametrize("data", CORRUPT.values(), ids=CORRUPT.keys())
def test_a_checkpoint_that_does_not_decode_is_refused_in_one_line(data: bytes) -> None:
    with pytest.raises(CheckpointError) as refused:
        decode_checkpoint(data)
    assert "\n" not in str(refused.value)


def test_a_checkpoint_that_does_not_match_is_refused() -> None:
    checkpoint = decode_checkpoint(_valid())
    with pytest.raises(CheckpointError, match="of 4 partitions, not 2"):
        restored(checkpoint, CONFIG, 2)
    other = CONFIG.model_copy(update={"drift": DriftConfig(enabled=False)})
    with pytest.raises(CheckpointError, match="other engine settings"):
        restored(checkpoint, other, PARTITIONS)
    state = {**checkpoint.trainer, "version": 9}
    broken = Checkpoint(PARTITIONS, checkpoint.engine, {}, None, state, checkpoint.drift)
    with pytest.raises(CheckpointError, match="does not restore: SnapshotError"):
        restored(broken, CONFIG, PARTITIONS)
    with pytest.raises(CheckpointError, match=r"lessons partitions \[0\], the topic has not"):
        start_offsets(checkpoint, {})
    assert start_offsets(checkpoint, {0: 1, 1: 5}) == {0: 1}
