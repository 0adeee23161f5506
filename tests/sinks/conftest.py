"""Fixtures for the sink tests: a schema per test of the session's real PostgreSQL (the
``postgres`` fixture of tests/conftest.py), and a SQLite file per test (``sink_fixtures.py`` has
the helpers tests import).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres_server import PostgresServer
from sink_fixtures import FAST_RESTARTS, SqlDatabase

from airflow_provider_fluvio.runtimes.local import LocalRuntime


@pytest.fixture
def runtime(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalRuntime]:
    """The local runtime, on the test's topics backend, with quick restarts (tests kill sinks) and
    a heartbeat every 0.5 s (a status changes within a second); its connectors deleted after."""
    if "topics_backend" in request.fixturenames:  # the runtime takes the backend from the environment
        request.getfixturevalue("topics_backend")
    monkeypatch.setenv("FLUVIO_CONNECTOR_HEARTBEAT", "0.5")
    local = LocalRuntime(**FAST_RESTARTS)  # type: ignore[arg-type]
    yield local
    for info in local.list():
        local.delete(info.name)


@pytest.fixture
def pg_database(postgres: PostgresServer) -> Iterator[SqlDatabase]:
    """A schema of its own in the session's PostgreSQL (the sink's URL selects it)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    postgres.execute(f"CREATE SCHEMA {schema}")
    yield SqlDatabase.postgres(postgres, schema)
    postgres.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def sqlite_database(tmp_path: Path) -> SqlDatabase:
    """An empty SQLite file of its own."""
    return SqlDatabase.sqlite(tmp_path / "target.db")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> SqlDatabase:
    """The test runs against SQLite, then PostgreSQL."""
    name = "sqlite_database" if request.param == "sqlite" else "pg_database"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]
