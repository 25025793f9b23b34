"""The segmentation engine's single entry point: a batch of events in, outcomes out.

The live worker and replay both call :meth:`SegmentEngine.process`; one event is a
batch of one. Time is the events' own: the engine reads no clock. Customers who
fall silent are still re-evaluated, by event-time timers (:mod:`engine.timers`):
each evaluation sets when the customer's segments could next change if they stay
silent, and the timer fires once the watermark of the customer's partition passes
it, so recency-driven segments (lapsed, rules on ``recency_days``) stay true at a
cost that grows with the customers due, not with customers x days. With model
epochs on (``learned.epoch_seconds``), lessons are learned epoch by epoch in
partition order and events are assigned against the model of an earlier epoch
(:mod:`engine.epochs`), so any interleaving of the partitions ends alike. Every
``sweep_interval_seconds`` of event time (a tick) drift is scored against its
reference and idle partitions are moved on; ticks fall at the same event times live
and in replay. Input drift (:class:`~engine.drift.InputMix`) counts each accepted
behaviour event in its partition's day and scores a day when that partition's next
day begins, so it too is the same whatever the partitions' interleaving.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any
from zlib import crc32

from engine.aggregates import SegmentAggregates, segment_profiles
from engine.changes import Change
from engine.clustering.scaling import log_scaled
from engine.decisions import decide_learned, erasure_changes
from engine.drift import DriftReading
from engine.epochs import Contribution, EpochClock, Lesson, ModelHistory, ModelRecord, Sealed
from engine.features import PROFILE_FEATURES, FeatureMaker
from engine.health import ModelHealth
from engine.parts import make_drift, make_input_drift, make_segmenter
from engine.profiles import SegmentProfile
from engine.results import (
    BatchResult,
    EngineStatus,
    Outcome,
    count_changes,
    learned_sizes,
    segment_infos,
)
from engine.rule_segments import RuleSegments
from engine.segmenter import PublishedModel
from engine.snapshots import SnapshotError, check_snapshot
from engine.state import CustomerState, StateStore
from engine.timers import Rechecks, TimerIndex, epoch_ms, stored_states
from engine.trainer import Trainer
from schemas.changes import SegmentRef
from schemas.config import EngineConfig
from schemas.events import BehaviourEvent, ErasureRequest, InputEvent
from schemas.features import feature_kinds

Features = dict[str, float | str | None]
__all__ = ["SegmentEngine", "epoch_ms"]

# Published models kept for silent re-checks: a few hundred numbers each; a log of
# 18 months publishes ~470 at one a day.
PLACED_MODELS = 1024


class SegmentEngine:
    """Keeps customer state and segments up to date from events.

    >>> from datetime import datetime, UTC
    >>> from engine.state import MemoryStore
    >>> engine = SegmentEngine(EngineConfig())
    >>> event = BehaviourEvent(event_id="e1", customer_id="c1", type="purchase",
    ...                        timestamp=datetime(2026, 1, 1, tzinfo=UTC), amount=20.0)
    >>> store = MemoryStore()
    >>> engine.process([event, event], store).outcomes
    ['accepted', 'duplicate']
    >>> store.get("c1").purchase_count
    1
    """

    def __init__(
        self, config: EngineConfig, partitions: int = 1, remote_trainer: bool = False
    ) -> None:
        """``partitions``: how many the input is cut into (the topics' partition count);
        with model epochs on, every one of them must pass an epoch before it is learned.
        ``remote_trainer``: with model epochs, the model is learned elsewhere (a
        :class:`~engine.trainer.Trainer` fed each batch's ``contributions``) and its
        records are taken in by :meth:`adopt`; otherwise here."""
        self.config = config
        self.partitions = partitions
        self.features = FeatureMaker(
            config.windows_days, config.recency_cap_days, config.affinity_slots
        )
        learned = config.learned
        self.segmenter = make_segmenter(learned)
        self.rules = RuleSegments(config.rules, feature_kinds(config.windows_days))
        self.drift_features, self.drift = make_drift(config)
        self.inputs = make_input_drift(config)  # per partition: each one's own event time
        self.health = ModelHealth()
        # Customers per segment (learned and rule), kept from the changes this engine makes.
        self.sizes: dict[str, int] = {}
        self._wanted = frozenset(learned.features).union(self.drift_features, self.rules.fields)
        self._learned_wanted = frozenset(learned.features)  # frozen: the feature plan is cached
        self._learned_reads_profile = bool(set(learned.features) & set(PROFILE_FEATURES))
        self.timers = TimerIndex()
        self.rechecks = Rechecks.from_config(config, self.rules.compiled)
        self._tick_ms = int(config.sweep_interval_seconds * 1000)
        self._idle_ms = int(config.idle_partition_seconds * 1000)
        self._next_tick_ms: int | None = None
        # Within process(): the current event's index, the caught-up partitions with
        # the index of their last event in the batch, and the held partitions.
        self._index, self._in_order = 0, False
        self._caught_up: dict[int, int] = {}
        self._held: set[int] = set()
        self._store: StateStore | None = None
        self._dedup_window = config.dedup_window
        self._lateness_ms = int(config.allowed_lateness_seconds * 1000)
        self._learn_interval_ms = int(learned.learn_interval_seconds * 1000)
        # Never below the first silent move's margin: a second needs at least as much.
        self._again_margin = max(learned.silent_again_margin, learned.silent_margin)
        self._silent_lesson_cut = int(learned.silent_lesson_share * 2**32)
        epoch_ms = int(learned.epoch_seconds * 1000)
        lag = learned.adopt_after_epochs
        self.clock = EpochClock(epoch_ms, lag, partitions) if epoch_ms else None
        self.history = ModelHistory()
        self.trainer = (
            Trainer(config, partitions, (self.drift_features, self.drift))
            if epoch_ms and not remote_trainer
            else None
        )
        # Recent published models by version: a silent customer's re-check measures
        # against the model they were last placed with (``CustomerState.placed_version``).
        self.placed_models: dict[int, PublishedModel] = {}
        self._outbox: list[Contribution] = []  # for a remote trainer
        self._sealed_since_training = False  # for one in here

    def process(
        self,
        events: Sequence[InputEvent],
        store: StateStore,
        times: Sequence[int] | None = None,
        partitions: Sequence[int] | None = None,
        caught_up: Collection[int] = (),
        in_order: bool = False,
        positions: Sequence[tuple[str, int]] | None = None,
    ) -> BatchResult:
        """Process ``events`` in order; ``times`` are their :func:`epoch_ms`, when the
        caller has them already (replay orders by them), and ``partitions`` the
        partitions they came from (all 0 when not given).

        ``positions`` (live): each event's place in its input, as (topic-partition,
        offset). A customer's state keeps the last offset applied from each, so an
        event delivered again after a crash or rebalance is a duplicate however many
        came since (event ids catch only the latest few: a producer's retries).

        With model epochs on, an event whose partition has run ahead of the epochs the
        others have passed is ``held``, with every later event of its partition in the
        batch: offer them again, first, once the others have moved on. ``caught_up``
        are the partitions with nothing more to read after this batch (live, at the
        end of its topics); once past its last event here, such a partition is taken
        to have passed the epochs a held one needs, and ticks move it on when idle.
        ``in_order``: this batch and all after it are in event-time order across
        partitions (replay), so every partition is caught up at every event."""
        result = BatchResult()
        self._store = store  # where a publication reads its sample's current vectors
        self._outbox = result.contributions
        changes = result.changes
        held: set[int] = set()
        self._in_order, self._held = in_order, held
        if partitions is not None and caught_up and not in_order:
            last = {p: i for i, p in enumerate(partitions)}
            self._caught_up = {p: last.get(p, -1) for p in caught_up}
        else:
            self._caught_up = {p: -1 for p in caught_up}
        for index, event in enumerate(events):
            ts = epoch_ms(event) if times is None else times[index]
            partition = 0 if partitions is None else partitions[index]
            self._index = index
            if self.clock is not None and (
                partition in held or not self._adoptable(partition, ts, result)
            ):
                held.add(partition)
                result.outcomes.append("held")
                continue
            if self._tick_ms and (self._next_tick_ms is None or ts >= self._next_tick_ms):
                self._maybe_tick(ts, store, result)  # counts its own changes
            if not self.timers.indexed(partition):
                self.timers.index(partition, stored_states(store, partition, result.sweep_errors))
            if self.timers.advance(partition, ts) and self.timers.pending(partition):
                self._fire(partition, store, result)
            counted = len(changes)
            position = None if positions is None else positions[index]
            try:
                outcome = self._one(event, ts, partition, store, changes, result.drift, position)
            except Exception as exc:  # a bug, not bad input: report it, keep going
                outcome = "failed"
                result.errors[index] = f"{type(exc).__name__}: {exc}"
            result.outcomes.append(outcome)
            if len(changes) > counted:
                count_changes(self.sizes, changes, counted)
        result.distances = self.health.drain_distances()
        result.centroid_shifts = self.health.drain_shifts()
        return result

    def _adoptable(self, partition: int, ts: int, result: BatchResult) -> bool:
        """Whether the model ``partition``'s event at ``ts`` meets is learned; the event
        moves the partition's epoch on either way (all its work from now on counts in
        the event's epoch or later)."""
        clock = self.clock
        assert clock is not None
        mark = self._mark(partition, ts)
        self._emit(clock.advance(partition, mark))
        needed = clock.needed(partition, mark)
        if not self.history.ready(needed):
            for laggard, sealed in enumerate(clock.sealed):
                if (sealed is None or sealed < needed) and self._is_caught_up(laggard):
                    self._emit(clock.seal(laggard, needed))
        if self._sealed_since_training:  # only a seal can complete an epoch
            self._train(result)
        return self.history.ready(needed)

    def would_adopt(self, partition: int, ts: int) -> bool:
        """Whether an event of ``partition`` at ``ts`` would be processed now rather
        than held (read only: a caller's check before offering held events again)."""
        clock = self.clock
        if clock is None:
            return True
        mark = self._mark(partition, ts)
        return self.history.ready(clock.needed(partition, mark))

    def _mark(self, partition: int, ts: int) -> int:
        """``partition``'s watermark once an event at ``ts`` is in (it never goes back)."""
        return max(ts, self.timers.watermarks.get(partition, ts))

    def _is_caught_up(self, partition: int) -> bool:
        """Whether ``partition`` has nothing more to read before the current event."""
        if self._in_order:
            return True
        last = self._caught_up.get(partition)
        return last is not None and last < self._index and partition not in self._held

    def _emit(self, item: Contribution | None) -> None:
        """Send a contribution to the trainer (in here, or out with the batch)."""
        if item is None:
            return
        if self.trainer is not None:
            self.trainer.lessons.take(item)
            self._sealed_since_training |= isinstance(item, Sealed)
        else:
            self._outbox.append(item)

    def _train(self, result: BatchResult) -> None:
        assert self.trainer is not None
        self._sealed_since_training = False
        records, drift = self.trainer.take(())
        result.drift += drift
        for record in records:
            self.adopt(record)

    def adopt(self, record: ModelRecord) -> bool:
        """Take in a trainer's record (any number of times, in any order); whether it was
        news. Events held for it can then be offered again."""
        before = self.history.latest
        news = self.history.record(record)
        latest = self.history.latest
        if latest is not before and latest is not None:
            self.health.published(before, latest)
            self._keep(latest)
        clock = self.clock
        if news and clock is not None:
            sealed = [s for s in clock.sealed if s is not None]
            if sealed:
                self.history.prune(min(sealed) + 1 - clock.lag)
        return news

    def forget_partitions(self, partitions: Iterable[int]) -> None:
        """``partitions`` were taken away (a rebalance): their timers are indexed again
        from the stored states if they come back, so that timers another worker set
        meanwhile fire here too."""
        for partition in partitions:
            self.timers.forget(partition)

    def seal_caught_up(self, caught_up: Iterable[int]) -> list[Contribution]:
        """Take ``caught_up`` partitions (nothing more to read for now) to have passed
        the epochs the furthest partition may need; the contributions to send to a
        remote trainer (none with one in here). Without this an idle partition would
        hold every other one."""
        clock, furthest = self.clock, self.history.sealed_max
        if clock is None or furthest is None:
            return []
        target = furthest + 1 - clock.lag
        items: list[Contribution] = [
            item for p in sorted(caught_up) if (item := clock.seal(p, target)) is not None
        ]
        if self.trainer is None or not items:
            return items
        for contribution in items:
            self._emit(contribution)
        self._train(BatchResult())  # its drift readings come with the next batch's
        return []

    def status(self) -> EngineStatus:
        """The engine as of its latest event: the read model every caller uses."""
        seg = self.trainer.segmenter if self.trainer is not None else self.segmenter
        if self.clock is None:
            published, segments, lineage = seg.published_model, seg.segments, tuple(seg.lineage)
        else:
            history = self.history
            published, segments, lineage = history.latest, history.segments, history.lineage
        live_ids = published.ids if published else ()
        return EngineStatus(
            model_version=published.version if published else 0,
            watermark_ms=max(self.timers.watermarks.values(), default=None),
            lessons=seg.updates,
            learned_features=seg.features,
            segments=segment_infos(segments, live_ids, self.rules.refs, self.sizes),
            lineage=lineage,
            published=published,
            silhouette=self.health.silhouette,
            near_boundary=self.health.near_boundary,
            drift_reference_ready=None if self.drift is None else self.drift.reference_ready,
        )

    def memberships(self, state: CustomerState) -> tuple[SegmentRef | None, tuple[SegmentRef, ...]]:
        """``state``'s learned segment and rule segments (rules by id)."""
        learned = self._segments.get(state.segment_id) if state.segment_id else None
        refs = self.rules.refs
        return learned, tuple(refs[r] for r in sorted(state.rule_segments) if r in refs)

    def learned_features(self, state: CustomerState, now_ms: int) -> Features:
        """The learned model's features of ``state`` as of ``now_ms`` (not before its
        latest event)."""
        now = now_ms if state.last_seen_ms is None else max(now_ms, state.last_seen_ms)
        return self.features.features(state, now, self._learned_wanted)

    def model_view(self, state: CustomerState, now_ms: int) -> dict[str, float]:
        """The learned features of ``state`` at ``now_ms`` as the model sees them
        (log-scaled; a missing value at the standardisation's mean)."""
        return self.segmenter.raw(self.features.features(state, now_ms, self._learned_wanted))

    def snapshot(self) -> dict[str, Any]:
        """The engine's runtime state, detached (see :mod:`engine.snapshots`): the model,
        the drift watch (and input drift's), model health, segment sizes and event time.
        Customer state is the store's, which is kept (and snapshotted) apart."""
        return {
            "kind": "segment_engine",
            "version": 2,
            **self.model_snapshot(),
            "sizes": dict(self.sizes),
            "timers": self.timers.snapshot(),
            "next_tick_ms": self._next_tick_ms,
            "epochs": None
            if self.clock is None
            else {
                "clock": self.clock.snapshot(),
                "history": self.history.snapshot(),
                "trainer": None if self.trainer is None else self.trainer.snapshot(),
            },
        }

    def model_snapshot(self) -> dict[str, Any]:
        """The model's parts of :meth:`snapshot`: the segmenter, model health, the drift
        watches and the kept models; not the timers, watermarks and sizes, which the
        customer states rebuild (a worker's model checkpoint holds these alone)."""
        return {
            "segmenter": self.segmenter.snapshot(),
            "health": self.health.snapshot(),
            "drift": None if self.drift is None else self.drift.snapshot(),
            "inputs": None if self.inputs is None else self.inputs.snapshot(),
            "placed_models": [m.to_plain() for m in self.placed_models.values()],
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state`` (:meth:`snapshot` of an engine of the same config)."""
        check_snapshot(state, "segment_engine", 2)
        if (state["drift"] is None) != (self.drift is None):
            raise SnapshotError("the snapshot's drift watch is on where this config's is off")
        inputs = make_input_drift(self.config)
        if inputs is not None and state.get("inputs") is not None:  # else: starts afresh
            inputs.restore(state["inputs"])
        epochs = state["epochs"]
        if (epochs is None) != (self.clock is None):
            raise SnapshotError("the snapshot's model epochs are on where this config's are off")
        if epochs is not None and self.clock is not None:
            if (epochs["trainer"] is None) != (self.trainer is None):
                raise SnapshotError("the snapshot's trainer is remote where this one's is not")
            self.clock.restore(epochs["clock"])
            self.history.restore(epochs["history"])
            if self.trainer is not None:
                self.trainer.restore(epochs["trainer"])
                self._sealed_since_training = True  # learn what the snapshot had sealed
        self.segmenter.restore(state["segmenter"])
        if self.drift is not None:
            self.drift.restore(state["drift"])
        self.health.restore(state["health"])
        self.sizes = dict(state["sizes"])
        self.timers.restore(state["timers"])
        self._next_tick_ms = state["next_tick_ms"]
        self.inputs = inputs
        models = (PublishedModel.from_plain(tuple(m)) for m in state.get("placed_models", ()))
        self.placed_models = {m.version: m for m in models}  # older snapshots: none kept

    def profiles(self, states: Iterable[CustomerState], now_ms: int) -> list[SegmentProfile]:
        """Profiles of every learned and rule segment with members, as of ``now_ms``."""
        return segment_profiles(
            states, self.segment_refs(), self.features, now_ms, self.config.lapsed_after_days
        )

    def aggregates(self) -> SegmentAggregates:
        """Empty profile sums of this engine's features: a caller feeds them the states
        that change and reads :meth:`SegmentAggregates.profiles` at any time."""
        return SegmentAggregates(self.features, self.config.lapsed_after_days)

    def segment_refs(self) -> dict[str, SegmentRef]:
        """Every learned and rule segment, by id, as profiles name them."""
        segments = dict(self.segmenter.segments)
        segments.update(self.rules.refs)
        return segments

    def _maybe_tick(self, ts: int, store: StateStore, result: BatchResult) -> None:
        if self._next_tick_ms is None:
            self._next_tick_ms = (ts // self._tick_ms + 1) * self._tick_ms
            return
        # Boundaries are fixed multiples of the interval, so live and replay agree.
        boundary = ts // self._tick_ms * self._tick_ms
        # A partition without events for longer than the idle allowance is moved on,
        # so its silent customers' timers still fire (the rule is in event time only).
        clock = self.clock
        for partition, mark in sorted(self.timers.watermarks.items()):
            if clock is not None and not self._is_caught_up(partition):
                continue  # it may have events on the way: moving it on would not replay
            if mark < boundary - self._idle_ms and self.timers.advance(
                partition, boundary - self._idle_ms
            ):
                if clock is not None:
                    self._emit(clock.advance(partition, boundary - self._idle_ms))
                self._fire(partition, store, result)
        if clock is None:  # with epochs, the trainer publishes at the end of each
            self._publish_early(boundary)
        result.sweeps.append(boundary)
        result.sweep_sizes.append(dict(sorted(self.sizes.items())))
        if self.drift is not None:
            learned = learned_sizes(self.sizes, self.segmenter.segments)
            version = self.segmenter.model_version
            result.drift.extend(self.drift.evaluate(boundary, learned, version))
        self._next_tick_ms = boundary + self._tick_ms

    def _fire(self, partition: int, store: StateStore, result: BatchResult) -> None:
        """Evaluate the customers of ``partition`` whose timers its watermark passed."""
        counted = len(result.changes)
        for due, customer_id in self.timers.due(partition):
            self._reevaluate(store, customer_id, due, result.changes, result.drift,
                             result.sweep_errors, timer=due)  # fmt: skip
        if len(result.changes) > counted:
            count_changes(self.sizes, result.changes, counted)

    def refresh(
        self,
        now_ms: int,
        store: StateStore,
        customer_ids: Iterable[str],
        errors: list[str] | None = None,
        drift: list[DriftReading] | None = None,
    ) -> list[Change]:
        """Re-evaluate customers as of event time ``now_ms`` (their windows decay,
        their recency grows) and return the changes that causes. A customer that
        cannot be refreshed is skipped and reported in ``errors``."""
        changes: list[Change] = []
        self._store = store
        for customer_id in customer_ids:
            self._reevaluate(store, customer_id, now_ms, changes, drift, errors)
        return changes

    def _reevaluate(
        self, store: StateStore, customer_id: str, now_ms: int, out: list[Change],
        drift: list[DriftReading] | None, errors: list[str] | None, timer: int | None = None,
    ) -> None:  # fmt: skip
        """Evaluate a customer as of ``now_ms`` (a timer's due time: skipped if the
        timer moved since); a failure is reported in ``errors``, never raised."""
        try:
            state = store.get(customer_id)
            if state is None or (timer is not None and state.timer_ms != timer):
                return  # gone, or its timer moved since it was indexed
            if state.last_seen_ms is None:  # a profile alone, or an erasure marker
                if timer is not None and state.erased_until_ms is not None:
                    store.delete(customer_id)  # the marker's time is up
                return
            if now_ms < state.last_seen_ms:
                return
            self._evaluate(state, now_ms, None, out, drift, silent=True)
            store.put(state)
        except Exception as exc:  # a bug: keep evaluating the others
            if errors is not None:
                errors.append(f"{customer_id}: {type(exc).__name__}: {exc}")

    def _one(
        self,
        event: InputEvent,
        ts: int,
        partition: int,
        store: StateStore,
        out: list[Change],
        drift: list[DriftReading],
        position: tuple[str, int] | None = None,
    ) -> Outcome:
        if isinstance(event, ErasureRequest):
            return self._erase(event, ts, partition, store, out)
        state = store.get(event.customer_id) or CustomerState(event.customer_id)
        if position is not None:
            source, offset = position
            if offset <= state.applied.get(source, -1):
                return "duplicate"
            state.applied[source] = offset  # whatever the outcome: it was decided
        state.partition = partition
        if state.erased_until_ms is not None and ts <= state.erased_until_ms:
            return "erased"
        if isinstance(event, BehaviourEvent):
            if state.has_seen(event.event_id):
                return "duplicate"
            if state.last_seen_ms is not None and ts < state.last_seen_ms - self._lateness_ms:
                return "late"
            self.features.fold_in(state, event, ts)
            state.remember(event.event_id, self._dedup_window)
            if self.inputs is not None:  # the event's type counts in its partition's day
                model = self._model(partition, ts)
                version = model.version if model else 0
                drift.extend(self.inputs.observe(event.type, partition, ts, version))
            trigger = event.event_id
        else:
            state.apply_attributes(event.changed(), ts)
            trigger = None
            if not self._learned_reads_profile:  # a redelivered profile must not count
                self._evaluate_rules(state, ts, out)
                store.put(state)
                return "accepted"
        if state.last_seen_ms is not None:  # a profile alone is no behaviour to segment
            self._evaluate(state, max(ts, state.last_seen_ms), trigger, out, drift)
        store.put(state)
        return "accepted"

    def _evaluate(
        self,
        state: CustomerState,
        now_ms: int,
        trigger: str | None,
        out: list[Change],
        drift: list[DriftReading] | None,
        silent: bool = False,
    ) -> None:
        """Evaluate ``state`` as of ``now_ms``; ``silent``: at a timer, with no event or
        profile update of the customer's own."""
        x = self.features.features(state, now_ms, self._wanted)
        if (
            state.last_learned_ms is None
            or now_ms - state.last_learned_ms >= self._learn_interval_ms
        ) and (not silent or self._teaches_silent(state.customer_id)):
            if self.clock is None:
                self._learn(x, state.customer_id, now_ms, drift)
            else:  # learned when every partition has passed the epoch
                mark = self._watermark(state.partition, now_ms)
                self._emit(self.clock.lesson(state.partition, mark,
                                             Lesson(state.customer_id, now_ms, x)))  # fmt: skip
            state.last_learned_ms = now_ms
        model = self._model(state.partition, now_ms)
        placed_in, opened_at = state.segment_id, state.pending_at_ms
        pending = model is not None and decide_learned(
            self.segmenter,
            self.health,
            state,
            x,
            now_ms,
            trigger,
            out,
            model,
            self._named_as(model),
            silent,
            self._placed(state, model) if silent else None,
            silent and self.rechecks.early(state, now_ms),
            self._again_margin if silent and self.rechecks.moved(state) else None,
        )
        if model is not None and placed_in in model.ids and state.segment_id != placed_in:
            self.rechecks.record_move(state, now_ms, opened_at)
        self.rules.evaluate(state, x, now_ms, trigger, model.version if model else 0, out)
        if not self._tick_ms:  # time passing is off: no ticks, no timers
            return
        state.timer_ms = due = self.rechecks.next(state, now_ms, pending)
        if due is not None:
            self.timers.add(state.partition, due, state.customer_id)

    def _teaches_silent(self, customer_id: str) -> bool:
        """Whether ``customer_id`` is in the fixed hashed sample whose silent re-checks
        teach the model (the same customers in every process and replay)."""
        return crc32(customer_id.encode()) < self._silent_lesson_cut

    def _watermark(self, partition: int, now_ms: int) -> int:
        return self.timers.watermarks.get(partition, now_ms)

    def _model(self, partition: int, now_ms: int) -> PublishedModel | None:
        """The model ``partition``'s work is assigned against: the latest, or with
        model epochs, the one of its epoch."""
        if self.clock is None:
            return self.segmenter.published_model
        return self.history.model(self.clock.needed(partition, self._watermark(partition, now_ms)))

    @property
    def _segments(self) -> Mapping[str, SegmentRef]:
        """Every learned segment ever published, by id."""
        return self.segmenter.segments if self.clock is None else self.history.segments

    def _placed(self, state: CustomerState, model: PublishedModel | None) -> PublishedModel | None:
        """The model ``state`` was last placed with, if another than ``model`` and kept."""
        version = state.placed_version
        if version is None or model is None or version == model.version:
            return None
        return self.placed_models.get(version)

    def _named_as(self, model: PublishedModel | None) -> Mapping[str, SegmentRef]:
        """Every learned segment, named as when ``model`` was published: a change carries
        the names of the model it was decided against."""
        return self._segments if self.clock is None else self.history.refs(model)

    def _learn(
        self, x: Features, customer_id: str, now_ms: int, drift: list[DriftReading] | None
    ) -> None:
        seg = self.segmenter
        before = seg.published_model
        seg.learn(x, customer_id, lambda cid: self._current(cid, now_ms), now_ms)
        self._published_since(before)
        if self.drift is not None:
            # The detectors watch the lessons the model learns from, on its log scale.
            values = {name: log_scaled(x.get(name)) for name in self.drift_features}
            readings = self.drift.observe(values, now_ms, seg.model_version)
            if drift is not None:
                drift.extend(readings)

    def _publish_early(self, at_ms: int) -> None:
        """Publish if enough lessons came since the latest publication, re-centring the
        sample on customers as of ``at_ms``."""
        seg, before = self.segmenter, self.segmenter.published_model
        min_lessons = self.config.learned.tick_publish_lessons
        seg.publish_early(min_lessons, lambda cid: self._current(cid, at_ms), at_ms)
        self._published_since(before)

    def _published_since(self, before: PublishedModel | None) -> None:
        """Record a model published since ``before`` in model health."""
        model = self.segmenter.published_model
        if model is not before and model is not None:
            self.health.published(before, model)
            self._keep(model)

    def _keep(self, model: PublishedModel) -> None:
        """Keep ``model`` for silent re-checks, the latest ``PLACED_MODELS`` only (a
        customer placed with an older one is then measured against the current)."""
        self.placed_models[model.version] = model
        if len(self.placed_models) > PLACED_MODELS:
            del self.placed_models[min(self.placed_models)]

    def _current(self, customer_id: str, now_ms: int) -> Features | None:
        """A sampled customer's learned features as of ``now_ms``, for re-centring."""
        state = None if self._store is None else self._store.get(customer_id)
        if state is None or state.last_seen_ms is None:
            return None
        return self.learned_features(state, now_ms)

    def _evaluate_rules(self, state: CustomerState, ts: int, out: list[Change]) -> None:
        if self.rules and state.last_seen_ms is not None:
            now = max(ts, state.last_seen_ms)
            x = self.features.features(state, now, self._wanted)
            model = self._model(state.partition, now)
            self.rules.evaluate(state, x, now, None, model.version if model else 0, out)

    def _erase(
        self, event: ErasureRequest, ts: int, partition: int, store: StateStore, out: list[Change]
    ) -> Outcome:
        state = store.get(event.customer_id)
        seg = self.segmenter
        model = self._model(partition, ts)
        out += erasure_changes(state, self._named_as(model), self.rules.refs, ts,
                               model.version if model else 0, event.request_id)  # fmt: skip
        if self.clock is None:
            seg.forget(event.customer_id)
        else:  # its lessons not learned yet go now; the model forgets it in order
            mark = self._watermark(partition, ts)
            self._emit(self.clock.lesson(partition, mark, Lesson(event.customer_id, mark, None)))
        until = max(ts, state.erased_until_ms or ts) if state else ts
        marker = CustomerState(event.customer_id, erased_until_ms=until, partition=partition)
        if self._tick_ms:  # kept while an event from before the erasure may still come
            marker.timer_ms = until + self._lateness_ms + 1
            self.timers.add(partition, marker.timer_ms, event.customer_id)
        store.put(marker)
        return "erased"
