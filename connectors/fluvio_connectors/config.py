"""The connector config: one pydantic model, two YAML formats.

``load_config`` accepts the seed's format (``version, name, type, direction, topic,
create_topic, parameters, secrets, producer``) and the Connector Development Kit format
(``apiVersion``, ``meta``, a section named after the connector, ``${{ secrets.NAME }}``).
Every problem becomes one ``ConfigError`` naming the source, the field path and what is expected.

Secrets are a separate field of ``SecretStr`` values; ``document()`` (what is written to disk, to a
ConfigMap or to XCom) names secrets but never holds their values.

Hostile input. A config is read with bounds (``config_files``: at most 1 MiB; ``yaml_safe``: depth,
size, alias expansion, duplicate keys), and no message echoes more than a short excerpt of a value
(``messages``). A message never shows a value that came from a secret: a parameter is echoed as it
was written (``${{ secrets.NAME }}``, not what that resolves to), ``mqtt-url`` (it may hold a
password) is never echoed, and every message is passed through a ``Redactor`` holding the secret
values the config uses, so a secret cannot leak even through a message nobody foresaw.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import yaml
from pydantic import (
    BaseModel,
    ByteSize,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from fluvio_connectors.catalog import (
    ConnectorType,
    Parameters,
    get_type,
    is_secret_name,
    kebab,
    mqtt_url_source,
    secret_parts_to_hide,
    suggest,
)
from fluvio_connectors.config_files import (
    MAX_FILE_BYTES,
    MAX_FILE_TEXT,
    MAX_ORIGIN_CHARS,
    STDIN,
    read_secrets_file,
    read_text_file,
)
from fluvio_connectors.durations import format_duration, parse_duration
from fluvio_connectors.env_names import check_secret_name
from fluvio_connectors.errors import ConfigError
from fluvio_connectors.messages import Redactor, excerpt, one_line, url_passwords
from fluvio_connectors.names import (
    DNS_LABEL,
    TOPIC_NAME,
    TOPIC_NAME_RULE,
    check_connector_name,
    check_image_tag,
    is_topic_name,
    validate_consumer_name,
)
from fluvio_connectors.sink_catalog import ConsumerSettings
from fluvio_connectors.yaml_safe import YamlRefused, check_shape, load_yaml

SECRET_REF = re.compile(r"\$\{\{\s*secrets\.([A-Za-z0-9_]+)\s*\}\}")
CDK_API_VERSIONS = ("0.1.0", "0.2.0")

_TOP_LEVEL = ("version", "name", "type", "direction", "topic", "create-topic", "parameters", "secrets",
              "producer", "consumer", "transforms")
_CDK_META = ("version", "name", "type", "topic", "create-topic", "direction", "producer", "consumer", "secrets")
_PRODUCER = ("linger", "batch-size", "compression")
_CONSUMER = ("id", "partition", "offset")
_CONSUMER_OFFSET = ("start", "strategy", "flush-period")
_TRANSFORM = ("uses", "with", "invoke")
JSON_SQL = "infinyon/json-sql"
COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")
MAX_BATCH_BYTES = 1024**3  # producer.batch-size: 1 byte to 1 GiB
# Linux's limit on one NAME=value environment entry (MAX_ARG_STRLEN), for a local process and a pod.
MAX_ENV_ENTRY_BYTES = 128 * 1024

__all__ = ["DNS_LABEL", "TOPIC_NAME", "ConnectorConfig", "config_summary", "load_config", "read_secrets_file"]


@functools.cache
def _byte_size() -> TypeAdapter[ByteSize]:
    return TypeAdapter(ByteSize)


class ProducerSettings(BaseModel):
    """How records are batched on their way to the topic."""

    model_config = ConfigDict(frozen=True)
    linger_ms: float = Field(default=0.0, ge=0)
    batch_size: int | None = Field(default=None, ge=1, le=MAX_BATCH_BYTES)
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "none"

    def document(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.linger_ms:
            out["linger"] = f"{self.linger_ms:g}ms"
        if self.batch_size:
            out["batch-size"] = self.batch_size
        if self.compression != "none":
            out["compression"] = self.compression
        return out


class ConnectorConfig(BaseModel):
    """A validated connector config. Build it with ``load_config``."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    version: str = "latest"
    name: str
    type: str
    direction: Literal["source", "sink"]
    topic: str
    create_topic: bool = False
    parameters: Parameters
    producer: ProducerSettings = Field(default_factory=ProducerSettings)
    # Where a sink reads (sinks only; None for a source).
    consumer: ConsumerSettings | None = None
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    origin: str = "<dict>"

    # The parameters as written (kebab keys), with ${{ secrets.X }} references kept unresolved.
    _stored_parameters: dict[str, Any] = PrivateAttr(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:  # a config built by hand must not carry a path as its name
        try:
            return check_connector_name(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:  # also for a config built by hand
        for name in value:
            check_secret_name(name)
        return value

    @property
    def connector_type(self) -> ConnectorType:
        return get_type(self.type)

    @property
    def consumer_id(self) -> str:
        """The name of a sink's position (``consumer.id``, by default the connector's name)."""
        return (self.consumer or ConsumerSettings()).consumer_id(self.name)

    def image(self, registry: str | None = None) -> str:
        return self.connector_type.image(registry, self.version)

    def secret_values(self) -> dict[str, str]:
        """Secret name to value: for the connector process environment or a Kubernetes Secret."""
        return {name: value.get_secret_value() for name, value in self.secrets.items()}

    def values_to_hide(self) -> set[str]:
        """What logs and messages must never show: the secret values, of an address secret
        (``MQTT_URL``) only a password in it (``catalog.secret_parts_to_hide``)."""
        return {part for name, value in self.secret_values().items() for part in secret_parts_to_hide(name, value)}

    def document(self) -> dict[str, Any]:
        """The config in the seed's format, without any secret value (safe to store and show)."""
        doc: dict[str, Any] = {
            "version": self.version,
            "name": self.name,
            "type": self.type,
            "direction": self.direction,
            "topic": self.topic,
            "create_topic": self.create_topic,
            "parameters": dict(self._stored_parameters),
        }
        producer = self.producer.document()
        if producer:
            doc["producer"] = producer
        consumer = self.consumer.document() if self.consumer else None
        if consumer:
            doc["consumer"] = consumer
        if self.secrets:
            doc["secrets"] = sorted(self.secrets)
        return doc

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.document(), sort_keys=False)

    def __repr_args__(self) -> Any:  # keep secrets (and resolved parameters) out of reprs and logs
        for key, value in super().__repr_args__():
            if key == "secrets":
                yield key, sorted(self.secrets)
            elif key != "parameters":
                yield key, value


# --------------------------------------------------------------------------- loading


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    secrets: Mapping[str, str] | None = None,
) -> ConnectorConfig:
    """Load and validate a connector config.

    ``source`` is a path to a YAML file, a YAML string or a dict (a ``PathLike`` is always a file).
    ``secrets`` is the secret store (``NAME -> value``) that ``${{ secrets.NAME }}`` references and
    declared secrets resolve from; pass ``os.environ`` (the default when None) or the parsed
    ``--secrets`` file. Every problem is one ``ConfigError`` line that holds no secret value.
    """
    store: Mapping[str, str] = os.environ if secrets is None else secrets
    return _load(lambda: _read(source), store)


