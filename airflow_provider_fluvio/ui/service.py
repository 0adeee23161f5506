"""What the Connectors pages show and do, through ``FluvioHook``: bounded in time, nothing secret.

Every call into a runtime or a topics backend runs on a small pool of threads and is awaited with
a deadline: an API server whose Kubernetes cluster or Fluvio cluster stops answering answers
``504`` instead of hanging its event loop (the stuck thread finishes or stays stuck on its own).
Hooks are kept per connection for ``HOOK_SECONDS`` (a connection edited in Airflow applies after
that), topics backends per place topics live (a Fluvio client process is started once, not on
every poll). What leaves here is JSON-safe and holds no secret value: configs as stored (secret
names only), reasons and log lines with URL passwords and the connection's own secrets masked,
record values capped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_fluvio import DEFAULT_CONN_ID
from fluvio_connectors.errors import ConfigError, ConnectorNotFoundError, FluvioConnectorError, TopicNotFoundError
from fluvio_connectors.messages import Redactor, url_passwords
from fluvio_connectors.names import check_connector_name

if TYPE_CHECKING:
    from airflow_provider_fluvio.hooks.fluvio import FluvioHook
    from airflow_provider_fluvio.runtimes.base import ConnectorInfo
    from fluvio_connectors.topics import Record, Topics

T = TypeVar("T")

CALL_SECONDS = 20.0  # how long an answer from a runtime or topics backend may take
HOOK_SECONDS = 30.0  # how long a connection's hook (and its runtime client) is reused
WORKERS = 8  # threads that may wait on runtimes and backends at once
LOG_LINES = 500  # at most this many log lines per answer
LOG_LINE_CHARS = 2000  # a longer line is cut
RECORDS = 20  # the newest records of a topic the page shows
RECORD_BYTES = 1024  # of each record's value and key
TOPIC_BACKENDS = 4  # topics backends kept open (least recently used closed)
CONN_TYPE = "fluvio"


class NotFound(Exception):
    """No such connection or connector (404)."""


class Unavailable(Exception):
    """The runtime or topics backend did not answer in time (504)."""


class ConnectorService:
    """The pages' view of connectors: one per API server process (``ui/app.py``)."""

    def __init__(self, call_seconds: float = CALL_SECONDS, hook_seconds: float = HOOK_SECONDS) -> None:
        self.call_seconds = call_seconds
        self.hook_seconds = hook_seconds
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="fluvio-ui")
        self._hooks: dict[str, tuple[float, FluvioHook]] = {}
        self._topics: OrderedDict[tuple[str, str], Topics] = OrderedDict()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ bounded calls

    async def call(self, what: str, action: Callable[..., T], *args: Any) -> T:
        """``action(*args)`` on the pool, awaited at most ``call_seconds``; ``Unavailable`` after."""
        future = asyncio.wrap_future(self._pool.submit(action, *args))
        try:
            return await asyncio.wait_for(future, self.call_seconds)
        except TimeoutError:
            raise Unavailable(f"{what}: no answer within {self.call_seconds:g} s") from None

    def close(self) -> None:
        """Close the topics backends and stop the pool (tests; an API server just exits)."""
        with self._lock:
            backends, self._topics = list(self._topics.values()), OrderedDict()
            self._hooks.clear()
        for backend in backends:
            _close_quietly(backend)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ connections

    def connection_ids(self) -> list[str]:
        """The ``fluvio`` connections Airflow knows (metadata database, ``AIRFLOW_CONN_*``) and
        ``fluvio_default``, which works without a connection (the API server's environment)."""
        ids = {DEFAULT_CONN_ID, *_env_connection_ids(os.environ)}
        from airflow.models.connection import Connection
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            ids.update(session.scalars(select(Connection.conn_id).where(Connection.conn_type == CONN_TYPE)))
        return sorted(ids)

    def hook(self, conn_id: str) -> FluvioHook:
        """The hook of ``conn_id`` (reused for ``hook_seconds``); ``NotFound`` for a connection
        that does not exist (except ``fluvio_default``) or is not of type ``fluvio``."""
        now = time.monotonic()
        with self._lock:
            cached = self._hooks.get(conn_id)
        if cached is not None and now - cached[0] < self.hook_seconds:
            return cached[1]
        hook = _new_hook(conn_id)
        with self._lock:
            self._hooks[conn_id] = (now, hook)
        return hook

    def describe(self, conn_id: str) -> dict[str, Any]:
        """Where a connection's topics live and connectors run (no secrets)."""
        hook = self.hook(conn_id)
        return {"connection": conn_id, "runtime": hook.settings.runtime, "where": hook.describe()}

    # ------------------------------------------------------------------ reading

    def connectors(self, conn_id: str) -> dict[str, Any]:
        """Every connector of the connection's runtime, as table rows."""
        hook = self.hook(conn_id)
        redact = _redactor(hook)
        rows = [connector_row(info, redact) for info in hook.list_connectors()]
        return {**self.describe(conn_id), "now": _now(), "connectors": rows}

    def connector(self, conn_id: str, name: str) -> dict[str, Any]:
        """One connector: its row, its config as stored (YAML, secret names only) and how many
        records its topic holds."""
        hook = self.hook(conn_id)
        info = _status(hook, name)
        try:
            document: dict[str, Any] | None = hook.runtime.config(name)
        except NotImplementedError:
            document = None
        return {
            **self.describe(conn_id),
            "now": _now(),
            "connector": connector_row(info, _redactor(hook)),
            "config": config_yaml(document) if document is not None else None,
            "topic_end": self._topic_end(hook, info.topic),
        }

    def logs(self, conn_id: str, name: str, tail: int) -> dict[str, Any]:
        """The connector's last ``tail`` log lines (at most ``LOG_LINES``), masked and cut."""
        hook = self.hook(conn_id)
        try:
            lines = hook.connector_logs(check_connector_name(name), max(1, min(tail, LOG_LINES)))
        except ConnectorNotFoundError:
            raise NotFound(f"connector {name} does not exist") from None
        redact = _redactor(hook)
        return {"now": _now(), "lines": [_cut(redact(line.rstrip("\n")), LOG_LINE_CHARS) for line in lines]}

    def records(self, conn_id: str, name: str) -> dict[str, Any]:
        """The newest ``RECORDS`` records of the connector's topic, each capped at ``RECORD_BYTES``."""
        hook = self.hook(conn_id)
        topic = _status(hook, name).topic
        backend = self._backend(hook)
        try:
            end = backend.end_offset(topic)
            newest = backend.read(topic, max(0, end - RECORDS), max_records=RECORDS) if end else []
        except TopicNotFoundError:
            return {"topic": topic, "exists": False, "end": None, "records": []}
        return {"topic": topic, "exists": True, "end": end, "records": [record_view(r) for r in newest[-RECORDS:]]}

    def _topic_end(self, hook: FluvioHook, topic: str) -> int | None:
        try:
            return self._backend(hook).end_offset(topic)
        except FluvioConnectorError:  # a missing topic or an unreachable cluster: the page says "?"
            return None

    def _backend(self, hook: FluvioHook) -> Topics:
        """The topics backend where ``hook``'s connection keeps topics (kept open, a few at most)."""
        from fluvio_connectors.topics import open_topics

        settings = hook.settings
        key = (settings.topics_backend, str(settings.fluvio_endpoint or settings.log_path))
        with self._lock:
            backend = self._topics.get(key)
            if backend is not None:
                self._topics.move_to_end(key)
                return backend
        backend = open_topics(settings)
        evicted: list[Topics] = []
        with self._lock:
            if key in self._topics:  # another thread opened it meanwhile
                evicted.append(backend)
                backend = self._topics[key]
            else:
                self._topics[key] = backend
                while len(self._topics) > TOPIC_BACKENDS:
                    evicted.append(self._topics.popitem(last=False)[1])
        for old in evicted:
            _close_quietly(old)
        return backend

    # ------------------------------------------------------------------ changing

    def validate(self, text: str, secrets: Mapping[str, str]) -> dict[str, Any]:
        """Validate a config without creating anything: its name, type and stored form."""
        config = load_text(text, secrets)
        return {"valid": True, "name": config.name, "type": config.type, "config": config_yaml(config.document())}

    def create(self, conn_id: str, text: str, secrets: Mapping[str, str], replicas: int) -> dict[str, Any]:
        """Validate, then create on the connection's runtime (``ConfigError`` and nothing created,
        ``ConnectorExistsError``, ``TopicMissingError``)."""
        config = load_text(text, secrets)
        hook = self.hook(conn_id)
        info = hook.runtime.create(config, replicas=replicas)
        return {"connector": connector_row(info, _redactor(hook)), "config": config_yaml(config.document())}

    def delete(self, conn_id: str, name: str) -> dict[str, Any]:
        """Stop and remove a connector (its topic and records stay)."""
        hook = self.hook(conn_id)
        try:
            hook.delete_connector(name)
        except ConnectorNotFoundError:
            raise NotFound(f"connector {name} does not exist") from None
        return {"name": name, "deleted": True}


