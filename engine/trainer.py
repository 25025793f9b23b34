"""The trainer: the one place the learned model learns, epoch by epoch.

It takes the partitions' contributions (:mod:`engine.epochs`) in whatever order they
arrive, learns each epoch once every partition has sealed it, and tells the model as it
then stands. Fed the same contributions in any arrival order it tells the same models
with the same versions and segment ids: the live workers, a restarted trainer reading
the lessons again, and replay agree. It runs inside the engine (replay, one worker) or
on its own (``segment-engine trainer``), and reads no customer state: the sample a
publication re-centres on holds each customer's latest lesson.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.clustering.scaling import log_scaled
from engine.drift import DriftMonitor, DriftReading
from engine.epochs import Contribution, EpochLessons, Lesson, ModelRecord
from engine.parts import make_drift, make_segmenter
from engine.segmenter import LearnedSegmenter
from engine.snapshots import SnapshotError, check_snapshot
from schemas.config import EngineConfig

__all__ = ["Trainer"]


class Trainer:
    """Learns the epochs every partition has sealed, in partition order.

    ``drift``: the drift watch that sees each lesson as it is learned (the engine's,
    when it runs inside one); by default one built from ``config``.
    """

    def __init__(
        self,
        config: EngineConfig,
        partitions: int,
        drift: tuple[tuple[str, ...], DriftMonitor | None] | None = None,
    ) -> None:
        self.config = config
        self.segmenter: LearnedSegmenter = make_segmenter(config.learned)
        self.drift_features, self.drift = drift or make_drift(config)
        self.lessons = EpochLessons(partitions)
        self._epoch_ms = int(config.learned.epoch_seconds * 1000)
        self._model_epoch: int | None = None  # the epoch the latest model stands from
        self._told: tuple[int | None, int | None, int | None] = (None, None, None)

    def take(self, items: Iterable[Contribution]) -> tuple[list[ModelRecord], list[DriftReading]]:
        """Take contributions in; the records of what changed (a record per new model,
        then one of how far learning got) and the drift readings learning raised."""
        for item in items:
            self.lessons.take(item)
        records: list[ModelRecord] = []
        drift: list[DriftReading] = []
        seg = self.segmenter
        for epoch, lessons in self.lessons.learnable():
            before = seg.published_model
            # The publication gate's clock: the epoch's end, the same however its lessons
            # arrived (theirs are in partition order, not in time order). None without
            # epochs (a trainer is not built so), as then there is no clock.
            end_ms = (epoch + 1) * self._epoch_ms if self._epoch_ms else None
            for lesson in lessons:
                self._learn(lesson, drift, end_ms)
            seg.publish_early(self.config.learned.tick_publish_lessons, at_ms=end_ms)
            if seg.published_model is not before:
                self._model_epoch = epoch
                records.append(self._record(epoch))
        told = (self.lessons.learned, self.lessons.sealed_max, seg.model_version)
        if told != self._told:  # the furthest seal counts too: caught-up partitions follow it
            self._told = told
            records.append(self._record(self.lessons.learned))
        return records, drift

    def record(self) -> ModelRecord:
        """How things stand now."""
        return self._record(self.lessons.learned)

    def _record(self, learned: int | None) -> ModelRecord:
        seg = self.segmenter
        return ModelRecord(learned, self._model_epoch, seg.published_model,
                           tuple(seg.segments.values()), tuple(seg.lineage),
                           self.lessons.sealed_max)  # fmt: skip

    def _learn(self, lesson: Lesson, drift: list[DriftReading], at_ms: int | None) -> None:
        seg = self.segmenter
        if lesson.features is None:
            seg.forget(lesson.customer_id)
            return
        seg.learn(lesson.features, lesson.customer_id, at_ms=at_ms)
        if self.drift is not None:
            # The detectors watch the lessons the model learns from, on its log scale.
            x = lesson.features
            values = {name: log_scaled(x.get(name)) for name in self.drift_features}
            drift += self.drift.observe(values, lesson.at_ms, seg.model_version)

    def snapshot(self) -> dict[str, Any]:
        """Everything the trainer learned and holds, detached (the drift watch is the
        caller's to keep when it was passed in)."""
        return {
            "kind": "trainer",
            "version": 1,
            "segmenter": self.segmenter.snapshot(),
            "lessons": self.lessons.snapshot(),
            "model_epoch": self._model_epoch,
            "told": list(self._told),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        check_snapshot(state, "trainer", 1)
        if len(state["told"]) != 3:
            raise SnapshotError("the snapshot's trainer progress is malformed")
        self.segmenter.restore(state["segmenter"])
        self.lessons.restore(state["lessons"])
        self._model_epoch = state["model_epoch"]
        told = state["told"]
        self._told = (told[0], told[1], told[2])
