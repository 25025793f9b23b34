"""``segment-engine worker`` with experimental changes patched in at run time.

    BENCH_VARIANTS=quietlog,linger=0.005 python -m bench.worker_variants worker

For estimating what an optimisation would gain before anyone edits ``streams/``
or ``engine/``: each variant monkeypatches the worker process only. Variants
(comma-separated in ``BENCH_VARIANTS``):

``quietlog``      keep the root logger at WARNING. With ``--loglevel warning`` (the
                  CLI default) Faust's worker installs a terminal-spinner handler
                  and sets the root logger to DEBUG, so every ``log.debug`` in
                  Faust, mode and aiokafka builds a LogRecord that nobody prints.
``linger=S``      Faust ``producer_linger`` (seconds): batch changelog and change
                  messages into fewer produce requests (default 0: about one
                  request per message under this load).
``maxpoll=N``     Faust ``broker_max_poll_records``.
``uvloop``        run the worker on uvloop.
``nomonitor``     do not register Faust's Monitor sensor.
``fastdrain``     Faust's consumer hands each message to the conductor through
                  ``Service.wait_first(callback(message), suspend_flow.wait())``:
                  four tasks and an ``asyncio.wait`` per message. This awaits the
                  callback directly unless flow is suspended (a rebalance); what it
                  gives up is cancelling a callback blocked on a full buffer when a
                  rebalance starts.
``fetchwait=MS``  the worker consumer's ``fetch_max_wait_ms`` (Faust hard-codes 1500).
                  Tansu holds a fetch for most of that wait even when records
                  arrive, so it sets the latency floor on the embedded broker.
``gc=N|off``      the worker's young-generation threshold (``cli.main``; CPython's
                  default is 700) or ``gc.disable()``.
``gcfreeze``      ``gc.freeze()`` after every batch: long-lived objects (the table's
                  states) leave the collector's generations, so collections stop
                  re-scanning them (refcounting still frees them; they hold no cycles).
``ebb=N``         Faust's producer buffer size above which the conductor stops delivering
                  until it drained (class attribute, 100).
``cprofile=PATH`` profile the whole worker with cProfile (CPU-time timer), dump at exit.
"""

from __future__ import annotations

import cProfile
import logging
import os
import re
import sys
import time
from typing import Any


def variants_from_env() -> dict[str, str]:
    out = {}
    for item in filter(None, os.environ.get("BENCH_VARIANTS", "").split(",")):
        name, _, value = item.partition("=")
        out[name.strip()] = value.strip()
    return out


def _faust_settings(extra: dict[str, Any]) -> None:
    import faust

    original = faust.App

    class App(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.update(extra)
            super().__init__(*args, **kwargs)

    faust.App = App  # streams.app looks faust.App up when it builds the app


def _quiet_logging() -> None:
    import faust.worker

    def _no_spinner(self: Any, logger: logging.Logger, level: int) -> None:
        self.spinner = None

    faust.worker.Worker._setup_spinner_handler = _no_spinner  # type: ignore[method-assign]


def _no_monitor() -> None:
    import faust.sensors.base as sensors
    from faust.sensors.monitor import Monitor

    original = sensors.SensorDelegate.add

    def add(self: Any, sensor: Any) -> None:
        if not isinstance(sensor, Monitor):
            original(self, sensor)

    sensors.SensorDelegate.add = add  # type: ignore[method-assign]


def _fast_drain() -> None:
    import inspect
    import textwrap

    import faust.transport.consumer as consumer

    source = textwrap.dedent(inspect.getsource(consumer.Consumer._drain_messages))
    slow = re.compile(
        r"^( *)await self\.wait_first\(\s*callback\(message\), self\.suspend_flow\.wait\(\)\s*\)",
        re.MULTILINE,
    )
    fast = r"\1if not self.suspend_flow.is_set():\n\1    await callback(message)"
    patched, count = slow.subn(fast, source)
    if count != 1:
        raise RuntimeError("Faust's _drain_messages changed; cannot patch it")
    namespace: dict[str, Any] = {}
    exec(patched, vars(consumer), namespace)
    consumer.Consumer._drain_messages = namespace["_drain_messages"]  # type: ignore[method-assign]


def _fetch_wait(ms: int) -> None:
    import aiokafka

    original = aiokafka.AIOKafkaConsumer

    class Consumer(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if kwargs.get("fetch_max_wait_ms") == 1500:  # Faust's worker consumer
                kwargs["fetch_max_wait_ms"] = ms
            super().__init__(*args, **kwargs)

    aiokafka.AIOKafkaConsumer = Consumer  # type: ignore[misc]


def _gc_freeze() -> None:
    import gc

    import streams.pipeline as pipeline

    original = pipeline.Pipeline.handle

    async def handle(self: Any, batch: Any) -> None:
        await original(self, batch)
        gc.freeze()

    pipeline.Pipeline.handle = handle  # type: ignore[method-assign]


def apply(variants: dict[str, str]) -> None:
    """Patch this process with ``variants`` (all but ``cprofile``)."""
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
    if "fetchwait" in variants:
        _fetch_wait(int(variants["fetchwait"]))
    if "gc" in variants:
        import gc

        import cli.main

        if variants["gc"] == "off":
            gc.disable()
        else:  # the worker sets its own threshold when it starts
            cli.main.YOUNG_COLLECTION_THRESHOLD = int(variants["gc"])
    if "gcfreeze" in variants:
        _gc_freeze()
    if "ebb" in variants:
        from faust.transport.producer import ProducerBuffer

        ProducerBuffer.max_messages = int(variants["ebb"])


def main() -> None:
    variants = variants_from_env()
    apply(variants)
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
