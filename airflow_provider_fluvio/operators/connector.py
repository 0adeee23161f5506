"""Operators: create and delete connectors, produce records to a topic, consume records from one.

Each operator calls ``FluvioHook``; the hook calls a runtime and a topics backend. Errors of the
project's family (bad config, connector exists, topic missing, ...) fail the task with the same one
line the CLI prints; those no retry can fix fail without retries (``AirflowFailException``).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator

from airflow_provider_fluvio import DEFAULT_CONN_ID
from airflow_provider_fluvio.pending import pending_seconds
from airflow_provider_fluvio.ui.links import FluvioConnectorLink
from fluvio_connectors.errors import FluvioConnectorError
from fluvio_connectors.messages import one_line

OUTPUT_FORMATS = ("values", "records")
DECODE_ERRORS = ("strict", "replace")
DEFAULT_MAX_XCOM_BYTES = 1024 * 1024  # one 20 MB record made a 125 MB XCom row

if TYPE_CHECKING:
    import jinja2
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_fluvio.hooks.fluvio import FluvioHook
    from airflow_provider_fluvio.waiting import StatusCheck


def task_error(exc: FluvioConnectorError, origin: str | None = None) -> AirflowException:
    """The Airflow exception for a project error: its one-line message, no retry when none helps."""
    from fluvio_connectors.errors import ConfigError, ConnectorExistsError, ConnectorNotFoundError

    message = one_line(str(exc))
    if origin and message.startswith("<string>"):  # a rendered template file: name the file
        message = origin + message[len("<string>") :]
    permanent = (ConfigError, ConnectorExistsError, ConnectorNotFoundError)
    return AirflowFailException(message) if isinstance(exc, permanent) else AirflowException(message)


def _hook(conn_id: str, params: Mapping[str, Any]) -> FluvioHook:
    """The hook for a task (imported here, not at DAG-parse time)."""
    from airflow_provider_fluvio.hooks.fluvio import FluvioHook

    return FluvioHook(conn_id, **params)


class _TaskHook:
    """``hook``: the task's one ``FluvioHook`` (one runtime client, one topics backend per session)."""

    fluvio_conn_id: str
    hook_params: dict[str, Any]

    @cached_property
    def hook(self) -> FluvioHook:
        return _hook(self.fluvio_conn_id, self.hook_params)


def dns_label(text: Any, max_length: int = 63) -> str:
    """``text`` made a valid connector name (a DNS-1123 label): lowercase letters, digits and
    ``-``. When anything had to change, a short hash of the original keeps distinct inputs distinct,
    e.g. ``dns_label("ex-" + run_id)`` in a template (register it with ``user_defined_filters``)."""
    raw = str(text)
    label = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]+", "-", raw.lower())).strip("-")
    if label == raw and 0 < len(label) <= max_length:
        return label
    digest = hashlib.sha1(raw.encode("utf-8")).hexdigest()[:8]
    head = label[: max(0, max_length - len(digest) - 1)].rstrip("-")
    return f"{head}-{digest}" if head else digest