def load_config_text(text: str, *, secrets: Mapping[str, str], origin: str = "<string>") -> ConnectorConfig:
    """``load_config`` for YAML text a user typed or uploaded (a web form, an API body): never
    taken for a file path, and its secrets come from ``secrets`` only."""
    return _load(lambda: (origin, _read_text(origin, text)), secrets)


def _load(read: Callable[[], tuple[str, Any]], store: Mapping[str, str]) -> ConnectorConfig:
    origin = "<config>"
    try:
        origin, data = read()
        return _Loader(origin, store).load(data)
    except ConfigError as exc:
        raise ConfigError(one_line(str(exc))) from None
    except (RecursionError, OverflowError, MemoryError) as exc:
        # The bounds above should make these impossible; should one slip through, it is still the
        # config's fault and still one line.
        raise ConfigError(f"{origin}: the config is too large or too deeply nested ({type(exc).__name__})") from None


def _read(source: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[str, Any]:
    if isinstance(source, Mapping):
        try:
            check_shape(source)
        except YamlRefused as exc:
            raise ConfigError(f"<dict>: {exc}") from None
        return "<dict>", dict(source)
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and "\n" not in source and _looks_like_path(source)
    ):
        origin = "<stdin>" if isinstance(source, os.PathLike) and os.fspath(source) == STDIN else _shorten(str(source))
        text = read_text_file(source, "a YAML config file")
        return origin, _parse_yaml(origin, text)
    if isinstance(source, str):
        return "<string>", _read_text("<string>", source)
    raise ConfigError(f"config must be a file path, a YAML string or a dict, got {type(source).__name__}")


def _read_text(origin: str, text: str) -> Any:
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", errors="surrogatepass")) > MAX_FILE_BYTES:
        raise ConfigError(f"{origin}: larger than {MAX_FILE_TEXT}; expected a YAML config of at most {MAX_FILE_TEXT}")
    if "\x00" in text:
        raise ConfigError(f"{origin}: binary data; expected a YAML config")
    return _parse_yaml(origin, text)


def _shorten(origin: str) -> str:
    """A file path as messages show it: the end of a very long path (its file name) is what matters."""
    return origin if len(origin) <= MAX_ORIGIN_CHARS else "..." + origin[-MAX_ORIGIN_CHARS:]


