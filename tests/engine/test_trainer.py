"""One trainer, many workers: however their messages cross, they end as replay.

Two engines own two partitions each and learn nothing themselves; their lessons and
seals go, in order per engine, to one :class:`Trainer`, whose records reach each
engine in order but at times of their own. Every step is picked at random.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import MemoryStore, SegmentEngine
from engine.changes import Change
from engine.epochs import Contribution, ModelRecord
from engine.trainer import Trainer
from tests.engine.test_epochs import CONFIG, PARTITIONS, log, replay

OWNERS = ({0, 1}, {2, 3})


class Worker:
    def __init__(self, owned: set[int]) -> None:
        self.owned = owned
        self.engine = SegmentEngine(CONFIG, PARTITIONS, remote_trainer=True)
        self.store = MemoryStore()
        self.changes: list[Change] = []
        data = log()
        self.queues = {p: [i for i, q in enumerate(data.partitions) if q == p] for p in owned}
        self.inbox: list[ModelRecord] = []

    def step(self, rng: random.Random) -> list[Contribution]:
        data, owned = log(), sorted(self.owned)
        batch = [(p, i) for p in rng.sample(owned, rng.randint(1, len(owned)))
                 for i in self.queues[p][: rng.randint(1, 300)]]  # fmt: skip
        taken = {p: sum(1 for q, _ in batch if q == p) for p in owned}
        caught_up = [p for p in owned if len(self.queues[p]) == taken[p]]
        idx = [i for _, i in batch]
        result = self.engine.process([data.events[i] for i in idx], self.store,
                                     [data.times[i] for i in idx],
                                     [data.partitions[i] for i in idx], caught_up)  # fmt: skip
        done = dict.fromkeys(owned, 0)
        for (p, _), outcome in zip(batch, result.outcomes, strict=True):
            done[p] += outcome != "held"
        for p in owned:
            self.queues[p] = self.queues[p][done[p] :]
        self.changes += result.changes
        return result.contributions

    def read_models(self, rng: random.Random) -> list[Contribution]:
        n = rng.randint(0, len(self.inbox))
        for record in self.inbox[:n]:
            self.engine.adopt(record)
        del self.inbox[:n]
        idle = [p for p in self.owned if not self.queues[p]]
        return self.engine.seal_caught_up(idle)

    @property
    def busy(self) -> bool:
        return any(self.queues.values())


def run_cluster(seed: int) -> tuple[list[Worker], Trainer, list[list[Contribution]]]:
    """Run to the end; the workers, the trainer, and what each worker sent, in order."""
    rng = random.Random(seed)
    workers = [Worker(owned) for owned in OWNERS]
    trainer = Trainer(CONFIG, PARTITIONS)
    lessons: list[list[Contribution]] = [[] for _ in workers]  # a lessons topic per worker
    sent: list[list[Contribution]] = [[] for _ in workers]
    steps = 0
    while any(w.busy for w in workers):
        steps += 1
        assert steps < 20_000, "the cluster stopped making progress"
        w = rng.randrange(len(workers))
        action = rng.random()
        if action < 0.3:  # the trainer reads some of worker w's lessons
            n = rng.randint(0, len(lessons[w]))
            records, _ = trainer.take(lessons[w][:n])
            del lessons[w][:n]
            for worker in workers:
                worker.inbox += records
            continue
        worker = workers[w]
        out = worker.step(rng) if action < 0.7 and worker.busy else worker.read_models(rng)
        lessons[w] += out
        sent[w] += out
    for pending in lessons:  # the trainer reads what is left
        trainer.take(pending)
    return workers, trainer, sent


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_two_workers_and_a_trainer_end_as_replay(seed: int) -> None:
    expected_states, expected_changes = replay().outcome()
    workers, _, _ = run_cluster(seed)
    states = {s.customer_id: (s.segment_id, sorted(s.rule_segments))
              for w in workers for s in w.store.states.values()}  # fmt: skip
    assert states == expected_states
    changes: dict[str, list[object]] = {}
    for c in (c for w in workers for c in w.changes):
        segment = None if c.segment is None else c.segment.id
        changes.setdefault(c.customer_id, []).append(
            (c.changed_at_ms, c.model_version, c.reason, segment, c.features)
        )
    assert changes == expected_changes
    assert all(w.engine.history.conflicts == 0 for w in workers)


def test_a_trainer_fed_the_lessons_in_another_order_tells_the_same_models() -> None:
    """The trainer is a function of each partition's contributions: a restarted one
    reading the lessons again, however the workers' messages interleave, tells the same
    versions with the same models, so the workers see no conflict."""
    workers, trainer, sent = run_cluster(11)
    again = Trainer(CONFIG, PARTITIONS)
    records, _ = again.take(sent[1] + sent[0])  # one worker's lessons first, then the other's
    assert records and again.record() == trainer.record()
    for record in records:
        for w in workers:
            w.engine.adopt(record)
    assert all(w.engine.history.conflicts == 0 for w in workers)
