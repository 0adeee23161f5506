"""The connector config: one pydantic model, two YAML formats.

``load_config`` accepts the seed's format (``version, name, type, direction, topic,
create_topic, parameters, secrets, producer``) and the Connector Development Kit format
(``apiVersion``, ``meta``, a section named after the connector, ``${{ secrets.NAME }}``).
Every problem becomes one ``ConfigError`` naming the source, the field path and what is expected.

Secrets are a separate field of ``SecretStr`` values; ``document()`` (what is written to disk, to a
ConfigMap or to XCom) names secrets but never holds their values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError

from fluvio_connectors.catalog import ConnectorType, Parameters, get_type, is_secret_name, kebab, suggest
from fluvio_connectors.durations import format_duration, parse_duration
from fluvio_connectors.errors import ConfigError

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
TOPIC_NAME = re.compile(r"^[a-z0-9][-a-z0-9]*$")
SECRET_REF = re.compile(r"\$\{\{\s*secrets\.([A-Za-z0-9_]+)\s*\}\}")
CDK_API_VERSIONS = ("0.1.0", "0.2.0")

_TOP_LEVEL = ("version", "name", "type", "direction", "topic", "create-topic", "parameters", "secrets",
              "producer")
_CDK_META = ("version", "name", "type", "topic", "create-topic", "direction", "producer", "secrets")
_PRODUCER = ("linger", "batch-size", "compression")
COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")


class ProducerSettings(BaseModel):
    """How records are batched on their way to the topic."""

    model_config = ConfigDict(frozen=True)
    linger_ms: float = Field(default=0.0, ge=0)
    batch_size: int | None = Field(default=None, ge=1)
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
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    origin: str = "<dict>"

    # The parameters as written (kebab keys), with ${{ secrets.X }} references kept unresolved.
    _stored_parameters: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def connector_type(self) -> ConnectorType:
        return get_type(self.type)

    def image(self, registry: str | None = None) -> str:
        return self.connector_type.image(registry, self.version)

    def secret_values(self) -> dict[str, str]:
        """Secret name to value: for the connector process environment or a Kubernetes Secret."""
        return {name: value.get_secret_value() for name, value in self.secrets.items()}

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

    ``source`` is a path to a YAML file, a YAML string or a dict. ``secrets`` is the secret store
    (``NAME -> value``) that ``${{ secrets.NAME }}`` references and declared secrets resolve from;
    pass ``os.environ`` (the default when None) or the parsed ``--secrets`` file.
    """
    store: Mapping[str, str] = os.environ if secrets is None else secrets
    origin, data = _read(source)
    return _Loader(origin, store).load(data)


def read_secrets_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Parse a ``NAME=VALUE`` secrets file (blank lines and ``#`` comments allowed)."""
    origin = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{origin}: cannot read secrets file ({_os_reason(exc)})") from None
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, value = stripped.partition("=")
        name = name.strip()
        if not sep or not is_secret_name(name):
            raise ConfigError(f"{origin}:{number}: expected NAME=VALUE with NAME made of letters, digits, _")
        out[name] = value.strip()
    return out


def _read(source: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[str, Any]:
    if isinstance(source, Mapping):
        return "<dict>", dict(source)
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and "\n" not in source and _looks_like_path(source)
    ):
        path = Path(source)
        origin = str(path)
        if path.is_dir():
            raise ConfigError(f"{origin}: is a directory; expected a YAML config file")
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"{origin}: file not found; expected a YAML config file") from None
        except OSError as exc:
            raise ConfigError(f"{origin}: cannot read ({_os_reason(exc)})") from None
        if b"\x00" in raw:
            raise ConfigError(f"{origin}: binary data; expected a YAML config file")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{origin}: not UTF-8 text; expected a YAML config file") from None
        return origin, _parse_yaml(origin, text)
    if isinstance(source, str):
        return "<string>", _parse_yaml("<string>", source)
    raise ConfigError(f"config must be a file path, a YAML string or a dict, got {type(source).__name__}")


