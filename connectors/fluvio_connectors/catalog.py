"""The connector catalog: every connector type, its parameters, defaults, direction and image.

Each type's parameters are one pydantic model; the model is the validation, the defaults and the
schema ``fluvio-connector catalog --type NAME`` prints. Parameter names are kebab-case
(``mqtt-url``); ``_`` and ``-`` are the same in user configs.

A model accepts exactly what its program can run (so ``validate`` is the whole truth): MQTT strings
as the MQTT spec allows them (UTF-8, no NUL or control characters, at most 65535 bytes), a keep-alive
that fits its 16 bits, a broker host the resolver accepts, durations a timer can wait. Validators
say what is expected and never repeat the value: the loader shows an excerpt of what was written.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import SplitResult, unquote, urlsplit

from pydantic import AfterValidator, Field, field_validator, model_validator

from fluvio_connectors.durations import parse_duration
from fluvio_connectors.errors import ConfigError
from fluvio_connectors.messages import excerpt, url_passwords
from fluvio_connectors.parameters import Parameters, kebab
from fluvio_connectors.sink_catalog import HttpSinkParameters, SqlSinkParameters, check_endpoint, parse_sql_url
from fluvio_connectors.sizes import parse_size

Direction = Literal["source", "sink"]


# --------------------------------------------------------------------------- test-connector


# Without a count the test connector runs until stopped: at a shorter interval than this it would
# fill the disk (at 0 it writes some 70,000 records a second). A count lifts the floor.
MIN_UNLIMITED_INTERVAL = timedelta(milliseconds=10)


class TestConnectorParameters(Parameters):
    """Produces ``Hello, Fluvio! - {i}`` for i = 1..count, one record every ``timeout``."""

    timeout: timedelta = Field(
        default=timedelta(milliseconds=1000),
        description=(
            "Interval between records: milliseconds as an integer, or a duration (10ms, 2s), at most "
            "365 days. Below 10ms (0: as fast as possible) only with a count."
        ),
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
            raise ValueError("expected a whole number of records")
        return value

    @model_validator(mode="after")
    def _bounded(self) -> TestConnectorParameters:
        if self.count is None and self.timeout < MIN_UNLIMITED_INTERVAL:
            raise ValueError(
                "timeout: below 10ms the connector needs a count (without one it would write records "
                "as fast as it can until the disk is full); set count, or a timeout of at least 10ms"
            )
        return self

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


def mqtt_url_source(parameters: object, secrets: Mapping[str, str]) -> tuple[str | None, str]:
    """Where an MQTT connector's broker URL comes from: the secret ``MQTT_URL`` when it is set,
    else ``parameters.mqtt-url``. ``(url or None, where)``, ``where`` naming it in a message."""
    secret = secrets.get("MQTT_URL")
    if secret:
        return secret, "secret MQTT_URL"
    return getattr(parameters, "mqtt_url", None), "parameters.mqtt-url"


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """``mqtt.hsl.fi`` means ``mqtt://mqtt.hsl.fi:1883``; ``mqtts://`` is TLS on 8883 by default.

    User info (``user:password@``) is read as RFC 3986 says: percent-decoded (``p%40ss`` is
    ``p@ss``; write a ``%`` as ``%25``). It ends at the *last* ``@``, so a password holding ``/``,
    ``?``, ``#`` or ``@`` (as a password secret substituted into the URL may) stays the password
    instead of cutting the URL in two. ``ValueError`` says what is wrong without repeating any part
    of the URL (it may hold a password).
    """
    expected = "expected mqtt://host[:port] (or tcp://, mqtts://, ssl://)"
    text = url.strip()
    if not text:
        raise ValueError("expected a broker address such as mqtt.hsl.fi or mqtts://host:8883")
    if any(char.isspace() or _is_control(char) for char in text):
        raise ValueError(f"the URL contains spaces or control characters (in a password, write them as %20, ...); "
                         f"{expected}")
    if "://" not in text:
        _head, colon, tail = text.partition(":")
        if colon and not text.startswith("[") and not tail.isdigit():
            raise ValueError(f"unsupported scheme (a URL needs '://' after its scheme); {expected}")
        text = "mqtt://" + text
    scheme, _, rest = text.partition("://")
    userinfo, at, host_part = rest.rpartition("@")
    cut = min((i for i in (host_part.find(c) for c in "/?#") if i >= 0), default=len(host_part))
    host_port, tail = host_part[:cut], host_part[cut:]
    if scheme.lower() not in MQTT_SCHEMES:
        raise ValueError(f"unsupported scheme; {expected}")
    if tail.startswith(("?", "#")) or "?" in tail or "#" in tail:
        raise ValueError(f"a query (?...) or fragment (#...) has no meaning for an MQTT broker; {expected}")
    if tail not in ("", "/"):
        raise ValueError(f"a path has no meaning for an MQTT broker; {expected}")
    try:
        parts: SplitResult = urlsplit(f"{scheme}://{host_port}")
    except ValueError:  # brackets that do not hold an IPv6 address
        raise ValueError(f"the host is not a valid IPv6 address; {expected}") from None
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"the port must be a number from 1 to 65535; {expected}") from None
    if port == 0:
        raise ValueError(f"the port must be a number from 1 to 65535; {expected}")
    if not parts.hostname:
        raise ValueError(f"the URL has no host; {expected}")
    _check_host(parts.hostname)
    username, password = _user_info(userinfo) if at else (None, None)
    default_port, tls = MQTT_SCHEMES[scheme.lower()]
    return MqttEndpoint(
        host=parts.hostname,
        port=port or default_port,
        tls=tls,
        username=username or None,
        password=password or None,
    )


def _user_info(userinfo: str) -> tuple[str, str]:
    """``(user, password)`` of ``user[:password]``, percent-decoded (RFC 3986, section 3.2.1)."""
    raw_user, _, raw_password = userinfo.partition(":")
    try:
        user = unquote(raw_user, errors="strict")
        password = unquote(raw_password, errors="strict")
    except UnicodeDecodeError:
        raise ValueError("the user info is not percent-encoded UTF-8 text") from None
    if user:
        check_mqtt_string(user, "the user name")
    if len(password.encode("utf-8", "surrogateescape")) > MAX_MQTT_STRING_BYTES:
        raise ValueError(f"the password is longer than MQTT allows ({MAX_MQTT_STRING_BYTES} bytes)")
    if "\x00" in password:
        raise ValueError("the password contains a NUL character")
    return user, password


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)\Z")


def _check_host(host: str) -> None:
    """An IP address, or a name the resolver accepts: labels of 1 to 63 letters, digits, '-' or '_'
    (after IDNA encoding, as the socket library does it), at most 253 characters in all."""
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("the host is not a valid IPv6 address; expected mqtt://[::1]:1883") from None
        return
    try:
        ascii_name = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("the host is not a valid host name (a label longer than 63 characters, or an "
                         "empty one)") from None
    name = ascii_name[:-1] if ascii_name.endswith(".") else ascii_name
    if len(name) > 253 or not all(_HOST_LABEL.match(label) for label in name.split(".")):
        raise ValueError("the host is not a valid host name; expected labels of letters, digits and '-' "
                         "(1 to 63 characters each, 253 in all) or an IP address")


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F


MAX_MQTT_STRING_BYTES = 65535


def check_mqtt_string(value: str, what: str) -> str:
    """A string as MQTT carries it: UTF-8 of at most 65535 bytes, no NUL, no control characters
    (the spec forbids U+0000 and lone surrogates; brokers such as mosquitto refuse controls)."""
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode (a lone surrogate)") from None
    if size > MAX_MQTT_STRING_BYTES:
        raise ValueError(f"{what} is {size} bytes long; MQTT allows at most {MAX_MQTT_STRING_BYTES}")
    if any(_is_control(char) for char in value):
        raise ValueError(f"{what} contains a NUL or control character, which MQTT brokers refuse")
    return value


def validate_topic_filter(topic_filter: str) -> str:
    if not topic_filter:
        raise ValueError("an MQTT topic filter may not be empty")
    check_mqtt_string(topic_filter, "the topic filter")
    levels = topic_filter.split("/")
    if levels[0] == "$share" and (len(levels) < 3 or not levels[1] or "+" in levels[1] or "#" in levels[1]):
        raise ValueError(f"{topic_filter!r}: expected a shared subscription $share/GROUP/FILTER")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise ValueError("'#' must be a whole level and the last one")
        if "+" in level and level != "+":
            raise ValueError("'+' must be a whole level")
    return topic_filter


TopicFilter = Annotated[str, AfterValidator(validate_topic_filter)]
# MQTT's keep-alive is a 16-bit number of seconds.
MAX_KEEP_ALIVE = timedelta(seconds=65535)
# The largest message payload the MQTT source takes by default: its record (3.6 bytes a byte of
# payload as binary) fits a Fluvio record (16 MiB) and a connector stays far below a pod's 256 Mi.
DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024
# MQTT's own limit: the largest packet its remaining-length field can say (about 256 MiB).
MAX_MQTT_PACKET = 268_435_455


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
    mqtt_topic: list[TopicFilter] = Field(
        description="Topic filter or list of filters to subscribe to; wildcards + and # allowed.",
        min_length=1,
    )
    qos: Literal[0, 1, 2] = Field(
        default=0, description="MQTT quality of service: 0, 1 or 2. With 1 or 2 nothing is lost."
    )
    timeout: timedelta = Field(
        default=timedelta(seconds=60),
        description=(
            "Keep-alive, and the cap of the reconnect backoff: seconds, or a duration (30s); "
            "from 1 to 65535 seconds (MQTT's limit)."
        ),
        json_schema_extra={"default": 60},
    )
    client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="MQTT client id; default fluvio-<connector name>, stable across restarts.",
    )
    sensitive: ClassVar[frozenset[str]] = frozenset({"mqtt-url"})
    payload_output_type: Literal["binary", "json"] = Field(
        default="binary",
        description="binary: payload as an array of byte values; json: the parsed JSON payload.",
    )
    max_message_size: int = Field(
        default=DEFAULT_MAX_MESSAGE_SIZE,
        description=(
            "Largest message payload taken, in bytes or a size (512kb, 4mib); default 1mib. Announced "
            "to an MQTT 5 broker as the connector's Maximum Packet Size (the broker then drops larger "
            "messages) and enforced with MQTT 3.1.1: a larger message is skipped, its topic and size "
            "logged and counted (too_large). At most 256mib."
        ),
        json_schema_extra={"default": "1mib"},
    )
    fluvio_topic: str | None = Field(default=None, description="Legacy: must equal the config's topic.")

    @field_validator("max_message_size", mode="before")
    @classmethod
    def _max_message_size(cls, value: Any) -> int:
        return parse_size(value, 1, MAX_MQTT_PACKET - 65_536)

    @field_validator("mqtt_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            parse_mqtt_url(value)
        return value

    @field_validator("mqtt_topic", mode="before")
    @classmethod
    def _topics(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str | None) -> str | None:
        return None if value is None else check_mqtt_string(value, "the client id")

    @field_validator("qos", mode="before")
    @classmethod
    def _qos(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("expected 0, 1 or 2")
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> timedelta:
        delta = parse_duration(value, "s", maximum=MAX_KEEP_ALIVE)
        if delta.total_seconds() < 1:
            raise ValueError("expected at least 1 second")
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
    # Checks of secret values the program parses (name -> check raising ValueError), so a secret
    # the program could not use fails validation instead of the program.
    secret_checks: dict[str, Callable[[str], object]] = field(default_factory=dict)
    # Secrets that say where a peer is (a broker URL): shown in messages and logs like any address,
    # except a password written in them (``secret_parts_to_hide``).
    address_secrets: tuple[str, ...] = ()
    extract_secrets: Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, str]]] | None = None
    # Whether several instances can split its source between them (``fluvio_connectors.replicas``).
    scales_out: bool = False
    # URL parameters: a secret referenced in a URL's user info is percent-encoded where it is put,
    # so that it arrives as written whatever characters it holds (parse_mqtt_url decodes it).
    url_parameters: tuple[str, ...] = ()

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
    secret_checks={"MQTT_URL": parse_mqtt_url},
    address_secrets=("MQTT_URL",),
    scales_out=True,  # MQTT 5 shared subscriptions
    url_parameters=("mqtt-url",),
)

def _sql_secret_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A password written in ``url`` becomes the secret SQL_URL, so no password is stored."""
    url = params.get("url")
    if isinstance(url, str) and "${{" not in url and url_passwords(url):
        return {**params, "url": "${{ secrets.SQL_URL }}"}, {"SQL_URL": url}
    return params, {}


