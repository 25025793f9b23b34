"""Plain kafka-python clients for the tools around the worker (generator, demo, tests)."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterable
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

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
        if sec.sasl_password is not None:
            options["sasl_plain_password"] = sec.sasl_password.get_secret_value()
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        value = getattr(sec, name)
        if value is not None:
            options[name] = str(value)
    return options


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context asyncio clients (Faust, aiokafka) take; None without TLS."""
    sec = settings.kafka_security
    if sec.protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(cafile=sec.ssl_cafile)
    if sec.ssl_certfile:
        context.load_cert_chain(sec.ssl_certfile, sec.ssl_keyfile)
    return context


def ensure_topics(settings: Settings, names: Iterable[str], partitions: int | None = None) -> None:
    """Create missing topics with the worker's partition count (tables need co-partitioning),
    or ``partitions``, and replication factor."""
    admin = KafkaAdminClient(**client_options(settings))
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name, partitions or settings.topic_partitions, settings.topic_replication_factor
            )
            for name in names
            if name not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process won the race
                admin.create_topics(wanted)
    finally:
        admin.close()


def producer(settings: Settings, **extra: Any) -> KafkaProducer:
    return KafkaProducer(**client_options(settings), linger_ms=5, **extra)
