"""Lessons of a real run for the trainer's tests: what two workers sent one trainer."""

from __future__ import annotations

from functools import cache

from engine.epochs import Contribution
from engine.trainer import Trainer
from tests.engine.test_epochs import CONFIG, PARTITIONS
from tests.engine.test_trainer import run_cluster

__all__ = ["CONFIG", "PARTITIONS", "halves", "trained"]


@cache
def halves() -> tuple[tuple[list[Contribution], ...], tuple[list[Contribution], ...]]:
    """Each worker's contributions, in the order it sent them, cut in two: the first
    halves, then the second."""
    _, _, sent = run_cluster(11)
    cut = [len(s) // 2 for s in sent]
    return tuple(s[:n] for s, n in zip(sent, cut, strict=True)), tuple(
        s[n:] for s, n in zip(sent, cut, strict=True)
    )


def trained(*parts: list[Contribution]) -> Trainer:
    """A trainer that took ``parts``, one after the other."""
    trainer = Trainer(CONFIG, PARTITIONS)
    for part in parts:
        trainer.take(part)
    return trainer