class FluvioCreateConnectorOperator(_TaskHook, BaseOperator):
    """Create a Fluvio connector, optionally waiting until it is Running.

    ``config`` is one of:

    * a path to a YAML file ending in ``.yaml``/``.yml``, rendered as a Jinja template. A relative
      path is looked up in the DAG file's folder and the DAG's ``template_searchpath``; an absolute
      path is read as is;
    * an inline YAML string (rendered as a Jinja template);
    * a dict (its strings rendered).

    Both config formats work (the seed's ``version/name/type/topic/parameters`` and the Connector
    Development Kit's ``apiVersion/meta``). Secrets the config names come from ``secrets``, then
    from ``mqtt_conn_id`` and ``sql_conn_id``, then from the worker's environment; every secret value is masked in the
    task log (of ``MQTT_URL`` only a password in it: the broker's address stays readable) and never
    returned.

    Returns to XCom the connector's ``name``, ``type``, ``topic``, ``status``, ``runtime``,
    ``version`` and ``config`` (the stored config, secret names only).

    :param config: Config file path, YAML string or dict (templated).
    :param fluvio_conn_id: The ``fluvio`` connection (templated).
    :param secrets: ``NAME: value`` secrets for the connector (templated; values masked), e.g.
        ``{"MQTT_PASSWORD": "{{ conn.my_broker.password }}"}``.
    :param mqtt_conn_id: An ``mqtt`` connection (``hooks/mqtt.py``): login/password become
        ``MQTT_USERNAME``/``MQTT_PASSWORD``, host/port (and ``tls``) ``MQTT_URL`` (used when the config
        has no ``mqtt-url``), ``ca_cert``/``client_cert``/``client_key`` the TLS secrets.
    :param sql_conn_id: A ``postgres`` or ``sqlite`` connection (the one your SQL operators use,
        ``hooks/sql.py``): its database becomes the secret ``SQL_URL`` of a sql-sink whose config
        says ``url: ${{ secrets.SQL_URL }}`` (templated).
    :param wait_for_running: Wait until the connector is Running (or finished) before returning;
        fail at once, with its reason and last log lines, if it is Failed.
    :param wait_timeout: Seconds to wait with ``wait_for_running``.
    :param pending_timeout: With ``wait_for_running``, fail (with the pending reason and the last
        log lines) once the connector has been Pending without a break for this many seconds, e.g.
        when it can never reach its source; ``None`` waits the whole ``wait_timeout``. When the wait
        fails the connector stays (it keeps retrying); delete it with
        ``FluvioDeleteConnectorOperator`` as a teardown.
    :param poll_interval: Seconds between status looks with ``wait_for_running``.
    :param hook_params: Extra ``FluvioHook`` arguments (they beat the connection's fields).
    :param replicas: Instances that split the connector's source between them (1 to 16; an MQTT
        connector splits its stream through MQTT 5 shared subscriptions; a test-connector runs as
        one). Running means all of them are Running.
    """

    template_fields: Sequence[str] = ("config", "fluvio_conn_id", "secrets", "mqtt_conn_id", "sql_conn_id")
    template_ext: Sequence[str] = (".yaml", ".yml")
    template_fields_renderers = {"config": "yaml", "secrets": "json"}
    ui_color = "#d8eef5"
    operator_extra_links = (FluvioConnectorLink(),)

    def __init__(
        self,
        *,
        config: str | os.PathLike[str] | Mapping[str, Any],
        fluvio_conn_id: str = DEFAULT_CONN_ID,
        secrets: Mapping[str, str] | None = None,
        mqtt_conn_id: str | None = None,
        sql_conn_id: str | None = None,
        wait_for_running: bool = False,
        wait_timeout: float = 120.0,
        pending_timeout: float | timedelta | None = None,
        poll_interval: float = 1.0,
        hook_params: dict[str, Any] | None = None,
        replicas: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.replicas = replicas
        self.config: Any = os.fspath(config) if isinstance(config, os.PathLike) else config
        # Rendering replaces a file path by the file's text; keep the path for error messages.
        is_file = isinstance(self.config, str) and _is_file_ref(self.config)
        self.config_origin = str(self.config) if is_file else None
        self.fluvio_conn_id = fluvio_conn_id
        self.secrets = dict(secrets) if secrets else None
        self.mqtt_conn_id = mqtt_conn_id
        self.sql_conn_id = sql_conn_id
        self.wait_for_running = wait_for_running
        self.wait_timeout = wait_timeout
        self.pending_timeout = pending_seconds(pending_timeout)
        self.poll_interval = poll_interval
        self.hook_params = dict(hook_params or {})
        self.connector_name: str | None = None  # known once the config is loaded (the extra link)

    def get_template_env(self, dag: Any = None) -> jinja2.Environment:
        env = super().get_template_env(dag)
        from airflow_provider_fluvio.operators.templates import regular_files_only

        env.loader = regular_files_only(env.loader)
        return env

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        super().render_template_fields(context, jinja_env)
        # Airflow stores and shows the rendered fields right after this: every secret value in them
        # (the secrets given, inline ones, a password written in a URL) is registered with its masker
        # first, so they hold *** in its place.
        from airflow_provider_fluvio.hooks.fluvio import mask_secrets
        from airflow_provider_fluvio.secret_values import secret_values

        mask_secrets(secret_values(self.config, self.secrets))

    def resolve_template_files(self) -> None:
        # Jinja's loader only searches the DAG folder and template_searchpath: absolute paths are
        # read in render_template instead of logging a "template not found" at parse time.
        config = self.config
        if isinstance(config, str) and _is_file_ref(config) and os.path.isabs(config):
            self.config = None
            try:
                super().resolve_template_files()
            finally:
                self.config = config
        else:
            super().resolve_template_files()

    def render_template(
        self,
        content: Any,
        context: Context,
        jinja_env: jinja2.Environment | None = None,
        seen_oids: set[int] | None = None,
    ) -> Any:
        from airflow_provider_fluvio.operators.secret_refs import keep_secret_references

        # ${{ secrets.NAME }} (Fluvio's secret references) reach the config loader as written.
        jinja_env = keep_secret_references(jinja_env or self.get_template_env())
        if isinstance(content, str) and _is_file_ref(content) and os.path.isabs(content):
            from fluvio_connectors.config_files import read_text_file
            from fluvio_connectors.errors import ConfigError

            try:  # at most 1 MiB, like every config
                text = read_text_file(content, "a YAML config file")
            except ConfigError as exc:
                raise AirflowFailException(one_line(str(exc))) from None
            return self._render(jinja_env.from_string(text), context)
        from airflow_provider_fluvio.operators.templates import NotARegularFile

        try:
            return super().render_template(content, context, jinja_env, seen_oids)
        except NotARegularFile as exc:
            raise AirflowFailException(one_line(str(exc))) from None

    def execute(self, context: Context) -> dict[str, Any]:
        hook = self.hook
        secrets: dict[str, str] = {}
        if self.mqtt_conn_id:
            secrets.update(type(hook).mqtt_secrets_from_connection(self.mqtt_conn_id))
        try:
            if self.sql_conn_id:
                secrets.update(type(hook).sql_secrets_from_connection(self.sql_conn_id))
            secrets.update({str(k): str(v) for k, v in (self.secrets or {}).items()})
            config = hook.load_config(self.config, secrets)
            if self.config_origin and config.origin == "<string>":  # a rendered template file: its name
                config = config.model_copy(update={"origin": self.config_origin})
            self.connector_name = config.name
            from fluvio_connectors.config import config_summary

            self.log.info("Creating %s (%s)", config_summary(config), hook.describe())
            info = hook.create_connector(config, replicas=self.replicas)
        except FluvioConnectorError as exc:
            raise task_error(exc, self.config_origin) from None
        self.log.info("Connector %s created: %s", info.name, info.status.value)
        if self.wait_for_running:
            info = self._wait_running(hook, info.name) or info
        from fluvio_connectors.messages import Redactor

        # A secret value the config also writes in plain text (a client id that is the password)
        # is not returned either.
        return Redactor(config.secret_values().values()).deep({**info.to_dict(), "config": config.document()})  # type: ignore[return-value]

    def _wait_running(self, hook: FluvioHook, name: str) -> Any:
        from airflow_provider_fluvio.waiting import wait_for

        def look() -> StatusCheck:
            return hook.check_connector(name, "Running", pending_timeout=self.pending_timeout)

        from airflow_provider_fluvio.progress import ProgressLog

        progress = ProgressLog()

        def log_progress(check: StatusCheck) -> None:
            line = progress.line(check)  # on a change, else at most every 30 s
            if line:
                self.log.info("%s", line)

        try:
            check = wait_for(look, self.wait_timeout, self.poll_interval, log_progress)
        except FluvioConnectorError as exc:
            raise task_error(exc) from None
        if check.outcome == "reached":
            self.log.info("%s", check.message)
            return check.info
        if check.outcome == "failed":
            raise AirflowFailException(check.message)
        raise AirflowException(f"connector {name} not Running after {self.wait_timeout:g} s: {check.message}; "
                               f"it is still there (delete it with FluvioDeleteConnectorOperator "
                               f"or `fluvio-connector delete {name}`)")


class FluvioDeleteConnectorOperator(_TaskHook, BaseOperator):
    """Delete a connector: stop it and remove its runtime objects. Its topic and records stay.

    Use ``trigger_rule="all_done"`` so the connector is removed also when an upstream task failed.

    :param connector_name: The connector to delete (templated).
    :param ignore_missing: Succeed when there is no such connector (default: fail).
    :param fluvio_conn_id: The ``fluvio`` connection (templated).
    :param hook_params: Extra ``FluvioHook`` arguments.
    """

    template_fields: Sequence[str] = ("connector_name", "fluvio_conn_id")
    ui_color = "#f5e1d8"
    operator_extra_links = (FluvioConnectorLink(),)

    def __init__(
        self,
        *,
        connector_name: str,
        ignore_missing: bool = False,
        fluvio_conn_id: str = DEFAULT_CONN_ID,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.connector_name = connector_name
        self.ignore_missing = ignore_missing
        self.fluvio_conn_id = fluvio_conn_id
        self.hook_params = dict(hook_params or {})

    def execute(self, context: Context) -> dict[str, Any]:
        hook = self.hook
        try:
            deleted = hook.delete_connector(self.connector_name, ignore_missing=self.ignore_missing)
        except FluvioConnectorError as exc:
            raise task_error(exc) from None
        self.log.info(
            "Connector %s %s", self.connector_name, "deleted" if deleted else "did not exist (ignore_missing)"
        )
        return {"name": self.connector_name, "deleted": deleted}


class FluvioProduceOperator(_TaskHook, BaseOperator):
    """Produce records to a topic (flushed before the task ends).

    :param topic: The topic (templated).
    :param records: A list of values (str, bytes, or JSON-able objects), ``(key, value)`` pairs or
        ``{"key": ..., "value": ...}`` dicts; or one string holding one record a line (templated).
    :param create_topic: Create the topic if it is missing (default: fail with "topic ... not found").
    :param fluvio_conn_id: The ``fluvio`` connection (templated).
    :param hook_params: Extra ``FluvioHook`` arguments.
    """

    template_fields: Sequence[str] = ("topic", "records", "fluvio_conn_id")
    ui_color = "#e8f0d8"

    def __init__(
        self,
        *,
        topic: str,
        records: Sequence[Any] | str,
        create_topic: bool = False,
        fluvio_conn_id: str = DEFAULT_CONN_ID,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.topic = topic
        self.records = records
        self.create_topic = create_topic
        self.fluvio_conn_id = fluvio_conn_id
        self.hook_params = dict(hook_params or {})

    def execute(self, context: Context) -> dict[str, Any]:
        records = self.records.splitlines() if isinstance(self.records, str) else list(self.records)
        hook = self.hook
        try:
            count = hook.produce(self.topic, records, create_topic=self.create_topic)
        except FluvioConnectorError as exc:
            raise task_error(exc) from None
        self.log.info("Produced %d record(s) to %s", count, self.topic)
        return {"topic": self.topic, "records": count}


class FluvioConsumeOperator(_TaskHook, BaseOperator):
    """Read records from a topic; with ``count``, wait for that many to arrive.

    Returns the records to XCom: their values as text (``output_format="values"``, default; a value
    that is not UTF-8 fails the task unless ``decode_errors="replace"``) or, losslessly, dicts with
    ``offset``, ``key``/``key_encoding``, ``value``/``value_encoding`` (``utf-8``, or ``base64`` for
    bytes that are not text) and ``timestamp`` (``output_format="records"``). At most
    ``max_xcom_bytes`` of XCom: more fails the task, before anything is committed.

    With ``consumer``, each run continues where the previous one stopped: it reads from the named
    consumer's committed position, pushes the records to XCom, and only then commits the position
    after the last of them. Successive DAG runs therefore get the next records, each exactly once
    when nothing fails. A try that fails before the commit leaves the position alone, so its retry
    reads the same records again (at least once). Only a worker killed in the instant between the
    commit and Airflow recording success would make the retry start after those records.

    :param topic: The topic (templated).
    :param count: Wait up to ``timeout`` seconds for exactly this many records from ``offset`` and
        fail, saying how many arrived, if fewer do. Without it: what is there now (at most
        ``max_records``).
    :param offset: The first offset to read (0: from the beginning). With ``consumer``: where a
        consumer without a committed position starts.
    :param consumer: A named consumer (templated): resume from its committed position, commit after
        the records are in XCom (see above).
    :param timeout: Seconds to wait for ``count`` records.
    :param max_records: Cap without ``count`` (XCom is not meant for large data).
    :param output_format: ``values`` or ``records``.
    :param decode_errors: With ``values``: ``strict`` (a value that is not UTF-8 fails the task) or
        ``replace`` (U+FFFD for what is not text: lossy).
    :param max_xcom_bytes: Largest XCom the records may make, as JSON (default 1 MiB); reading stops
        there, and a result over it fails the task before anything is committed.
    :param poll_interval: Seconds between reads while waiting.
    :param fluvio_conn_id: The ``fluvio`` connection (templated).
    :param hook_params: Extra ``FluvioHook`` arguments.
    """

    template_fields: Sequence[str] = ("topic", "count", "offset", "fluvio_conn_id", "consumer")
    ui_color = "#efe3f5"

    def __init__(
        self,
        *,
        topic: str,
        count: int | str | None = None,
        offset: int | str = 0,
        timeout: float = 60.0,
        max_records: int = 10_000,
        output_format: str = "values",
        poll_interval: float = 0.2,
        fluvio_conn_id: str = DEFAULT_CONN_ID,
        hook_params: dict[str, Any] | None = None,
        consumer: str | None = None,
        decode_errors: str = "strict",
        max_xcom_bytes: int = DEFAULT_MAX_XCOM_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.consumer = consumer
        if output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output_format must be 'values' or 'records', got {output_format!r}")
        if decode_errors not in DECODE_ERRORS:
            raise ValueError(f"decode_errors must be 'strict' or 'replace', got {decode_errors!r}")
        if not isinstance(max_xcom_bytes, int) or isinstance(max_xcom_bytes, bool) or max_xcom_bytes < 1:
            raise ValueError(f"max_xcom_bytes must be a whole number of bytes from 1, got {max_xcom_bytes!r}")
        self.decode_errors = decode_errors
        self.max_xcom_bytes = max_xcom_bytes
        self.topic = topic
        self.count = count
        self.offset = offset
        self.timeout = timeout
        self.max_records = max_records
        self.output_format = output_format
        self.poll_interval = poll_interval
        self.fluvio_conn_id = fluvio_conn_id
        self.hook_params = dict(hook_params or {})

    def execute(self, context: Context) -> list[Any]:
        count = None if self.count in (None, "") else _whole(self.count, "count", 1)
        offset = _whole(self.offset, "offset", 0)
        hook = self.hook
        with hook.session():  # one topics backend for the task's reads and commits
            return self._consume(context, hook, count, offset)

    def _consume(self, context: Context, hook: FluvioHook, count: int | None, offset: int) -> list[Any]:
        consumer = self.consumer or None
        try:
            if consumer is not None:
                offset = self._resume(hook, consumer, offset)
            # Never more read than can go to XCom (the check below says so if it went over).
            if count is None:
                records = hook.read_records(self.topic, offset, max_records=self.max_records,
                                            max_bytes=self.max_xcom_bytes + 1)
            else:
                records = hook.wait_for_records(
                    self.topic, count, offset=offset, timeout=self.timeout, poll_interval=self.poll_interval,
                    max_bytes=self.max_xcom_bytes + 1,
                )
            from airflow_provider_fluvio.record_xcom import records_for_xcom

            result = records_for_xcom(records, self.output_format, self.decode_errors, self.max_xcom_bytes,
                                      self.topic) if records else []
        except FluvioConnectorError as exc:
            raise task_error(exc) from None
        if count is not None and len(records) < count:
            raise AirflowException(
                f"topic {self.topic}: {len(records)} of {count} records from offset {offset} "
                f"arrived within {self.timeout:g} s"
            )
        self.log.info("Read %d record(s) from %s (offset %d)", len(records), self.topic, offset)
        if consumer is not None and records:
            self._commit_after_xcom(context, hook, consumer, result, records[-1].offset + 1)
        return result

    def _resume(self, hook: FluvioHook, consumer: str, first: int) -> int:
        position = hook.consumer_position(self.topic, consumer)
        if position is None:
            hook.commit_consumer(self.topic, consumer, first)
            position = first
        self.log.info("Consumer %s resumes topic %s at offset %d", consumer, self.topic, position)
        return position

    def _commit_after_xcom(
        self, context: Context, hook: FluvioHook, consumer: str, result: list[Any], position: int
    ) -> None:
        if self.do_xcom_push:
            # Stored before the commit: a crash in between repeats these records, never skips them.
            # Returning the same value afterwards writes the same XCom again (and keeps mapping working).
            context["ti"].xcom_push(key="return_value", value=result)
        try:
            hook.commit_consumer(self.topic, consumer, position)
        except FluvioConnectorError as exc:
            raise task_error(exc) from None
        self.log.info("Consumer %s committed topic %s up to offset %d", consumer, self.topic, position)


def _whole(value: Any, name: str, minimum: int) -> int:
    """A rendered template is text: ``"10"`` means 10. AirflowFailException naming ``name``."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise AirflowFailException(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise AirflowFailException(f"{name} must be at least {minimum}, got {number}")
    return number


def _is_file_ref(value: str) -> bool:
    return "\n" not in value and value.strip().endswith((".yaml", ".yml"))