# Headers whose literal values are moved into secrets (never stored in plain config).
_SECRET_HEADER_WORDS = ("authorization", "cookie", "token", "key", "secret", "password", "auth")


def _http_secret_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A password in ``endpoint``, and the literal value of a credential header (Authorization,
    Cookie, X-Api-Key, ...), become secrets (HTTP_ENDPOINT, HTTP_HEADER_N): nothing is stored."""
    out, moved = dict(params), {}
    endpoint = params.get("endpoint")
    if isinstance(endpoint, str) and "${{" not in endpoint and url_passwords(endpoint):
        out["endpoint"], moved["HTTP_ENDPOINT"] = "${{ secrets.HTTP_ENDPOINT }}", endpoint
    headers = params.get("headers")
    if isinstance(headers, list):
        kept = []
        for i, header in enumerate(headers):
            name, sep, value = header.partition(":") if isinstance(header, str) else ("", "", "")
            if sep and value.strip() and "${{" not in value and any(w in name.lower() for w in _SECRET_HEADER_WORDS):
                secret = f"HTTP_HEADER_{i}"
                moved[secret] = value.strip()
                header = f"{name.strip()}: ${{{{ secrets.{secret} }}}}"
            kept.append(header)
        out["headers"] = kept
    return out, moved


SQL_SINK = ConnectorType(
    name="sql-sink",
    aliases=("sql",),
    direction="sink",
    parameters=SqlSinkParameters,
    module="fluvio_connectors.sql_sink",
    description="Writes each JSON record as a row of a PostgreSQL or SQLite table (json-sql mapping), exactly once.",
    cdk_section="sql",
    extract_secrets=_sql_secret_params,
    secret_checks={"SQL_URL": parse_sql_url},
    address_secrets=("SQL_URL",),
)

HTTP_SINK = ConnectorType(
    name="http-sink",
    aliases=("http",),
    direction="sink",
    parameters=HttpSinkParameters,
    module="fluvio_connectors.http_sink",
    description="Sends each record as the body of an HTTP request, at least once, with an Idempotency-Key.",
    cdk_section="http",
    extract_secrets=_http_secret_params,
    secret_checks={"HTTP_ENDPOINT": check_endpoint},
    address_secrets=("HTTP_ENDPOINT",),
)

CATALOG: tuple[ConnectorType, ...] = (TEST_CONNECTOR, MQTT, SQL_SINK, HTTP_SINK)


def secret_parts_to_hide(name: str, value: str) -> set[str]:
    """What of the secret ``name`` logs and messages must hide: all of ``value``, except for a
    valid address secret of any type (``MQTT_URL``), whose host and port stay readable and only a
    password written in it is hidden."""
    for ctype in CATALOG:
        if name in ctype.address_secrets:
            check = ctype.secret_checks.get(name)
            try:
                if check is not None:
                    check(value)
            except ValueError:  # not an address anyone could read: hide all of it
                break
            return url_passwords(value)
    return {value} if value else set()


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
    raise ConfigError(f"unknown connector type {excerpt(name)}{suggest(key[:64], index)}; {known_types_hint()}")


def known_types_hint() -> str:
    names = ", ".join(f"{t.name} (alias {', '.join(t.aliases)})" if t.aliases else t.name for t in CATALOG)
    return f"expected one of: {names}"


def suggest(word: str, choices: Iterable[str]) -> str:
    """``; did you mean X?`` for a close match, else an empty string."""
    import difflib  # only a message needs it: kept out of a running connector (0.14 MB)

    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {match[0]}?" if match else ""


_SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.match(name))
