"""Rules that every entry point shares, each in one place: which words mean yes or no, the runtime
kinds and their aliases, and where an MQTT connector's broker URL comes from."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from fluvio_connectors.catalog import mqtt_url_source
from fluvio_connectors.errors import ConfigError
from fluvio_connectors.flags import parse_flag
from fluvio_connectors.settings import Settings, runtime_kind


@pytest.mark.parametrize(
    ("written", "flag"),
    [(True, True), (False, False), ("1", True), ("True", True), (" yes ", True), ("ON", True),
     ("0", False), ("false", False), ("No", False), ("off", False), ("", False), ("maybe", None), ("2", None)],
)
def test_which_words_mean_yes_or_no(written: Any, flag: bool | None) -> None:
    assert parse_flag(written) is flag


def test_the_environment_reads_flags_the_same_way() -> None:
    assert Settings.from_env({"FLUVIO_PROFILE": "on"}).use_fluvio_profile is True
    assert Settings.from_env({"FLUVIO_PROFILE": "off"}).use_fluvio_profile is False


@pytest.mark.parametrize(("written", "kind"), [("local", "local"), ("Kubernetes", "kubernetes"), (" k8s", "kubernetes"),
                                               ("K8S", "kubernetes")])
def test_runtime_kinds_and_their_alias(written: str, kind: str) -> None:
    assert runtime_kind(written) == kind


def test_an_unknown_runtime_names_the_kinds() -> None:
    with pytest.raises(ConfigError) as error:
        runtime_kind("docker", "connection fluvio_default: ")
    assert str(error.value) == "connection fluvio_default: unknown runtime 'docker'; expected one of: local, kubernetes"


@pytest.mark.parametrize(
    ("parameter", "secrets", "source"),
    [
        ("mqtt://param:1883", {}, ("mqtt://param:1883", "parameters.mqtt-url")),
        ("mqtt://param:1883", {"MQTT_URL": "mqtt://secret:1883"}, ("mqtt://secret:1883", "secret MQTT_URL")),
        (None, {"MQTT_URL": "mqtt://secret:1883"}, ("mqtt://secret:1883", "secret MQTT_URL")),
        ("mqtt://param:1883", {"MQTT_URL": ""}, ("mqtt://param:1883", "parameters.mqtt-url")),  # empty: not set
        (None, {}, (None, "parameters.mqtt-url")),
    ],
)
def test_where_the_mqtt_url_comes_from(parameter: str | None, secrets: dict[str, str],
                                       source: tuple[str | None, str]) -> None:
    assert mqtt_url_source(SimpleNamespace(mqtt_url=parameter), secrets) == source
