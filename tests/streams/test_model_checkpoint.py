"""The worker's model checkpoint: the model parts of an engine, written and restored.

A fresh engine restored from a checkpoint continues as the engine it was taken of
would: same model version, same segments, the same placements for new customers. Its
timers and sizes stay its own (the table rebuilds those). A checkpoint that does not
decode or does not match is refused with one line and leaves the engine as it was.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from engine.segment_engine import SegmentEngine
from engine.state import MemoryStore
from schemas.config import EngineConfig
from schemas.events import BehaviourEvent
from settings import Settings
from streams import model_checkpoint
from streams.model_checkpoint import (
    MODEL_PARTS,
    ModelCheckpoint,
    ModelCheckpointWriter,
    decode_model_checkpoint,
    encode_model_checkpoint,
    keeps_model_checkpoints,
    restore_latest,
    restore_model,
)
from streams.trainer_checkpoint import CheckpointError, pickled

LEARN_SOON = {"learned": {"warmup_updates": 100, "publish_every": 100}}
CONFIG = EngineConfig.model_validate(LEARN_SOON)
START = datetime(2026, 1, 1, tzinfo=UTC)


def events(prefix: str, customers: int, count: int, seed: int) -> list[BehaviourEvent]:
    rng = random.Random(seed)
    return [
        BehaviourEvent(
            event_id=f"{prefix}-{i}",
            customer_id=f"{prefix}{rng.randrange(customers)}",
            type=rng.choice(["purchase", "page_view"]),
            amount=rng.uniform(1, 100),
            timestamp=START + timedelta(minutes=i),
        )
        for i in range(count)
    ]


def learned(config: EngineConfig = CONFIG) -> SegmentEngine:
    """An engine whose model has published."""
    engine = SegmentEngine(config)
    engine.process(events("c", 150, 1_500, seed=1), MemoryStore())
    assert engine.status().model_version >= 1
    return engine


def test_model_parts_are_those_of_the_engines_own_snapshot() -> None:
    engine = learned()
    snapshot = engine.snapshot()
    assert engine.model_snapshot() == {name: snapshot[name] for name in MODEL_PARTS}


def test_a_restored_engine_places_new_customers_as_the_original_does() -> None:
    original = learned()
    checkpoint = decode_model_checkpoint(encode_model_checkpoint(ModelCheckpoint.of(original)))
    status = original.status()
    assert (checkpoint.model_version, checkpoint.lessons) == (status.model_version, status.lessons)

    restarted = SegmentEngine(CONFIG)
    restore_model(restarted, checkpoint)
    assert restarted.status().model_version == status.model_version
    assert restarted.segmenter.segments == original.segmenter.segments
    # The rest of its state is its own: no timers, no watermarks, no sizes.
    assert restarted.timers.snapshot() == SegmentEngine(CONFIG).timers.snapshot()
    assert restarted.sizes == {}

    later = events("n", 40, 200, seed=2)
    later = [e.model_copy(update={"timestamp": e.timestamp + timedelta(days=2)}) for e in later]
    a, b = MemoryStore(), MemoryStore()
    original.process(later, a)
    restarted.process(later, b)
    customers = sorted({e.customer_id for e in later})
    placed = {c: _segment(a, c) for c in customers}
    assert placed == {c: _segment(b, c) for c in customers}
    assert any(segment is not None for segment in placed.values()), "no new customer placed"


def _segment(store: MemoryStore, customer_id: str) -> str | None:
    state = store.get(customer_id)
    assert state is not None
    return state.segment_id


def test_a_checkpoint_of_other_settings_is_refused_and_the_engine_left_as_it_was() -> None:
    checkpoint = ModelCheckpoint.of(learned())
    other = SegmentEngine(EngineConfig.model_validate({"learned": {"warmup_updates": 99}}))
    before = other.snapshot()
    with pytest.raises(CheckpointError, match="of other engine settings"):
        restore_model(other, checkpoint)
    assert other.snapshot() == before


def test_a_snapshot_that_fails_to_restore_is_undone() -> None:
    checkpoint = ModelCheckpoint.of(learned())
    broken = {**checkpoint.parts, "health": {"kind": "something else", "version": 1}}
    engine = SegmentEngine(CONFIG)
    before = engine.snapshot()
    with pytest.raises(CheckpointError, match="does not restore: SnapshotError"):
        restore_model(engine, ModelCheckpoint(checkpoint.engine, 1, 1, broken))
    assert engine.snapshot() == before


def _value(**body: Any) -> bytes:
    return gzip.compress(orjson.dumps({"format": 1, "engine": "e", "model_version": 1,
                                       "lessons": 1, "state": pickled({}), **body}))  # fmt: skip


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"not gzip", "does not decode: BadGzipFile"),
        (_value(format=2), "format 2, not 1"),
        (_value(lessons="many"), "does not decode: ValueError"),
        (_value(state="@@"), "its state does not decode"),
        (_value(), "its state holds not the parts segmenter, health"),
    ],
)
def test_a_value_that_is_no_checkpoint_is_refused_in_one_line(data: bytes, why: str) -> None:
    with pytest.raises(CheckpointError) as refused:
        decode_model_checkpoint(data)
    assert str(refused.value).startswith(why)
    assert "\n" not in str(refused.value)


def test_a_checkpoint_that_is_no_good_is_logged_once_and_ignored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(model_checkpoint, "last_value", lambda settings, topic: b"garbage")
    engine = SegmentEngine(Settings().engine)
    before = engine.snapshot()
    with caplog.at_level(logging.INFO, logger=model_checkpoint.__name__):
        assert restore_latest(Settings(), engine) is None
    assert [r.getMessage() for r in caplog.records] == [
        "worker: model checkpoint ignored, the model learns afresh: does not decode: "
        "BadGzipFile: Not a gzipped file (b'ga')"
    ]
    assert engine.snapshot() == before


def test_restore_latest_says_which_model_version_it_restored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.model_validate({"engine": LEARN_SOON})
    value = encode_model_checkpoint(ModelCheckpoint.of(learned(settings.engine)))
    monkeypatch.setattr(model_checkpoint, "last_value", lambda settings, topic: value)
    engine = SegmentEngine(settings.engine)
    with caplog.at_level(logging.INFO, logger=model_checkpoint.__name__):
        checkpoint = restore_latest(settings, engine)
    assert checkpoint is not None and checkpoint.model_version >= 1
    assert engine.status().model_version == checkpoint.model_version
    assert [r.getMessage() for r in caplog.records] == [
        f"worker: model version {checkpoint.model_version} restored from its checkpoint "
        f"({checkpoint.lessons} lessons learned)"
    ]


@pytest.mark.parametrize(
    ("values", "keeps"),
    [
        ({}, True),
        ({"trainer_checkpoint_seconds": 0}, False),
        ({"engine": {"learned": {"epoch_seconds": 86_400}}}, False),
        ({"trainer": "separate", "engine": {"learned": {"epoch_seconds": 86_400}}}, False),
    ],
)
def test_only_an_in_worker_model_without_epochs_is_checkpointed(
    values: dict[str, Any], keeps: bool
) -> None:
    assert keeps_model_checkpoints(Settings.model_validate(values)) is keeps


def test_a_model_that_learned_nothing_is_not_written() -> None:
    writer = ModelCheckpointWriter(Settings(kafka_bootstrap="127.0.0.1:1"))
    checkpoint = ModelCheckpoint.of(SegmentEngine(Settings().engine))
    assert checkpoint.lessons == 0
    asyncio.run(writer.write(checkpoint))  # no producer made, nothing sent
    writer.close()
