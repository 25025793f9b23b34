"""Drift detection on generated streams: how soon a planted shift is found, and how
often a stream without one raises an alarm.

    .venv/bin/python -m bench.drift_eval [--customers 300] [--days 200] [--seed 7]

Two streams from the same seed go through ``SegmentEngine.process`` in-process (in
parallel, one per process): one where, at ``--shift-at`` of the window, a share of one
planted group starts behaving like another, and the same stream without the shift.
For each detector (ADWIN, Page-Hinkley, PSI, Jensen-Shannon) it prints the detection
delay (input events, and days of event time, from the shift to the detector's first
detection on any subject) and false alarms per 100k input events of the stationary
stream once the reference is ready (and in the shifted stream before its shift).

Every planted group is active from the start (``--new-from 0``, ``--lapsed-until 1``):
arrivals and lapses are real changes of the population, not false alarms. The watched
features default to the learned ones without ``tenure_days`` (it grows for everyone,
a drift by construction) and ``frequency_90d`` (a 90-day exponentially weighted sum
still fills for ~3 x 90 days after a customer's first event, longer than the
reference delay); ``--watch all`` watches every learned feature instead.
``--set name=value`` overrides a ``DriftConfig`` field.

``--input-shift email=8`` (or ``conversion=0.4``) plants an input-level shift instead:
from ``--shift-at`` on every customer opens that many times as many emails (a change
of the event-type mix) or adds to cart and checks out that many times as often (a
conversion drop), and nobody changes group. The input detectors (``event_mix`` with
PSI and Jensen-Shannon, ``funnel`` with ``conversion_drop``) are what should find it.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bench.replay_stream import decoded
from engine import MemoryStore, SegmentEngine
from engine.drift import DriftReading
from engine.features import DAY_MS
from schemas import EngineConfig
from synthetic import DEFAULT_START_MS, InputShift, Shift, generate, with_timing

DETECTORS = ("adwin", "page_hinkley", "psi", "js", "conversion_drop")
UNSETTLED = ("tenure_days", "frequency_90d")


@dataclass
class Run:
    """What one stream produced: detections with the input events seen by then."""

    events: int = 0
    shift_events: int | None = None  # events before the first one at or after the shift
    ready_events: int | None = None  # events seen when the reference was complete
    ready_ms: int | None = None
    elapsed: float = 0.0
    detections: list[tuple[int, DriftReading]] = field(default_factory=list)
    peak: dict[tuple[str, str], float] = field(default_factory=dict)  # highest score


def stream_run(args: argparse.Namespace, shifted: bool) -> Run:
    config = engine_config(args)
    engine, store = SegmentEngine(config), MemoryStore()
    shift = planted(args) if shifted and not args.input_shift else None
    inputs = input_shift(args) if shifted else None
    shift_ms = shift_at_ms(args)
    out = Run()
    last: dict[tuple[str, str], int | None] = {}  # since_ms of the last detection counted
    started = time.perf_counter()
    personas = with_timing(args.new_from, args.lapsed_until)
    messages = generate(args.customers, args.days, args.seed, personas=personas, shift=shift,
                        input_shift=inputs)  # fmt: skip
    for chunk in batches(decoded(messages), args.batch):
        if out.shift_events is None and chunk[-1].timestamp.timestamp() * 1000 >= shift_ms:
            out.shift_events = out.events + next(
                i for i, e in enumerate(chunk) if e.timestamp.timestamp() * 1000 >= shift_ms
            )
        result = engine.process(chunk, store)
        out.events += len(chunk)
        if out.ready_events is None and engine.status().drift_reference_ready:
            out.ready_events, out.ready_ms = out.events, engine.status().watermark_ms
        sweeps = set(result.sweeps)
        for reading in result.drift:
            key = (reading.detector, reading.subject)
            out.peak[key] = max(out.peak.get(key, 0.0), reading.score)
            if reading.detected and not echo(reading, last, sweeps):
                out.detections.append((out.events, reading))
                last[key] = reading.since_ms
    out.elapsed = time.perf_counter() - started
    return out


def echo(reading: DriftReading, last: dict[tuple[str, str], int | None], sweeps: set[int]) -> bool:
    """A change detector's sweep reading repeats (same ``since_ms``) the detection
    ``observe`` already returned since the previous sweep: count it once."""
    key = (reading.detector, reading.subject)
    return (
        reading.detector in ("adwin", "page_hinkley")
        and reading.at_ms in sweeps
        and key in last
        and last[key] == reading.since_ms
    )


def batches(events: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for event in events:
        chunk.append(event)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def engine_config(args: argparse.Namespace) -> EngineConfig:
    learned = EngineConfig().learned.features
    watch = learned if args.watch == "all" else tuple(f for f in learned if f not in UNSETTLED)
    if args.watch not in ("all", "settled"):
        watch = tuple(args.watch.split(","))
    drift: dict[str, Any] = {"features": watch}
    for item in args.set:
        name, value = item.split("=", 1)
        drift[name] = value.split(",") if name == "detectors" else value
    return EngineConfig.model_validate({"drift": drift})


def planted(args: argparse.Namespace) -> Shift:
    source, target, share = args.shift.split(":")
    return Shift(args.shift_at, source, target, float(share))


def input_shift(args: argparse.Namespace) -> InputShift | None:
    """``--input-shift email=F`` or ``conversion=F``, from ``--shift-at`` on."""
    if not args.input_shift:
        return None
    kind, _, factor = args.input_shift.partition("=")
    try:
        if kind not in ("email", "conversion"):
            raise ValueError(kind)
        return InputShift(args.shift_at, **{f"{kind}_factor": float(factor)})
    except ValueError:
        raise SystemExit(
            f"--input-shift: email=FACTOR or conversion=FACTOR (0 to 1), not {args.input_shift!r}"
        ) from None


def shift_at_ms(args: argparse.Namespace) -> int:
    planted_input = input_shift(args)
    return (planted_input or planted(args)).at_ms(args.days)


def what_shifted(args: argparse.Namespace) -> str:
    planted_input = input_shift(args)
    if planted_input is not None:
        return f"input: {args.input_shift}"
    shift = planted(args)
    return f"{shift.share:.0%} of {shift.from_persona} -> {shift.to_persona}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--days", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shift-at", type=float, default=0.65)
    parser.add_argument("--shift", default="bargain_hunters:high_value_loyal:0.6",
                        help="FROM:TO:SHARE")  # fmt: skip
    parser.add_argument("--new-from", type=float, default=0.0, help="new visitors arrive")
    parser.add_argument("--lapsed-until", type=float, default=1.0, help="lapsed stop")
    parser.add_argument("--watch", default="settled", help="settled | all | f1,f2,...")
    parser.add_argument("--set", action="append", default=[], help="DriftConfig NAME=VALUE")
    parser.add_argument("--batch", type=int, default=100, help="events per process() call")
    parser.add_argument("--input-shift", help="email=FACTOR | conversion=FACTOR (see above)")
    args = parser.parse_args()
    with ProcessPoolExecutor(2) as pool:
        shifted, stationary = pool.map(stream_run, [args, args], [True, False])
    report(args, shifted, stationary)
    return 0


def report(args: argparse.Namespace, shifted: Run, stationary: Run) -> None:
    config = engine_config(args)
    shift_ms = shift_at_ms(args)
    day = lambda ms: (ms - DEFAULT_START_MS) / DAY_MS  # noqa: E731
    print(
        f"streams: {args.customers} customers, {args.days:g} days, seed {args.seed}; shifted "
        f"{shifted.events} events ({shifted.elapsed:.0f} s), stationary {stationary.events} "
        f"({stationary.elapsed:.0f} s); shift at day {day(shift_ms):g} ({what_shifted(args)})"
    )
    d = config.drift
    print(
        f"drift: watching {', '.join(d.features or ())}; reference of {d.reference_size} "
        f"lessons ready at day {day(stationary.ready_ms or 0):.1f}; psi_alert {d.psi_alert}, "
        f"js_alert {d.js_alert}, adwin_delta {d.adwin_delta}, page_hinkley "
        f"{d.page_hinkley_delta}/{d.page_hinkley_threshold}"
    )
    calm = stationary.events - (stationary.ready_events or stationary.events)
    pre = (shifted.shift_events or 0) - (shifted.ready_events or 0)
    print(f"stationary events after the reference: {calm}; shifted, before the shift: {pre}")
    print("| detector | delay (events) | delay (days) | first subject (since, vs shift) | "
          "false alarms / 100k stationary | before the shift / 100k |")  # fmt: skip
    print("| --- | ---: | ---: | --- | ---: | ---: |")
    for detector in DETECTORS:
        after = [(n, r) for n, r in shifted.detections
                 if r.detector == detector and r.at_ms >= shift_ms]  # fmt: skip
        before = [r for _, r in shifted.detections if r.detector == detector and r.at_ms < shift_ms]
        false = [r for _, r in stationary.detections if r.detector == detector]
        if after:
            n, hit = after[0]
            delay = f"{n - (shifted.shift_events or 0)}", f"{(hit.at_ms - shift_ms) / DAY_MS:.1f}"
            began = "?" if hit.since_ms is None else f"{(hit.since_ms - shift_ms) / DAY_MS:+.1f}"
            subject = f"{hit.subject} (since {began} d)"
        else:
            delay, subject = ("never", "never"), "-"
        print(f"| {detector} | {delay[0]} | {delay[1]} | {subject} | "
              f"{per_100k(len(false), calm)} | {per_100k(len(before), pre)} |")  # fmt: skip
    breakdown(shifted, stationary, shift_ms)


def per_100k(count: int, events: int) -> str:
    return f"{count / events * 1e5:.2f} ({count})" if events > 0 else "-"


def breakdown(shifted: Run, stationary: Run, shift_ms: int) -> None:
    """Detections per subject, and the highest PSI / JS each stream reached."""
    found: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for _, r in shifted.detections:
        found[(r.detector, r.subject)]["after" if r.at_ms >= shift_ms else "before"] += 1
    for _, r in stationary.detections:
        found[(r.detector, r.subject)]["stationary"] += 1
    print("\n| detector | subject | stationary | shifted: before / after | peak score "
          "stationary / shifted |\n| --- | --- | ---: | ---: | ---: |")  # fmt: skip
    for key in sorted(stationary.peak.keys() | shifted.peak.keys()):
        c = found.get(key, Counter())
        print(
            f"| {key[0]} | {key[1]} | {c['stationary']} | {c['before']} / {c['after']} | "
            f"{stationary.peak.get(key, 0):.3f} / {shifted.peak.get(key, 0):.3f} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
