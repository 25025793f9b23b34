"""Segmentation quality on a generated stream with planted segments and a planted shift.

    .venv/bin/python -m bench.quality [--customers 600] [--days 180] [--seed 7]
    .venv/bin/python -m bench.quality --log cdnow|clickstream|generator|all

Prints, from one run: adjusted Rand index against the planted labels before the
shift and at the end; within-segment sum of squares against batch k-means
(scikit-learn, k-means++, 10 inits) on the same final vectors; events to
re-converge after the shift as a share of the initial warm-up; flapping in a
stationary stretch; and customers renamed by model updates that did not move them.

With ``--log``, replays evaluation logs instead (``bench/real_logs.py``; ``generator``
is the generated stream above) with the same config and prints, per log, how much
customers' learned segments churn and why: see :func:`churn_rows` for each figure's
definition.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score

from bench.real_logs import SOURCES, build
from bench.replay_stream import decoded, run
from engine import MemoryStore, SegmentEngine
from engine.changes import Change
from engine.drift import DriftReading
from engine.drift.inputs import EVENT_MIX, FUNNEL
from engine.features import DAY_MS
from engine.health import ModelHealth
from engine.segment_engine import epoch_ms
from engine.segmenter import PublishedModel
from schemas import BehaviourEvent, EngineConfig
from schemas.events import InputEvent
from settings import load_settings
from synthetic import DEFAULT_START_MS, Persona, Shift, generate, labels, with_timing

Personas = tuple[Persona, ...]


def ari(store: MemoryStore, truth: dict[str, str]) -> float:
    pairs = [(truth[c], s.segment_id) for c, s in store.states.items() if s.segment_id]
    return (
        float(adjusted_rand_score([p[0] for p in pairs], [p[1] for p in pairs])) if pairs else 0.0
    )


def final_matrix(
    engine: SegmentEngine, store: MemoryStore, now_ms: int
) -> tuple[np.ndarray, list[str]]:
    """Every assigned customer's standardised vector under the published model."""
    status = engine.status()
    snap, features = status.published, status.learned_features
    if snap is None:
        raise SystemExit("no model was published: a longer stream, or more customers")
    ids, rows = [], []
    for state in store.states.values():
        if state.segment_id and state.last_seen_ms is not None:
            raw = engine.model_view(state, now_ms)
            rows.append(snap.z(np.array([raw[n] for n in features])))
            ids.append(state.segment_id)
    return np.array(rows), ids


def wss(z: np.ndarray, ids: list[str]) -> float:
    total = 0.0
    for segment in set(ids):
        members = z[[i for i, s in enumerate(ids) if s == segment]]
        total += float(((members - members.mean(axis=0)) ** 2).sum())
    return total


class Tracker:
    """Watches every sweep: ARI over time, and renames at each model update."""

    def __init__(self, engine: SegmentEngine, store: MemoryStore, before: dict[str, str],
                 after: dict[str, str], shift_ms: int) -> None:  # fmt: skip
        self.engine, self.store, self.before, self.after = engine, store, before, after
        self.shift_ms = shift_ms
        self.timeline: list[tuple[int, int, float]] = []  # (now_ms, events seen, ARI)
        self.version = 0
        self.old_snapshot: PublishedModel | None = None
        self.renamed = 0
        self.compared = 0
        self.assigned_at: dict[int, int] = {}  # sweep time -> customers with a segment

    def __call__(self, now_ms: int, seen: int) -> None:
        truth = self.before if now_ms < self.shift_ms else self.after
        self.timeline.append((now_ms, seen, ari(self.store, truth)))
        self.assigned_at[now_ms] = sum(1 for s in self.store.states.values() if s.segment_id)
        snap = self.engine.status().published
        if snap is not None and snap.version != self.version:
            if self.old_snapshot is not None:
                self._renames(self.old_snapshot, snap, now_ms)
            self.version, self.old_snapshot = snap.version, snap

    def _renames(self, old: PublishedModel, new: PublishedModel, now_ms: int) -> None:
        # Same customers, same vectors, old model vs new: a group that stays together
        # but changes its id has been renamed without moving.
        engine = self.engine
        features = engine.status().learned_features
        raws = [engine.model_view(s, now_ms)
                for s in self.store.states.values() if s.last_seen_ms is not None]  # fmt: skip
        x = np.array([[r[n] for n in features] for r in raws])
        if not len(x):
            return
        pairs = Counter(zip(_nearest(old, x), _nearest(new, x), strict=True))
        self.compared += len(x)
        # Renamed: a group that stays together as one segment (most of it goes to one
        # new segment, which is mostly made of it) under another id. Splits and merges
        # move customers; they are not renames.
        for (b, a), count in pairs.items():
            out_of_b = sum(n for (b2, _), n in pairs.items() if b2 == b)
            into_a = sum(n for (_, a2), n in pairs.items() if a2 == a)
            if b != a and count * 2 > out_of_b and count * 2 > into_a:
                self.renamed += count


