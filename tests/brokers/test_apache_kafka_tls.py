"""The test CA and broker certificate ``brokers.apache_kafka.make_tls`` makes, and the
SASL_SSL listener's properties, without starting a broker (that is
``tests/integration/test_auth.py``)."""

from __future__ import annotations

import shutil
import socket
import ssl
import threading
from pathlib import Path

import pytest

from brokers.apache_kafka import ApacheKafka, TlsFiles, make_tls
from tests.conftest import need


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    if shutil.which("openssl") is None:
        need("openssl")
    return make_tls(tmp_path_factory.mktemp("tls"), "127.0.0.1")


def handshake(files: TlsFiles, client: ssl.SSLContext, name: str) -> None:
    """A TLS handshake between a server holding the broker's keystore and ``client``."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.keystore)  # the key and certificate in one PEM file
    ours, theirs = socket.socketpair()
    with ours, theirs:
        served = threading.Thread(target=_serve, args=(server, theirs), daemon=True)
        served.start()
        try:
            with client.wrap_socket(ours, server_hostname=name):
                pass
        finally:
            served.join(timeout=10)


def _serve(server: ssl.SSLContext, sock: socket.socket) -> None:
    try:
        with server.wrap_socket(sock, server_side=True):
            pass
    except (ssl.SSLError, OSError):  # the client gave up: its side says why
        pass


def test_the_ca_vouches_for_the_broker_at_its_address_only(tls: TlsFiles) -> None:
    trusting = ssl.create_default_context(cafile=tls.ca)
    handshake(tls, trusting, "127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        handshake(tls, trusting, "localhost")


def test_another_ca_does_not(tls: TlsFiles, tmp_path: Path) -> None:
    other = make_tls(tmp_path / "other")
    with pytest.raises(ssl.SSLCertVerificationError, match="local issuer"):
        handshake(tls, ssl.create_default_context(cafile=other.ca), "127.0.0.1")


def test_a_node_with_users_adds_a_sasl_ssl_listener_and_keeps_plaintext(tmp_path: Path) -> None:
    node = ApacheKafka(tmp_path, port=9, controller_port=10, sasl_users={"alice": "pw-1"},
                       sasl_ssl_port=11)  # fmt: skip
    props = node.server_properties()
    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:9,CONTROLLER://127.0.0.1:10,SASL_SSL://127.0.0.1:11"
    )
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9,SASL_SSL://127.0.0.1:11"
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert props["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == "SCRAM-SHA-512,PLAIN"
    assert node.sasl_ssl_bootstrap == "127.0.0.1:11"
    assert "pw-1" not in repr(node)


def test_a_plain_node_has_no_sasl_ssl_listener(tmp_path: Path) -> None:
    props = ApacheKafka(tmp_path, port=9, controller_port=10).server_properties()
    assert "SASL_SSL" not in props["listeners"] + props["listener.security.protocol.map"]


@pytest.mark.parametrize("password", ['p"w', "p,w", "p]w", "p\\w", ""])
def test_a_password_the_broker_tools_cannot_quote_is_refused(tmp_path: Path, password: str) -> None:
    with pytest.raises(ValueError, match="alice"):
        ApacheKafka(tmp_path, sasl_users={"alice": password}).server_properties()
