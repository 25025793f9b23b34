"""Segmentation quality on a generated stream with planted segments and a planted shift.

    .venv/bin/python -m bench.quality [--customers 600] [--days 180] [--seed 7]

Prints, from one run: adjusted Rand index against the planted labels before the
shift and at the end; within-segment sum of squares against batch k-means
(scikit-learn, k-means++, 10 inits) on the same final vectors; events to
re-converge after the shift as a share of the initial warm-up; flapping in a
stationary stretch; and customers renamed by model updates that did not move them.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from bench.replay_stream import decoded, run
from engine import MemoryStore, SegmentEngine
from engine.changes import Change
from engine.features import DAY_MS
from engine.segmenter import PublishedModel
from schemas import EngineConfig
from settings import load_settings
from synthetic import DEFAULT_START_MS, Shift, generate, labels, with_timing


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
    args = parser.parse_args()
    source, target, share = args.shift.split(":")
    shift = Shift(args.shift_at, source, target, float(share))
    personas = with_timing(args.new_from, args.lapsed_until)
    base = load_settings(args.config).engine.model_dump() if args.config else {}
    if args.features:
        base.setdefault("learned", {})["features"] = tuple(args.features.split(","))
    config = EngineConfig.model_validate(base)
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