def _nearest(snap: PublishedModel, x: np.ndarray) -> list[str]:
    z = snap.z(x)
    d = ((z[:, None, :] - snap.centroids[None, :, :]) ** 2).sum(axis=2)
    return [snap.ids[i] for i in d.argmin(axis=1)]


# --- Churn on evaluation logs ---------------------------------------------------

MONTH_MS = 30.4375 * DAY_MS  # a mean calendar month
FLAP_MS = 7 * DAY_MS
LOG_BATCH = 1000
SILHOUETTE_SAMPLE = 5000
SUFFIX = re.compile(r" \(\d+\)$")  # how naming tells apart two segments of one name


@dataclass(slots=True)
class LogRun:
    """One log replayed: the engine, its store, every change, and each model version
    as published (with the event time of the batch it came in)."""

    name: str
    engine: SegmentEngine
    store: MemoryStore
    changes: list[Change]
    models: dict[int, tuple[PublishedModel, int]]  # version -> (model, published at ms)
    events: int
    end_ms: int
    missed_versions: int  # versions published but not seen (0 unless the engine changed)
    truth: dict[str, str] | None = None  # customer -> label, where the log has labels
    names_at: dict[int, dict[str, str]] | None = None  # version -> segment names then
    drift: list[DriftReading] = field(default_factory=list)  # detections
    first_ms: int = 0
    reference_ms: int | None = None  # when the drift reference was complete
    failed: int = 0  # events the engine failed on (a bug: each is reported)


class Publications(ModelHealth):
    """Model health that also keeps every model published, with the event time it was
    published at (``now``) and its segments' names then (``names``): a batch, even one
    event, can publish several (a tick's timers re-evaluate thousands of customers,
    each a lesson)."""

    def __init__(self, now: Callable[[], int], names: Callable[[], Mapping[str, str]]) -> None:
        super().__init__()
        self.now, self.names = now, names
        self.models: dict[int, tuple[PublishedModel, int]] = {}
        self.names_at: dict[int, dict[str, str]] = {}

    def published(self, old: PublishedModel | None, new: PublishedModel) -> None:
        super().published(old, new)
        self.models[new.version] = (new, self.now())
        self.names_at[new.version] = dict(self.names())


