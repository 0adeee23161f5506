"""The connector catalog: every connector type, its parameters, defaults, direction and image.

Each type's parameters are one pydantic model; the model is the validation, the defaults and the
schema ``fluvio-connector catalog --type NAME`` prints. Parameter names are kebab-case
(``mqtt-url``); ``_`` and ``-`` are the same in user configs.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fluvio_connectors.durations import parse_duration
from fluvio_connectors.errors import ConfigError

Direction = Literal["source", "sink"]


def kebab(name: str) -> str:
    return name.replace("_", "-")


class Parameters(BaseModel):
    """Base of every connector type's parameter model."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=kebab, populate_by_name=True, frozen=True, strict=False
    )

    def legacy_topics(self) -> dict[str, str]:
        """Legacy parameters naming the Fluvio topic, which must equal the config's topic."""
        return {}


# --------------------------------------------------------------------------- test-connector


class TestConnectorParameters(Parameters):
    """Produces ``Hello, Fluvio! - {i}`` for i = 1..count, one record every ``timeout``."""

    timeout: timedelta = Field(
        default=timedelta(milliseconds=1000),
        description="Interval between records: milliseconds as an integer, or a duration (10ms, 2s).",
        json_schema_extra={"default": 1000},
    )
    count: int | None = Field(
        default=None,
        ge=1,
        le=2**63 - 1,
        description="Number of records to produce, then stop. Unlimited when absent.",
    )
    topic: str | None = Field(default=None, description="Legacy: must equal the config's topic.")
    fluvio_topic: str | None = Field(default=None, description="Legacy: must equal the config's topic.")

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> timedelta:
        return parse_duration(value, "ms")

    @field_validator("count", mode="before")
    @classmethod
    def _count(cls, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"expected a whole number of records, got {value!r}")
        return value

    def legacy_topics(self) -> dict[str, str]:
        return {k: v for k, v in (("topic", self.topic), ("fluvio-topic", self.fluvio_topic)) if v}


# --------------------------------------------------------------------------- mqtt

MQTT_SCHEMES = {"mqtt": (1883, False), "tcp": (1883, False), "mqtts": (8883, True), "ssl": (8883, True)}


