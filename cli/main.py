"""``segment-engine``: broker, worker, trainer, topics, config, generator, demo, replay, backtests.

A bad argument or setting ends with one line naming it, never a traceback.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from kafka.errors import KafkaError

from brokers.clients import KafkaConnectError, check_connection
from brokers.topics import MissingTopics, TopicError, declare_topics
from cli.compiled import stale_engine_message
from cli.replay_arguments import add_arguments
from settings import ConfigError, Settings, load_settings


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="segment-engine", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    broker = commands.add_parser("broker", help="run the embedded Kafka broker (foreground)")
    broker.add_argument("--port", type=_positive_int, default=9092)

    worker = commands.add_parser("worker", help="run a Faust worker")
    worker.add_argument("--config", type=Path, help="TOML settings file")
    worker.add_argument("--loglevel", default="warning")

    trainer = commands.add_parser(
        "trainer", help='run the one trainer of several workers (trainer = "separate")'
    )
    trainer.add_argument("--config", type=Path, help="TOML settings file")
    trainer.add_argument("--loglevel", default="info")

    topics = commands.add_parser(
        "topics", help="create or check every topic the project reads and writes"
    )
    actions = topics.add_subparsers(dest="action", required=True, metavar="{create,check}",
                                    parser_class=_Parser)  # fmt: skip
    for action, text in (
        ("create", "create the missing topics; report existing ones that differ"),
        ("check", "compare every topic with its declared shape"),
    ):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("--config", type=Path, help="TOML settings file")

    config = commands.add_parser("config", help="show the resolved settings")
    config_actions = config.add_subparsers(dest="action", required=True, metavar="{check}",
                                           parser_class=_Parser)  # fmt: skip
    config_check = config_actions.add_parser(
        "check", help="each setting with its source (file, environment, default), or every error"
    )
    config_check.add_argument("file", nargs="?", type=Path, help="TOML settings file")

    gen = commands.add_parser("generate", help="write a synthetic stream with planted segments")
    gen.add_argument("--config", type=Path, help="TOML settings file (topics, Kafka)")
    gen.add_argument("--customers", type=_positive_int, default=1000)
    gen.add_argument("--days", type=_positive_float, default=30.0)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--out", type=Path, help="JSON Lines file instead of Kafka")
    gen.add_argument("--labels", type=Path, help="CSV of customer_id,segment (planted truth)")

    replay = commands.add_parser("replay", help="replay an event log through the engine")
    add_arguments(replay, backtest=False)
    backtest = commands.add_parser("backtest", help="replay one log under several configs")
    add_arguments(backtest, backtest=True)

    demo = commands.add_parser("demo", help="broker, worker and generator, live in the terminal")
    demo.add_argument("--customers", type=_positive_int, default=150)
    demo.add_argument("--days", type=_positive_float, default=60.0)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--web-port", type=_positive_int, default=6066)
    demo.add_argument(
        "--keep-running", action="store_true", help="keep broker and worker up after the summary"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Before anything imports the engine: a stale compiled module may not even import.
    if stale := stale_engine_message():
        sys.exit(f"segment-engine: {stale}")
    from engine.rules import RuleError
    from replay.sources import SourceError

    try:
        if args.command == "broker":
            return _broker(args.port)
        if args.command == "config":
            from cli.config_check import config_check

            return config_check(args.file)
        if args.command in ("replay", "backtest"):
            from cli.replay import backtest_command, check_arguments, replay_command

            check_arguments(args)
            if _replay_uses_kafka(args):
                config = args.config[0] if args.command == "backtest" else args.config
                check_connection(load_settings(config))
            return replay_command(args) if args.command == "replay" else backtest_command(args)
        settings = load_settings(getattr(args, "config", None))
        if args.command == "worker":
            return _worker(settings, args.loglevel)
        if args.command == "trainer":
            return _trainer(settings, args.loglevel)
        if args.command == "topics":
            from cli.topics import topics_command

            check_connection(settings)
            return topics_command(settings, args.action)
        if args.command == "generate":
            from cli.generate import generate_command

            if args.out is None:
                check_connection(settings)
            return generate_command(settings, args)
        from cli.demo import run_demo

        return run_demo(args)
    except (ConfigError, RuleError, SourceError) as exc:
        print(f"segment-engine: {exc}", file=sys.stderr)
        return 2
    except MissingTopics as exc:  # create_topics = false
        config = f" --config {shlex.quote(str(args.config))}" if args.config else ""
        print(f"segment-engine {args.command}: {exc}; create them with: "
              f"segment-engine topics create{config}", file=sys.stderr)  # fmt: skip
        return 1
    except (TopicError, KafkaConnectError) as exc:  # e.g. too many replicas; a wrong password
        print(f"segment-engine {_name(args)}: {exc}", file=sys.stderr)
        return 1
    except KafkaError as exc:  # e.g. no broker at the bootstrap address
        print(f"segment-engine {_name(args)}: Kafka: {exc}", file=sys.stderr)
        return 1


def _name(args: argparse.Namespace) -> str:
    """The command, as errors name it: ``worker``, ``topics check``."""
    action = getattr(args, "action", None)
    return args.command if action is None else f"{args.command} {action}"


def _replay_uses_kafka(args: argparse.Namespace) -> bool:
    """A replay that reads a topic (once its arguments are complete) or writes a shadow."""
    reads = args.topic is not None and args.input is None and None not in (args.from_, args.to)
    return reads or getattr(args, "shadow", None) is not None


YOUNG_COLLECTION_THRESHOLD = 100_000


def _broker(port: int) -> int:
    from brokers.embedded import BrokerError, EmbeddedBroker

    # Process managers stop a process with SIGTERM, whose default ends Python at once
    # and leaves Tansu running: it stops the broker as Ctrl-C does instead.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with EmbeddedBroker(port=port, quiet=False) as broker:
            print(
                f"embedded broker on {broker.bootstrap} (memory only; Ctrl-C stops it)", flush=True
            )
            return broker.wait()
    except KeyboardInterrupt:
        return 0
    except BrokerError as exc:  # e.g. the port is taken
        print(f"segment-engine broker: {exc}", file=sys.stderr)
        return 1


def _trainer(settings: Settings, loglevel: str) -> int:
    import logging
    import threading

    from streams.trainer_service import run_trainer

    if not settings.engine.learned.epoch_seconds:
        raise ConfigError("the trainer needs model epochs (engine.learned.epoch_seconds)")
    check_connection(settings)  # a wrong password or certificate: one line, at once
    # Before logging is set up: a refusal is the one line main() prints.
    declare_topics(settings, "trainer")
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run_trainer(settings, stop)
    return 0


def _worker(settings: Settings, loglevel: str) -> int:
    import gc

    import faust

    from streams.app import create_app

    # The table keeps ~100 tracked objects per customer; at CPython's default threshold
    # (a young collection every 700 allocations) collections took ~16% of the worker's
    # CPU (py-spy). 40k events, one partition: 192-198 -> 121 µs per event.
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
    app = create_app(settings)  # checks the settings (rules...) before anything connects
    check_connection(settings)  # a wrong password or certificate: one line, at once
    # Faust subscribes before any producer may have created the inputs, and a consumer
    # learns of a new topic only at its next metadata refresh (minutes on Kafka). With
    # create_topics = false nothing is created (Faust neither: topic_allow_declare) and
    # a missing topic ends the command, as do co-partitioned topics of different sizes
    # (partition N of the table's changelog holds the state of input partition N).
    declare_topics(settings, "worker")
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    # Faust's terminal spinner sets the root logger to DEBUG, so every debug call in
    # Faust, mode and aiokafka builds a record nobody prints (~120 us per event).
    worker.spinner = None
    worker.execute_from_commandline()  # returns only via SystemExit on shutdown
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
