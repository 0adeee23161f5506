"""Helpers for the sink tests: the target databases, sink configs, records into the topic, waiting.

``conftest.py`` makes fixtures of these; tests import the helpers from here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polling
import pytest
from postgres_server import PostgresServer

from airflow_provider_fluvio.runtimes.base import ConnectorInfo
from airflow_provider_fluvio.runtimes.local import LocalRuntime
from fluvio_connectors.config import load_config
from fluvio_connectors.topics import open_topics

# Quick restarts for tests that kill a sink on purpose (the policy's own backoff would add ~15 s).
FAST_RESTARTS = {"backoff_initial": 0.05, "backoff_max": 0.2, "max_crashes": 1000}


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """``polling.wait_until`` at this module's pace."""
    return polling.wait_until(predicate, timeout, what, interval=interval)


@dataclass
class SqlDatabase:
    """A target database as a test sees it: the URL a sink names, and SQL to look inside."""

    kind: str  # sqlite | postgresql
    url: str
    path: Path | None = None
    server: PostgresServer | None = None
    schema: str | None = None

    @classmethod
    def sqlite(cls, path: Path) -> SqlDatabase:
        sqlite3.connect(path).close()
        return cls("sqlite", f"sqlite://{path}", path=path)

    @classmethod
    def postgres(cls, server: PostgresServer, schema: str) -> SqlDatabase:
        # libpq reads options from the URL: the sink's tables (and its offsets table) are the schema's
        return cls("postgresql", f"{server.url()}?options=-csearch_path%3D{schema}", server=server, schema=schema)

    @property
    def mark(self) -> str:
        """The parameter placeholder of the driver."""
        return "?" if self.kind == "sqlite" else "%s"

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.kind == "sqlite":
            assert self.path is not None
            with sqlite3.connect(self.path, timeout=30) as conn:
                return list(conn.execute(statement, params).fetchall())
        assert self.server is not None
        with self.server.connect(options=f"-csearch_path={self.schema}") as conn:
            cursor = conn.execute(statement, params)
            return list(cursor.fetchall()) if cursor.description else []

    def count(self, table: str, expression: str = "*") -> int:
        rows = self.execute(f"SELECT count({expression}) FROM {table}")
        return int(rows[0][0])

    def try_count(self, table: str, expression: str = "*") -> int | None:
        """``count`` that gives None while the database cannot answer (it is being restarted)."""
        try:
            return self.count(table, expression)
        except Exception:
            return None

    def offsets(self, table: str = "fluvio_sink_offsets") -> list[tuple[Any, ...]]:
        return self.execute(f"SELECT connector, topic, partition, next_offset, delivered, skipped FROM {table} "
                            "ORDER BY connector, topic, partition")


def sql_sink_config(name: str, topic: str, url: str, mapping: dict[str, Any] | None, **parameters: Any) -> dict[str, Any]:
    """A classic-format sql-sink config (``create_topic`` on)."""
    params: dict[str, Any] = {"url": url, **parameters}
    if mapping is not None:
        params["mapping"] = mapping
    return {"version": "latest", "name": name, "type": "sql-sink", "topic": topic, "create_topic": True,
            "parameters": params}


def columns(**types: str) -> dict[str, Any]:
    """``map-columns`` where each column reads the key of its own name: ``columns(id="int")``."""
    return {name: {"json-key": name, "value": {"type": kind}} for name, kind in types.items()}


def produce(topic: str, values: Iterable[bytes | str | dict[str, Any]], batch: int = 2000) -> int:
    """Store ``values`` in ``topic`` (created if missing) on the backend of the environment."""
    topics = open_topics()
    count = 0
    try:
        topics.create_topic(topic)
        producer = topics.producer(topic, batch_size=batch)
        for value in values:
            data = value if isinstance(value, bytes) else (value if isinstance(value, str) else json.dumps(value)).encode()
            producer.send(None, data)
            count += 1
        producer.flush()
        producer.close()
    finally:
        topics.close()
    return count


def create_sink(runtime: LocalRuntime, config: dict[str, Any], secrets: dict[str, str] | None = None) -> str:
    loaded = load_config(config, secrets=secrets or {})
    runtime.create(loaded)
    return loaded.name


def wait_status(runtime: LocalRuntime, name: str, status: str, timeout: float = 60.0) -> ConnectorInfo:
    def reached() -> ConnectorInfo | None:
        info = runtime.status(name)
        return info if info.status.value == status else None

    try:
        return wait_until(reached, timeout, f"{name} to be {status}")  # type: ignore[no-any-return]
    except pytest.fail.Exception:
        info = runtime.status(name)
        log = "\n".join(runtime.logs(name, tail=30))
        pytest.fail(f"{name} is {info.status.value} ({info.reason}), not {status}, after {timeout:g}s\n{log}")
