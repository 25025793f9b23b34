"""Model epochs: learning in a fixed order, adopting by event time.

With several partitions, the order in which their events arrive differs from run to
run (and from worker to worker), and an online model's result depends on the order
it learns in. So, as Flink ML's ``OnlineKMeans`` does with global mini-batches, event
time is cut into epochs: each partition's lessons are kept per epoch; once every
partition's watermark has passed an epoch (it is *sealed* everywhere) the epoch is
learned, partition by partition, each in its own order; and a partition's events of
epoch ``k`` are assigned against the model as it stood after epoch ``k - lag``. Both
are functions of each partition's own sequence of events, so a live worker, however
its partitions interleave, and a replay with the same partitions end alike.

Every lesson, timer and event of a partition counts in the epoch of the partition's
watermark (never a sealed one), and a partition whose events need a model the slower
partitions have not sealed yet is *held*: its caller keeps the events and offers them
again. A partition the caller knows is caught up (replay, in event-time order, knows
every partition is) is sealed up to where the held one needs it instead.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.clustering.published import PublishedModel
from engine.snapshots import SnapshotError, check_snapshot

__all__ = ["Lesson", "ModelEpochs"]

Features = dict[str, float | str | None]


@dataclass(frozen=True, slots=True)
class Lesson:
    """A customer's features to learn from as of ``at_ms``; no features: forget them."""

    customer_id: str
    at_ms: int
    features: Features | None


class ModelEpochs:
    """Lessons per partition and epoch, the epochs every partition has sealed, and
    the model each epoch's events are assigned against.

    >>> epochs = ModelEpochs(epoch_ms=10, lag=2, partitions=2)
    >>> epochs.lesson(0, 5, Lesson("c1", 5, {"x": 1.0}))
    >>> epochs.advance(0, 25); epochs.ready(0, 25)   # partition 1 has sealed nothing
    False
    >>> epochs.advance(1, 12); [(e, len(ls)) for e, ls in epochs.learnable()]
    [(0, 1)]
    >>> epochs.ready(0, 25)   # epoch 2's model is epoch 0's
    True
    """

    def __init__(self, epoch_ms: int, lag: int, partitions: int) -> None:
        if epoch_ms <= 0 or lag < 1 or partitions < 1:
            raise ValueError("model epochs need epoch_ms > 0, lag >= 1 and partitions >= 1")
        self.epoch_ms, self.lag, self.partitions = epoch_ms, lag, partitions
        self.sealed: list[int | None] = [None] * partitions  # highest epoch sealed
        self.learned: int | None = None  # every epoch up to this one is learned
        self._lessons: dict[int, dict[int, list[Lesson]]] = {}  # partition -> epoch -> ...
        # (epoch, model) at the end of each learned epoch that changed the model.
        self._epochs: list[int] = []
        self._models: list[PublishedModel] = []

    def epoch(self, ms: int) -> int:
        return ms // self.epoch_ms

    def current(self, partition: int, watermark_ms: int) -> int:
        """The epoch ``partition``'s work at ``watermark_ms`` counts in: never a sealed one."""
        sealed = self.sealed[partition]
        epoch = self.epoch(watermark_ms)
        return epoch if sealed is None or epoch > sealed else sealed + 1

    def lesson(self, partition: int, watermark_ms: int, lesson: Lesson) -> None:
        epoch = self.current(partition, watermark_ms)
        self._lessons.setdefault(partition, {}).setdefault(epoch, []).append(lesson)

    def forget(self, partition: int, watermark_ms: int, customer_id: str) -> None:
        """Drop ``customer_id``'s lessons not learned yet, and forget them when learned."""
        for lessons in self._lessons.get(partition, {}).values():
            lessons[:] = [lesson for lesson in lessons if lesson.customer_id != customer_id]
        self.lesson(partition, watermark_ms, Lesson(customer_id, watermark_ms, None))

    def advance(self, partition: int, watermark_ms: int) -> None:
        """``partition``'s watermark is now ``watermark_ms``: seal the epochs before it."""
        self.seal(partition, self.current(partition, watermark_ms) - 1)

    def seal(self, partition: int, epoch: int) -> None:
        sealed = self.sealed[partition]
        if sealed is None or epoch > sealed:
            self.sealed[partition] = epoch

    def needed(self, partition: int, watermark_ms: int) -> int:
        """The epoch whose model ``partition``'s work at ``watermark_ms`` is assigned
        against: every epoch up to it must be learned first."""
        return self.current(partition, watermark_ms) - self.lag

    def ready(self, partition: int, watermark_ms: int) -> bool:
        needed = self.needed(partition, watermark_ms)
        return self.learned is not None and self.learned >= needed

    def laggards(self, epoch: int) -> list[int]:
        """The partitions that have not sealed ``epoch``."""
        return [p for p, sealed in enumerate(self.sealed) if sealed is None or sealed < epoch]

    def learnable(self) -> Iterator[tuple[int, list[Lesson]]]:
        """Each epoch every partition has now sealed, oldest first, with its lessons in
        partition order (the caller learns them, then :meth:`record`\\ s the model).
        Epochs without lessons are passed over."""
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
            yield epoch, lessons
        self.learned = upto

    def record(self, epoch: int, model: PublishedModel | None) -> None:
        """The model as it stands after learning ``epoch``."""
        if model is not None and (not self._models or self._models[-1] is not model):
            self._epochs.append(epoch)
            self._models.append(model)

    def model(self, partition: int, watermark_ms: int) -> PublishedModel | None:
        """The model ``partition``'s work at ``watermark_ms`` is assigned against."""
        at = bisect_right(self._epochs, self.needed(partition, watermark_ms))
        return self._models[at - 1] if at else None

    def prune(self) -> None:
        """Drop models no partition can need any more (each partition's watermark only
        moves on): all before the one the slowest partition needs."""
        if any(sealed is None for sealed in self.sealed):
            return
        slowest = min(s for s in self.sealed if s is not None) + 1 - self.lag
        keep = max(0, bisect_right(self._epochs, slowest) - 1)
        del self._epochs[:keep], self._models[:keep]

    def pending(self) -> int:
        """Lessons gathered and not learned yet."""
        return sum(len(ls) for by_epoch in self._lessons.values() for ls in by_epoch.values())

    def snapshot(self) -> dict[str, Any]:
        lessons = {p: {e: [(ls.customer_id, ls.at_ms, ls.features) for ls in lessons]
                       for e, lessons in sorted(by_epoch.items())}
                   for p, by_epoch in sorted(self._lessons.items())}  # fmt: skip
        return {
            "kind": "model_epochs",
            "version": 1,
            "sealed": list(self.sealed),
            "learned": self.learned,
            "lessons": lessons,
            "epochs": list(self._epochs),
            "models": [model.to_plain() for model in self._models],
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        check_snapshot(state, "model_epochs", 1)
        sealed = list(state["sealed"])
        if len(sealed) != self.partitions:
            raise SnapshotError(f"the snapshot has {len(sealed)} partitions, not {self.partitions}")
        self.sealed, self.learned = sealed, state["learned"]
        self._lessons = {
            int(p): {int(e): [Lesson(c, at, None if f is None else dict(f)) for c, at, f in ls]
                     for e, ls in by_epoch.items()}
            for p, by_epoch in state["lessons"].items()
        }  # fmt: skip
        self._epochs = [int(e) for e in state["epochs"]]
        self._models = [PublishedModel.from_plain(tuple(m)) for m in state["models"]]
