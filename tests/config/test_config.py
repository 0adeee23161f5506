"""The config model: both seed examples, the CDK format, secrets, and one clear error per bad input."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from seed_examples import SEED_MQTT, SEED_TEST_CONNECTOR

from fluvio_connectors.catalog import MqttParameters
from fluvio_connectors.catalog import TestConnectorParameters as CounterParameters
from fluvio_connectors.config import load_config, read_secrets_file
from fluvio_connectors.errors import ConfigError

CDK_MQTT = """\
apiVersion: 0.1.0
meta:
  version: 0.3.0
  name: my-mqtt-connector
  type: mqtt-source
  topic: mqtt-topic
  create-topic: true
  secrets:
    - name: MQTT_PASSWORD
mqtt:
  url: "mqtt://reader:${{ secrets.MQTT_PASSWORD }}@broker.example:1883/"
  topic: "mqtt-to-fluvio"
  client_id: my_mqtt
  timeout:
    secs: 30
    nanos: 0
  payload_output_type: json
"""


def test_seed_mqtt_example_loads_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "mqtt.yaml"
    path.write_text(SEED_MQTT)
    config = load_config(path, secrets={})
    assert (config.name, config.type, config.topic, config.version) == ("my-test-mqtt", "mqtt", "my-mqtt", "latest")
    assert config.create_topic is True
    params = config.parameters
    assert isinstance(params, MqttParameters)
    assert params.mqtt_url == "mqtt.hsl.fi"
    assert params.mqtt_topic == ["/hfp/v2/journey/#"]
    assert params.qos == 0
    assert params.timeout == timedelta(seconds=60)
    assert params.payload_output_type == "binary"


def test_seed_test_connector_example_loads_unchanged() -> None:
    config = load_config(SEED_TEST_CONNECTOR, secrets={})
    assert (config.name, config.type, config.version, config.direction) == (
        "my-test-connector", "test-connector", "v1", "source")
    params = config.parameters
    assert isinstance(params, CounterParameters)
    assert params.timeout == timedelta(milliseconds=1000)
    assert params.count is None


def test_underscore_and_dash_keys_are_the_same_key() -> None:
    config = load_config(
        {"name": "a", "type": "mqtt", "topic": "t", "create-topic": True,
         "parameters": {"mqtt_url": "h", "mqtt_topic": "x", "payload_output_type": "json"}}, secrets={})
    assert config.create_topic is True
    assert config.parameters.payload_output_type == "json"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r"parameters\.mqtt-url: given twice"):
        load_config({"name": "a", "type": "mqtt", "topic": "t",
                     "parameters": {"mqtt_url": "h", "mqtt-url": "h", "mqtt-topic": "x"}}, secrets={})


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [(10, timedelta(milliseconds=10)), ("10ms", timedelta(milliseconds=10)), ("2s", timedelta(seconds=2)),
     ("1m30s", timedelta(seconds=90))],
)
def test_test_connector_timeout_forms(timeout: object, expected: timedelta) -> None:
    config = load_config({"name": "a", "type": "test", "topic": "t", "parameters": {"timeout": timeout}})
    assert config.type == "test-connector"
    assert config.parameters.timeout == expected  # type: ignore[attr-defined]


def test_cdk_format_resolves_secrets_and_keeps_them_out_of_the_document() -> None:
    config = load_config(CDK_MQTT, secrets={"MQTT_PASSWORD": "hunter2"})
    assert (config.name, config.type, config.topic, config.version) == (
        "my-mqtt-connector", "mqtt", "mqtt-topic", "0.3.0")
    params = config.parameters
    assert isinstance(params, MqttParameters)
    assert params.mqtt_url == "mqtt://reader:hunter2@broker.example:1883/"
    assert params.timeout == timedelta(seconds=30)
    assert params.client_id == "my_mqtt"
    assert config.secret_values() == {"MQTT_PASSWORD": "hunter2"}
    stored = config.to_yaml()
    assert "hunter2" not in stored
    assert "${{ secrets.MQTT_PASSWORD }}" in stored
    assert "hunter2" not in repr(config)
    assert "hunter2" not in str(config.parameters)


def test_stored_document_reloads_with_secrets_from_the_store() -> None:
    config = load_config(CDK_MQTT, secrets={"MQTT_PASSWORD": "hunter2"})
    again = load_config(config.document(), secrets={"MQTT_PASSWORD": "hunter2"})
    assert again.parameters == config.parameters
    assert again.secret_values() == {"MQTT_PASSWORD": "hunter2"}


def test_password_in_url_is_moved_to_a_secret() -> None:
    config = load_config({"name": "a", "type": "mqtt", "topic": "t",
                          "parameters": {"mqtt-url": "mqtt://u:pw@h", "mqtt-topic": "x"}}, secrets={})
    assert "pw" not in config.to_yaml()
    assert config.secret_values() == {"MQTT_URL": "mqtt://u:pw@h"}


def test_missing_secret_names_the_secret() -> None:
    with pytest.raises(ConfigError, match="secret MQTT_PASSWORD is not set"):
        load_config(CDK_MQTT, secrets={})


def test_seed_secrets_mapping_is_inline() -> None:
    config = load_config({"name": "a", "type": "mqtt", "topic": "t", "secrets": {"MQTT_URL": "mqtt://h"},
                          "parameters": {"mqtt-topic": "x"}}, secrets={})
    assert config.secret_values() == {"MQTT_URL": "mqtt://h"}
    assert config.document()["secrets"] == ["MQTT_URL"]


def test_secrets_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets.txt"
    path.write_text("# comment\nMQTT_PASSWORD=s3cret=x\n\n")
    assert read_secrets_file(path) == {"MQTT_PASSWORD": "s3cret=x"}
    path.write_text("not a line\n")
    with pytest.raises(ConfigError, match=r"secrets\.txt:1: expected NAME=VALUE"):
        read_secrets_file(path)


BAD = [
    ("", "the config is empty"),
    ("- a\n- b\n", "expected a mapping"),
    ("name: [unclosed\n", "not valid YAML at line"),
    ("name: a\ntype: mqtt\ntopic: t\nparameters:\n  mqtt-ulr: x\n  mqtt-topic: y\n",
     "parameters.mqtt-ulr: unknown key; did you mean mqtt-url?"),
    ("name: My_Connector\ntype: test\ntopic: t\n", "name: 'My_Connector' is not a valid connector name; expected a DNS-1123 label"),
    ("name: a\ntype: test\ntopic: Bad_Topic\n", "topic: 'Bad_Topic' is not a valid Fluvio topic name"),
    ("name: a\ntype: test\ntopic: " + "t" * 64 + "\n", "at most 63 characters"),
    ("name: a\ntype: kafka\ntopic: t\n", "type: unknown connector type 'kafka'"),
    ("name: a\ntype: mqt\ntopic: t\n", "did you mean mqtt?"),
    ("name: a\ntype: test\ntopic: t\ndirection: sink\n", "direction: test-connector is a source connector"),
    ("name: a\ntype: test\ntopic: t\nparameters:\n  count: many\n", "parameters.count"),
    ("name: a\ntype: test\ntopic: t\nparameters:\n  count: 0\n", "parameters.count: Input should be greater than or equal to 1"),
    ("name: a\ntype: test\ntopic: t\nparameters:\n  timeout: soon\n", "parameters.timeout: expected a number of milliseconds"),
    ("name: a\ntype: mqtt\ntopic: t\nparameters:\n  mqtt-url: h\n  mqtt-topic: x\n  qos: 3\n", "parameters.qos"),
    ("name: a\ntype: mqtt\ntopic: t\nparameters:\n  mqtt-topic: x\n", "parameters.mqtt-url: missing"),
    ("name: a\ntype: mqtt\ntopic: t\nparameters:\n  mqtt-url: h\n", "parameters.mqtt-topic: missing"),
    ("name: a\ntype: mqtt\ntopic: t\nparameters:\n  mqtt-url: ws://h\n  mqtt-topic: x\n", "parameters.mqtt-url: unsupported scheme; expected mqtt://host[:port]"),
    ("name: a\ntype: mqtt\ntopic: t\nparameters:\n  mqtt-url: h\n  mqtt-topic: a/#/b\n", "'#' must be a whole level and the last one"),
    ("name: a\ntype: test\ntopic: t\nparameters:\n  topic: other\n", "parameters.topic: 'other' differs from topic 't'"),
    ("name: a\ntype: test\ntopic: t\ncreate_topic: maybe\n", "create_topic: expected true or false"),
    ("name: a\ntype: test\ntopic: t\ncolour: red\n", "colour: unknown key"),
    ("type: test\ntopic: t\n", "name: missing"),
    ("name: a\ntype: test\ntopic: t\nparameters: [1]\n", "parameters: expected a mapping of parameters, got a list"),
    ("apiVersion: 9.9.9\nmeta: {}\n", "apiVersion: unsupported '9.9.9'"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_configs_give_one_clear_message(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, secrets={})
    text_of_error = str(info.value)
    assert text_of_error.startswith(str(path)), text_of_error
    assert message in text_of_error
    assert "\n" not in text_of_error
    assert "Traceback" not in text_of_error


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\x00\x01\x02\xff")
    with pytest.raises(ConfigError, match="binary data"):
        load_config(binary)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(latin)
