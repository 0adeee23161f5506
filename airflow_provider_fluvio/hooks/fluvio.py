"""``FluvioHook``: where topics live and where connectors run, read from an Airflow connection.

The ``fluvio`` connection (default id ``fluvio_default``) has these fields; an explicit hook
argument of the same name beats the connection, the connection beats the worker's environment:

``host`` / ``port``     the Fluvio SC (``port`` defaults to 9003). Empty: the embedded topic log
                        under ``state_dir`` (or the worker's Fluvio profile with ``use_fluvio_profile``).
``runtime``             ``local`` (connector processes on the worker, default) or ``kubernetes``.
``state_dir``           ``FLUVIO_CONNECTORS_HOME`` for this connection (embedded log, local connectors).
``use_fluvio_profile``  with no host, use ``~/.fluvio/config`` for topics.
``namespace``, ``kube_config_path``, ``kube_config``, ``cluster_context``, ``in_cluster``
                        where the Kubernetes runtime creates Deployments (as Airflow's KubernetesHook;
                        ``kube_config`` is the kubeconfig itself, a secret; at most one of
                        ``in_cluster``, ``kube_config_path``, ``kube_config``).
``image_registry``      registry prefix of the connector images (Kubernetes runtime).
``image_tag``           when set, every connector of this connection runs this image tag instead of
                        its config's ``version`` (Kubernetes runtime).
``host_network``        run the connector pods on their node's network (Kubernetes runtime), for a
                        Fluvio cluster or source that only the nodes reach (e.g. on their loopback).

With no connection at all under the default id, the hook uses the worker's environment
(``FLUVIO_CONNECTORS_HOME``, ``FLUVIO_ENDPOINT``, ``FLUVIO_CONNECTORS_RUNTIME``), which by default
means the embedded log and local processes, so the example DAGs run on a fresh Airflow.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook

from airflow_provider_fluvio import DEFAULT_CONN_ID
from airflow_provider_fluvio.pending import pending_too_long
from airflow_provider_fluvio.statuses import STATUSES as STATUSES  # re-exported
from airflow_provider_fluvio.statuses import normalize_status
from fluvio_connectors.errors import ConfigError, ConnectorNotFoundError, TopicNotFoundError
from fluvio_connectors.names import check_connector_name

if TYPE_CHECKING:
    from airflow_provider_fluvio.runtimes.base import ConnectorInfo, ConnectorRuntime
    from fluvio_connectors.config import ConnectorConfig
    from fluvio_connectors.settings import Settings
    from fluvio_connectors.topics import Record, Topics

ConfigSource = str | os.PathLike[str] | Mapping[str, Any]

DEFAULT_SC_PORT = 9003
RUNTIME_KINDS = ("local", "kubernetes")
# test_connection runs in the API server (the UI's Test button): never let it hang there.
TEST_CONNECTION_TIMEOUT = 30.0

_FIELDS = (
    "host",
    "port",
    "runtime",
    "state_dir",
    "use_fluvio_profile",
    "namespace",
    "kube_config_path",
    "kube_config",
    "cluster_context",
    "in_cluster",
    "image_registry",
    "image_tag",
    "host_network",
)
_BOOL_FIELDS = ("use_fluvio_profile", "in_cluster", "host_network")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


# NamedTuples, not dataclasses: a frozen dataclass costs about 0.6 ms to define, and this module is
# imported by DAG files that use the hook directly.
class ConnectionFields(NamedTuple):
    """The parts of an Airflow connection the hook reads (resolved once, sync or async)."""

    conn_id: str | None
    host: str | None = None
    port: int | None = None
    extra: Mapping[str, Any] = MappingProxyType({})


class StatusCheck(NamedTuple):
    """One look at a connector, judged against the status a task waits for."""

    outcome: Literal["reached", "waiting", "failed"]
    message: str
    info: ConnectorInfo | None = None

    def xcom(self) -> dict[str, Any]:
        return self.info.to_dict() if self.info else {}


def mask_secrets(values: Iterable[str | None]) -> None:
    """Register every value with Airflow's secrets masker (task logs, rendered fields)."""
    from airflow.providers.common.compat.sdk import mask_secret

    for value in values:
        if value:
            mask_secret(value)


