"""The MQTT source's pieces without a broker: settings from config and secrets, the inbox, TLS."""

from __future__ import annotations

import threading
import time

import pytest

from fluvio_connectors.config import load_config
from fluvio_connectors.errors import ConfigError
from fluvio_connectors.mqtt import Inbox, MqttSettings
from fluvio_connectors.mqtt_client import tls_context


def settings(parameters: dict[str, object], secrets: dict[str, str] | None = None, name: str = "my-mqtt"
             ) -> MqttSettings:
    config = load_config({"name": name, "type": "mqtt", "topic": "t", "parameters": parameters},
                         secrets=secrets or {})
    return MqttSettings.from_config(config)


def test_the_seed_example_means_mqtt_hsl_fi_on_1883_with_stable_defaults() -> None:
    s = settings({"mqtt-url": "mqtt.hsl.fi", "mqtt-topic": "/hfp/v2/journey/#"}, name="my-test-mqtt")
    assert (s.endpoint.host, s.endpoint.port, s.endpoint.tls) == ("mqtt.hsl.fi", 1883, False)
    assert s.client_id == "fluvio-my-test-mqtt"
    assert (s.filters, s.qos, s.timeout, s.output_type) == (("/hfp/v2/journey/#",), 0, 60, "binary")
    assert not s.persistent and s.username is None


def test_qos1_is_a_persistent_session_and_mqtts_defaults_to_8883() -> None:
    s = settings({"mqtt-url": "mqtts://broker.example", "mqtt-topic": ["a/+", "b/#"], "qos": 1,
                  "client-id": "plant-7", "timeout": "30s"})
    assert (s.endpoint.port, s.endpoint.tls, s.client_id) == (8883, True, "plant-7")
    assert (s.timeout, s.persistent) == (30, True)
    assert s.filters == ("a/+", "b/#")


def test_credentials_from_the_url_are_overridden_by_secrets_and_never_shown() -> None:
    from_url = settings({"mqtt-url": "mqtt://reader:url-pass@broker:1884", "mqtt-topic": "x"})
    assert (from_url.username, from_url.password) == ("reader", "url-pass")
    assert "url-pass" not in repr(from_url) and "url-pass" not in from_url.endpoint.redacted
    overridden = settings(
        {"mqtt-url": "mqtt://reader:url-pass@broker:1884", "mqtt-topic": "x"},
        {"MQTT_USERNAME": "other", "MQTT_PASSWORD": "secret-pass"},
    )
    assert (overridden.username, overridden.password) == ("other", "secret-pass")


def test_the_secret_mqtt_url_overrides_the_parameter() -> None:
    s = settings({"mqtt-url": "mqtt://public:1883", "mqtt-topic": "x"}, {"MQTT_URL": "mqtts://private:9999"})
    assert (s.endpoint.host, s.endpoint.port, s.endpoint.tls) == ("private", 9999, True)


def test_a_password_without_a_user_is_refused() -> None:
    with pytest.raises(ConfigError, match="no user name"):
        settings({"mqtt-url": "broker", "mqtt-topic": "x"}, {"MQTT_PASSWORD": "p"})


def test_a_bad_secret_url_is_refused_without_repeating_it() -> None:
    with pytest.raises(ConfigError, match="secret MQTT_URL") as caught:
        settings({"mqtt-topic": "x"}, {"MQTT_URL": "ftp://user:hidden@broker"})
    assert "hidden" not in str(caught.value)


def test_tls_material_refused_when_it_is_not_pem() -> None:
    with pytest.raises(ConfigError, match="MQTT_CA_CERT: not a PEM certificate"):
        tls_context(ca_cert="-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match="MQTT_CLIENT_KEY is set without MQTT_CLIENT_CERT"):
        tls_context(client_key="key")
    with pytest.raises(ConfigError, match="MQTT_CLIENT_CERT/MQTT_CLIENT_KEY"):
        tls_context(client_cert="not a certificate", client_key="not a key")


class _SeenWaiting(threading.Condition):
    """A condition that says when a thread has started waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.waiting.set()
        return super().wait(timeout)


def test_inbox_blocks_the_producer_side_when_full_and_never_drops() -> None:
    inbox = Inbox(capacity=3)
    inbox._cond = seen = _SeenWaiting()
    for i in range(3):
        assert inbox.put((0, i, 1, "t", b"", False))
    done = threading.Event()

    def fourth() -> None:
        inbox.put((0, 3, 1, "t", b"", False))
        done.set()

    threading.Thread(target=fourth, daemon=True).start()
    assert seen.waiting.wait(5)  # the fourth put waits for room (it neither dropped nor overfilled)
    assert not done.is_set() and len(inbox) == 3
    assert [m[1] for m in inbox.take(2, 0)] == [0, 1]
    assert done.wait(5)
    assert [m[1] for m in inbox.take(10, 0)] == [2, 3]


def test_inbox_take_waits_only_while_empty_and_close_releases_a_blocked_put() -> None:
    inbox = Inbox(capacity=1)
    started = time.monotonic()
    assert inbox.take(5, 0.2) == []
    assert time.monotonic() - started >= 0.15
    inbox.put((0, 1, 0, "t", b"", False))
    results: list[bool] = []
    blocked = threading.Thread(target=lambda: results.append(inbox.put((0, 2, 0, "t", b"", False))))
    blocked.start()
    inbox.close()
    blocked.join(timeout=5)
    assert results == [False]


class EndlessBroker:
    """A socket that always has more qos 0 PUBLISH packets to read (100-byte payloads)."""

    packet = bytes([0x30, 2 + 7 + 100]) + b"\x00\x07flood/x" + b"p" * 100

    def __init__(self) -> None:
        self.reads = 0

    def recv(self, size: int) -> bytes:
        self.reads += 1
        return self.packet * (size // len(self.packet) + 1)

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        pass


def test_the_client_reads_the_socket_only_when_its_buffer_is_used_up() -> None:
    # Reading on while packets are still buffered would move a flood from the broker (which
    # holds it) into the connector's memory.
    import paho.mqtt.client as paho

    from fluvio_connectors.mqtt_client import READ_CHUNK, StoreFirstClient, _FrameReader

    client = StoreFirstClient(paho.CallbackAPIVersion.VERSION2, client_id="t", protocol=paho.MQTTv311)
    delivered: list[tuple[str, bytes]] = []
    client.on_delivery = lambda messages: delivered.extend((m[3], m[4]) for m in messages)
    endless = EndlessBroker()
    reader = _FrameReader(endless)
    client._sock = reader
    for _ in range(200):
        client._packet_read()
        assert len(reader._buf) - reader._pos <= READ_CHUNK + len(EndlessBroker.packet)
    assert delivered[0] == ("flood/x", b"p" * 100) and len(delivered) > 10_000
    assert endless.reads * READ_CHUNK <= (len(delivered) + 1_000) * len(EndlessBroker.packet)
    client._sock = None
