"""The ``mqtt`` Airflow connection (``MqttHook``) against the real brokers the connector tests use
(with passwords, with TLS): its Test button, the connector secrets it gives, a publishing client.

Here rather than in tests/airflow because these brokers (users, TLS material) live in this folder's
fixtures; tests/e2e presses the same Test button in the Airflow UI.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from connector_fixtures import Broker, TlsMaterial, free_port

from airflow_provider_fluvio.hooks import mqtt as mqtt_hook
from airflow_provider_fluvio.hooks.mqtt import MqttHook


@pytest.fixture
def mqtt_connection(monkeypatch: pytest.MonkeyPatch) -> Callable[..., MqttHook]:
    """``mqtt_connection(host=..., port=..., login=..., extra={...})``: the hook of that connection."""
    def define(conn_type: str = "mqtt", **fields: Any) -> MqttHook:
        monkeypatch.setenv("AIRFLOW_CONN_BROKER", json.dumps({"conn_type": conn_type, **fields}))
        return MqttHook("broker")

    return define


def test_test_connects_with_the_connection_s_credentials(broker_factory: Callable[..., Broker],
                                                          mqtt_connection: Callable[..., MqttHook]) -> None:
    broker = broker_factory(users={"sensor": "pw-4711"})
    ok, message = mqtt_connection(host="127.0.0.1", port=broker.port, login="sensor", password="pw-4711").test_connection()
    assert ok, message
    assert message == f"Connection successful. Connected to mqtt://127.0.0.1:{broker.port} as sensor and disconnected."


def test_test_says_why_a_broker_refuses_and_names_the_broker(broker_factory: Callable[..., Broker],
                                                             mqtt_connection: Callable[..., MqttHook]) -> None:
    broker = broker_factory(users={"sensor": "pw-4711"})
    ok, message = mqtt_connection(host="127.0.0.1", port=broker.port, login="sensor", password="wrong").test_connection()
    assert not ok
    assert message.startswith(f"the broker mqtt://127.0.0.1:{broker.port} refused the connection: "), message
    assert "wrong" not in message


def test_test_with_nothing_listening(mqtt_connection: Callable[..., MqttHook]) -> None:
    port = free_port()
    ok, message = mqtt_connection(host="127.0.0.1", port=port).test_connection()
    assert (ok, message) == (False, f"cannot connect to mqtt://127.0.0.1:{port}: Connection refused")


@pytest.fixture
def silent_peer() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    server.close()


def test_test_of_a_silent_broker_ends_at_its_bound(silent_peer: int, mqtt_connection: Callable[..., MqttHook],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mqtt_hook, "TEST_CONNECTION_TIMEOUT", 1.0)
    ok, message = mqtt_connection(host="127.0.0.1", port=silent_peer).test_connection()
    assert (ok, message) == (False, f"no answer from mqtt://127.0.0.1:{silent_peer} within 1 s")


def test_test_over_tls_with_the_ca_and_client_certificate_of_the_connection(
    broker_factory: Callable[..., Broker], tls_material: TlsMaterial, mqtt_connection: Callable[..., MqttHook]
) -> None:
    broker = broker_factory(tls=tls_material, require_client_cert=True)
    extra = {"tls": True, "ca_cert": tls_material.ca_pem, "client_cert": tls_material.client_cert_pem,
             "client_key": tls_material.client_key_pem}
    hook = mqtt_connection(host="127.0.0.1", port=broker.port, login=broker.login, extra=extra)
    ok, message = hook.test_connection()
    assert ok, message
    assert f"Connected to mqtts://127.0.0.1:{broker.port}" in message
    # A key pasted into the form's one-line secret field loses its line breaks; it still works.
    one_line = {**extra, "client_key": " ".join(tls_material.client_key_pem.split())}
    ok, message = mqtt_connection(host="127.0.0.1", port=broker.port, login=broker.login, extra=one_line).test_connection()
    assert ok, message
    without_ca = mqtt_connection(host="127.0.0.1", port=broker.port, extra={"tls": True})
    ok, message = without_ca.test_connection()
    assert not ok and f"mqtts://127.0.0.1:{broker.port}" in message and "certificate verify failed" in message


def test_a_bad_certificate_names_the_connection_field(mqtt_connection: Callable[..., MqttHook]) -> None:
    ok, message = mqtt_connection(host="127.0.0.1", port=free_port(), extra={"tls": True, "ca_cert": "not a pem"}).test_connection()
    assert not ok and message.startswith("field ca_cert: not a PEM certificate"), message


def test_connector_secrets_mask_credentials_but_not_the_address(mqtt_connection: Callable[..., MqttHook],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    masked: list[str] = []
    monkeypatch.setattr("airflow.providers.common.compat.sdk.mask_secret", masked.append)
    hook = mqtt_connection(conn_type="mqtts", host="broker.example", login="reader", password="pw-4711",
                           extra={"client_cert": "CERT", "client_key": "KEY-PEM", "ca_cert": "CA"})
    assert hook.connector_secrets() == {
        "MQTT_URL": "mqtts://broker.example:8883", "MQTT_USERNAME": "reader", "MQTT_PASSWORD": "pw-4711",
        "MQTT_CA_CERT": "CA", "MQTT_CLIENT_CERT": "CERT", "MQTT_CLIENT_KEY": "KEY-PEM",
    }
    assert set(masked) == {"KEY-PEM", "pw-4711"}


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        ({"host": "broker.example"}, "mqtt://broker.example:1883"),
        ({"host": "broker.example", "port": 2883}, "mqtt://broker.example:2883"),
        ({"host": "broker.example", "extra": {"tls": "true"}}, "mqtts://broker.example:8883"),
        ({"host": "mqtts://broker.example:9883"}, "mqtts://broker.example:9883"),
        ({"host": "mqtt://user:secret@broker.example", "port": 1884}, "mqtt://broker.example:1884"),
    ],
)
def test_broker_url(mqtt_connection: Callable[..., MqttHook], fields: dict[str, Any], url: str) -> None:
    assert mqtt_connection(**fields).broker_url() == url


def test_a_connection_without_host_says_so(mqtt_connection: Callable[..., MqttHook]) -> None:
    assert mqtt_connection(login="x").test_connection() == (
        False, "connection broker: no host; expected the MQTT broker's address")


def test_client_publishes_through_the_connection(broker_factory: Callable[..., Broker],
                                                 mqtt_connection: Callable[..., MqttHook]) -> None:
    broker = broker_factory(users={"sensor": "pw-4711"})
    received: list[bytes] = []
    subscriber = broker.client()
    got, subscribed = threading.Event(), threading.Event()
    subscriber.on_message = lambda _c, _u, message: (received.append(message.payload), got.set())
    subscriber.on_subscribe = lambda *_args: subscribed.set()
    subscriber.connect("127.0.0.1", broker.port)
    subscriber.subscribe("readings", qos=1)
    subscriber.loop_start()
    try:
        assert subscribed.wait(10)
        hook = mqtt_connection(host="127.0.0.1", port=broker.port, login="sensor", password="pw-4711")
        with hook.client("publisher") as client:
            client.publish("readings", b"21.5", qos=1).wait_for_publish(timeout=10)
        assert got.wait(10)
    finally:
        subscriber.loop_stop()
        subscriber.disconnect()
    assert received == [b"21.5"]
