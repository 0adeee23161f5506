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

The hook is a facade: ``connection.py`` resolves the fields, ``runtimes`` builds the runtime,
``waiting.py`` judges a connector's status, ``topic_session.py`` does the topic operations,
``assets/lineage.py`` reports lineage, ``reachability.py`` is the Test button and
``hooks/mqtt.py`` reads an MQTT connection's secrets, ``hooks/sql.py`` a SQL connection's URL.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook

from airflow_provider_fluvio import DEFAULT_CONN_ID
from airflow_provider_fluvio.connection import DEFAULT_SC_PORT as DEFAULT_SC_PORT  # re-exported
from airflow_provider_fluvio.connection import ConnectionFields, ConnectionResolver, describe
from airflow_provider_fluvio.statuses import STATUSES as STATUSES  # re-exported
from airflow_provider_fluvio.topic_session import TopicSession
from airflow_provider_fluvio.waiting import StatusCheck, WaitParams, check_connector
from fluvio_connectors.errors import ConnectorNotFoundError
from fluvio_connectors.names import check_connector_name

if TYPE_CHECKING:
    from airflow_provider_fluvio.runtimes.base import ConnectorInfo, ConnectorRuntime
    from fluvio_connectors.config import ConnectorConfig
    from fluvio_connectors.settings import Settings
    from fluvio_connectors.topics import Record, Topics

ConfigSource = str | os.PathLike[str] | Mapping[str, Any]

# test_connection runs in the API server (the UI's Test button): never let it hang there.
TEST_CONNECTION_TIMEOUT = 30.0


def mask_secrets(values: Iterable[str | None]) -> None:
    """Register every value with Airflow's secrets masker (task logs, rendered fields)."""
    from airflow.providers.common.compat.sdk import mask_secret

    for value in values:
        if value:
            mask_secret(value)