def replay_log(name: str, config: EngineConfig, events: Sequence[InputEvent],
               truth: dict[str, str] | None = None) -> LogRun:  # fmt: skip
    """Process ``events`` in event-time order (ties in input order), as replay does,
    keeping every published model version."""
    timed = sorted(((epoch_ms(e), i, e) for i, e in enumerate(events)), key=lambda t: t[:2])
    engine, store = SegmentEngine(config), MemoryStore()
    publications = engine.health = Publications(
        lambda: engine.status().watermark_ms or 0,
        lambda: {i: ref.name for i, ref in engine.segmenter.segments.items()},
    )
    changes: list[Change] = []
    drift: list[DriftReading] = []
    reference_ms: int | None = None
    failed = 0
    for start in range(0, len(timed), LOG_BATCH):
        chunk = timed[start : start + LOG_BATCH]
        result = engine.process([e for _, _, e in chunk], store, [t for t, _, _ in chunk])
        changes += result.changes
        drift += [r for r in result.drift if r.detected]
        failed += result.outcomes.count("failed")
        if reference_ms is None and engine.status().drift_reference_ready:
            reference_ms = chunk[-1][0]
    models = publications.models
    missed = engine.status().model_version - len(models)
    end_ms = timed[-1][0] if timed else 0
    first_ms = timed[0][0] if timed else 0
    return LogRun(name, engine, store, changes, models, len(timed), end_ms, missed, truth,
                  publications.names_at, drift, first_ms, reference_ms, failed)  # fmt: skip


def learned_changes(changes: Iterable[Change]) -> list[Change]:
    """Changes into, out of or between learned segments (an erasure included)."""
    return [c for c in changes
            if (c.segment is not None and c.segment.kind == "learned")
            or (c.previous is not None and c.previous.kind == "learned")]  # fmt: skip


def flapping_customers(changes: Iterable[Change], window_ms: int = FLAP_MS) -> set[str]:
    """Customers who went back to the learned segment they had left (A -> B -> A),
    less than ``window_ms`` after leaving it, at least once."""
    left: dict[str, tuple[str, int]] = {}  # customer -> (segment left, when)
    flappers: set[str] = set()
    for c in learned_changes(changes):
        if c.reason != "reassigned" or c.previous is None or c.segment is None:
            left.pop(c.customer_id, None)  # a first assignment or an erasure
            continue
        before = left.get(c.customer_id)
        if (
            before is not None
            and before[0] == c.segment.id
            and c.changed_at_ms - before[1] < window_ms
        ):
            flappers.add(c.customer_id)
        left[c.customer_id] = (c.previous.id, c.changed_at_ms)
    return flappers


def customer_months(first_seen: Iterable[int], end_ms: int) -> float:
    """Months from each customer's first event to the end of the log, summed."""
    return sum(max(0, end_ms - t) for t in first_seen) / MONTH_MS


Cause = Literal["own", "model", "behaviour", "unknown"]  # see causes()


def causes(run: LogRun) -> list[tuple[Change, Cause]]:
    """Why each learned reassignment happened.

    A reassignment is *caused by a model update* when the model version changed since
    the customer's previous learned change and, under the model of that previous
    change, the customer's features as of this change would still keep them in their
    segment (no other centre is ``hysteresis_margin`` closer): the customer did not
    move, the model did. It is *behaviour* when that older model would move them too,
    and *own* when no model was published in between (their features alone moved
    them). *Unknown*: that older model was not kept (see ``missed_versions``)."""
    margin = run.engine.config.learned.hysteresis_margin
    segmenter = run.engine.segmenter
    previous: dict[str, Change] = {}
    out: list[tuple[Change, Cause]] = []
    for c in learned_changes(run.changes):
        before = previous.get(c.customer_id)
        previous[c.customer_id] = c
        if c.reason != "reassigned" or c.previous is None or c.segment is None:
            continue
        old_version = before.model_version if before is not None else None
        if old_version == c.model_version:
            out.append((c, "own"))
            continue
        kept = run.models.get(old_version) if old_version is not None else None
        if kept is None or c.previous.id not in kept[0].ids:
            out.append((c, "unknown"))
            continue
        old = kept[0]
        d = segmenter.distances(decision_vector(c), old)
        assert d is not None
        own = float(d[old.ids.index(c.previous.id)])
        stays = float(d.min()) >= (1 - margin) * own
        out.append((c, "model" if stays else "behaviour"))
    return out


