"""Config inputs of a careless or hostile user (issue 22): secret names that reach too far, files
that are no config at all, credentials in an MQTT URL, addresses that would end up in a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from fluvio_connectors.catalog import parse_mqtt_url
from fluvio_connectors.config import ConnectorConfig, load_config
from fluvio_connectors.endpoints import check_endpoint, check_registry
from fluvio_connectors.errors import ConfigError
from fluvio_connectors.mqtt import MqttSettings


def mqtt(**parameters: Any) -> dict[str, Any]:
    return {"name": "m", "type": "mqtt", "topic": "t",
            "parameters": {"mqtt-url": "broker.example", "mqtt-topic": "sensors/#", **parameters}}


# --------------------------------------------------------------------------- 9: reserved secret names


@pytest.mark.parametrize("name", ["FLUVIO_CONNECTORS_HOME", "FLUVIO_ENDPOINT", "FLUVIO_CONNECTOR_START_OFFSET",
                                  "LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONPATH", "PYTHONSTARTUP", "PATH", "HOME",
                                  "GCONV_PATH", "SSL_CERT_FILE", "ld_preload"])
def test_a_secret_named_after_what_the_runtime_or_the_loader_reads_is_refused(name: str) -> None:
    forms = [
        {"name": "s", "type": "test", "topic": "t", "secrets": {name: "x"}},
        {**mqtt(**{"mqtt-url": "mqtt://u:${{ secrets." + name + " }}@h"}), "secrets": [name]},
    ]
    for config in forms:
        with pytest.raises(ConfigError) as info:
            load_config(config, secrets={name: "x"})
        assert f"secret {name}: is a reserved name" in str(info.value)
        assert "expected a name of your own" in str(info.value)
    with pytest.raises(ConfigError, match="is a reserved name"):  # said before "not set": one round trip
        load_config(forms[1], secrets={})
    with pytest.raises(ValidationError, match="reserved name"):  # a config built by hand, for a runtime
        ConnectorConfig(name="s", type="test-connector", direction="source", topic="t",
                        parameters=load_config(forms[0] | {"secrets": {}}, secrets={}).parameters,
                        secrets={name: SecretStr("x")})


def test_ordinary_secret_names_are_fine() -> None:
    config = load_config({**mqtt(), "secrets": {"MQTT_PASSWORD": "pw", "MY_TOKEN": "t"}}, secrets={})
    assert sorted(config.secrets) == ["MQTT_PASSWORD", "MY_TOKEN"]


# --------------------------------------------------------------------------- 13: no excerpt of foreign files


SHADOW = "root:$6$Secr3tHashValue:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"


@pytest.mark.parametrize("text", [
    SHADOW,                                                         # a mapping of keys no config has
    "Secr3tHashValue-first-line: 1\nSecr3tHashValue-first-line: 2\n",  # a key given twice
    "a: &x 1\nb: *Secr3tHashValue\n",                               # an undefined alias
    "- Secr3tHashValue\n- 2\n",                                     # a list
    "k: !Secr3tHashValue 1\n",                                      # an unknown tag
    "Secr3tHashValue:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 40)),  # nested too deep
])
def test_a_file_that_is_no_connector_config_is_never_quoted(tmp_path: Path, text: str) -> None:
    path = tmp_path / "shadow"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, secrets={})
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    said = message[len(f"{path}: "):]
    assert "Secr3t" not in said and "root" not in said and "daemon" not in said, message


def test_a_connector_config_still_names_its_unknown_key() -> None:
    with pytest.raises(ConfigError, match="colour: unknown key"):
        load_config({"name": "x", "type": "test", "topic": "t", "colour": "red"}, secrets={})


# --------------------------------------------------------------------------- 15: MQTT URL user info


@pytest.mark.parametrize(("url", "user", "password"), [
    ("mqtt://reader:p%40ss@h", "reader", "p@ss"),
    ("mqtt://re%3Ader:p%25s%2Fs@h:1884", "re:der", "p%s/s"),
    ("mqtt://reader:a/b#c?d@e@h", "reader", "a/b#c?d@e"),  # the last @ ends the user info
    ("mqtt://caf%C3%A9@h", "café", None),
])
def test_user_info_is_read_as_rfc_3986_says(url: str, user: str, password: str | None) -> None:
    endpoint = parse_mqtt_url(url)
    assert (endpoint.username, endpoint.password, endpoint.host) == (user, password, "h")


@pytest.mark.parametrize("password", ["a/b", "x#y", "q?r", "p@ss", "50%off", "%41", "sp ace", "ü:"])
def test_a_password_secret_in_the_url_arrives_as_it_is(password: str) -> None:
    config = load_config(mqtt(**{"mqtt-url": "mqtt://reader:${{ secrets.PW }}@broker.example:1884"}),
                         secrets={"PW": password})
    settings = MqttSettings.from_config(config)
    assert (settings.username, settings.password, settings.endpoint.port) == ("reader", password, 1884)
    assert "PW" in config.document()["secrets"] and password not in str(config.document())


def test_a_url_with_bad_percent_encoding_is_refused_without_repeating_it() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(mqtt(**{"mqtt-url": "mqtt://u:%ffsecret@h"}), secrets={})
    assert "not percent-encoded UTF-8" in str(info.value) and "secret" not in str(info.value)


# --------------------------------------------------------------------------- 16: addresses for a manifest


@pytest.mark.parametrize("endpoint", ["host:99999", "http://host:9003", "host", "host:0", "ho\nst:9003",
                                      "host:9003\n", "[zz]:9003", "host:90 03", ""])
def test_a_bad_endpoint_is_refused(endpoint: str) -> None:
    with pytest.raises(ConfigError, match="expected host:port"):
        check_endpoint(endpoint)


@pytest.mark.parametrize("registry", ["ghcr.io/acme\nx", "ghcr.io/ACME", "a b", "http://ghcr.io", ""])
def test_a_bad_registry_is_refused(registry: str) -> None:
    with pytest.raises(ConfigError, match="is not a registry"):
        check_registry(registry)


def test_good_endpoints_and_registries() -> None:
    assert [check_endpoint(e) for e in ("fluvio-sc:9003", "127.0.0.1:9003", "[::1]:9003")]
    assert [check_registry(r) for r in ("ghcr.io/acme", "localhost:5000", "registry.example.com/a/b-c")]
