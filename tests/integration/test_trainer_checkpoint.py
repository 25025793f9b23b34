"""The separate trainer resumes from its checkpoint, on the embedded broker.

``run_trainer`` runs in a thread of this process, on lessons two workers really sent
(``tests/streams/trainer_helpers.py``) produced to the lessons topic in two halves. A
trainer stopped after the first half and started again publishes the models one that
never stopped publishes, and reads none of the lessons before its checkpoint again:
it says where it resumed, and a lessons message it cannot decode, early in the first
half, is dead-lettered once. A checkpoint that does not decode or does not match is
ignored with one line: the trainer reads the lessons from their start.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from brokers.clients import producer
from brokers.embedded import EmbeddedBroker
from brokers.topics import declare_topics
from cli.local import read_topic
from engine.epochs import Contribution, ModelRecord
from settings import Settings, TopicNames
from streams.model_wire import decode_record, encode_contributions, record_hash
from streams.trainer_checkpoint import KEY, decode_checkpoint, last_value
from streams.trainer_service import latest_record, resume, run_trainer
from tests.streams.trainer_helpers import CONFIG, PARTITIONS, halves, trained

pytestmark = pytest.mark.integration

Lessons = list[tuple[int, bytes]]  # (source partition, message value)


def _settings(broker: EmbeddedBroker, name: str, **extra: Any) -> Settings:
    topics = {field: f"{name}-{field}" for field in TopicNames.model_fields}
    return Settings.model_validate({
        "kafka_bootstrap": broker.bootstrap, "topic_partitions": PARTITIONS,
        "trainer": "separate", "engine": CONFIG, "topics": topics,
        "trainer_checkpoint_seconds": 0.2, **extra,
    })  # fmt: skip


def _messages(parts: tuple[list[Contribution], ...], size: int = 40) -> Lessons:
    """As workers send them: a message per batch and source partition."""
    out: Lessons = []
    for sent in parts:
        for start in range(0, len(sent), size):
            by_partition: dict[int, list[Contribution]] = {}
            for item in sent[start : start + size]:
                by_partition.setdefault(item.partition, []).append(item)
            out += [(p, encode_contributions(group)) for p, group in by_partition.items()]
    return out


def _produce(settings: Settings, messages: Lessons) -> dict[int, int]:
    """Onto the lessons topic, each on its source partition; its end offsets after."""
    with producer(settings) as client:
        sent = [client.send(settings.topics.lessons, key=str(p).encode(), value=v, partition=p)
                for p, v in messages]  # fmt: skip
        client.flush()
        ends = [future.get(timeout=10).offset + 1 for future in sent]
    positions: dict[int, int] = {}
    for (partition, _), end in zip(messages, ends, strict=True):
        positions[partition] = max(positions.get(partition, 0), end)
    return positions


@contextlib.contextmanager
def _trainer(settings: Settings) -> Iterator[None]:
    """``run_trainer`` in a thread until the block ends; then a clean stop. Its topics
    are declared first, as the command does."""
    declare_topics(settings, "trainer")
    stop, failed = threading.Event(), []

    def run() -> None:
        try:
            run_trainer(settings, stop, poll_ms=50)
        except BaseException as exc:  # seen by the test, not lost in the thread
            failed.append(exc)

    thread = threading.Thread(target=run, name="trainer")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive() and not failed, failed


def _until(done: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _caught_up(settings: Settings, expected: ModelRecord, ends: dict[int, int]) -> None:
    """Until the trainer told ``expected`` and checkpointed every lesson up to ``ends``."""

    def done() -> bool:
        data = last_value(settings, settings.topics.checkpoints)
        checkpoint = None if data is None else decode_checkpoint(data)
        told = checkpoint is not None and latest_record(settings) == expected
        return told and checkpoint is not None and checkpoint.offsets == ends

    _until(done, "the trainer did not tell the lessons' model and checkpoint them")


def _models(settings: Settings) -> list[tuple[Any, ...]]:
    """Each version's first record, as far as it is a function of the lessons (how far
    any partition had sealed, ``sealed_max``, depends on how they were batched)."""
    firsts: dict[int, tuple[Any, ...]] = {}
    for message in read_topic(settings, settings.topics.models, idle_seconds=0.5):
        r = decode_record(message.value)
        if r.model is not None and r.model.version not in firsts:
            firsts[r.model.version] = (r.model.version, r.learned, r.epoch, record_hash(r),
                                       r.lineage)  # fmt: skip
    return list(firsts.values())


POISON = (0, b"not json")  # a lessons message no trainer can decode


def test_a_restarted_trainer_resumes_from_its_checkpoint_and_tells_the_same(
    tansu: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = halves()
    early, late = [POISON, *_messages(first)], _messages(second)
    half, whole = trained(*first).record(), trained(*first, *second).record()
    assert whole.model is not None and whole.model.version >= 2

    never_stopped = _settings(tansu, "once")
    with _trainer(never_stopped):
        _caught_up(never_stopped, half, _produce(never_stopped, early))
        _caught_up(never_stopped, whole, _produce(never_stopped, late))

    restarted = _settings(tansu, "twice")
    with _trainer(restarted):
        at_half = _produce(restarted, early)
        _caught_up(restarted, half, at_half)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="streams.trainer_service"), _trainer(restarted):
        _caught_up(restarted, whole, _produce(restarted, late))
    resumed = [r.getMessage() for r in caplog.records if "resuming" in r.getMessage()]
    assert resumed == [f"trainer: resuming from the checkpoint at lessons offsets {at_half}"]

    assert _models(restarted) == _models(never_stopped)
    assert len(_models(restarted)) == whole.model.version
    # The undecodable lesson before the checkpoint was read once, by the first trainer.
    assert len(list(read_topic(restarted, restarted.topics.dead_letters, 0.5))) == 1
    assert len(list(read_topic(never_stopped, never_stopped.topics.dead_letters, 0.5))) == 1


def test_a_checkpoint_that_does_not_decode_or_match_is_ignored(
    tansu: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    first, _ = halves()
    settings = _settings(tansu, "ignored")
    with _trainer(settings):
        ends = _produce(settings, _messages(first))
        _caught_up(settings, trained(*first).record(), ends)
    latest = latest_record(settings)
    trainer, offsets = resume(settings, ends, latest)
    assert offsets == ends and trainer.record() == latest  # it matches: resumed

    def ignored(case: Settings, ends: dict[int, int], latest: ModelRecord | None) -> str:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="streams.trainer_service"):
            trainer, offsets = resume(case, ends, latest)
        assert offsets == {} and trainer.record().learned is None  # a new trainer
        (line,) = [r.getMessage() for r in caplog.records]
        start = "trainer: checkpoint ignored, reading the lessons from their start: "
        assert line.startswith(start), line
        return line.removeprefix(start)

    assert ignored(settings, ends, None) == "the models topic is behind its latest record"
    made_anew = dict.fromkeys(ends, 0)
    assert ignored(settings, made_anew, latest).endswith("(was the topic made anew?)")
    fewer = _settings(tansu, "ignored", topic_partitions=2)
    assert ignored(fewer, ends, latest) == "it is of 4 partitions, not 2"
    with producer(settings) as client:
        client.send(settings.topics.checkpoints, key=KEY, value=b"garbage").get(timeout=10)
    assert ignored(settings, ends, latest).startswith("does not decode: BadGzipFile")
