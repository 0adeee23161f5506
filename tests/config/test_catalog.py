"""The catalog describes itself and resolves aliases."""

from __future__ import annotations

import pytest

from fluvio_connectors.catalog import all_types, get_type, parse_mqtt_url
from fluvio_connectors.errors import ConfigError


@pytest.mark.parametrize(("name", "canonical"), [("test", "test-connector"), ("test-connector", "test-connector"),
                                                 ("mqtt-source", "mqtt"), ("MQTT", "mqtt")])
def test_aliases(name: str, canonical: str) -> None:
    assert get_type(name).name == canonical


def test_unknown_type_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown connector type 'kafka'.*expected one of: test-connector.*sql-sink"):
        get_type("kafka")


def test_images_and_directions() -> None:
    assert [(t.name, t.direction, t.image("ghcr.io/acme", "0.1.0")) for t in all_types()] == [
        ("test-connector", "source", "ghcr.io/acme/fluvio-connector-test-connector:0.1.0"),
        ("mqtt", "source", "ghcr.io/acme/fluvio-connector-mqtt:0.1.0"),
        ("sql-sink", "sink", "ghcr.io/acme/fluvio-connector-sql-sink:0.1.0"),
        ("http-sink", "sink", "ghcr.io/acme/fluvio-connector-http-sink:0.1.0"),
    ]


def test_schema_names_parameters_in_kebab_case_with_defaults() -> None:
    schema = get_type("mqtt").schema()
    props = schema["properties"]
    assert {"mqtt-url", "mqtt-topic", "qos", "timeout", "client-id", "payload-output-type"} <= set(props)
    assert props["qos"]["default"] == 0
    assert schema["required"] == ["mqtt-topic"]
    assert get_type("test").schema()["properties"]["timeout"]["default"] == 1000


@pytest.mark.parametrize(
    ("url", "host", "port", "tls"),
    [("mqtt.hsl.fi", "mqtt.hsl.fi", 1883, False), ("mqtt://h:1999", "h", 1999, False),
     ("mqtts://h", "h", 8883, True), ("ssl://h:8884/", "h", 8884, True), ("tcp://127.0.0.1", "127.0.0.1", 1883, False)],
)
def test_mqtt_url_forms(url: str, host: str, port: int, tls: bool) -> None:
    endpoint = parse_mqtt_url(url)
    assert (endpoint.host, endpoint.port, endpoint.tls) == (host, port, tls)


def test_mqtt_url_redacts_password() -> None:
    endpoint = parse_mqtt_url("mqtt://reader:hunter2@h:1883")
    assert endpoint.password == "hunter2"
    assert endpoint.redacted == "mqtt://reader@h:1883"
    assert "hunter2" not in repr(endpoint)
