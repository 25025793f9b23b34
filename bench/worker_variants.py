"""``segment-engine worker`` (or the bare Faust agent) with experimental changes patched in.

    BENCH_VARIANTS=gcfreeze,linger=0 .venv/bin/python -m bench.worker_variants worker

For estimating what an optimisation would gain before anyone edits ``streams/``
or ``engine/``: each variant monkeypatches one process only. Variants
(comma-separated in ``BENCH_VARIANTS``); an unknown one, one that does not apply to
the process, or a patch that no longer finds its target stops the process:

``linger=S``      Faust ``producer_linger`` (seconds); the worker's own is
                  ``streams.app.PRODUCER_LINGER_SECONDS``, Faust's default 0.
``maxpoll=N``     Faust ``broker_max_poll_records``.
``uvloop``        run on uvloop (not a dependency: install it first).
``gc=N|off``      worker only: its young-generation threshold (``cli.main``; CPython's
                  default is 700) or ``gc.disable()``.
``gcfreeze``      worker only: ``gc.freeze()`` after every batch, so long-lived objects
                  (the table's states) leave the collector's generations and
                  collections stop re-scanning them (refcounting still frees them).
``cprofile=PATH`` worker only: profile it with cProfile (CPU-time timer), dump at exit
                  (``bench.naive_agent`` has ``--cprofile``).
``trace=PATH``    worker only: a line per batch to PATH (tab-separated: monotonic start,
                  records, seconds in the engine, in waiting for the broker's acks of
                  what it sent, in all, the model version after, and the seconds and
                  count of the collector's full (oldest-generation) collections since
                  the previous line, in batches or between): which batches make a
                  latency's tail.

Built into the worker since they were measured here (``bench/PROFILE.md``), so for
the bare agent (``bench.naive_agent``) only:

``quietlog``      Faust's terminal spinner leaves the root logger at DEBUG, so every
                  ``log.debug`` in Faust, mode and aiokafka builds a LogRecord nobody
                  prints; this drops the spinner (the worker: ``cli.main._worker``).
``nomonitor``     no Faust Monitor sensor (the worker: ``QuietMonitor`` in
                  ``streams.faust_compat``).
``fastdrain``     Faust's consumer hands each message to the conductor through
                  ``Service.wait_first(callback(message), suspend_flow.wait())``: four
                  tasks and an ``asyncio.wait`` per message. This awaits the callback
                  directly unless flow is suspended (a rebalance), patching Faust's
                  source (the worker's ``Consumer`` has its own loop). What it gives
                  up: cancelling a callback blocked on a full buffer when a rebalance
                  starts.

Gone, as no-ops on today's worker: ``fetchwait`` (the ``fetch_max_wait_ms`` setting
replaced it, and the worker's consumer overrides what it patched) and ``ebb`` (segment
changes and state writes no longer pass through Faust's producer buffer).
"""

from __future__ import annotations

import cProfile
import logging
import os
import re
import sys
import time
from typing import Any, Literal

Process = Literal["worker", "agent"]
BOTH = frozenset({"linger", "maxpoll", "uvloop"})
WORKER_ONLY = frozenset({"gc", "gcfreeze", "cprofile", "trace"})
AGENT_ONLY = {
    "quietlog": "cli.main._worker drops Faust's spinner",
    "nomonitor": "streams.faust_compat.QuietMonitor",
    "fastdrain": "streams.faust_compat.Consumer has its own loop",
}


class VariantError(RuntimeError):
    """A variant that is unknown, does not apply, or no longer finds what it patches."""


def parse(text: str) -> dict[str, str]:
    """``"gc=700,gcfreeze"`` -> ``{"gc": "700", "gcfreeze": ""}``."""
    out = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        out[name.strip()] = value.strip()
    return out


def variants_from_env() -> dict[str, str]:
    return parse(os.environ.get("BENCH_VARIANTS", ""))


def check(variants: dict[str, str], process: Process) -> None:
    """Raise :class:`VariantError` unless every variant applies to ``process``."""
    for name in variants:
        if name in AGENT_ONLY and process == "worker":
            raise VariantError(f"{name}: built into the worker ({AGENT_ONLY[name]})")
        if name in WORKER_ONLY and process == "agent":
            raise VariantError(f"{name}: for the worker only")
        if name not in BOTH | WORKER_ONLY | AGENT_ONLY.keys():
            raise VariantError(f"{name}: no such variant (see bench/worker_variants.py)")


def apply(variants: dict[str, str], process: Process) -> None:
    """Patch this process with ``variants`` (all but ``cprofile``, which :func:`main` runs)."""
    check(variants, process)
    settings: dict[str, Any] = {}
    if "linger" in variants:
        settings["producer_linger"] = float(variants["linger"])
    if "maxpoll" in variants:
        settings["broker_max_poll_records"] = int(variants["maxpoll"])
    if settings:
        _faust_settings(settings)
    if "quietlog" in variants:
        _quiet_logging()
    if "nomonitor" in variants:
        _no_monitor()
    if "uvloop" in variants:
        import uvloop

        uvloop.install()
    if "fastdrain" in variants:
        _fast_drain()
    if "gc" in variants:
        _gc_threshold(variants["gc"])
    if "gcfreeze" in variants:
        _gc_freeze()
    if "trace" in variants:
        _trace(variants["trace"])