@dataclass(frozen=True)
class MqttEndpoint:
    """Where the MQTT broker is, from ``mqtt-url``. ``redacted`` is safe to log."""

    host: str
    port: int
    tls: bool
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    @property
    def redacted(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """``mqtt.hsl.fi`` means ``mqtt://mqtt.hsl.fi:1883``; ``mqtts://`` is TLS on 8883 by default."""
    text = url.strip()
    if not text:
        raise ValueError("expected a broker address such as mqtt.hsl.fi or mqtts://host:8883")
    if "://" not in text:
        text = "mqtt://" + text
    try:
        parts: SplitResult = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid MQTT URL ({exc}); expected mqtt://host[:port]") from None
    scheme = parts.scheme.lower()
    if scheme not in MQTT_SCHEMES:
        raise ValueError(
            f"unsupported scheme {parts.scheme!r}; expected one of mqtt://, tcp://, mqtts://, ssl://"
        )
    if not parts.hostname:
        raise ValueError("the URL has no host; expected mqtt://host[:port]")
    if parts.path not in ("", "/"):
        raise ValueError(f"unexpected path {parts.path!r} in the URL; expected mqtt://host[:port]")
    default_port, tls = MQTT_SCHEMES[scheme]
    return MqttEndpoint(
        host=parts.hostname,
        port=port or default_port,
        tls=tls,
        username=parts.username or None,
        password=parts.password or None,
    )


def validate_topic_filter(topic_filter: str) -> str:
    if not topic_filter:
        raise ValueError("an MQTT topic filter may not be empty")
    levels = topic_filter.split("/")
    if levels[0] == "$share" and (len(levels) < 3 or not levels[1] or "+" in levels[1] or "#" in levels[1]):
        raise ValueError(f"{topic_filter!r}: expected a shared subscription $share/GROUP/FILTER")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise ValueError(f"{topic_filter!r}: '#' must be a whole level and the last one")
        if "+" in level and level != "+":
            raise ValueError(f"{topic_filter!r}: '+' must be a whole level")
    return topic_filter


class MqttParameters(Parameters):
    """Subscribes to an MQTT broker and produces every message as a record."""

    mqtt_url: str | None = Field(
        default=None,
        repr=False,
        description=(
            "Broker URL; the scheme is optional (mqtt.hsl.fi means mqtt://mqtt.hsl.fi:1883, "
            "mqtts:// is TLS on 8883). May be given as the secret MQTT_URL instead."
        ),
    )
    mqtt_topic: list[str] = Field(
        description="Topic filter or list of filters to subscribe to; wildcards + and # allowed.",
        min_length=1,
    )
    qos: Literal[0, 1, 2] = Field(
        default=0, description="MQTT quality of service: 0, 1 or 2. With 1 or 2 nothing is lost."
    )
    timeout: timedelta = Field(
        default=timedelta(seconds=60),
        description="Keep-alive, and the cap of the reconnect backoff: seconds, or a duration (30s).",
        json_schema_extra={"default": 60},
    )
    client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="MQTT client id; default fluvio-<connector name>, stable across restarts.",
    )
    payload_output_type: Literal["binary", "json"] = Field(
        default="binary",
        description="binary: payload as an array of byte values; json: the parsed JSON payload.",
    )
    fluvio_topic: str | None = Field(default=None, description="Legacy: must equal the config's topic.")

    @field_validator("mqtt_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and "${{" not in value:
            parse_mqtt_url(value)
        return value

    @field_validator("mqtt_topic", mode="before")
    @classmethod
    def _topics(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    validate_topic_filter(item)
        return value

    @field_validator("qos", mode="before")
    @classmethod
    def _qos(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"expected 0, 1 or 2, got {value!r}")
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> timedelta:
        delta = parse_duration(value, "s")
        if delta.total_seconds() < 1:
            raise ValueError(f"expected at least 1 second, got {value!r}")
        return delta

    def legacy_topics(self) -> dict[str, str]:
        return {"fluvio-topic": self.fluvio_topic} if self.fluvio_topic else {}


def _mqtt_secret_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Move credentials out of ``mqtt-url`` into the secret MQTT_URL, so no password is stored."""
    url = params.get("mqtt-url")
    if isinstance(url, str) and "${{" not in url:
        try:
            endpoint = parse_mqtt_url(url)
        except ValueError:
            return params, {}
        if endpoint.password:
            rest = {k: v for k, v in params.items() if k != "mqtt-url"}
            return rest, {"MQTT_URL": url}
    return params, {}


# --------------------------------------------------------------------------- the catalog


@dataclass(frozen=True)
class ConnectorType:
    name: str
    aliases: tuple[str, ...]
    direction: Direction
    parameters: type[Parameters]
    module: str
    description: str
    cdk_section: str
    cdk_keys: dict[str, str] = field(default_factory=dict)
    # Secrets the program reads when they are set (never required).
    optional_secrets: tuple[str, ...] = ()
    extract_secrets: Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, str]]] | None = None
    # Whether several instances can split its source between them (``fluvio_connectors.replicas``).
    scales_out: bool = False

    @property
    def image_name(self) -> str:
        return f"fluvio-connector-{self.name}"

    def image(self, registry: str | None, version: str) -> str:
        prefix = f"{registry.rstrip('/')}/" if registry else ""
        return f"{prefix}{self.image_name}:{version}"

    @property
    def parameter_names(self) -> list[str]:
        return [kebab(n) for n in self.parameters.model_fields]

    def schema(self) -> dict[str, Any]:
        schema = self.parameters.model_json_schema(by_alias=True)
        schema["title"] = self.name
        return schema

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.name,
            "aliases": list(self.aliases),
            "direction": self.direction,
            "image": self.image_name,
            "description": self.description,
            "optional_secrets": list(self.optional_secrets),
            "parameters": self.schema(),
        }


TEST_CONNECTOR = ConnectorType(
    name="test-connector",
    aliases=("test", "test-source"),
    direction="source",
    parameters=TestConnectorParameters,
    module="fluvio_connectors.test_connector",
    description="Produces 'Hello, Fluvio! - {i}' every timeout, count times (or until stopped).",
    cdk_section="test",
)

MQTT = ConnectorType(
    name="mqtt",
    aliases=("mqtt-source",),
    direction="source",
    parameters=MqttParameters,
    module="fluvio_connectors.mqtt",
    description="Subscribes to an MQTT broker and produces each message as JSON {mqtt_topic, payload}.",
    cdk_section="mqtt",
    cdk_keys={"url": "mqtt-url", "topic": "mqtt-topic"},
    optional_secrets=(
        "MQTT_URL",
        "MQTT_USERNAME",
        "MQTT_PASSWORD",
        "MQTT_CA_CERT",
        "MQTT_CLIENT_CERT",
        "MQTT_CLIENT_KEY",
    ),
    extract_secrets=_mqtt_secret_params,
    scales_out=True,  # MQTT 5 shared subscriptions
)

CATALOG: tuple[ConnectorType, ...] = (TEST_CONNECTOR, MQTT)


def all_types() -> tuple[ConnectorType, ...]:
    return CATALOG


def _index() -> dict[str, ConnectorType]:
    out: dict[str, ConnectorType] = {}
    for ctype in CATALOG:
        for key in (ctype.name, *ctype.aliases):
            out[key] = ctype
    return out


def get_type(name: str) -> ConnectorType:
    """The connector type for ``name`` or an alias; ConfigError naming the known types otherwise."""
    index = _index()
    key = str(name).strip().lower().replace("_", "-")
    if key in index:
        return index[key]
    raise ConfigError(f"unknown connector type {name!r}{suggest(key, index)}; {known_types_hint()}")


def known_types_hint() -> str:
    names = ", ".join(f"{t.name} (alias {', '.join(t.aliases)})" for t in CATALOG)
    return f"expected one of: {names}"


def suggest(word: str, choices: Iterable[str]) -> str:
    """``; did you mean X?`` for a close match, else an empty string."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {match[0]}?" if match else ""


_SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.match(name))