def decision_vector(change: Change) -> dict[str, float | str | None]:
    """The features a change was decided on. A change's snapshot writes an undefined
    ``avg_order_value`` (never bought) as 0; the model placed it at the mean."""
    x: dict[str, float | str | None] = dict(change.features)
    bought = change.lifetime is not None and change.lifetime.purchase_count > 0
    if "avg_order_value" in x and not bought:
        x["avg_order_value"] = None
    return x


def versions_per_month(models: Mapping[int, tuple[PublishedModel, int]]) -> dict[str, int]:
    """Model versions published per calendar month (UTC) of event time."""
    months = Counter(datetime.fromtimestamp(at / 1000, UTC).strftime("%Y-%m")
                     for _, at in models.values())  # fmt: skip
    return dict(sorted(months.items()))


def duplicate_names(
    ids: Iterable[str], names: Mapping[str, str], base: bool = False
) -> dict[str, int]:
    """Names borne by more than one of ``ids`` (live segments), with how many; with
    ``base``, names that differ only by a numbered suffix (``"loyal (2)"``) count as one."""
    counts = Counter(SUFFIX.sub("", names[i]) if base else names[i] for i in ids)
    return {name: n for name, n in sorted(counts.items()) if n > 1}


def sampled_silhouette(z: np.ndarray, ids: list[str], seed: int = 0) -> float | None:
    """Silhouette of the final assignment on at most :data:`SILHOUETTE_SAMPLE` customers
    (scikit-learn, seeded); None with fewer than two segments."""
    if len(set(ids)) < 2 or len(ids) < 3:
        return None
    size = min(SILHOUETTE_SAMPLE, len(ids))
    return float(silhouette_score(z, ids, sample_size=size, random_state=seed))


