"""A sql-sink's database from an Airflow SQL connection (``sql_conn_id``, ``hooks/sql.py``), and
Fluvio's ``${{ secrets.NAME }}`` references in configs the create operator renders with Jinja."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException
from airflow.sdk import DAG

from airflow_provider_fluvio.hooks.fluvio import FluvioHook
from airflow_provider_fluvio.hooks.sql import sql_url_from_connection
from airflow_provider_fluvio.operators.connector import FluvioCreateConnectorOperator
from airflow_provider_fluvio.operators.secret_refs import protect
from fluvio_connectors.errors import ConfigError
from fluvio_connectors.sink_catalog import parse_sql_url

SINK_YAML = """
apiVersion: 0.1.0
meta:
  version: latest
  name: {{ params.name }}
  type: sql-sink
  topic: {{ params.name }}
  create-topic: true
  secrets:
    - name: SQL_URL
sql:
  url: ${{ secrets.SQL_URL }}
transforms:
  - uses: infinyon/json-sql
    with:
      mapping:
        table: readings
        map-columns:
          id: {json-key: id, value: {type: int}}
"""


@pytest.mark.parametrize("form", ["json-host", "uri-encoded-host", "uri-path"])
def test_a_sqlite_connection_names_the_file_airflows_sqlite_hook_opens(
        set_connection: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, form: str) -> None:
    from airflow.providers.sqlite.hooks.sqlite import SqliteHook

    database = tmp_path / "readings.db"
    if form == "json-host":
        set_connection("readings_db", conn_type="sqlite", host=str(database))
    elif form == "uri-encoded-host":
        monkeypatch.setenv("AIRFLOW_CONN_READINGS_DB", f"sqlite://{quote(str(database), safe='')}")
    else:  # Airflow's quirk: sqlite:///tmp/x.db opens /tmp/x.db
        monkeypatch.setenv("AIRFLOW_CONN_READINGS_DB", f"sqlite://{database}")
    with SqliteHook(sqlite_conn_id="readings_db").get_conn() as conn:  # what the SQL operators open
        conn.execute("CREATE TABLE marker (x INTEGER)")
    target = parse_sql_url(sql_url_from_connection("readings_db"))
    assert (target.kind, target.path) == ("sqlite", database)
    with sqlite3.connect(target.path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("marker",)]


def test_a_relative_sqlite_file_is_refused(set_connection: Any) -> None:
    set_connection("readings_db", conn_type="sqlite", host="readings.db")
    with pytest.raises(ConfigError) as info:
        sql_url_from_connection("readings_db")
    assert str(info.value) == ("connection readings_db: the SQLite file 'readings.db' is not an absolute path (the sink "
                               "runs in another directory than this task); expected the absolute path of the database "
                               "file, e.g. sqlite:///var/data/readings.db")


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        ({"host": "db.example.com", "port": 5433, "login": "fluvio", "password": "p@ss:w/rd", "schema": "telemetry"},
         "postgresql://fluvio:p%40ss%3Aw%2Frd@db.example.com:5433/telemetry"),
        ({"host": "::1", "login": "fluvio", "schema": "telemetry",
          "extra": {"sslmode": "require", "options": "-csearch_path=ingest", "cursor": "dictcursor"}},
         "postgresql://fluvio@[::1]:5432/telemetry?sslmode=require&options=-csearch_path%3Dingest"),
        ({"host": "[2001:db8::7]", "port": "6432", "schema": "x"}, "postgresql://[2001:db8::7]:6432/x"),
        ({"host": "/var/run/postgresql", "login": "fluvio", "schema": "x"},
         "postgresql://fluvio@:5432/x?host=%2Fvar%2Frun%2Fpostgresql"),
        ({"password": "only-a-pass", "schema": "x"}, "postgresql://:only-a-pass@localhost:5432/x"),  # libpq's user
        ({}, "postgresql://localhost:5432/"),
    ],
    ids=["password", "ipv6-extras", "bracketed", "socket-dir", "no-login", "empty"],
)
def test_a_postgres_connection_becomes_a_libpq_url(set_connection: Any, fields: dict[str, Any], url: str) -> None:
    set_connection("warehouse", conn_type="postgres", **fields)
    assert sql_url_from_connection("warehouse") == url
    target = parse_sql_url(url)  # the sink's own reading of it
    assert target.kind == "postgresql"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"conn_type": "mysql", "host": "db"}, "connection db1: a mysql connection cannot be a sql-sink's database; "
                                               "expected a postgres or sqlite connection"),
        ({"conn_type": "postgres", "host": "db", "extra": {"iam": True}},
         "connection db1: IAM authentication (extra iam) gives no password the sink could use; expected a "
         "connection with login and password"),
    ],
    ids=["mysql", "iam"],
)
def test_connections_a_sink_cannot_use_are_named(set_connection: Any, fields: dict[str, Any], message: str) -> None:
    set_connection("db1", **fields)
    with pytest.raises(ConfigError) as info:
        sql_url_from_connection("db1")
    assert str(info.value) == message


def test_secret_references_survive_rendering_and_the_url_is_masked(set_connection: Any, scripted_runtime: Any) -> None:
    from airflow.providers.common.compat.sdk import redact

    scripted_runtime()
    set_connection("warehouse", conn_type="postgres", host="db.example.com", login="fluvio",
                   password="pg-secret-5521", schema="telemetry")
    with DAG("fluvio_test_sql_conn", schedule=None, start_date=datetime(2024, 1, 1), params={"name": "pg-sink"}):
        create = FluvioCreateConnectorOperator(task_id="create", config=SINK_YAML, sql_conn_id="warehouse")
    create.render_template_fields({"params": {"name": "pg-sink"}})
    assert "url: ${{ secrets.SQL_URL }}" in create.config and "name: pg-sink" in create.config
    created = create.execute({})
    assert created["config"]["secrets"] == ["SQL_URL"]
    assert "pg-secret-5521" not in json.dumps(created)
    assert redact("postgresql://fluvio:pg-secret-5521@db.example.com:5432/telemetry") == \
        "postgresql://fluvio:***@db.example.com:5432/telemetry"  # the address stays readable
    loaded = FluvioHook().runtime.configs["pg-sink"]  # type: ignore[attr-defined]
    assert loaded.parameters.target.redacted == "postgresql://fluvio@db.example.com:5432/telemetry"


def test_a_connection_the_sink_cannot_use_fails_the_task_with_its_line(set_connection: Any, scripted_runtime: Any) -> None:
    scripted_runtime()
    set_connection("rel", conn_type="sqlite", host="relative.db")
    create = FluvioCreateConnectorOperator(task_id="create", config={"name": "x"}, sql_conn_id="rel")
    with pytest.raises(AirflowFailException, match=r"^connection rel: the SQLite file 'relative.db' is not an absolute path"):
        create.execute({})


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("url: ${{ secrets.SQL_URL }}", "url: {% raw %}${{ secrets.SQL_URL }}{% endraw %}"),
        ("a: ${{secrets.A}} b: {{ x }}", "a: {% raw %}${{secrets.A}}{% endraw %} b: {{ x }}"),
        ("{% raw %}${{ secrets.A }}{% endraw %}", "{% raw %}${{ secrets.A }}{% endraw %}"),  # already kept
        ("{{ '${{ secrets.A }}' }}", "{{ '${{ secrets.A }}' }}"),  # already a Jinja string
        ("${{ params.name }}", "${{ params.name }}"),  # not a secret reference: Jinja's
    ],
)
def test_protect(text: str, kept: str) -> None:
    assert protect(text) == kept
