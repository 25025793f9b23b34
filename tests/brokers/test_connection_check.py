"""``brokers.clients.check_connection`` without a secured broker: a reachable broker
passes, and each problem found before or without an answer is one line naming it.

The refusals of a secured broker (wrong password, untrusted certificate) are in
``tests/integration/test_auth.py``, on Apache Kafka.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from brokers.clients import KafkaConnectError, check_connection
from brokers.embedded import EmbeddedBroker, free_port
from settings import Settings


def settings(**values: Any) -> Settings:
    return Settings.model_validate(values)


def refusal(values: dict[str, Any], timeout: float = 5.0) -> str:
    with pytest.raises(KafkaConnectError) as info:
        check_connection(settings(**values), timeout=timeout)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_reachable_broker_passes(tansu: EmbeddedBroker) -> None:
    check_connection(settings(kafka_bootstrap=f"127.0.0.1:{free_port()},{tansu.bootstrap}"))


def test_nobody_listening_is_tried_until_the_timeout_then_named() -> None:
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    message = refusal({"kafka_bootstrap": address}, timeout=1.5)
    assert 0.9 <= time.monotonic() - started < 5  # retried, not given up at once
    assert message.startswith(f"Kafka at {address} (PLAINTEXT): ")
    assert message.endswith("tried for 1.5 s")


@pytest.mark.parametrize(
    ("security", "names"),
    [
        ({"protocol": "SASL_SSL", "sasl_username": "u"}, "needs sasl_username and sasl_password"),
        ({"protocol": "SSL", "ssl_cafile": "/nonexistent/ca.pem"}, "kafka_security.ssl_cafile"),
        ({"protocol": "SSL", "ssl_certfile": "/nonexistent/c.pem"}, "kafka_security.ssl_certfile"),
    ],
)
def test_incomplete_security_settings_are_named_before_connecting(
    security: dict[str, str], names: str
) -> None:
    started = time.monotonic()
    # Nobody listens there: a message naming the settings was found without connecting.
    message = refusal({"kafka_bootstrap": f"127.0.0.1:{free_port()}", "kafka_security": security})
    assert names in message
    assert time.monotonic() - started < 1


def test_a_bootstrap_address_without_a_port_number_is_named() -> None:
    assert refusal({"kafka_bootstrap": "kafka-1:ninety"}) == (
        "kafka_bootstrap: 'kafka-1:ninety' is not host:port"
    )