def churn_rows(run: LogRun) -> list[tuple[str, str]]:
    """The figures of one replayed log, as (measure, value) rows."""
    status = run.engine.status()
    first_seen = [s.first_seen_ms for s in run.store.states.values() if s.first_seen_ms is not None]
    months = max(customer_months(first_seen, run.end_ms), 1e-9)
    learned = learned_changes(run.changes)
    moves = [c for c in learned if c.reason == "reassigned"]
    assigned = {c.customer_id for c in learned if c.segment is not None}
    caused = causes(run)
    why = Counter(cause for _, cause in caused)
    trigger = Counter(_trigger(c) for c in moves)
    model_trigger = Counter(_trigger(c) for c, cause in caused if cause == "model")
    flappers = len(flapping_customers(run.changes))
    lineage = Counter(entry.kind for entry in status.lineage)
    names = {s.id: s.name for s in status.segments}
    # Each version's names as they were when it was published (they follow their segment).
    at = run.names_at or {}
    dup_versions = sum(1 for v, (m, _) in run.models.items()
                       if duplicate_names(m.ids, at.get(v, names)))  # fmt: skip
    dup_final = duplicate_names(status.live_ids, names)
    base_versions = sum(1 for v, (m, _) in run.models.items()
                        if duplicate_names(m.ids, at.get(v, names), base=True))  # fmt: skip
    base_final = duplicate_names(status.live_ids, names, base=True)
    # A move confirmed by the hysteresis re-check: the first re-check after an event
    # cannot move anybody (one piece of evidence), the one after the spacing can.
    config = run.engine.config
    soon = int((config.learned.hysteresis_spacing_seconds + config.recheck_first_days * 86_400)
               * 1000)  # fmt: skip
    confirmed = sum(1 for c in moves
                    if _trigger(c) == "timer" and (_since_seen(c) or soon + 1) <= soon)  # fmt: skip
    per_month = versions_per_month(run.models).values()
    minted = sum(1 for s in status.segments if s.kind == "learned")
    sil = None
    if status.published is not None:
        sil = sampled_silhouette(*final_matrix(run.engine, run.store, run.end_ms))

    def share(n: int) -> str:
        return f"{n:,} ({n / max(1, len(moves)):.1%})"

    return [
        ("events / customers / customer-months",
         f"{run.events:,} / {len(first_seen):,} / {months:,.0f}"),
        ("learned changes per customer-month (first assignments too)",
         f"{len(learned) / months:.3f}"),
        ("reassignments per customer-month", f"{len(moves) / months:.3f}"),
        ("reassignments", f"{len(moves):,}"),
        ("- at the customer's own event / at a timer",
         f"{trigger['event']:,} / {trigger['timer']:,}"),
        ("  - timers: within hysteresis spacing + first re-check of an event / later",
         f"{confirmed:,} / {trigger['timer'] - confirmed:,}"),
        ("- caused by a model update (the older model keeps them)", share(why["model"])),
        ("  - of which at an own event / at a timer",
         f"{model_trigger['event']:,} / {model_trigger['timer']:,}"),
        ("- behaviour across a model update (the older model moves them too)",
         share(why["behaviour"])),
        ("- behaviour under the same model", share(why["own"])),
        ("- unknown (the older model was not kept)", share(why["unknown"])),
        ("customers who flap (A -> B -> A within 7 days) at least once",
         f"{flappers / max(1, len(assigned)):.2%} ({flappers:,} of {len(assigned):,})"),
        ("model versions", f"{status.model_version}"),
        ("model versions per month of event time (min / max, months)",
         f"{min(per_month, default=0)} / {max(per_month, default=0)}, {len(per_month)}"),
        ("births / splits / merges (lineage)",
         f"{lineage['born']} / {lineage['split']} / {lineage['merge']}"),
        ("learned segments ever minted / live at the end", f"{minted} / {len(status.live_ids)}"),
        ("versions with a duplicate name among live segments",
         f"{dup_versions} of {len(run.models)}"),
        ("duplicate live names at the end",
         ", ".join(f"{k} x{n}" for k, n in dup_final.items()) or "none"),
        ("versions with two live segments of one name but for a ' (n)' suffix",
         f"{base_versions} of {len(run.models)}"),
        ("such names at the end", ", ".join(f"{k} x{n}" for k, n in base_final.items()) or "none"),
        ("silhouette (final vectors, 5,000 sampled, seed 0)",
         "n/a" if sil is None else f"{sil:.3f}"),
        ("ARI", "n/a (no labels)" if run.truth is None else f"{ari(run.store, run.truth):.3f}"),
        ("drift reference of the watched features complete at (day of the log)",
         "never" if run.reference_ms is None else f"{log_day(run, run.reference_ms):.0f}"),
        ("drift detections: watched features / input (event mix, funnel)",
         drift_summary(run)),
    ]  # fmt: skip


def log_day(run: LogRun, at_ms: int) -> float:
    return (at_ms - run.first_ms) / DAY_MS


def drift_summary(run: LogRun) -> str:
    """Detections on the watched features and on the input, with the days of the log
    each fell on (at most the first five of each)."""
    inputs = [r for r in run.drift if r.subject.startswith((EVENT_MIX, FUNNEL))]
    features = [r for r in run.drift if r not in inputs]

    def days(readings: list[DriftReading]) -> str:
        at = sorted({round(log_day(run, r.at_ms)) for r in readings})
        more = ", ..." if len(at) > 5 else ""
        return f"{len(readings)}" + (f" (days {', '.join(map(str, at[:5]))}{more})" if at else "")

    return f"{days(features)} / {days(inputs)}"


def _trigger(change: Change) -> str:
    return "event" if change.trigger_event_id else "timer"


def _since_seen(change: Change) -> int | None:
    """Event time from the customer's latest event to ``change``."""
    seen = change.lifetime.last_seen_ms if change.lifetime is not None else None
    return None if seen is None else change.changed_at_ms - seen


