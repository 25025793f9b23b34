"""Kafka around the worker: plain clients and topic admin for the tools, and the
embedded broker that ``make demo`` and the tests run on."""

from brokers.clients import client_options, ensure_topics, producer
from brokers.embedded import BrokerError, EmbeddedBroker, free_port, port_is_free

__all__ = [
    "BrokerError",
    "EmbeddedBroker",
    "client_options",
    "ensure_topics",
    "free_port",
    "port_is_free",
    "producer",
]