# ---------------------------------------------------------------------- pieces (no state)


def load_text(text: str, secrets: Mapping[str, str]) -> Any:
    """A config from text a user gave, validated as the CLI validates a file; its secrets come
    from ``secrets`` only (never from the API server's environment)."""
    from fluvio_connectors.config import load_config_text

    return load_config_text(text, secrets=dict(secrets), origin="config")


def connector_row(info: ConnectorInfo, redact: Callable[[str], str]) -> dict[str, Any]:
    """One connector as the table shows it: the runtime's status (``ConnectorInfo.to_dict``)
    plus its direction, with every reason masked."""
    row = info.to_dict()
    row.setdefault("direction", _direction(info.type))
    for key in ("reason", "last_error"):
        if row.get(key):
            row[key] = redact(str(row[key]))
    for replica in row.get("replica_statuses") or []:
        if replica.get("reason"):
            replica["reason"] = redact(str(replica["reason"]))
    return row


def config_yaml(document: Mapping[str, Any]) -> str:
    """A stored config as YAML, keys in the seed's order."""
    import yaml

    return str(yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True))


def record_view(record: Record) -> dict[str, Any]:
    """A record for the page: text when it is UTF-8, else hex; at most ``RECORD_BYTES`` of each."""
    value, key = _shown(record.value), (None if record.key is None else _shown(record.key))
    return {
        "offset": record.offset,
        "timestamp": datetime.fromtimestamp(record.timestamp, UTC).isoformat() if record.timestamp else None,
        "size": len(record.value),
        "key": key,
        "value": value,
    }


