"""Plain kafka-python clients for the tools around the worker (generator, demo, tests)."""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer

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
    or ``partitions``, and replication factor. Existing topics are left as they are."""
    shape: tuple[int, dict[str, str]] = (partitions or settings.topic_partitions, {})
    _create(settings, {name: shape for name in names})


# Read from their start by every restarted trainer and worker: never deleted by age.
KEPT = {"retention.ms": "-1"}


def declare_topics(settings: Settings, trainer: bool | None = None) -> None:
    """Create every missing topic the project reads or writes, each in its shape, so that
    a worker started before any producer subscribes to topics that exist. ``trainer``
    (default: ``trainer = "separate"``) adds the lessons and models topics."""
    t = settings.topics
    n = settings.topic_partitions
    shapes: dict[str, tuple[int, dict[str, str]]] = {
        name: (n, {})
        for name in (t.behaviour, t.profiles, t.erasures, t.changes, t.dead_letters, t.drift)
    }
    shapes[t.memberships] = (n, {"cleanup.policy": "compact"})  # latest value per customer
    if settings.trainer == "separate" if trainer is None else trainer:
        shapes[t.lessons] = (n, KEPT)
        shapes[t.models] = (1, KEPT)  # one partition: one order of versions for all
    _create(settings, shapes)


class TopicError(RuntimeError):
    """The broker refused to create a topic; the message is one line naming it."""


ALREADY_EXISTS = 36  # Kafka's TOPIC_ALREADY_EXISTS: another process won the race


def _create(settings: Settings, shapes: dict[str, tuple[int, dict[str, str]]]) -> None:
    admin = KafkaAdminClient(**client_options(settings))
    try:
        existing = set(admin.list_topics())
        wanted = {
            name: {
                "num_partitions": partitions,
                "replication_factor": settings.topic_replication_factor,
                "configs": configs,
            }
            for name, (partitions, configs) in shapes.items()
            if name not in existing
        }
        if not wanted:
            return
        answer = admin.create_topics(wanted, raise_errors=False)
    finally:
        admin.close()
    for topic in answer["topics"]:
        if topic["error_code"] not in (0, ALREADY_EXISTS):
            raise TopicError(
                f"cannot create topic {topic['name']!r} ({wanted[topic['name']]['num_partitions']}"
                f" partitions, topic_replication_factor = {settings.topic_replication_factor}): "
                f"{topic['error_message']}"
            )


def producer(settings: Settings, **extra: Any) -> KafkaProducer:
    return KafkaProducer(**client_options(settings), linger_ms=5, **extra)