def print_table(runs: Sequence[tuple[str, list[tuple[str, str]]]]) -> None:
    """One markdown table: a row per measure, a column per log."""
    print("| measure | " + " | ".join(name for name, _ in runs) + " |")
    print("| --- |" + " --- |" * len(runs))
    for i, (measure, _) in enumerate(runs[0][1]):
        print(f"| {measure} | " + " | ".join(rows[i][1] for _, rows in runs) + " |")


def log_events(
    name: str, args: argparse.Namespace
) -> tuple[list[InputEvent], dict[str, str] | None]:
    """The events of log ``name``, and its labels when it has any."""
    if name == "generator":
        shift, personas = parse_shift(args)
        stream = generate(args.customers, args.days, args.seed, personas=personas, shift=shift)
        truth = labels(args.customers, args.seed, personas, shift=shift, after_shift=True)
        return list(decoded(stream)), truth
    path = build(name)
    with path.open("rb") as f:
        return [BehaviourEvent.model_validate_json(line) for line in f], None


def run_logs(args: argparse.Namespace, config: EngineConfig) -> int:
    names = [*SOURCES, "generator"] if args.log == "all" else [args.log]
    results = []
    for name in names:
        started = time.perf_counter()
        events, truth = log_events(name, args)
        run = replay_log(name, config, events, truth)
        rows = churn_rows(run)
        per_month = versions_per_month(run.models)
        print(f"{name}: {run.events:,} events, {time.perf_counter() - started:.1f} s; "
              f"model versions per month: {per_month}")  # fmt: skip
        if run.failed:
            print(f"  ({run.failed} events failed in the engine: a bug, see the errors)")
        if run.missed_versions:
            print(f"  ({run.missed_versions} model versions were not seen published)")
        results.append((name, rows))
    print_table(results)
    return 0