def _shown(data: bytes) -> dict[str, Any]:
    head = data[:RECORD_BYTES]
    try:
        text, binary = head.decode("utf-8"), False
    except UnicodeDecodeError as exc:
        if len(data) > RECORD_BYTES and exc.start >= RECORD_BYTES - 3:  # cut inside a character
            text, binary = head[: exc.start].decode("utf-8"), False
        else:
            text, binary = head.hex(" "), True
    return {"text": text, "binary": binary, "truncated": len(data) > RECORD_BYTES}


def _direction(type_name: str) -> str | None:
    from fluvio_connectors.catalog import get_type

    try:
        return str(get_type(type_name).direction)
    except ConfigError:
        return None


def _status(hook: FluvioHook, name: str) -> ConnectorInfo:
    try:
        return hook.connector_status(name)
    except ConnectorNotFoundError:
        raise NotFound(f"connector {name} does not exist") from None


def _redactor(hook: FluvioHook) -> Callable[[str], str]:
    """Masks, in a line shown to a browser, the connection's own secrets (an inline kube config)
    and any password written in a URL. Connector programs mask their config's secrets themselves."""
    known = Redactor(_connection_secrets(hook))

    def redact(text: str) -> str:
        if known:
            text = known(text)
        found = url_passwords(text) if "://" in text else None
        return Redactor(found)(text) if found else text

    return redact


def _connection_secrets(hook: FluvioHook) -> list[str]:
    extra = hook.connection_fields.extra
    values = [extra.get("kube_config"), extra.get("extra__fluvio__kube_config")]
    return [value for value in values if isinstance(value, str)]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]} ... ({len(text) - limit} more characters)"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _env_connection_ids(environ: Mapping[str, str]) -> Iterable[str]:
    """Connections of type ``fluvio`` given as ``AIRFLOW_CONN_<ID>`` (URI or JSON)."""
    import json

    for key, value in environ.items():
        if not key.startswith("AIRFLOW_CONN_") or len(key) <= len("AIRFLOW_CONN_"):
            continue
        text = value.strip()
        if text.startswith("{"):
            try:
                conn_type = json.loads(text).get("conn_type")
            except (ValueError, AttributeError):
                continue
        else:
            conn_type = text.split("://", 1)[0].replace("-", "_") if "://" in text else None
        if conn_type == CONN_TYPE:
            yield key[len("AIRFLOW_CONN_"):].lower()


def _new_hook(conn_id: str) -> FluvioHook:
    from airflow.providers.common.compat.sdk import AirflowNotFoundException

    from airflow_provider_fluvio.hooks.fluvio import FluvioHook

    hook = FluvioHook(conn_id)
    try:
        conn = hook.get_connection(conn_id)
    except AirflowNotFoundException:
        if conn_id != DEFAULT_CONN_ID:
            raise NotFound(f"no connection {conn_id!r}") from None
        return hook  # the API server's environment, as the hook's fallback for the default id
    if conn.conn_type != CONN_TYPE:
        raise NotFound(f"connection {conn_id!r} is not a {CONN_TYPE} connection")
    hook.settings  # noqa: B018 - resolved now: a bad connection fails here, once, with its message
    return hook


def _close_quietly(backend: Topics) -> None:
    # Closing a broken backend must not break the request that replaced it.
    with contextlib.suppress(Exception):
        backend.close()


__all__ = ["ConnectorService", "NotFound", "Unavailable"]