_SAID_NO_CONNECTION: set[str | None] = set()

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
        self._resolver = ConnectionResolver(self.hook_params, lambda: self.connection_fields)
        self._topics = TopicSession(lambda: self.settings)

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
        if self.fluvio_conn_id not in _SAID_NO_CONNECTION:  # once a process: a sensor asks at every poke
            _SAID_NO_CONNECTION.add(self.fluvio_conn_id)
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

    # ------------------------------------------------------------------ settings and runtime

    @cached_property
    def settings(self) -> Settings:
        """Where topics live and connector state is kept, for this connection."""
        return self._resolver.settings()

    def runtime_options(self) -> dict[str, Any]:
        """Keyword arguments for the runtime adapter (only Kubernetes takes any)."""
        options = self._resolver.runtime_options(self.settings.runtime)
        if isinstance(options.get("kube_config"), str):
            mask_secrets([options["kube_config"]])
        return options

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
        """The topics backend, closed on exit (inside ``session()``: the session's, left open)."""
        with self._topics.backend() as backend:
            yield backend

    def session(self) -> AbstractContextManager[None]:
        """Inside, every topic call of this hook shares one topics backend, opened on first use
        and closed on exit: on a Fluvio cluster one client process (about 0.25 s to start) instead
        of one per call. An operator holds one for its ``execute``."""
        return self._topics.hold()

    def describe(self) -> str:
        """Where topics live and connectors run, in words (no secrets)."""
        return describe(self.settings)

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
        from airflow_provider_fluvio.assets.lineage import connector_lineage, report

        inputs, outputs = connector_lineage(loaded, self.topic_asset_uri(loaded.topic))
        report(self, inputs=inputs, outputs=outputs)
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
        """Look at ``name`` once and judge it (``waiting.py``): ``reached`` the target, ``waiting``,
        or ``failed`` (Failed or missing, when those fail; Pending without a break for
        ``pending_timeout`` seconds or more, when it is set; the message then ends with the last
        log lines). A finished connector (Stopped) has reached ``Running``: it ran and is done.
        ``ConfigError`` for a name that is not a valid connector name."""
        check_connector_name(name)
        wait = WaitParams(target_status, fail_on_failed, fail_on_missing, log_tail, pending_timeout)
        return check_connector(self.connector_status, name, wait, logs=self.connector_logs)

    # ------------------------------------------------------------------ topics and records

    def create_topic(
        self, name: str, partitions: int = 1, *, retention_time: str | int | None = None,
        max_partition_size: str | int | None = None, segment_size: str | int | None = None,
    ) -> bool:
        """Create a topic; False (no error) if it already exists. Retention as Fluvio's CLI
        writes it (``"1h"``, ``"10 MiB"``; see ``fluvio_connectors.topics.retention``)."""
        from fluvio_connectors.topics.retention import Retention

        retention = Retention.parse(retention_time, max_partition_size, segment_size)
        return self._topics.create_topic(name, partitions, retention or None)

    def delete_topic(self, name: str) -> None:
        """Delete a topic and its records; ``TopicNotFoundError`` if it does not exist."""
        self._topics.delete_topic(name)

    def list_topics(self) -> list[str]:
        return self._topics.list_topics()

    def topic_exists(self, name: str) -> bool:
        return self._topics.topic_exists(name)

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
        count = self._topics.produce(topic, records, create_topic=create_topic)
        self._report_topic(outputs=[topic])
        return count

    def read_records(self, topic: str, offset: int = 0, max_records: int | None = None,
                     max_bytes: int | None = None) -> list[Record]:
        """Records of ``topic`` from ``offset`` up to the current end (at most ``max_records``, and
        none more once their keys and values reach ``max_bytes``)."""
        records = self._topics.read_records(topic, offset, max_records, max_bytes)
        self._report_topic(inputs=[topic])
        return records

    def end_offset(self, topic: str) -> int:
        """The offset the next record of ``topic`` will get."""
        return self._topics.end_offset(topic)

    def wait_for_records(
        self,
        topic: str,
        count: int,
        *,
        offset: int = 0,
        timeout: float = 60.0,
        poll_interval: float = 0.2,
        max_bytes: int | None = None,
    ) -> list[Record]:
        """The first ``count`` records from ``offset``, waiting up to ``timeout`` seconds for them
        to arrive (also for the topic to appear). Fewer when the timeout passes, or once their keys
        and values reach ``max_bytes``."""
        records = self._topics.wait_for_records(topic, count, offset=offset, timeout=timeout,
                                                poll_interval=poll_interval, max_bytes=max_bytes)
        self._report_topic(inputs=[topic])
        return records

    # ------------------------------------------------------------------ named consumers

    def consumer_position(self, topic: str, consumer: str) -> int | None:
        """``consumer``'s committed position on ``topic`` (the offset it reads next), None before
        its first commit. See topics/consumers.py."""
        return self._topics.consumer_position(topic, consumer)

    def commit_consumer(self, topic: str, consumer: str, position: int) -> None:
        """Make ``position`` (``record.offset + 1`` of the last record handled) ``consumer``'s position."""
        self._topics.commit_consumer(topic, consumer, position)

    # ------------------------------------------------------------------ lineage

    def topic_asset_uri(self, topic: str) -> str | None:
        """The asset URI of ``topic`` where this connection keeps topics (``assets/uris.py``)."""
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
        from airflow_provider_fluvio.reachability import probe

        def look() -> str:
            topics = self.list_topics()
            connectors = self.list_connectors()
            return f"Connection successful. {self.describe()}; {len(topics)} topic(s), {len(connectors)} connector(s)."

        return probe(look, TEST_CONNECTION_TIMEOUT, self.describe)

    @staticmethod
    def mqtt_secrets_from_connection(conn_id: str) -> dict[str, str]:
        """The MQTT connector's secrets from an ``mqtt`` connection: see ``MqttHook.connector_secrets``."""
        from airflow_provider_fluvio.hooks.mqtt import MqttHook

        return MqttHook(conn_id).connector_secrets()

    @staticmethod
    def sql_secrets_from_connection(conn_id: str) -> dict[str, str]:
        """A sql-sink's ``SQL_URL`` secret from a ``postgres`` or ``sqlite`` connection: see ``hooks/sql.py``."""
        from airflow_provider_fluvio.hooks.sql import SQL_URL_SECRET, sql_url_from_connection

        return {SQL_URL_SECRET: sql_url_from_connection(conn_id)}
