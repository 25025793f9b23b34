"""Profiles behind bench/PROFILE.md: py-spy (native frames) and cProfile (CPU time).

    .venv/bin/python -m bench.profiling [agent] [worker] [replay] [--events 100000]
        [--seconds 30] [--rate 200] [--src DIR] [--variants quietlog,...]

agent   a bare Faust agent consuming (``bench.naive_agent --model none``)
worker  the live worker under load (py-spy attached while it drains a pre-filled
        topic; then a second run under cProfile via ``bench.worker_variants``)
replay  in-process replay through ``SegmentEngine.process``

Raw outputs (py-spy collapsed stacks, cProfile stats) and text summaries go to
/tmp/segment-engine-bench/profiles/. ``bench.flame`` re-summarises a stack file,
e.g. ``--under Pipeline._handle`` for shares within the pipeline. ``--variants``
profiles the agent or worker with experimental patches applied. ``--src DIR``
profiles another checkout (``bench.source``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.source import ROOT, child_cwd, child_env, use
from bench.worker_variants import VariantError, check, parse

if TYPE_CHECKING:
    from bench.workload import Record
    from brokers.embedded import EmbeddedBroker

OUT = Path("/tmp/segment-engine-bench/profiles")
PY_SPY = str(Path(sys.executable).parent / "py-spy")
TOPICS = ["behaviour-events", "profile-updates"]


def pstats_text(path: Path, top: int = 40) -> str:
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.strip_dirs()
    total = stats.total_tt  # type: ignore[attr-defined]
    out.write(f"total {total:.2f} s (CPU time)\n\n== by own time ==\n")
    stats.sort_stats("tottime").print_stats(top)
    out.write("\n== by cumulative time ==\n")
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def spy_command(output: Path, rate: int, native: bool = True) -> list[str]:
    return [PY_SPY, "record", "--rate", str(rate), "--format", "raw", "-o", str(output),
            *(["--native"] if native else [])]  # fmt: skip


def with_broker(events: int, args: argparse.Namespace) -> tuple[EmbeddedBroker, list[Record]]:
    """A started broker holding the first ``events`` events of the log, and those events."""
    from bench.workload import create_topics, ensure_log, prefill, read_records
    from brokers.embedded import EmbeddedBroker

    records = list(read_records(ensure_log(args.log_events, args.customers), 0, events))
    broker = EmbeddedBroker().start()
    create_topics(broker.bootstrap, [*TOPICS, "erasure-requests"], 4)
    asyncio.run(prefill(broker.bootstrap, records, *TOPICS))
    return broker, records


def profile_agent(args: argparse.Namespace) -> None:
    from bench.flame import report
    from bench.limits import naive_command, run_naive

    src, variants = args.src, args.variants
    tag = "agent" + (f"-{args.variants.replace(',', '+')}" if args.variants else "")
    broker, records = with_broker(args.events, args)
    try:
        work = Path(tempfile.mkdtemp(prefix="bench-prof-"))
        result = work / "result.json"
        raw = OUT / f"{tag}.raw"
        plain = naive_command(broker.bootstrap, TOPICS, len(records), result, "prof-a1", "none")
        figures = run_naive([*spy_command(raw, args.rate), "--", *plain], result,
                            work / "a1.log", 900, src, variants)  # fmt: skip
        print(f"bare agent under py-spy: {figures}")
        prof = OUT / f"{tag}.prof"
        command = naive_command(broker.bootstrap, TOPICS, len(records), result, "prof-a2", "none")
        figures = run_naive([*command, "--cprofile", str(prof)], result, work / "a2.log", 900,
                            src, variants)  # fmt: skip
        print(f"bare agent under cProfile: {figures}")
        plain_figures = run_naive(
            naive_command(broker.bootstrap, TOPICS, len(records), result, "prof-a3", "none"),
            result, work / "a3.log", 900, src, variants)  # fmt: skip
        print(f"bare agent, no profiler: {plain_figures}")
    finally:
        broker.stop()
    text = report(raw, 45) + "\n\n" + pstats_text(prof)
    (OUT / f"{tag}.txt").write_text(f"no profiler: {plain_figures}\n\n{text}")
    print(f"summary: {OUT / f'{tag}.txt'}")


def profile_worker(args: argparse.Namespace) -> None:
    from bench.flame import report
    from bench.live import (
        STOP_SECONDS,
        counted,
        cpu_seconds,
        start_worker,
        wait_ready,
        worker_overrides,
    )
    from brokers.embedded import free_port

    tag = "worker" + (f"-{args.variants.replace(',', '+')}" if args.variants else "")
    raw, prof = OUT / f"{tag}.raw", OUT / f"{tag}.prof"
    work = Path(tempfile.mkdtemp(prefix="bench-prof-"))
    lines = []
    for run, variants in (
        ("py-spy", args.variants),
        ("cprofile", ",".join(filter(None, [args.variants, f"cprofile={prof}"]))),
    ):
        broker, _records = with_broker(args.events, args)
        try:
            overrides = worker_overrides(broker.bootstrap, f"prof-{run}", free_port(), work / run)
            # py-spy pauses the process to sample it: with the tests' 2 s session the
            # group rebalances under it and the worker mostly waits.
            overrides.update(session_timeout_seconds=10, heartbeat_interval_seconds=3)
            worker = start_worker(args.src, overrides, work / f"{run}.log", variants)
            try:
                wait_ready(worker)
                while (counted(worker) or 0) < 2000:
                    time.sleep(0.2)
                before, cpu, t0 = (
                    counted(worker) or 0,
                    cpu_seconds(worker.pid),
                    time.perf_counter(),
                )
                if run == "py-spy":
                    subprocess.run(
                        [
                            *spy_command(raw, args.rate),
                            "--pid",
                            str(worker.pid),
                            "--duration",
                            str(int(args.seconds)),
                        ],
                        check=True,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                else:
                    time.sleep(args.seconds)
                after = counted(worker) or before
                seconds = time.perf_counter() - t0
                n = max(after - before, 1)
                lines.append(
                    f"{run}: {n / seconds:.0f} events/s, "
                    f"{(cpu_seconds(worker.pid) - cpu) / n * 1e6:.0f} µs CPU per event"
                )
                print(lines[-1], flush=True)
            finally:
                # SIGTERM: the cProfile run dumps its stats on the way out.
                worker.stop(STOP_SECONDS)
        finally:
            broker.stop()
    text = "\n".join(lines) + "\n\n" + report(raw, 60) + "\n\n"
    text += report(raw, 40, under="Pipeline._handle") + "\n\n" + pstats_text(prof, 60)
    (OUT / f"{tag}.txt").write_text(text)
    print(f"summary: {OUT / f'{tag}.txt'}")


def profile_replay(args: argparse.Namespace) -> None:
    from bench.flame import report
    from bench.replay_rate import replay_rate
    from bench.workload import ensure_log

    log = ensure_log(args.log_events, args.customers)
    raw, prof = OUT / "replay.raw", OUT / "replay.prof"
    code = ("from pathlib import Path; from bench.replay_rate import replay_rate; "
            f"print(replay_rate(Path({str(log)!r}), {args.replay_events}))")  # fmt: skip
    subprocess.run([*spy_command(raw, args.rate), "--", sys.executable, "-c", code],
                   env=child_env(args.src), cwd=child_cwd(args.src), check=True)  # fmt: skip
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    figures = replay_rate(log, args.replay_events)
    profiler.disable()
    profiler.dump_stats(str(prof))
    print(f"replay under cProfile: {figures}")
    text = report(raw, 60) + "\n\n" + report(raw, 40, under="SegmentEngine.process") + "\n\n"
    (OUT / "replay.txt").write_text(text + pstats_text(prof, 60))
    print(f"summary: {OUT / 'replay.txt'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", default=["agent", "worker", "replay"])
    parser.add_argument("--events", type=int, default=100_000, help="pre-filled events")
    parser.add_argument("--replay-events", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=30.0, help="worker sampling time")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--log-events", type=int, default=1_000_000)
    parser.add_argument("--variants", default="", help="see bench/worker_variants.py")
    parser.add_argument("--src", type=Path, default=ROOT, help="the code to profile")
    args = parser.parse_args()
    for target in {"agent", "worker"} & set(args.targets):
        try:  # before any work: a worker would only fail once started
            check(parse(args.variants), "agent" if target == "agent" else "worker")
        except VariantError as exc:
            parser.error(f"argument --variants: {exc}")
    args.src = args.src.resolve()
    use(args.src)  # before any import of the product's packages
    OUT.mkdir(parents=True, exist_ok=True)
    for target in args.targets:
        {"agent": profile_agent, "worker": profile_worker, "replay": profile_replay}[target](args)


if __name__ == "__main__":
    main()