def _looks_like_path(text: str) -> bool:
    stripped = text.strip()
    if not stripped:
        return False
    if stripped.endswith((".yaml", ".yml")) or Path(stripped).exists():
        return True
    return ":" not in stripped and not stripped.startswith(("{", "[", "-"))


def _parse_yaml(origin: str, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{origin}: not valid YAML{where}: {problem}") from None


def _os_reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or exc.__class__.__name__


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number"}.get(type(value), type(value).__name__)


class _Loader:
    def __init__(self, origin: str, store: Mapping[str, str]) -> None:
        self.origin = origin
        self.store = store

    def error(self, path: str, problem: str) -> ConfigError:
        where = f"{self.origin}: {path}: " if path else f"{self.origin}: "
        return ConfigError(where + problem)

    # ---- format dispatch

    def load(self, data: Any) -> ConnectorConfig:
        if data is None or data == "":
            raise self.error("", "the config is empty; expected a mapping with name, type, topic, parameters")
        if not isinstance(data, dict):
            raise self.error(
                "", f"expected a mapping (name: ..., type: ..., topic: ...), got {_type_name(data)}"
            )
        keys = {kebab(str(k)) for k in data}
        if "meta" in keys or "apiversion" in {k.lower() for k in keys}:
            data = self._from_cdk(data)
        return self._from_seed(data)

    def _normalize(self, data: dict[Any, Any], path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for raw_key, value in data.items():
            key = kebab(str(raw_key))
            where = f"{path}.{raw_key}" if path else str(raw_key)
            if key in out:
                raise self.error(where, "given twice (_ and - in keys are the same key)")
            if allowed and key not in allowed:
                raise self.error(
                    where, f"unknown key{suggest(key, allowed)} (expected one of: {', '.join(allowed)})"
                )
            out[key] = value
        return out

    def _from_cdk(self, data: dict[Any, Any]) -> dict[str, Any]:
        api = next((v for k, v in data.items() if str(k) == "apiVersion"), None)
        if api is not None and str(api) not in CDK_API_VERSIONS:
            raise self.error("apiVersion", f"unsupported {api!r}; expected one of {', '.join(CDK_API_VERSIONS)}")
        meta = data.get("meta")
        if not isinstance(meta, dict):
            raise self.error("meta", f"expected a mapping with name, type, version, topic, got {_type_name(meta)}")
        meta = self._normalize(meta, "meta", _CDK_META)
        ctype = self._type(meta.get("type"), "meta.type")
        section_keys = [str(k) for k in data if str(k) not in ("apiVersion", "meta", "transforms")]
        if "transforms" in data:
            raise self.error("transforms", "SmartModule transforms are not supported by these connectors")
        params: dict[str, Any] = {}
        for key in section_keys:
            if key not in (ctype.cdk_section, ctype.name, *ctype.aliases):
                raise self.error(
                    key, f"unknown section{suggest(key, [ctype.cdk_section])}; "
                    f"expected apiVersion, meta and {ctype.cdk_section}"
                )
            section = data[key]
            if section is None:
                continue
            if not isinstance(section, dict):
                raise self.error(key, f"expected a mapping of parameters, got {_type_name(section)}")
            for pkey, value in section.items():
                name = ctype.cdk_keys.get(str(pkey), str(pkey))
                params[name] = self._unwrap_secret(value, f"{key}.{pkey}")
        topic = meta.get("topic")
        if isinstance(topic, dict):  # apiVersion 0.2.0: a topic config object
            topic = (topic.get("meta") or {}).get("name")
        secret_names = meta.get("secrets")
        seed: dict[str, Any] = {
            "version": meta.get("version"),
            "name": meta.get("name"),
            "type": meta.get("type"),
            "topic": topic,
            "parameters": params,
        }
        for key in ("create-topic", "direction", "producer"):
            if key in meta:
                seed[key] = meta[key]
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
        for required in ("name", "type", "topic"):
            if doc.get(required) in (None, ""):
                raise self.error(required, f"missing; expected {_EXPECTED[required]}")
        name = self._label(doc["name"], "name")
        ctype = self._type(doc["type"], "type")
        topic = self._topic(doc["topic"], "topic")
        version = doc.get("version", "latest")
        if version is None or isinstance(version, dict | list | bool):
            raise self.error("version", f"expected a version string such as latest, dev or 0.1.0, got {_type_name(version)}")
        version = str(version)
        direction = doc.get("direction", ctype.direction)
        if direction not in ("source", "sink"):
            raise self.error("direction", f"expected source or sink, got {direction!r}")
        if direction != ctype.direction:
            raise self.error("direction", f"{ctype.name} is a {ctype.direction} connector; got {direction!r}")
        create_topic = doc.get("create-topic", False)
        if create_topic is None:
            create_topic = False
        if not isinstance(create_topic, bool):
            raise self.error("create_topic", f"expected true or false, got {create_topic!r}")
        producer = self._producer(doc.get("producer"))

        inline_secrets, declared = self._secrets_section(doc.get("secrets"))
        raw_params = doc.get("parameters")
        if raw_params is None:
            raw_params = {}
        if not isinstance(raw_params, dict):
            raise self.error("parameters", f"expected a mapping of parameters, got {_type_name(raw_params)}")
        stored = self._normalize(raw_params, "parameters", tuple(ctype.parameter_names))
        moved: dict[str, str] = {}
        if ctype.extract_secrets:
            stored, moved = ctype.extract_secrets(stored)

        secrets = self._collect_secrets(ctype, stored, inline_secrets, declared, moved)
        resolved = {k: self._resolve(v, secrets, f"parameters.{k}") for k, v in stored.items()}
        params = self._parameters(ctype, resolved)
        for key, value in params.legacy_topics().items():
            if value != topic:
                raise self.error(f"parameters.{key}", f"{value!r} differs from topic {topic!r}; it must equal the topic")
        self._check_required(ctype, params, secrets)

        config = ConnectorConfig(
            version=version,
            name=name,
            type=ctype.name,
            direction=direction,
            topic=topic,
            create_topic=create_topic,
            parameters=params,
            producer=producer,
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
        if len(value) > 63 or not DNS_LABEL.match(value):
            raise self.error(
                path, f"{value!r} is not a valid name; expected a DNS-1123 label: lowercase letters, "
                "digits and '-', starting and ending with a letter or digit, at most 63 characters"
            )
        return value

    def _topic(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise self.error(path, f"expected a topic name, got {_type_name(value)}")
        if len(value) > 63 or not TOPIC_NAME.match(value):
            raise self.error(
                path, f"{value!r} is not a valid Fluvio topic name; expected lowercase letters, digits "
                "and '-' (not first), at most 63 characters"
            )
        return value

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
                raise self.error("producer.linger", str(exc)) from None
        if "batch-size" in doc:
            out["batch_size"] = self._bytes(doc["batch-size"], "producer.batch-size")
        if "compression" in doc:
            if doc["compression"] not in COMPRESSIONS:
                raise self.error("producer.compression", f"expected one of {', '.join(COMPRESSIONS)}, got {doc['compression']!r}")
            out["compression"] = doc["compression"]
        return ProducerSettings(**out)

    def _bytes(self, value: Any, path: str) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*", str(value).lower())
        if not match:
            raise self.error(path, f"expected a size such as 16384, 64kb or 1mb, got {value!r}")
        unit = (match.group(2) or "b").replace("i", "")
        factor = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3}[unit]
        return max(1, int(float(match.group(1)) * factor))

    def _secrets_section(self, value: Any) -> tuple[dict[str, str], list[str]]:
        """Seed format: a ``NAME: value`` mapping. Stored/CDK form: a list of names."""
        if value is None:
            return {}, []
        if isinstance(value, dict):
            inline: dict[str, str] = {}
            for key, val in value.items():
                if not is_secret_name(str(key)):
                    raise self.error(f"secrets.{key}", "expected a secret name of letters, digits and _")
                if isinstance(val, dict | list) or val is None:
                    raise self.error(f"secrets.{key}", f"expected a string value, got {_type_name(val)}")
                inline[str(key)] = str(val)
            return inline, []
        if isinstance(value, list):
            names = []
            for i, item in enumerate(value):
                if not isinstance(item, str) or not is_secret_name(item):
                    raise self.error(f"secrets[{i}]", f"expected a secret name of letters, digits and _, got {item!r}")
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
        return secrets

    def _resolve(self, value: Any, secrets: Mapping[str, str], path: str) -> Any:
        if isinstance(value, str):
            return SECRET_REF.sub(lambda m: secrets[m.group(1)], value)
        if isinstance(value, list):
            return [self._resolve(v, secrets, path) for v in value]
        if isinstance(value, dict):
            return {k: self._resolve(v, secrets, path) for k, v in value.items()}
        return value

    def _parameters(self, ctype: ConnectorType, params: dict[str, Any]) -> Parameters:
        try:
            return ctype.parameters.model_validate(params)
        except ValidationError as exc:
            raise self.error("", _describe_errors(exc, ctype)) from None

    def _check_required(self, ctype: ConnectorType, params: Parameters, secrets: Mapping[str, str]) -> None:
        if ctype.name == "mqtt" and getattr(params, "mqtt_url", None) is None and "MQTT_URL" not in secrets:
            raise self.error("parameters.mqtt-url", "missing; expected the broker URL (or the secret MQTT_URL)")


def _flatten(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(_flatten(v) for v in value.values())
    if isinstance(value, list):
        return " ".join(_flatten(v) for v in value)
    return value if isinstance(value, str) else ""


def _describe_errors(exc: ValidationError, ctype: ConnectorType) -> str:
    problems = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        path = "parameters." + ".".join(kebab(p) for p in loc) if loc else "parameters"
        kind = err["type"]
        if kind == "missing":
            field = ctype.parameters.model_fields.get(loc[0].replace("-", "_")) if loc else None
            desc = field.description if field and field.description else "a value"
            problems.append(f"{path}: missing; expected {desc[0].lower() + desc[1:]}")
        elif kind == "extra_forbidden":
            key = kebab(loc[-1]) if loc else "?"
            problems.append(
                f"{path}: unknown parameter for type {ctype.name}{suggest(key, ctype.parameter_names)} "
                f"(expected one of: {', '.join(ctype.parameter_names)})"
            )
        else:
            message = str(err["msg"])
            if message.startswith("Value error, "):
                message = message[len("Value error, "):]
            got = err.get("input")
            shown = "" if isinstance(got, dict | list) or "got" in message else f", got {got!r}"
            problems.append(f"{path}: {message}{shown}")
    return "; ".join(problems)


_EXPECTED = {
    "name": "a connector name (a DNS-1123 label, e.g. my-test-connector)",
    "type": "a connector type from the catalog (test-connector or mqtt)",
    "topic": "the Fluvio topic to produce to",
}


def config_summary(config: ConnectorConfig) -> str:
    """One line saying what was loaded; never includes secret values."""
    params = config.parameters.model_dump(by_alias=True, exclude_none=True)
    shown = []
    for key, value in params.items():
        if key == "mqtt-url":
            continue
        if hasattr(value, "total_seconds"):
            value = format_duration(value)
        shown.append(f"{key}={value}")
    secrets = f", secrets: {', '.join(sorted(config.secrets))}" if config.secrets else ""
    return (
        f"{config.origin}: connector {config.name} ({config.type} {config.direction}, version "
        f"{config.version}) -> topic {config.topic}"
        f"{' (create_topic)' if config.create_topic else ''}; parameters: {', '.join(shown) or 'defaults'}{secrets}"
    )