def _looks_like_path(text: str) -> bool:
    stripped = text.strip()
    if not stripped or len(stripped) > 4096:
        return False
    if stripped.endswith((".yaml", ".yml")):
        return True
    try:
        if Path(stripped).exists():
            return True
    except (OSError, ValueError):
        return False
    return ":" not in stripped and not stripped.startswith(("{", "[", "-"))


def _parse_yaml(origin: str, text: str) -> Any:
    """The YAML document in ``text``. What cannot be parsed may be any file at all (``--config
    /etc/shadow``): its messages name a line and a column, and quote no piece of the text (the
    keys of a path only when the path starts at a connector config's key)."""
    try:
        return load_yaml(text)
    except YamlRefused as exc:
        top = re.split(r"[.\[]", exc.path, maxsplit=1)[0]
        raise ConfigError(f"{origin}: {exc if _is_config_key(top) else exc.without_path()}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = _QUOTED.sub(_unquote_long, getattr(exc, "problem", None) or "invalid YAML")
        raise ConfigError(f"{origin}: not valid YAML{where}: {problem}") from None


# What PyYAML quotes from the text in its problems ('\t', an alias name, a tag): a character or an
# escape stays (it says what is wrong), anything longer is the file's content and is left out.
_QUOTED = re.compile("'[^']*'|\"[^\"]*\"")


def _unquote_long(match: re.Match[str]) -> str:
    return match.group(0) if len(match.group(0)) <= 4 else "(text left out)"


def _is_config_key(key: str) -> bool:
    return kebab(key) in _TOP_LEVEL or key in ("meta", "apiVersion")


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number"}.get(type(value), type(value).__name__)


class _Loader:
    def __init__(self, origin: str, store: Mapping[str, str]) -> None:
        self.origin = origin
        self.store = store
        # Every secret value this config uses (and every password written in one of its URLs),
        # removed from each message: the net under the rule that messages never echo them.
        self.redact = Redactor()
        self.mapping_path: str | None = None
        # A CDK config's parameters by the path they were written at (``sql.url`` for ``url``).
        self.written_at: dict[str, str] = {}

    def error(self, path: str, problem: str) -> ConfigError:
        where = f"{self.origin}: {path}: " if path else f"{self.origin}: "
        return ConfigError(self.redact(where + problem))

    # ---- format dispatch

    def load(self, data: Any) -> ConnectorConfig:
        if data is None or data == "":
            raise self.error("", "the config is empty; expected a mapping with name, type, topic, parameters")
        if not isinstance(data, dict):
            raise self.error(
                "", f"expected a mapping (name: ..., type: ..., topic: ...), got {_type_name(data)}"
            )
        if not any(_is_config_key(str(k)) for k in data):
            # Not a connector config at all (another file given by mistake, or on purpose): say
            # so without quoting any of it.
            raise self.error("", "not a connector config: expected a mapping with name, type, topic and "
                             "parameters (or apiVersion and meta)")
        keys = {kebab(str(k)) for k in data}
        if "meta" in keys or "apiversion" in {k.lower() for k in keys}:
            data = self._from_cdk(data)
        return self._from_seed(data)

    def _normalize(self, data: dict[Any, Any], path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for raw_key, value in data.items():
            key = kebab(str(raw_key))
            where = f"{path}.{_key(raw_key)}" if path else _key(raw_key)
            if key in out:
                raise self.error(where, "given twice (_ and - in keys are the same key)")
            if allowed and key not in allowed:
                raise self.error(
                    where, f"unknown key{suggest(key[:64], allowed)} (expected one of: {', '.join(allowed)})"
                )
            out[key] = value
        return out

    def _from_cdk(self, data: dict[Any, Any]) -> dict[str, Any]:
        api = next((v for k, v in data.items() if str(k) == "apiVersion"), None)
        if api is not None and str(api) not in CDK_API_VERSIONS:
            raise self.error("apiVersion", f"unsupported {excerpt(api)}; expected one of {', '.join(CDK_API_VERSIONS)}")
        meta = data.get("meta")
        if not isinstance(meta, dict):
            raise self.error("meta", f"expected a mapping with name, type, version, topic, got {_type_name(meta)}")
        meta = self._normalize(meta, "meta", _CDK_META)
        ctype = self._type(meta.get("type"), "meta.type")
        section_keys = [str(k) for k in data if str(k) not in ("apiVersion", "meta", "transforms")]
        params: dict[str, Any] = {}
        for key in section_keys:
            if key not in (ctype.cdk_section, ctype.name, *ctype.aliases):
                raise self.error(
                    _key(key), f"unknown section{suggest(key[:64], [ctype.cdk_section])}; "
                    f"expected apiVersion, meta and {ctype.cdk_section}"
                )
            section = data[key]
            if section is None:
                continue
            if not isinstance(section, dict):
                raise self.error(key, f"expected a mapping of parameters, got {_type_name(section)}")
            for pkey, value in section.items():
                name = ctype.cdk_keys.get(str(pkey), str(pkey))
                if name in params:
                    raise self.error(f"{key}.{_key(pkey)}", f"given twice (as {name})")
                params[name] = self._unwrap_secret(value, f"{key}.{pkey}")
                self.written_at[name] = f"{key}.{pkey}"
        topic = meta.get("topic")
        if isinstance(topic, dict):  # apiVersion 0.2.0: a topic config object
            topic_meta = topic.get("meta")
            topic = topic_meta.get("name") if isinstance(topic_meta, dict) else None
        secret_names = meta.get("secrets")
        seed: dict[str, Any] = {
            "version": meta.get("version"),
            "name": meta.get("name"),
            "type": meta.get("type"),
            "topic": topic,
            "parameters": params,
        }
        for key in ("create-topic", "direction", "producer", "consumer"):
            if key in meta:
                seed[key] = meta[key]
        if "transforms" in data:
            seed["transforms"] = data["transforms"]
        if secret_names is not None:
            if not isinstance(secret_names, list):
                raise self.error("meta.secrets", "expected a list of {name: NAME}")
            seed["secrets"] = [s.get("name") if isinstance(s, dict) else s for s in secret_names]
        if seed["version"] is None:
            raise self.error("meta.version", "missing; expected the connector version, e.g. latest or 0.1.0")
        return seed

    @staticmethod
    def _unwrap_secret(value: Any, path: str) -> Any:
        # CDK typed secret: {secret: {name: X}}
        if isinstance(value, dict) and set(value) == {"secret"} and isinstance(value["secret"], dict):
            name = value["secret"].get("name")
            if isinstance(name, str):
                return "${{ secrets." + name + " }}"
        return value

    # ---- the seed format (the canonical one)

    def _from_seed(self, data: dict[Any, Any]) -> ConnectorConfig:
        doc = self._normalize(data, "", _TOP_LEVEL)
        self._watch_secrets(doc)
        for required in ("name", "type", "topic"):
            if doc.get(required) in (None, ""):
                raise self.error(required, f"missing; expected {_EXPECTED[required]}")
        name = self._label(doc["name"], "name")
        ctype = self._type(doc["type"], "type")
        topic = self._topic(doc["topic"], "topic")
        version = self._version(doc.get("version", "latest"))
        direction = doc.get("direction", ctype.direction)
        if direction not in ("source", "sink"):
            raise self.error("direction", f"expected source or sink, got {excerpt(direction)}")
        if direction != ctype.direction:
            raise self.error("direction", f"{ctype.name} is a {ctype.direction} connector; got {excerpt(direction)}")
        create_topic = doc.get("create-topic", False)
        if create_topic is None:
            create_topic = False
        if not isinstance(create_topic, bool):
            raise self.error("create_topic", f"expected true or false, got {excerpt(create_topic)}")
        if ctype.direction == "sink" and doc.get("producer") is not None:
            raise self.error("producer", f"a {ctype.name} connector reads its topic and produces nothing; "
                             "expected no producer section (consumer sets where it reads)")
        producer = self._producer(doc.get("producer"))
        consumer = self._consumer(doc.get("consumer"), ctype)

        inline_secrets, declared = self._secrets_section(doc.get("secrets"))
        raw_params = doc.get("parameters")
        if raw_params is None:
            raw_params = {}
        if not isinstance(raw_params, dict):
            raise self.error("parameters", f"expected a mapping of parameters, got {_type_name(raw_params)}")
        stored = self._normalize(raw_params, "parameters", tuple(ctype.parameter_names))
        mapping = self._transforms(doc.get("transforms"), ctype)
        if mapping is not None:
            if "mapping" in stored:
                raise self.error("transforms", "the json-sql mapping is given twice (also as parameters.mapping)")
            stored["mapping"] = mapping
            self.mapping_path = "transforms[0].with.mapping"
        moved: dict[str, str] = {}
        if ctype.extract_secrets:
            stored, moved = ctype.extract_secrets(stored)

        secrets = self._collect_secrets(ctype, stored, inline_secrets, declared, moved)
        resolved = {k: _resolve_url(v, secrets) if k in ctype.url_parameters and isinstance(v, str)
                    else self._resolve(v, secrets, f"parameters.{k}") for k, v in stored.items()}
        params = self._parameters(ctype, resolved, stored)
        for key, value in params.legacy_topics().items():
            if value != topic:
                raise self.error(f"parameters.{key}", f"{excerpt(stored.get(key, value))} differs from topic "
                                 f"{topic!r}; it must equal the topic")
        self._check_required(ctype, params, secrets)
        self._check_secrets(ctype, secrets)

        config = ConnectorConfig(
            version=version,
            name=name,
            type=ctype.name,
            direction=direction,
            topic=topic,
            create_topic=create_topic,
            parameters=params,
            producer=producer,
            consumer=consumer,
            secrets={k: SecretStr(v) for k, v in secrets.items()},
            origin=self.origin,
        )
        config._stored_parameters.update(stored)
        return config

    def _type(self, value: Any, path: str) -> ConnectorType:
        if not isinstance(value, str) or not value:
            raise self.error(path, f"expected a connector type name, got {_type_name(value)}")
        try:
            return get_type(value)
        except ConfigError as exc:
            raise self.error(path, str(exc)) from None

    def _label(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise self.error(path, f"expected a name (a DNS-1123 label), got {_type_name(value)}")
        try:
            return check_connector_name(value)
        except ConfigError as exc:
            raise self.error(path, str(exc)) from None

    def _topic(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise self.error(path, f"expected a topic name, got {_type_name(value)}")
        if not is_topic_name(value):
            raise self.error(path, f"{excerpt(value)} is not a valid Fluvio topic name; expected {TOPIC_NAME_RULE}")
        return value

    def _version(self, value: Any) -> str:
        expected = "expected an image tag such as latest, dev or 0.1.0"
        if value is None or isinstance(value, dict | list | bool) or (isinstance(value, int) and value.bit_length() > 128):
            raise self.error("version", f"{expected}, got {_type_name(value)}")
        try:
            return check_image_tag(str(value))
        except ConfigError as exc:
            raise self.error("version", str(exc)) from None

    def _producer(self, value: Any) -> ProducerSettings:
        if value is None:
            return ProducerSettings()
        if not isinstance(value, dict):
            raise self.error("producer", f"expected a mapping (linger, batch-size, compression), got {_type_name(value)}")
        doc = self._normalize(value, "producer", _PRODUCER)
        out: dict[str, Any] = {}
        if "linger" in doc:
            try:
                out["linger_ms"] = parse_duration(doc["linger"], "ms").total_seconds() * 1000
            except ValueError as exc:
                raise self.error("producer.linger", f"{exc}, got {excerpt(doc['linger'])}") from None
        if "batch-size" in doc:
            out["batch_size"] = self._bytes(doc["batch-size"], "producer.batch-size")
        if "compression" in doc:
            if doc["compression"] not in COMPRESSIONS:
                raise self.error("producer.compression",
                                 f"expected one of {', '.join(COMPRESSIONS)}, got {excerpt(doc['compression'])}")
            out["compression"] = doc["compression"]
        return ProducerSettings(**out)

    def _consumer(self, value: Any, ctype: ConnectorType) -> ConsumerSettings | None:
        """Fluvio's consumer section: ``id``, ``partition``, ``offset: {start, strategy, flush-period}``."""
        if ctype.direction != "sink":
            if value is not None:
                raise self.error("consumer", f"a {ctype.name} connector is a source and reads no topic; "
                                 "expected no consumer section")
            return None
        if value is None:
            return ConsumerSettings()
        if not isinstance(value, dict):
            raise self.error("consumer", f"expected a mapping (id, partition, offset), got {_type_name(value)}")
        doc = self._normalize(value, "consumer", _CONSUMER)
        out: dict[str, Any] = {}
        if doc.get("id") is not None:
            try:
                out["id"] = validate_consumer_name(doc["id"])
            except ConfigError as exc:
                raise self.error("consumer.id", str(exc)) from None
        if "partition" in doc:
            partition = doc["partition"]
            if not isinstance(partition, int) or isinstance(partition, bool) or not 0 <= partition < 2**31:
                raise self.error("consumer.partition", "a sink reads one partition; expected its number (0, 1, ...), "
                                 f"got {excerpt(partition)}")
            out["partition"] = partition
        offset = doc.get("offset")
        if offset is not None:
            if not isinstance(offset, dict):
                raise self.error("consumer.offset", f"expected a mapping (start, strategy, flush-period), got "
                                 f"{_type_name(offset)}")
            offset = self._normalize(offset, "consumer.offset", _CONSUMER_OFFSET)
            if "start" in offset:
                out["start"] = self._start(offset["start"])
            if offset.get("strategy") not in (None, "auto", "manual"):
                raise self.error("consumer.offset.strategy", "a sink always keeps its position (sql-sink in the "
                                 f"database itself); expected auto or manual, got {excerpt(offset['strategy'])}")
            if "flush-period" in offset:
                try:
                    out["flush_period"] = parse_duration(offset["flush-period"], "ms", maximum=timedelta(hours=1))
                except ValueError as exc:
                    raise self.error("consumer.offset.flush-period", f"{exc}, got {excerpt(offset['flush-period'])}") from None
        return ConsumerSettings(**out)

    def _start(self, value: Any) -> str | int:
        expected = "expected beginning, end or {absolute: N}"
        if value in ("beginning", "end"):
            return str(value)
        if isinstance(value, dict) and set(value) == {"absolute"}:
            number = value["absolute"]
            if isinstance(number, int) and not isinstance(number, bool) and 0 <= number < 2**63:
                return number
            raise self.error("consumer.offset.start.absolute", f"expected an offset >= 0, got {excerpt(number)}")
        raise self.error("consumer.offset.start", f"{expected}, got {excerpt(value)}")

    def _transforms(self, value: Any, ctype: ConnectorType) -> Any:
        """The ``mapping`` of the one ``infinyon/json-sql`` transform an sql-sink may have (None without)."""
        if value is None or value == []:
            return None
        if not isinstance(value, list):
            raise self.error("transforms", f"expected a list of {{uses, with}}, got {_type_name(value)}")
        supported = ("these connectors run no SmartModules: an sql-sink takes one infinyon/json-sql transform "
                     "(its mapping), other types none")
        mapping: Any = None
        for i, item in enumerate(value):
            path = f"transforms[{i}]"
            if not isinstance(item, dict):
                raise self.error(path, f"expected a mapping {{uses, with}}, got {_type_name(item)}")
            item = self._normalize(item, path, _TRANSFORM)
            uses = item.get("uses")
            name = uses.split("@", 1)[0].strip().lower() if isinstance(uses, str) else None
            if name != JSON_SQL or ctype.name != "sql-sink":
                raise self.error(f"{path}.uses", f"{excerpt(uses)}: {supported}")
            if mapping is not None:
                raise self.error(path, "a second json-sql transform; expected one (its mapping names the table)")
            with_ = item.get("with")
            if not isinstance(with_, dict) or set(map(str, with_)) != {"mapping"}:
                raise self.error(f"{path}.with", "expected {mapping: {table, map-columns: ...}}")
            mapping = with_["mapping"]
            if isinstance(mapping, str):  # Fluvio passes a with-value as JSON text too
                try:
                    mapping = json.loads(mapping)
                except ValueError:
                    raise self.error(f"{path}.with.mapping", "expected a mapping {table, map-columns}, or its JSON "
                                     "text") from None
        return mapping

    def _bytes(self, value: Any, path: str) -> int:
        """A whole number of bytes, or a size with a unit (pydantic's ``ByteSize``: ``kb``, ``mb``,
        ``gb`` count thousands, ``kib``, ``mib``, ``gib`` 1024s), from 1 byte to 1 GiB."""
        expected = ("expected a size from 1 byte to 1gib, such as 16384, 64kib or 1mb "
                    "(kb, mb, gb are powers of 1000; kib, mib, gib of 1024)")
        size: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            size = value
        elif isinstance(value, str) and len(value) <= 32 and "bit" not in value.lower():
            try:
                size = int(_byte_size().validate_python(value))
            except ValidationError:
                size = None
        if size is None or not 1 <= size <= MAX_BATCH_BYTES:
            raise self.error(path, f"{expected}, got {excerpt(value)}")
        return size

    def _secrets_section(self, value: Any) -> tuple[dict[str, str], list[str]]:
        """Seed format: a ``NAME: value`` mapping. Stored/CDK form: a list of names."""
        if value is None:
            return {}, []
        if isinstance(value, dict):
            inline: dict[str, str] = {}
            for key, val in value.items():
                if not is_secret_name(str(key)):
                    raise self.error(f"secrets.{_key(key)}", "expected a secret name of letters, digits and _")
                if isinstance(val, dict | list | bytes) or val is None:
                    raise self.error(f"secrets.{key}", f"expected a string value, got {_type_name(val)}")
                inline[str(key)] = val if isinstance(val, str) else excerpt(val)
            return inline, []
        if isinstance(value, list):
            names = []
            for i, item in enumerate(value):
                if not isinstance(item, str) or not is_secret_name(item):
                    raise self.error(f"secrets[{i}]", f"expected a secret name of letters, digits and _, got {excerpt(item)}")
                names.append(item)
            return {}, names
        raise self.error("secrets", f"expected a mapping NAME: value or a list of names, got {_type_name(value)}")

    def _collect_secrets(
        self,
        ctype: ConnectorType,
        params: dict[str, Any],
        inline: dict[str, str],
        declared: list[str],
        moved: dict[str, str],
    ) -> dict[str, str]:
        secrets = dict(moved)
        secrets.update(inline)
        referenced = sorted({m for v in params.values() for m in SECRET_REF.findall(_flatten(v))})
        for name in [*declared, *referenced, *secrets]:
            try:  # a reserved name is refused whether it is set or not
                check_secret_name(name)
            except ValueError as exc:
                raise self.error(f"secret {name}", str(exc).removeprefix(f"{name} ")) from None
        for name in [*declared, *referenced]:
            if name in secrets:
                continue
            if name not in self.store:
                where = "secrets" if name in declared else "parameters"
                raise self.error(
                    where, f"secret {name} is not set; expected it in the environment or the secrets file"
                )
            secrets[name] = self.store[name]
        for name in ctype.optional_secrets:
            if name not in secrets and self.store.get(name):
                secrets[name] = self.store[name]
        for name, value in secrets.items():
            if not isinstance(value, str):
                raise self.error(f"secret {name}", f"expected a string value, got {_type_name(value)}")
        self.redact.add(part for name, value in secrets.items() for part in secret_parts_to_hide(name, value))
        for name, value in secrets.items():
            if "\x00" in value:
                raise self.error(f"secret {name}", "contains a NUL character, which no environment variable "
                                 "can hold; expected text")
            size = len(name) + 2 + len(value.encode("utf-8", "surrogateescape"))
            if size > MAX_ENV_ENTRY_BYTES:
                raise self.error(f"secret {name}", f"{size} bytes; a secret reaches the connector as an "
                                 "environment variable, which holds at most 128 KiB")
        return secrets

    def _watch_secrets(self, doc: Mapping[str, Any]) -> None:
        """Before anything can fail: the inline secret values and the passwords in parameter URLs."""
        inline = doc.get("secrets")
        if isinstance(inline, dict):
            self.redact.add(v for v in inline.values() if isinstance(v, str))
        for text in _strings(doc.get("parameters")):
            self.redact.add(url_passwords(text))

    def _check_secrets(self, ctype: ConnectorType, secrets: Mapping[str, str]) -> None:
        for name, check in ctype.secret_checks.items():
            if name in secrets:
                try:
                    check(secrets[name])
                except ValueError as exc:
                    raise self.error(f"secret {name}", str(exc)) from None

    def _resolve(self, value: Any, secrets: Mapping[str, str], path: str) -> Any:
        if isinstance(value, str):
            return SECRET_REF.sub(lambda m: secrets[m.group(1)], value)
        if isinstance(value, list):
            return [self._resolve(v, secrets, path) for v in value]
        if isinstance(value, dict):
            return {k: self._resolve(v, secrets, path) for k, v in value.items()}
        return value

    def _parameters(self, ctype: ConnectorType, params: dict[str, Any], stored: dict[str, Any]) -> Parameters:
        try:
            return ctype.parameters.model_validate(params)
        except ValidationError as exc:
            problem = _describe_errors(exc, ctype, stored)
            if self.mapping_path:  # the mapping came from the json-sql transform: name it as written
                problem = problem.replace("parameters.mapping", self.mapping_path)
            for name, path in self.written_at.items():  # a CDK section's key, named as written
                problem = re.sub(rf"\bparameters\.{re.escape(name)}(?=[.:\[ ]|$)", path.replace("\\", "\\\\"), problem)
            raise self.error("", problem) from None

    def _check_required(self, ctype: ConnectorType, params: Parameters, secrets: Mapping[str, str]) -> None:
        if ctype.name == "mqtt" and mqtt_url_source(params, secrets)[0] is None:
            raise self.error("parameters.mqtt-url", "missing; expected the broker URL (or the secret MQTT_URL)")


def _resolve_url(template: str, secrets: Mapping[str, str]) -> str:
    """``template`` with its secret references resolved; those in the URL's user info (before the
    last ``@`` outside a reference) percent-encoded, so a password secret holding ``/``, ``#``,
    ``?``, ``@`` or ``%`` reaches the broker as it is."""
    spans = [m.span() for m in SECRET_REF.finditer(template)]
    at = next((i for i in range(len(template) - 1, -1, -1)
               if template[i] == "@" and not any(a <= i < b for a, b in spans)), -1)

    def value(match: re.Match[str]) -> str:
        secret = secrets[match.group(1)]
        return quote(secret, safe="") if match.start() < at else secret

    return SECRET_REF.sub(value, template)


def _flatten(value: Any) -> str:
    return " ".join(_strings(value))


def _strings(value: Any) -> Iterator[str]:
    """Every string inside ``value`` (nesting is bounded by the loader)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _key(key: Any) -> str:
    """A key as a message shows it in a path."""
    text = str(key) if not isinstance(key, int) or key.bit_length() <= 64 else excerpt(key)
    return text if len(text) <= 40 else text[:40] + "..."


MAX_PROBLEMS = 3


def _describe_errors(exc: ValidationError, ctype: ConnectorType, stored: Mapping[str, Any]) -> str:
    """pydantic's errors as ``parameters.PATH: problem, got EXCERPT``; the excerpt is the value as
    written (a secret reference, never what it resolved to) and never a sensitive parameter's."""
    problems = []
    errors = exc.errors(include_url=False, include_input=False)
    for err in errors[:MAX_PROBLEMS]:
        loc = list(err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        if not loc:  # a check across parameters names its parameter first ("timeout: ...")
            field, sep, rest = message.partition(": ")
            if sep and field in ctype.parameter_names:
                loc, message = [field], rest
        # The parameter's name is kebab-case; keys inside it (column names) are shown as written.
        path = "parameters" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{kebab(str(p)) if i == 0 else p}" for i, p in enumerate(loc))
        kind = err["type"]
        if kind == "missing":
            desc = (_walk(ctype.parameters, loc)[1] or "a value").rstrip(".")
            problems.append(f"{path}: missing; expected {desc[0].lower() + desc[1:]}")
        elif kind == "extra_forbidden" and len(loc) > 1:  # a key inside a parameter (the mapping)
            inside = _walk(ctype.parameters, loc[:-1])[0]
            keys = [f.alias or kebab(n) for n, f in inside.model_fields.items()] if inside else []
            problems.append(f"{path}: unknown key{suggest(str(loc[-1])[:64], keys)} (expected one of: {', '.join(keys)})")
        elif kind == "extra_forbidden":
            key = kebab(str(loc[-1]))[:64] if loc else "?"
            problems.append(
                f"{path}: unknown parameter for type {ctype.name}{suggest(key, ctype.parameter_names)} "
                f"(expected one of: {', '.join(ctype.parameter_names)})"
            )
        else:
            problems.append(f"{path}: {message}{_as_written(ctype, stored, loc)}")
    if len(errors) > MAX_PROBLEMS:
        problems.append(f"and {len(errors) - MAX_PROBLEMS} more")
    return "; ".join(problems)


def _walk(model: type[BaseModel], loc: list[Any]) -> tuple[type[BaseModel] | None, str | None]:
    """The model found at ``loc`` inside ``model`` (through nested models and dicts of them) and
    the description of the field there; ``(None, None)`` where the path leaves the models."""
    import typing

    def model_in(annotation: Any) -> type[BaseModel] | None:
        candidates = [annotation, *typing.get_args(annotation)]
        return next((a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)), None)

    annotation: Any = model
    description = None
    for part in loc:
        found_model = model_in(annotation)
        if found_model is not None:
            fields = found_model.model_fields
            found = next((f for name, f in fields.items() if str(part) in (name, f.alias, kebab(name))), None)
            if found is None:
                return None, None
            annotation, description = found.annotation, found.description
        elif typing.get_origin(annotation) is dict or dict in typing.get_args(annotation):
            annotation = typing.get_args(annotation)[-1]  # a key of the dict: its values' type
        else:
            return None, None
    return model_in(annotation), description


def _as_written(ctype: ConnectorType, stored: Mapping[str, Any], loc: list[Any]) -> str:
    """``, got EXCERPT`` of the value at ``loc`` as the config wrote it ('' when not shown)."""
    if not loc or kebab(str(loc[0])) in ctype.parameters.sensitive:
        return ""
    missing = object()
    value: Any = stored.get(kebab(str(loc[0])), missing)
    for part in loc[1:]:
        inside_list = isinstance(value, list) and isinstance(part, int) and part < len(value)
        if inside_list or (isinstance(value, dict) and part in value):
            value = value[part]
        else:
            break  # e.g. a single filter given as a string is item 0 of the list
    # A check of a whole mapping (a model's own check) says what is wrong; its excerpt would not.
    return "" if value is missing or isinstance(value, dict) else f", got {excerpt(value)}"


_EXPECTED = {
    "name": "a connector name (a DNS-1123 label, e.g. my-test-connector)",
    "type": "a connector type from the catalog (test-connector or mqtt)",
    "topic": "the Fluvio topic to produce to",
}


def config_summary(config: ConnectorConfig) -> str:
    """One line saying what was loaded: a parameter that came from a secret shows its reference
    (``${{ secrets.NAME }}``), ``mqtt-url`` is left out, long values are cut."""
    params = config.parameters.model_dump(by_alias=True, exclude_none=True)
    stored = config._stored_parameters
    sensitive = config.connector_type.parameters.sensitive
    shown = []
    for key, value in params.items():
        if key in sensitive:
            continue
        if key == "mapping" and isinstance(value, dict):
            value = f"{value.get('operation')} into {value.get('table')} ({len(value.get('map-columns') or {})} columns)"
        elif SECRET_REF.search(_flatten(stored.get(key))):
            value = stored[key]
        elif hasattr(value, "total_seconds"):
            value = format_duration(value)
        shown.append(f"{key}={_summary_value(value)}")
    secrets = f", secrets: {', '.join(sorted(config.secrets))}" if config.secrets else ""
    # A secret value also written as a parameter (a client id that is the password) is not shown.
    return Redactor(config.secret_values().values())(
        f"{config.origin}: connector {config.name} ({config.type} {config.direction}, version "
        f"{config.version}) {'<- reads' if config.direction == 'sink' else '->'} topic {config.topic}"
        f"{' (create_topic)' if config.create_topic else ''}; parameters: {', '.join(shown) or 'defaults'}{secrets}"
    )


def _summary_value(value: Any) -> str:
    if isinstance(value, list):
        items = [_summary_value(item) for item in value[:3]]
        more = f", ... ({len(value)} in all)" if len(value) > 3 else ""
        return f"[{', '.join(items)}{more}]"
    text = str(value)
    return text if len(text) <= 60 else text[:60] + "..."
