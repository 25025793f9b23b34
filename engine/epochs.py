"""Model epochs: learning in a fixed order, adopting by event time.

With several partitions, the order in which their events arrive differs from run to
run (and from worker to worker), and an online model's result depends on the order
it learns in. So, as Flink ML's ``OnlineKMeans`` does with global mini-batches, event
time is cut into epochs, and three roles pass messages:

- a partition's owner (:class:`EpochClock`) counts each lesson in the epoch of the
  partition's watermark (never one it has sealed) and *seals* an epoch once the
  watermark passes it: a :class:`LessonFor` or :class:`Sealed` per step;
- the trainer (:class:`EpochLessons`, driven by :class:`engine.trainer.Trainer`) keeps
  the lessons per partition and epoch, and once every partition has sealed an epoch
  learns it, partition by partition, each in its own order, then tells the model as it
  stands (a :class:`ModelRecord`);
- every worker (:class:`ModelHistory`) assigns a partition's events of epoch ``k``
  against the model as it stood after epoch ``k - lag``, and *holds* them until that
  epoch is learned.

What is learned, and which model an event meets, are functions of each partition's
own sequence of events: a live worker however its partitions interleave, several
workers however their messages cross, and a replay with the same partitions end alike.
A partition known to be caught up (nothing more to read) may be sealed further than its
events say, up to where a held partition needs it; for a log in event-time order this
changes nothing, as its next event lies later anyway.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.clustering.identity import Lineage
from engine.clustering.published import PublishedModel
from engine.snapshots import SnapshotError, check_snapshot
from schemas.changes import SegmentRef

__all__ = [
    "Contribution",
    "EpochClock",
    "EpochLessons",
    "Lesson",
    "LessonFor",
    "ModelHistory",
    "ModelRecord",
    "Sealed",
]

Features = dict[str, float | str | None]


@dataclass(frozen=True, slots=True)
class Lesson:
    """A customer's features to learn from as of ``at_ms``; no features: forget them."""

    customer_id: str
    at_ms: int
    features: Features | None


@dataclass(frozen=True, slots=True)
class LessonFor:
    """A lesson of ``partition``, counted in ``epoch``."""

    partition: int
    epoch: int
    lesson: Lesson


@dataclass(frozen=True, slots=True)
class Sealed:
    """``partition`` adds nothing more to the epochs up to ``epoch``."""

    partition: int
    epoch: int


Contribution = LessonFor | Sealed


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """The model as it stands once every epoch up to ``learned`` is learned (None: not
    one yet): ``model`` stood since the end of ``epoch`` (None: none published yet).
    ``segments`` is every segment ever published, ``sealed_max`` the furthest any
    partition has sealed."""

    learned: int | None
    epoch: int | None
    model: PublishedModel | None
    segments: tuple[SegmentRef, ...]
    lineage: tuple[Lineage, ...]
    sealed_max: int | None


def _check(epoch_ms: int, lag: int, partitions: int) -> None:
    if epoch_ms <= 0 or lag < 1 or partitions < 1:
        raise ValueError("model epochs need epoch_ms > 0, lag >= 1 and partitions >= 1")


class EpochClock:
    """A worker's side: which epoch each partition's work counts in, and what it seals.

    >>> clock = EpochClock(epoch_ms=10, lag=2, partitions=2)
    >>> clock.advance(0, 25)
    Sealed(partition=0, epoch=1)
    >>> clock.lesson(0, 5, Lesson("c1", 5, {"x": 1.0})).epoch   # epoch 0 is sealed
    2
    >>> clock.needed(0, 25)   # epoch 2's events meet the model as after epoch 0
    0
    """

    def __init__(self, epoch_ms: int, lag: int, partitions: int) -> None:
        _check(epoch_ms, lag, partitions)
        self.epoch_ms, self.lag, self.partitions = epoch_ms, lag, partitions
        self.sealed: list[int | None] = [None] * partitions  # highest epoch sealed

    def current(self, partition: int, watermark_ms: int) -> int:
        """The epoch ``partition``'s work at ``watermark_ms`` counts in: never a sealed one."""
        sealed, epoch = self.sealed[partition], watermark_ms // self.epoch_ms
        return epoch if sealed is None or epoch > sealed else sealed + 1

    def needed(self, partition: int, watermark_ms: int) -> int:
        """The epoch whose model ``partition``'s work at ``watermark_ms`` meets."""
        return self.current(partition, watermark_ms) - self.lag

    def lesson(self, partition: int, watermark_ms: int, lesson: Lesson) -> LessonFor:
        return LessonFor(partition, self.current(partition, watermark_ms), lesson)

    def advance(self, partition: int, watermark_ms: int) -> Sealed | None:
        """``partition``'s watermark is now ``watermark_ms``: seal the epochs before it."""
        return self.seal(partition, self.current(partition, watermark_ms) - 1)

    def seal(self, partition: int, epoch: int) -> Sealed | None:
        """Seal ``partition`` up to ``epoch``; the message, if that is news."""
        sealed = self.sealed[partition]
        if sealed is not None and epoch <= sealed:
            return None
        self.sealed[partition] = epoch
        return Sealed(partition, epoch)

    def snapshot(self) -> list[int | None]:
        return list(self.sealed)

    def restore(self, sealed: list[int | None]) -> None:
        if len(sealed) != self.partitions:
            raise SnapshotError(f"the snapshot has {len(sealed)} partitions, not {self.partitions}")
        self.sealed = list(sealed)