class FluvioHook(BaseHook):
    """Create, watch and delete Fluvio connectors; manage and read topics.

    :param fluvio_conn_id: The ``fluvio`` connection to use. With the default id and no such
        connection, the worker's environment (by default: embedded log, local runtime). ``None``
        reads no connection at all.
    :param host: Fluvio SC host (overrides the connection); ``host:port`` is accepted.
    :param port: Fluvio SC port (default 9003).
    :param runtime: ``local`` or ``kubernetes``.
    :param state_dir: State directory (``FLUVIO_CONNECTORS_HOME``) for this connection.
    :param use_fluvio_profile: With no host, use the worker's Fluvio profile for topics.
    :param namespace: Kubernetes namespace for connector Deployments.
    :param kube_config_path: Path to a kubeconfig file.
    :param kube_config: The kubeconfig itself (YAML or JSON text), instead of a path.
    :param cluster_context: Kubeconfig context.
    :param in_cluster: Use the in-cluster service account (excludes ``kube_config_path``).
    :param image_registry: Registry prefix of the connector images.
    :param image_tag: Image tag every connector runs instead of its config's ``version``
        (Kubernetes runtime).
    :param host_network: Run the connector pods on their node's network (Kubernetes runtime).
    """

    conn_name_attr = "fluvio_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "fluvio"
    hook_name = "Fluvio"

    def __init__(
        self,
        fluvio_conn_id: str | None = default_conn_name,
        *,
        host: str | None = None,
        port: int | str | None = None,
        runtime: str | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        use_fluvio_profile: bool | str | None = None,
        namespace: str | None = None,
        kube_config_path: str | None = None,
        kube_config: str | None = None,
        cluster_context: str | None = None,
        in_cluster: bool | str | None = None,
        image_registry: str | None = None,
        image_tag: str | None = None,
        host_network: bool | str | None = None,
        logger_name: str | None = None,
    ) -> None:
        super().__init__(logger_name=logger_name)
        self.fluvio_conn_id = fluvio_conn_id
        given = {
            "host": host,
            "port": port,
            "runtime": runtime,
            "state_dir": os.fspath(state_dir) if state_dir is not None else None,
            "use_fluvio_profile": use_fluvio_profile,
            "namespace": namespace,
            "kube_config_path": kube_config_path,
            "kube_config": kube_config,
            "cluster_context": cluster_context,
            "in_cluster": in_cluster,
            "image_registry": image_registry,
            "image_tag": image_tag,
            "host_network": host_network,
        }
        # Primitives only: a trigger serializes these to rebuild the same hook in the triggerer.
        self.hook_params: dict[str, Any] = {k: v for k, v in given.items() if v is not None and v != ""}
        self._fields: ConnectionFields | None = None

    # ------------------------------------------------------------------ connection

    def _fields_from(self, conn: Any, extra: Mapping[str, Any]) -> ConnectionFields:
        return ConnectionFields(
            conn_id=self.fluvio_conn_id,
            host=conn.host or None,
            port=conn.port or None,
            extra=dict(extra),
        )

    def _missing_is_default(self, exc: AirflowNotFoundException) -> ConnectionFields:
        # Only the default id may be absent (fresh Airflow); a misspelt id must fail loudly.
        if self.fluvio_conn_id != self.default_conn_name:
            raise exc
        self.log.info("No %s connection defined; using the worker's environment.", self.fluvio_conn_id)
        return ConnectionFields(conn_id=None)

    @property
    def connection_fields(self) -> ConnectionFields:
        """The connection's host, port and extras (read once; empty when there is none)."""
        if self._fields is None:
            if self.fluvio_conn_id is None:
                self._fields = ConnectionFields(conn_id=None)
            else:
                try:
                    conn = self.get_connection(self.fluvio_conn_id)
                    self._fields = self._fields_from(conn, conn.extra_dejson)
                except AirflowNotFoundException as exc:
                    self._fields = self._missing_is_default(exc)
        return self._fields

    async def aload_connection(self) -> ConnectionFields:
        """Resolve the connection without blocking the event loop (for triggers)."""
        if self._fields is None:
            if self.fluvio_conn_id is None:
                self._fields = ConnectionFields(conn_id=None)
            else:
                from airflow.providers.common.compat.connection import (
                    get_async_connection,
                    get_async_extra_dejson,
                )

                try:
                    conn = await get_async_connection(self.fluvio_conn_id, hook=type(self))
                    self._fields = self._fields_from(conn, await get_async_extra_dejson(conn))
                except AirflowNotFoundException as exc:
                    self._fields = self._missing_is_default(exc)
        return self._fields

    def _get_field(self, name: str) -> Any:
        """Hook argument, else the connection (extra under its bare or prefixed name), else None."""
        if name in self.hook_params:
            return self.hook_params[name]
        fields = self.connection_fields
        if name == "host":
            return fields.host
        if name == "port":
            return fields.port
        value = fields.extra.get(name)
        if value is None:
            value = fields.extra.get(f"extra__fluvio__{name}")
        return None if value == "" else value

    def _get_bool(self, name: str) -> bool | None:
        value = self._get_field(name)
        if value is None or isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigError(f"{self._where()}: {name} must be true or false, got {value!r}")

    def _where(self) -> str:
        return f"connection {self.fluvio_conn_id}" if self.connection_fields.conn_id else "fluvio hook"

    # ------------------------------------------------------------------ settings and runtime

    def _endpoint(self) -> str | None:
        host = self._get_field("host")
        if not host:
            return None
        host = str(host).strip()
        if "://" in host:
            host = host.split("://", 1)[1]
        port = self._get_field("port")
        if port is not None:
            try:
                number = int(port)
            except (TypeError, ValueError):
                raise ConfigError(f"{self._where()}: port must be a number, got {port!r}") from None
            if not 0 < number < 65536:
                raise ConfigError(f"{self._where()}: port must be between 1 and 65535, got {number}")
            return f"{host.rsplit(':', 1)[0] if _has_port(host) else host}:{number}"
        return host if _has_port(host) else f"{host}:{DEFAULT_SC_PORT}"

    @cached_property
    def settings(self) -> Settings:
        """Where topics live and connector state is kept, for this connection."""
        from fluvio_connectors.settings import Settings

        base = Settings.from_env()
        changes: dict[str, Any] = {}
        uses_connection = self.connection_fields.conn_id is not None
        if uses_connection or "host" in self.hook_params or "use_fluvio_profile" in self.hook_params:
            endpoint = self._endpoint()
            changes["fluvio_endpoint"] = endpoint
            changes["use_fluvio_profile"] = bool(not endpoint and self._get_bool("use_fluvio_profile"))
        state_dir = self._get_field("state_dir")
        if state_dir:
            changes["home"] = Path(str(state_dir)).expanduser()
        runtime = self._get_field("runtime")
        if runtime:
            kind = str(runtime).strip().lower()
            if kind == "k8s":
                kind = "kubernetes"
            if kind not in RUNTIME_KINDS:
                raise ConfigError(
                    f"{self._where()}: unknown runtime {runtime!r}; "
                    f"expected one of: {', '.join(RUNTIME_KINDS)}"
                )
            changes["runtime"] = kind
        return base.with_(**changes) if changes else base

    def runtime_options(self) -> dict[str, Any]:
        """Keyword arguments for the runtime adapter (only Kubernetes takes any)."""
        if self.settings.runtime != "kubernetes":
            return {}
        in_cluster = self._get_bool("in_cluster")
        kube_config_path = self._get_field("kube_config_path")
        kube_config = self._get_field("kube_config")
        sources = [
            name
            for name, value in (
                ("in_cluster", in_cluster),
                ("kube_config_path", kube_config_path),
                ("kube_config", kube_config),
            )
            if value
        ]
        if len(sources) > 1:
            raise ConfigError(
                f"{self._where()}: {' and '.join(sources)} exclude each other; set only one of "
                "in_cluster, kube_config_path, kube_config"
            )
        if isinstance(kube_config, str):
            mask_secrets([kube_config])
        options = {
            "namespace": self._get_field("namespace"),
            "kube_config_path": kube_config_path,
            "kube_config": kube_config,
            "cluster_context": self._get_field("cluster_context"),
            "in_cluster": in_cluster,
            "registry": self._get_field("image_registry"),
            "image_tag": self._get_field("image_tag"),
            "host_network": self._get_bool("host_network") or None,
        }
        return {k: v for k, v in options.items() if v is not None}

    @cached_property
    def runtime(self) -> ConnectorRuntime:
        """The connector runtime this connection names (built on first use)."""
        from airflow_provider_fluvio.runtimes import get_runtime

        return get_runtime(self.settings.runtime, self.settings, **self.runtime_options())

    def get_conn(self) -> ConnectorRuntime:
        """The connector runtime (Airflow's generic accessor)."""
        return self.runtime

    @contextmanager
    def topics(self) -> Iterator[Topics]:
        """The topics backend, closed on exit."""
        from fluvio_connectors.topics import open_topics

        backend = open_topics(self.settings)
        try:
            yield backend
        finally:
            backend.close()

    def describe(self) -> str:
        """Where topics live and connectors run, in words (no secrets)."""
        settings = self.settings
        if settings.fluvio_endpoint:
            topics = f"Fluvio cluster at {settings.fluvio_endpoint}"
        elif settings.use_fluvio_profile:
            topics = "Fluvio cluster of the worker's profile"
        else:
            topics = f"embedded log at {settings.log_path}"
        return f"topics: {topics}; connectors: {settings.runtime} runtime"

    # ------------------------------------------------------------------ connectors

    def load_config(self, config: ConfigSource, secrets: Mapping[str, str] | None = None) -> ConnectorConfig:
        """Validate ``config`` (path, YAML string or dict) and resolve its secrets from
        ``secrets`` first, then the worker's environment. Every secret value is masked, except the
        address in ``MQTT_URL`` (only a password in it is)."""
        from fluvio_connectors.catalog import secret_parts_to_hide
        from fluvio_connectors.config import load_config

        given = dict(secrets or {})
        mask_secrets(part for name, value in given.items() for part in secret_parts_to_hide(name, value))
        loaded = load_config(config, secrets={**os.environ, **given})
        mask_secrets(loaded.values_to_hide())
        return loaded

    def create_connector(
        self, config: ConfigSource | ConnectorConfig, *, secrets: Mapping[str, str] | None = None,
        replicas: int = 1,
    ) -> ConnectorInfo:
        """Create a connector from a config (path, YAML string, dict or loaded config), as
        ``replicas`` instances splitting its source (``fluvio_connectors.replicas``).
        ``ConfigError``, ``ConnectorExistsError`` or ``TopicMissingError`` and nothing created."""
        from fluvio_connectors.config import ConnectorConfig

        loaded = config if isinstance(config, ConnectorConfig) else self.load_config(config, secrets)
        info = self.runtime.create(loaded, replicas=replicas)
        from airflow_provider_fluvio.assets.lineage import connector_source_uris, report

        report(self, inputs=connector_source_uris(loaded), outputs=[self.topic_asset_uri(loaded.topic)])
        return info

    def delete_connector(self, name: str, *, ignore_missing: bool = False) -> bool:
        """Stop and remove a connector (its topic and records stay). Returns False when it did
        not exist and ``ignore_missing`` is set; ``ConnectorNotFoundError`` otherwise. A name that
        is not a valid connector name is a ``ConfigError``, whatever ``ignore_missing`` says."""
        check_connector_name(name)
        try:
            self.runtime.delete(name)
        except ConnectorNotFoundError:
            if ignore_missing:
                return False
            raise
        return True

    def list_connectors(self) -> list[ConnectorInfo]:
        """Every connector of this runtime, sorted by name."""
        return self.runtime.list()

    def connector_status(self, name: str) -> ConnectorInfo:
        """``ConnectorNotFoundError`` if there is no such connector."""
        return self.runtime.status(check_connector_name(name))

    def connector_logs(self, name: str, tail: int | None = 100, replica: str | None = None) -> list[str]:
        """The last ``tail`` lines of the connector's log (all with None); with several replicas,
        all of theirs in time order, or only ``replica``'s."""
        return self.runtime.logs(check_connector_name(name), tail, replica)

    def check_connector(
        self,
        name: str,
        target_status: str = "Running",
        *,
        fail_on_failed: bool = True,
        fail_on_missing: bool = True,
        log_tail: int = 20,
        pending_timeout: float | None = None,
    ) -> StatusCheck:
        """Look at ``name`` once and judge it: ``reached`` the target, ``waiting``, or ``failed``
        (Failed or missing, when those fail; Pending without a break for ``pending_timeout``
        seconds or more, when it is set; the message then ends with the last log lines).
        A finished connector (Stopped) has reached ``Running``: it ran and is done.
        ``ConfigError`` for a name that is not a valid connector name."""
        check_connector_name(name)
        target = normalize_status(target_status)
        try:
            info = self.connector_status(name)
        except ConnectorNotFoundError as exc:
            if fail_on_missing:
                return StatusCheck("failed", f"{exc}; it was never created or has been deleted")
            return StatusCheck("waiting", f"connector {name} does not exist (yet)")
        status = info.status.value
        if status == target or (target == "Running" and status == "Stopped"):
            note = " (it ran and finished on its own)" if status != target else ""
            return StatusCheck("reached", f"connector {name} is {status}{note}", info)
        if status == "Failed" and fail_on_failed:
            message = f"connector {name} is Failed: {info.reason or 'no reason reported'}"
            return StatusCheck("failed", self._with_log_tail(message, name, log_tail), info)
        too_long = pending_too_long(info, pending_timeout) if target != "Pending" else None
        if too_long:
            message = f"{too_long}; it keeps retrying until deleted"
            return StatusCheck("failed", self._with_log_tail(message, name, log_tail), info)
        reason = f" ({info.reason})" if info.reason else ""
        return StatusCheck("waiting", f"connector {name} is {status}{reason}; waiting for {target}", info)

    def _with_log_tail(self, message: str, name: str, tail: int) -> str:
        lines = self._log_tail(name, tail)
        if not lines:
            return message
        shown = "\n".join(f"  {line}" for line in lines)
        count = "the last log line" if len(lines) == 1 else f"last {len(lines)} log lines"
        return f"{message}\n{count} of {name}:\n{shown}"

    def _log_tail(self, name: str, tail: int) -> list[str]:
        if tail <= 0:
            return []
        try:
            return [line.rstrip("\n") for line in self.connector_logs(name, tail)]
        except Exception as exc:  # the failure message matters more than its decoration
            return [f"(log unavailable: {exc})"]

    # ------------------------------------------------------------------ topics and records

    def create_topic(self, name: str, partitions: int = 1) -> bool:
        """Create a topic; False (no error) if it already exists."""
        with self.topics() as topics:
            return topics.create_topic(name, partitions)

    def delete_topic(self, name: str) -> None:
        """Delete a topic and its records; ``TopicNotFoundError`` if it does not exist."""
        with self.topics() as topics:
            topics.delete_topic(name)

    def list_topics(self) -> list[str]:
        with self.topics() as topics:
            return topics.list_topics()

    def topic_exists(self, name: str) -> bool:
        with self.topics() as topics:
            return topics.topic_exists(name)

    def produce(
        self,
        topic: str,
        records: Iterable[Any],
        *,
        create_topic: bool = False,
    ) -> int:
        """Store ``records`` in ``topic``: values (str, bytes, or anything JSON), ``(key, value)``
        pairs or ``{"key", "value"}`` dicts, flushed on return.
        Returns how many. ``TopicNotFoundError`` if the topic is missing and not ``create_topic``."""
        batch = [_as_pair(record) for record in records]
        with self.topics() as topics:
            if create_topic:
                topics.create_topic(topic)
            producer = topics.producer(topic)
            try:
                producer.send_many(batch)
                producer.flush()
            finally:
                producer.close()
        self._report_topic(outputs=[topic])
        return len(batch)

    def read_records(self, topic: str, offset: int = 0, max_records: int | None = None) -> list[Record]:
        """Records of ``topic`` from ``offset`` up to the current end (at most ``max_records``)."""
        with self.topics() as topics:
            records = topics.read(topic, offset, max_records=max_records)
        self._report_topic(inputs=[topic])
        return records

    def end_offset(self, topic: str) -> int:
        """The offset the next record of ``topic`` will get."""
        with self.topics() as topics:
            return topics.end_offset(topic)

    def wait_for_records(
        self,
        topic: str,
        count: int,
        *,
        offset: int = 0,
        timeout: float = 60.0,
        poll_interval: float = 0.2,
    ) -> list[Record]:
        """The first ``count`` records from ``offset``, waiting up to ``timeout`` seconds for them
        to arrive (also for the topic to appear). Fewer when the timeout passes."""
        deadline = time.monotonic() + max(0.0, timeout)
        records: list[Record] = []
        missing: TopicNotFoundError | None = None
        with self.topics() as topics:
            while True:
                try:
                    # Offsets need not be consecutive: go on after the last record, count records.
                    start = records[-1].offset + 1 if records else offset
                    records += topics.read(topic, start, max_records=count - len(records))
                    missing = None
                except TopicNotFoundError as exc:
                    missing = exc
                if len(records) >= count or time.monotonic() >= deadline:
                    break
                time.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))
        if missing is not None:
            raise missing
        self._report_topic(inputs=[topic])
        return records

    # ------------------------------------------------------------------ named consumers

    def consumer_position(self, topic: str, consumer: str) -> int | None:
        """``consumer``'s committed position on ``topic`` (the offset it reads next), None before
        its first commit. See topics/consumers.py."""
        with self.topics() as topics:
            return topics.consumer_position(consumer, topic)

    def commit_consumer(self, topic: str, consumer: str, position: int) -> None:
        """Make ``position`` (``record.offset + 1`` of the last record handled) ``consumer``'s position."""
        with self.topics() as topics:
            topics.commit(consumer, topic, position)

    # ------------------------------------------------------------------ lineage

    def topic_asset_uri(self, topic: str) -> str | None:
        """The asset URI of ``topic`` where this connection keeps topics (``assets/fluvio.py``)."""
        from airflow_provider_fluvio.assets.lineage import settings_topic_uri

        try:
            return settings_topic_uri(self.settings, topic)
        except ValueError:
            return None

    def _report_topic(self, *, inputs: Iterable[str] = (), outputs: Iterable[str] = ()) -> None:
        from airflow_provider_fluvio.assets.lineage import report

        report(self, inputs=[self.topic_asset_uri(t) for t in inputs], outputs=[self.topic_asset_uri(t) for t in outputs])

    # ------------------------------------------------------------------ Airflow integration

    def test_connection(self) -> tuple[bool, str]:
        """Really connect: list the topics backend and the runtime's connectors (bounded in time)."""
        result: dict[str, Any] = {}

        def probe() -> None:
            try:
                topics = self.list_topics()
                connectors = self.list_connectors()
                result["ok"] = (
                    True,
                    f"Connection successful. {self.describe()}; "
                    f"{len(topics)} topic(s), {len(connectors)} connector(s).",
                )
            except Exception as exc:
                result["ok"] = (False, f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc))

        worker = threading.Thread(target=probe, name="fluvio-test-connection", daemon=True)
        worker.start()
        worker.join(TEST_CONNECTION_TIMEOUT)
        if "ok" not in result:
            return False, f"no answer within {TEST_CONNECTION_TIMEOUT:g} s ({self._safe_describe()})"
        ok, message = result["ok"]
        return ok, message

    def _safe_describe(self) -> str:
        try:
            return self.describe()
        except Exception as exc:
            return str(exc)

    @staticmethod
    def mqtt_secrets_from_connection(conn_id: str) -> dict[str, str]:
        """The MQTT connector's secrets from an ``mqtt`` connection: see ``MqttHook.connector_secrets``."""
        from airflow_provider_fluvio.hooks.mqtt import MqttHook

        return MqttHook(conn_id).connector_secrets()


def _has_port(host: str) -> bool:
    name, sep, port = host.rpartition(":")
    return bool(sep and name and port.isdigit())


def _as_pair(record: Any) -> tuple[bytes | None, bytes]:
    """A value, a ``(key, value)`` pair or ``{"key": ..., "value": ...}``; other objects as JSON."""
    key: Any = None
    if isinstance(record, tuple) and len(record) == 2:
        key, record = record
    elif isinstance(record, dict) and set(record) <= {"key", "value"} and "value" in record:
        key, record = record.get("key"), record["value"]
    return (None if key is None else _as_bytes(key)), _as_bytes(record)


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, separators=(",", ":")).encode("utf-8")