def _require(owner: Any, name: str) -> Any:
    if not hasattr(owner, name):
        raise VariantError(f"{getattr(owner, '__name__', owner)}.{name} is gone: cannot patch it")
    return getattr(owner, name)


def _faust_settings(extra: dict[str, Any]) -> None:
    # In place, so it reaches subclasses (streams' app) whenever they were defined.
    import faust

    original = _require(faust.App, "__init__")

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.update(extra)
        original(self, *args, **kwargs)
        for key, value in extra.items():
            if getattr(self.conf, key) != value:
                raise VariantError(f"Faust setting {key} did not take {value!r}")

    faust.App.__init__ = __init__  # type: ignore[method-assign]


def _quiet_logging() -> None:
    import faust.worker

    _require(faust.worker.Worker, "_setup_spinner_handler")

    def _no_spinner(self: Any, logger: logging.Logger, level: int) -> None:
        self.spinner = None

    faust.worker.Worker._setup_spinner_handler = _no_spinner  # type: ignore[method-assign]


def _no_monitor() -> None:
    import faust.sensors.base as sensors
    from faust.sensors.monitor import Monitor

    original = _require(sensors.SensorDelegate, "add")

    def add(self: Any, sensor: Any) -> None:
        if not isinstance(sensor, Monitor):
            original(self, sensor)

    sensors.SensorDelegate.add = add  # type: ignore[method-assign]


def _fast_drain() -> None:
    import inspect
    import textwrap

    import faust.transport.consumer as consumer
    from faust.transport.drivers import aiokafka as driver

    if "_drain_messages" in vars(driver.Consumer):
        raise VariantError("Faust's aiokafka Consumer has its own _drain_messages now")
    source = textwrap.dedent(inspect.getsource(_require(consumer.Consumer, "_drain_messages")))
    slow = re.compile(
        r"^( *)await self\.wait_first\(\s*callback\(message\), self\.suspend_flow\.wait\(\)\s*\)",
        re.MULTILINE,
    )
    fast = r"\1if not self.suspend_flow.is_set():\n\1    await callback(message)"
    patched, count = slow.subn(fast, source)
    if count != 1:
        raise VariantError(f"Faust's _drain_messages changed ({count} matches): cannot patch it")
    namespace: dict[str, Any] = {}
    exec(patched, vars(consumer), namespace)
    consumer.Consumer._drain_messages = namespace["_drain_messages"]  # type: ignore[method-assign]


def _gc_threshold(value: str) -> None:
    import gc

    import cli.main

    _require(cli.main, "YOUNG_COLLECTION_THRESHOLD")
    if value == "off":
        gc.disable()
    else:  # the worker sets its own threshold when it starts
        cli.main.YOUNG_COLLECTION_THRESHOLD = int(value)


def _gc_freeze() -> None:
    import gc

    import streams.pipeline as pipeline

    original = _require(pipeline.Pipeline, "handle")

    async def handle(self: Any, *args: Any, **kwargs: Any) -> None:
        await original(self, *args, **kwargs)
        gc.freeze()

    pipeline.Pipeline.handle = handle  # type: ignore[method-assign]


def _trace(path: str) -> None:
    import gc
    import inspect

    import streams.pipeline as pipeline

    original = _require(pipeline.Pipeline, "handle")
    out = open(path, "a", buffering=1)  # noqa: SIM115 (open for the process's life)
    spent: dict[str, float] = {"gc": 0.0, "full": 0.0}
    collecting: list[float] = []

    def collected(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            collecting[:] = [time.perf_counter()]
        elif collecting:
            spent["gc"] += time.perf_counter() - collecting.pop()
            spent["full"] += 1

    gc.callbacks.append(collected)

    def timing(owner: Any, name: str) -> None:
        """Time ``owner.name`` (a method, sync or async) into ``spent[name]``, once."""
        if name in vars(owner):
            return
        method = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - began

        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - began

        setattr(owner, name, timed_async if inspect.iscoroutinefunction(method) else timed)

    async def handle(self: Any, records: Any) -> None:
        timing(self.engine, "process")
        timing(self.publisher, "flush")
        spent.update(process=0.0, flush=0.0)
        began, at = time.perf_counter(), time.monotonic()
        await original(self, records)
        total = time.perf_counter() - began
        version = self.engine.status().model_version
        out.write(f"{at:.4f}\t{len(records)}\t{spent['process']:.4f}\t{spent['flush']:.4f}\t"
                  f"{total:.4f}\t{version}\t{spent['gc']:.4f}\t{spent['full']:.0f}\n")  # fmt: skip
        spent.update(gc=0.0, full=0.0)

    pipeline.Pipeline.handle = handle  # type: ignore[method-assign]


def main() -> None:
    variants = variants_from_env()
    apply(variants, "worker")
    from cli.main import main as cli_main

    profiler = None
    if "cprofile" in variants:
        profiler = cProfile.Profile(time.thread_time)  # CPU time: robust on a busy machine
        profiler.enable()
    try:
        cli_main(sys.argv[1:])
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(variants["cprofile"])


if __name__ == "__main__":
    main()
