"""``brokers.redaction``: a protected secret shows in no log record, and the Kafka client
libraries' DEBUG records (protocol frames, configurations) are not written at all.

Each test installs its own redactor on top of whatever the process has and removes it
after; the records go to a handler of the test's own, at DEBUG.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest
from aiokafka.protocol.admin import SaslAuthenticateRequest_v1
from kafka import KafkaAdminClient

from brokers.embedded import EmbeddedBroker
from brokers.redaction import MASK, LogRedactor, spellings_of

# Quotes, a backslash and a non-ASCII letter: repr, bytes and JSON each escape some.
SECRET = "s3cr'e\"t\\é-7f1c9a"


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """Every record at DEBUG and above, formatted with its traceback."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def redactor() -> Iterator[LogRedactor]:
    redactor = LogRedactor()
    redactor.protect(SECRET)
    redactor.install()
    try:
        yield redactor
    finally:
        redactor.uninstall()


def leaked(text: str) -> list[str]:
    return [spelling for spelling in set(spellings_of(SECRET)) if spelling in text]


@pytest.mark.parametrize(
    ("fmt", "arg"),
    [
        ("%s", SECRET),
        ("config: %r", {"sasl_plain_password": SECRET}),  # kafka-python's admin, at DEBUG
        ("token: %r", b"\x00user\x00" + SECRET.encode()),  # a SASL PLAIN token
        ("json: %s", json.dumps({"password": SECRET})),
        ("ascii json: %s", json.dumps({"password": SECRET}, ensure_ascii=False)),
    ],
)
def test_every_spelling_of_the_secret_is_masked(
    redactor: LogRedactor, output: io.StringIO, fmt: str, arg: object
) -> None:
    logging.getLogger("segment_engine.test").debug(fmt, arg)
    text = output.getvalue()
    assert MASK in text
    assert not leaked(text), text


def test_an_exception_that_holds_the_secret_is_masked(
    redactor: LogRedactor, output: io.StringIO
) -> None:
    try:
        raise ValueError(f"cannot log in with {SECRET!r}")
    except ValueError:
        logging.getLogger("faust.test").exception("failed")
    text = output.getvalue()
    assert "Traceback" in text and "ValueError" in text and MASK in text
    assert not leaked(text), text


def test_a_record_whose_arguments_do_not_fit_its_message_is_masked_too(
    redactor: LogRedactor, output: io.StringIO
) -> None:
    logging.getLogger("x").debug("one %s, two %s", SECRET)
    text = output.getvalue()
    assert MASK in text and "one %s" in text
    assert not leaked(text), text


def test_kafka_pythons_admin_client_logs_its_password_and_the_redactor_hides_it(
    output: io.StringIO, tansu: EmbeddedBroker
) -> None:
    """The leak is real (kafka-python 3.0 logs its configuration at DEBUG), and gone.
    (PLAINTEXT: the client logs the password it was given all the same.)"""

    def admin() -> None:
        KafkaAdminClient(bootstrap_servers=tansu.bootstrap, sasl_plain_username="u",
                         sasl_plain_password=SECRET).close()  # fmt: skip

    admin()
    assert leaked(output.getvalue()), "kafka-python no longer logs its password: simplify"
    output.seek(0)
    output.truncate()
    redactor = LogRedactor()
    redactor.protect(SECRET)
    redactor.install()
    try:
        admin()
    finally:
        redactor.uninstall()
    text = output.getvalue()
    assert not leaked(text), text
    assert "kafka.net.manager INFO Bootstrap complete" in text  # its INFO still comes through


def test_a_truncated_plain_token_is_beyond_masking_so_client_debug_records_are_dropped(
    output: io.StringIO,
) -> None:
    """aiokafka prints 100 bytes of a token: with a long user name, part of the password
    shows, and no search for the password can find a part of it."""
    user = "u" * 45  # 92 bytes before the password: 8 of it show
    request = SaslAuthenticateRequest_v1(f"{user}\x00{user}\x00{SECRET}".encode())
    log = logging.getLogger("aiokafka.conn")
    redactor = LogRedactor()
    redactor.protect(SECRET)

    log.debug("Request to %s:%d %d: %s", "broker", 9093, 3, request)
    unprotected = output.getvalue()
    assert SECRET[:4] in unprotected and not leaked(unprotected)  # a prefix, beyond masking
    output.seek(0)
    output.truncate()
    redactor.install()
    try:
        log.debug("Request to %s:%d %d: %s", "broker", 9093, 3, request)
        log.info("Authenticated as %s via %s", user, "PLAIN")
    finally:
        redactor.uninstall()
    assert output.getvalue() == f"aiokafka.conn INFO Authenticated as {user} via PLAIN\n"


def test_only_the_client_libraries_lose_their_debug_records(
    redactor: LogRedactor, output: io.StringIO
) -> None:
    for name in ("kafka", "kafka.net.connection", "aiokafka.consumer.fetcher", "faust.x", "x"):
        logging.getLogger(name).debug("debug of %s", name)
    lines = output.getvalue().splitlines()
    assert lines == ["faust.x DEBUG debug of faust.x", "x DEBUG debug of x"]


def test_without_a_secret_nothing_changes(output: io.StringIO) -> None:
    redactor = LogRedactor()
    redactor.protect("")  # nothing to protect
    redactor.install()
    try:
        logging.getLogger("kafka.net.connection").debug("frame %r", b"\x00")
    finally:
        redactor.uninstall()
    assert output.getvalue() == "kafka.net.connection DEBUG frame b'\\x00'\n"


def test_it_holds_when_logging_is_configured_again(redactor: LogRedactor) -> None:
    """Faust (mode) clears the root handlers and applies a dictConfig at the worker's
    start, after the connection check protected the password."""
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logging.config.dictConfig({
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"default": {"class": "logging.StreamHandler", "stream": stream}},
            "root": {"level": "DEBUG", "handlers": ["default"]},
        })  # fmt: skip
        logging.getLogger("kafka.admin.client").debug("config %r", {"password": SECRET})
        logging.getLogger("mode").debug("settings %r", {"password": SECRET})
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert stream.getvalue() == f"settings {{'password': '{MASK}'}}\n"


def test_uninstall_restores_the_factory_and_the_loggers(output: io.StringIO) -> None:
    before = logging.getLogRecordFactory()
    redactor = LogRedactor()
    redactor.protect(SECRET)
    redactor.install()
    redactor.install()  # once only
    logging.getLogger("kafka.x").debug("dropped")
    assert logging.getLogger("kafka.x").filters
    redactor.uninstall()
    assert logging.getLogRecordFactory() is before
    assert not logging.getLogger("kafka.x").filters