class EpochLessons:
    """The trainer's side: lessons per partition and epoch, until every partition has
    sealed the epoch.

    >>> lessons = EpochLessons(partitions=2)
    >>> lessons.take(LessonFor(0, 0, Lesson("c1", 5, {"x": 1.0})))
    >>> lessons.take(Sealed(0, 2)); list(lessons.learnable())   # partition 1 is behind
    []
    >>> lessons.take(Sealed(1, 0)); [(e, len(ls)) for e, ls in lessons.learnable()]
    [(0, 1)]
    """

    def __init__(self, partitions: int) -> None:
        _check(1, 1, partitions)
        self.partitions = partitions
        self.sealed: list[int | None] = [None] * partitions
        self.learned: int | None = None  # every epoch up to this one is learned
        self._lessons: dict[int, dict[int, list[Lesson]]] = {}  # partition -> epoch -> ...
        self._seen: dict[tuple[int, int], set[tuple[str, int, bool]]] = {}

    def take(self, item: Contribution) -> None:
        if isinstance(item, Sealed):
            sealed = self.sealed[item.partition]
            if sealed is None or item.epoch > sealed:
                self.sealed[item.partition] = item.epoch
            return
        sealed = self.sealed[item.partition]
        if sealed is not None and item.epoch <= sealed:
            return  # a redelivery of a lesson already counted (the epoch is closed)
        lesson, by_epoch = item.lesson, self._lessons.setdefault(item.partition, {})
        if lesson.features is None:  # erased: its lessons not learned yet go now
            for pending in by_epoch.values():
                pending[:] = [ls for ls in pending if ls.customer_id != lesson.customer_id]
        # A customer is taught once per moment: a second lesson is a redelivery.
        seen = self._seen.setdefault((item.partition, item.epoch), set())
        if (lesson.customer_id, lesson.at_ms, lesson.features is None) not in seen:
            seen.add((lesson.customer_id, lesson.at_ms, lesson.features is None))
            by_epoch.setdefault(item.epoch, []).append(lesson)

    @property
    def sealed_max(self) -> int | None:
        return max((s for s in self.sealed if s is not None), default=None)

    def learnable(self) -> Iterator[tuple[int, list[Lesson]]]:
        """Each epoch every partition has now sealed, oldest first, with its lessons in
        partition order; epochs without lessons are passed over."""
        if any(sealed is None for sealed in self.sealed):
            return
        upto = min(s for s in self.sealed if s is not None)
        if self.learned is not None and upto <= self.learned:
            return
        epochs = sorted({e for by_epoch in self._lessons.values() for e in by_epoch if e <= upto})
        for epoch in epochs:
            lessons: list[Lesson] = []
            for partition in sorted(self._lessons):
                lessons += self._lessons[partition].pop(epoch, [])
                self._seen.pop((partition, epoch), None)
            yield epoch, lessons
        self.learned = upto

    def pending(self) -> int:
        """Lessons gathered and not learned yet."""
        return sum(len(ls) for by_epoch in self._lessons.values() for ls in by_epoch.values())

    def snapshot(self) -> dict[str, Any]:
        lessons = {p: {e: [(ls.customer_id, ls.at_ms, ls.features) for ls in lessons]
                       for e, lessons in sorted(by_epoch.items())}
                   for p, by_epoch in sorted(self._lessons.items())}  # fmt: skip
        return {"kind": "epoch_lessons", "version": 1, "sealed": list(self.sealed),
                "learned": self.learned, "lessons": lessons}  # fmt: skip

    def restore(self, state: Mapping[str, Any]) -> None:
        check_snapshot(state, "epoch_lessons", 1)
        if len(state["sealed"]) != self.partitions:
            raise SnapshotError(f"the snapshot is of {len(state['sealed'])} partitions")
        self.sealed, self.learned = list(state["sealed"]), state["learned"]
        self._lessons = {
            int(p): {int(e): [Lesson(c, at, None if f is None else dict(f)) for c, at, f in ls]
                     for e, ls in by_epoch.items()}
            for p, by_epoch in state["lessons"].items()
        }  # fmt: skip
        self._seen = {(p, e): {(ls.customer_id, ls.at_ms, ls.features is None) for ls in lessons}
                      for p, by_epoch in self._lessons.items()
                      for e, lessons in by_epoch.items()}  # fmt: skip


