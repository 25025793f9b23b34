"""Plain kafka-python clients for the tools around the worker (generator, demo, tests),
and the connection check every command that talks to Kafka makes first. Topic admin
(the declaration of every topic, creating and checking them): ``brokers.topics``."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Iterable
from typing import Any

from aiokafka import errors as aio_errors
from aiokafka.conn import create_conn
from kafka import KafkaProducer

from brokers.redaction import protect
from settings import Settings


def client_options(settings: Settings) -> dict[str, Any]:
    """kafka-python connection options, security included."""
    sec = settings.kafka_security
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": sec.protocol,
    }
    if sec.protocol.startswith("SASL"):
        options["sasl_mechanism"] = sec.sasl_mechanism
        options["sasl_plain_username"] = sec.sasl_username
        if (password := sasl_password(settings)) is not None:
            options["sasl_plain_password"] = password
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        value = getattr(sec, name)
        if value is not None:
            options[name] = str(value)
    return options


def sasl_password(settings: Settings) -> str | None:
    """The SASL password, for a client library; from this call on, no log record of the
    process shows it (``brokers.redaction``). The one way out of its ``SecretStr``."""
    secret = settings.kafka_security.sasl_password
    if secret is None:
        return None
    protect(secret.get_secret_value())
    return secret.get_secret_value()


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context asyncio clients (Faust, aiokafka) take; None without TLS."""
    sec = settings.kafka_security
    if sec.protocol not in ("SSL", "SASL_SSL"):
        return None
    try:
        context = ssl.create_default_context(cafile=sec.ssl_cafile)
    except (OSError, ssl.SSLError) as exc:  # SSLError: a file that holds no certificate
        raise KafkaConnectError(f"kafka_security.ssl_cafile: {_reason(exc)}") from None
    if sec.ssl_certfile:
        try:
            context.load_cert_chain(sec.ssl_certfile, sec.ssl_keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise KafkaConnectError(
                f"kafka_security.ssl_certfile, ssl_keyfile: {_reason(exc)}"
            ) from None
    return context


class KafkaConnectError(RuntimeError):
    """Kafka cannot be reached or refuses this client, or the TLS files cannot be read;
    the message is one line naming the setting to look at."""


CONNECT_TIMEOUT_SECONDS = 30.0  # as long as kafka-python's bootstrap_timeout_ms
RETRY_SECONDS = 0.5


def check_connection(settings: Settings, timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """Open one connection to a bootstrap broker, TLS and SASL included, and close it; or
    raise :class:`KafkaConnectError`.

    For commands to run before their first client. A wrong password or an untrusted
    certificate otherwise costs 30 s and says little: kafka-python retries both until
    its bootstrap timeout, then reports "Unable to bootstrap"; aiokafka (under Faust)
    gives up at once with a traceback that says the same. Here the broker's first
    refusal, or a failed certificate check, ends the check: waiting does not fix them.
    A broker that does not answer yet is tried again until ``timeout``.
    """
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(_check(settings, timeout))
        except BaseException as exc:  # raised again in the caller's thread
            failure.append(exc)

    # Its own thread, for its own event loop: asyncio.run in this thread would leave it
    # without a current loop, and the worker's Faust loop is made here afterwards. A
    # daemon, so that Ctrl-C while a broker does not answer ends the command at once.
    thread = threading.Thread(target=run, name="kafka-check", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


async def _check(settings: Settings, timeout: float) -> None:
    sec = settings.kafka_security
    sasl = sec.protocol.startswith("SASL")
    if sasl and (sec.sasl_username is None or sec.sasl_password is None):
        raise KafkaConnectError(
            f"kafka_security.protocol = {sec.protocol} needs sasl_username and sasl_password"
            " (SEGMENT_ENGINE_KAFKA_SECURITY__SASL_PASSWORD)"
        )
    addresses = _addresses(settings.kafka_bootstrap)
    options: dict[str, Any] = {
        "ssl_context": ssl_context(settings),
        "security_protocol": sec.protocol,
        "sasl_mechanism": sec.sasl_mechanism if sasl else None,
        "sasl_plain_username": sec.sasl_username,
        "sasl_plain_password": sasl_password(settings),
        "request_timeout_ms": int(timeout * 1000),
    }
    deadline = time.monotonic() + timeout
    while True:
        for host, port in addresses:
            left = max(deadline - time.monotonic(), 0.001)
            try:
                # aiokafka.conn.create_conn (in the module's __all__): the handshake the
                # worker's clients make, and it raises the cause rather than log it.
                conn = await asyncio.wait_for(create_conn(host, port, **options), left)
            except Exception as exc:  # sorted by _refusal; anything else is "try again"
                refusal = _refusal(exc, settings)
                where = f"Kafka at {host}:{port} ({sec.protocol})"
                if refusal is not None:
                    raise KafkaConnectError(f"{where}: {refusal}") from None
                last = f"{where}: {_reason(exc)}"
            else:
                conn.close()
                return
        if time.monotonic() + RETRY_SECONDS >= deadline:
            raise KafkaConnectError(f"{last}; tried for {timeout:g} s")
        await asyncio.sleep(RETRY_SECONDS)


def _refusal(exc: BaseException, settings: Settings) -> str | None:
    """What a final answer means, naming the settings to look at; None for the others."""
    sec = settings.kafka_security
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"its certificate is not trusted ({exc.verify_message}): "
            "check kafka_security.ssl_cafile and the host in kafka_bootstrap"
        )
    if isinstance(exc, aio_errors.SaslAuthenticationFailed | aio_errors.AuthenticationFailedError):
        return (
            f"refused the login of {sec.sasl_username!r} with {sec.sasl_mechanism}: check "
            "kafka_security.sasl_username and sasl_password"
        )
    if isinstance(exc, aio_errors.UnsupportedSaslMechanismError):
        return f"does not offer SASL {sec.sasl_mechanism}: check kafka_security.sasl_mechanism"
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer"
    if isinstance(exc, ConnectionResetError | asyncio.IncompleteReadError) or (
        isinstance(exc, aio_errors.KafkaConnectionError) and "closed" in str(exc)
    ):
        return "it closed the connection (does this listener speak kafka_security.protocol?)"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"TLS: {exc.reason}"
    if isinstance(exc, OSError) and exc.strerror:
        where = f" {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _addresses(bootstrap: str) -> list[tuple[str, int]]:
    """``host:port`` pairs of a bootstrap list (Kafka's default port when none is given).

    >>> _addresses("a:9093, [::1]:9094,b")
    [('a', 9093), ('::1', 9094), ('b', 9092)]
    """
    found = []
    for address in bootstrap.split(","):
        host, colon, port = address.strip().rpartition(":")
        if not colon or (host.count(":") > 1 and not host.endswith("]")):
            host, port = address.strip(), "9092"
        if not port.isdigit():
            raise KafkaConnectError(f"kafka_bootstrap: {address.strip()!r} is not host:port")
        found.append((host.strip("[]"), int(port)))
    return found


def ensure_topics(settings: Settings, names: Iterable[str], partitions: int | None = None) -> None:
    """Create missing topics for the tools: ``brokers.topics.ensure_topics`` (imported here
    on call: that module builds on this one)."""
    from brokers.topics import ensure_topics as ensure

    ensure(settings, names, partitions)


def producer(settings: Settings, **extra: Any) -> KafkaProducer:
    return KafkaProducer(**client_options(settings), linger_ms=5, **extra)