def parse_shift(args: argparse.Namespace) -> tuple[Shift, Personas]:
    source, target, share = args.shift.split(":")
    return Shift(args.shift_at, source, target, float(share)), with_timing(
        args.new_from, args.lapsed_until
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=600)
    parser.add_argument("--days", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--new-from", type=float, default=0.3, help="new visitors arrive")
    parser.add_argument("--lapsed-until", type=float, default=0.2, help="lapsed stop")
    parser.add_argument("--shift-at", type=float, default=0.5)
    parser.add_argument("--shift", default="bargain_hunters:high_value_loyal:0.6",
                        help="FROM:TO:SHARE")  # fmt: skip
    parser.add_argument("--features", help="comma-separated learned features (default: config)")
    parser.add_argument("--config", type=Path, help="TOML settings file (its engine config)")
    parser.add_argument("--stationary", type=float, nargs=2, default=(0.42, 0.5))
    parser.add_argument("--log", choices=[*SOURCES, "generator", "all"],
                        help="replay evaluation logs and print churn (all: every one)")  # fmt: skip
    args = parser.parse_args()
    shift, personas = parse_shift(args)
    base = load_settings(args.config).engine.model_dump() if args.config else {}
    if args.features:
        base.setdefault("learned", {})["features"] = tuple(args.features.split(","))
    config = EngineConfig.model_validate(base)
    if args.log:
        return run_logs(args, config)
    engine, store = SegmentEngine(config), MemoryStore()
    before = labels(args.customers, args.seed, personas, shift=shift, after_shift=False)
    after = labels(args.customers, args.seed, personas, shift=shift, after_shift=True)
    shift_ms = shift.at_ms(args.days)
    end_ms = DEFAULT_START_MS + int(args.days * DAY_MS)
    tracker = Tracker(engine, store, before, after, shift_ms)
    started = time.perf_counter()
    stream = generate(args.customers, args.days, args.seed, personas=personas, shift=shift)
    changes = run(engine, decoded(stream), store, on_sweep=tracker)
    engine.refresh(end_ms, store, list(store.states))
    elapsed = time.perf_counter() - started
    events = tracker.timeline[-1][1] if tracker.timeline else 0
    print(f"stream: {args.customers} customers, {args.days:g} days, seed {args.seed}, "
          f"{events} events, shift at {shift.at_fraction:.0%} ({shift.share:.0%} of "
          f"{shift.from_persona} -> {shift.to_persona}); {elapsed:.1f} s, "
          f"{events / elapsed:,.0f} events/s")  # fmt: skip
    report(args, engine, store, tracker, changes, after, end_ms)
    return 0


def report(
    args: argparse.Namespace, engine: SegmentEngine, store: MemoryStore, tracker: Tracker,
    changes: Sequence[Change], after: dict[str, str], end_ms: int,
) -> None:  # fmt: skip
    pre = [(t, n, a) for t, n, a in tracker.timeline if t < tracker.shift_ms]
    post = [(t, n, a) for t, n, a in tracker.timeline if t >= tracker.shift_ms]
    ari_pre = pre[-1][2] if pre else 0.0
    ari_end = ari(store, after)
    goal = 0.9 * ari_pre
    warm = next((n for _, n, a in pre if a >= goal), None)
    shift_events = post[0][1] if post else 0
    reconv = next((n - shift_events for _, n, a in post if a >= goal), None)
    z, ids = final_matrix(engine, store, end_ms)
    k = len(set(ids))
    batch = KMeans(n_clusters=k, init="k-means++", n_init=10, random_state=0).fit(z)
    ratio = wss(z, ids) / batch.inertia_
    # Stationary: lapsed customers have stopped, new visitors not yet arrived.
    stationary_from, stationary_to = args.stationary
    stretch = DEFAULT_START_MS + int(stationary_from * args.days * DAY_MS)
    first_sweep = min((t for t in tracker.assigned_at if t >= stretch), default=stretch)
    stretch_end = DEFAULT_START_MS + int(stationary_to * args.days * DAY_MS)
    flappers = flapping(changes, stretch, stretch_end, tracker.assigned_at.get(first_sweep, 1))
    status = engine.status()
    born = sum(1 for s in status.segments if s.kind == "learned")
    print(
        f"model: {engine.config.learned.model}, {engine.config.learned.n_segments} segments, "
        f"final version {status.model_version}, segments born {born}, "
        f"lineage entries {len(status.lineage)}"
    )
    print("| measure | value | goal |\n| --- | --- | --- |")
    print(f"| ARI vs planted labels, just before the shift | {ari_pre:.3f} | >= 0.90 |")
    print(f"| ARI vs planted labels, end (after re-convergence) | {ari_end:.3f} | >= 0.90 |")
    print(f"| WSS engine / batch k-means (k={k}) | {ratio:.3f} | <= 1.10 |")
    warm_s = "never" if warm is None else f"{warm}"
    re_s = "never" if reconv is None or not warm else f"{reconv} ({reconv / warm:.2f} of warm-up)"
    print(f"| events to reach 0.9 x pre-shift ARI: warm-up | {warm_s} | |")
    print(f"| events to re-converge after the shift | {re_s} | |")
    print(f"| customers flapping (> 2 changes) in a stationary stretch | {flappers:.2%} | <= 1% |")
    share = tracker.renamed / tracker.compared if tracker.compared else 0.0
    print(
        f"| customers renamed by a model update that did not move them | {share:.4%} "
        f"({tracker.renamed} of {tracker.compared}) | 0 |"
    )
    names = {s.id: s.name for s in status.segments}
    print("final segments:", dict(Counter(names[i] for i in ids)))


def flapping(changes: Sequence[Change], start_ms: int, end_ms: int, customers: int) -> float:
    """Share of ``customers`` whose learned segment changed more than twice in the stretch."""
    moves: Counter[str] = Counter(
        c.customer_id for c in changes
        if start_ms <= c.changed_at_ms < end_ms and c.reason == "reassigned"
        and c.segment is not None and c.segment.kind == "learned"
    )  # fmt: skip
    return sum(1 for n in moves.values() if n > 2) / max(1, customers)


if __name__ == "__main__":
    raise SystemExit(main())