class ModelHistory:
    """A worker's side: the models the trainer told of, by the epoch they stand from.

    >>> history = ModelHistory()
    >>> history.ready(0)
    False
    """

    def __init__(self) -> None:
        self.learned: int | None = None
        self.sealed_max: int | None = None
        self.segments: dict[str, SegmentRef] = {}
        self.lineage: tuple[Lineage, ...] = ()
        self.conflicts = 0  # records of one version with different models
        self._epochs: list[int] = []
        self._models: list[PublishedModel] = []
        # Every segment as it was named when each model was told of: a change decided
        # against a model carries its names, whichever newer ones have arrived since
        # (a worker restarted after a rename re-sends the same change, same content).
        self._refs: list[dict[str, SegmentRef]] = []

    @property
    def latest(self) -> PublishedModel | None:
        return self._models[-1] if self._models else None

    def record(self, record: ModelRecord) -> bool:
        """Take ``record`` in (any number of times, in any order); whether it was news."""
        news = False
        model, latest = record.model, self.latest
        newer = False  # a newer model's segment refs carry its names (renames too)
        if model is not None and record.epoch is not None:
            if latest is None or model.version > latest.version:
                self._epochs.append(record.epoch)
                self._models.append(model)
                news = newer = True
            else:
                at = next((i for i, m in enumerate(self._models) if m.version == model.version),
                          None)  # fmt: skip
                if at is not None and self._models[at] != model:
                    self.conflicts += 1
        if record.learned is not None and (self.learned is None or record.learned > self.learned):
            self.learned, news = record.learned, True
        if record.sealed_max is not None and (
            self.sealed_max is None or record.sealed_max > self.sealed_max
        ):
            self.sealed_max = record.sealed_max
        for ref in record.segments:
            if newer:
                self.segments[ref.id] = ref
            else:
                self.segments.setdefault(ref.id, ref)
        if newer:
            self._refs.append(dict(self.segments))
        if len(record.lineage) > len(self.lineage):
            self.lineage = record.lineage
        return news

    def ready(self, needed: int) -> bool:
        """Whether every epoch up to ``needed`` is learned."""
        return self.learned is not None and self.learned >= needed

    def model(self, needed: int) -> PublishedModel | None:
        """The model as it stood after epoch ``needed``."""
        at = bisect_right(self._epochs, needed)
        return self._models[at - 1] if at else None

    def refs(self, model: PublishedModel | None) -> Mapping[str, SegmentRef]:
        """Every segment by id, named as when ``model`` was told of (None, or a model
        no longer held: as named now)."""
        if model is not None:
            for held, refs in zip(reversed(self._models), reversed(self._refs), strict=True):
                if held.version == model.version:
                    return refs
        return self.segments

    def prune(self, oldest_needed: int) -> None:
        """Drop the models no partition can need any more: all before the one that
        stood after ``oldest_needed`` (each partition's watermark only moves on)."""
        keep = max(0, bisect_right(self._epochs, oldest_needed) - 1)
        del self._epochs[:keep], self._models[:keep], self._refs[:keep]

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": "model_history",
            "version": 1,
            "learned": self.learned,
            "sealed_max": self.sealed_max,
            "segments": [(ref.id, ref.name, ref.kind) for ref in self.segments.values()],
            "lineage": [(x.version, x.kind, x.sources, x.targets) for x in self.lineage],
            "epochs": list(self._epochs),
            "models": [model.to_plain() for model in self._models],
            "refs": [[(r.id, r.name, r.kind) for r in refs.values()] for refs in self._refs],
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        check_snapshot(state, "model_history", 1)
        self.learned, self.sealed_max = state["learned"], state["sealed_max"]
        refs = (SegmentRef(id=i, name=name, kind=kind) for i, name, kind in state["segments"])
        self.segments = {ref.id: ref for ref in refs}
        self.lineage = tuple(Lineage(v, k, tuple(s), tuple(t)) for v, k, s, t in state["lineage"])
        self._epochs = [int(e) for e in state["epochs"]]
        self._models = [PublishedModel.from_plain(tuple(m)) for m in state["models"]]
        # Snapshots from before per-model names: every model as named now.
        held = state.get("refs") or [state["segments"]] * len(self._models)
        self._refs = [
            {i: SegmentRef(id=i, name=name, kind=kind) for i, name, kind in refs} for refs in held
        ]
