"""Sink configs in both formats, as Fluvio's sql-sink and http-sink READMEs write them, and what
``validate`` and ``catalog`` tell a user about them (no process, no database)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_fluvio.cli import main
from fluvio_connectors.catalog import all_types
from fluvio_connectors.config import load_config
from fluvio_connectors.errors import ConfigError
from fluvio_connectors.sink_catalog import ConsumerSettings, HttpSinkParameters, SqlSinkParameters

SECRETS = {"DB_USERNAME": "reader", "DB_PASSWORD": "pw-7g5h3j", "DB_HOST": "db.example", "DB_PORT": "5432",
           "DB_NAME": "sensors", "DATABASE_URL": "postgresql://reader:pw-7g5h3j@db.example:5432/sensors",
           "HTTP_TOKEN": "tk-abcdef123"}

# Fluvio's sql-sink README: the basic example and the json-sql one (transforms), verbatim but for
# the indentation.
SQL_BASIC = """
apiVersion: 0.1.0
meta:
  version: 0.5.0
  name: my-sql-connector
  type: sql-sink
  topic: sql-topic
  create-topic: true
  secrets:
    - name: DB_USERNAME
    - name: DB_PASSWORD
    - name: DB_HOST
    - name: DB_PORT
    - name: DB_NAME
sql:
  url: 'postgresql://${{ secrets.DB_USERNAME }}:${{ secrets.DB_PASSWORD }}@${{ secrets.DB_HOST }}:${{ secrets.DB_PORT }}/${{ secrets.DB_NAME }}'
"""

SQL_JSON = """
apiVersion: 0.1.0
meta:
  version: 0.5.0
  name: json-sql-connector
  type: sql-sink
  topic: sql-topic
  create-topic: true
  secrets:
    - name: DATABASE_URL
sql:
  url: ${{ secrets.DATABASE_URL }}
transforms:
  - uses: infinyon/json-sql
    with:
      mapping:
        operation: "upsert"
        unique-columns:
          - "device_id"
        table: "topic_message"
        map-columns:
          "device_id":
            json-key: "device.device_id"
            value:
              type: "int"
              default: "0"
              required: true
          "record":
            json-key: "$"
            value:
              type: "jsonb"
              required: true
"""

# The README's consumer offsets example (apiVersion 0.2.0: the topic is an object).
SQL_CONSUMER = """
apiVersion: 0.2.0
meta:
  version: 0.5.0
  name: my-sql-connector
  type: sql-sink
  topic:
    meta:
      name: sql-sink-topic
  consumer:
    id: my-sql-sink
    offset:
      strategy: auto
      start: beginning
      flush-period:
        secs: 10
        nanos: 0
  secrets:
    - name: DATABASE_URL
sql:
  url: ${{ secrets.DATABASE_URL }}
"""

# Fluvio's http-sink README.
HTTP_README = """
apiVersion: 0.1.0
meta:
  version: 0.1.0
  name: my-http-sink
  type: http-sink
  topic: http-sink-topic
  secrets:
    - name: HTTP_TOKEN
http:
  endpoint: "http://127.0.0.1/post"
  headers:
    - "Authorization: token ${{ secrets.HTTP_TOKEN }}"
    - "Cache-Control: no-cache"
"""

CLASSIC_SQL = """
version: latest
name: json-sql-connector
type: sql-sink
direction: sink
topic: sql-topic
create_topic: true
consumer:
  partition: 0
  offset: {start: {absolute: 5}}
parameters:
  url: sqlite:///var/lib/readings.db
  on_error: skip
  batch_size: 200
  linger: 50ms
  mapping:
    table: readings
    map_columns:
      id: {json_key: id, value: {type: bigint, required: true}}
"""


def test_fluvios_sql_sink_examples_load() -> None:
    basic = load_config(SQL_BASIC, secrets=SECRETS)
    params = basic.parameters
    assert isinstance(params, SqlSinkParameters)
    assert (basic.direction, basic.type, params.mapping) == ("sink", "sql-sink", None)
    assert params.target.redacted == "postgresql://reader@db.example:5432/sensors"
    upsert = load_config(SQL_JSON, secrets=SECRETS).parameters
    assert isinstance(upsert, SqlSinkParameters) and upsert.mapping is not None
    assert (upsert.mapping.table, upsert.mapping.operation, upsert.mapping.unique_columns) == (
        "topic_message", "upsert", ("device_id",))
    consumer = load_config(SQL_CONSUMER, secrets=SECRETS)
    assert (consumer.topic, consumer.consumer_id) == ("sql-sink-topic", "my-sql-sink")
    assert consumer.consumer == ConsumerSettings(id="my-sql-sink", flush_period=timedelta(seconds=10))


def test_fluvios_http_sink_example_loads() -> None:
    config = load_config(HTTP_README, secrets=SECRETS)
    params = config.parameters
    assert isinstance(params, HttpSinkParameters)
    assert params.header_pairs() == [("Authorization", "token tk-abcdef123"), ("Cache-Control", "no-cache")]
    assert (params.method, params.endpoint) == ("POST", "http://127.0.0.1/post")
    assert "tk-abcdef123" not in config.to_yaml()  # the stored config keeps the reference


def test_both_formats_are_one_config_and_what_is_stored_loads_back() -> None:
    classic = load_config(CLASSIC_SQL)
    cdk = load_config(
        "apiVersion: 0.1.0\n"
        "meta: {version: latest, name: json-sql-connector, type: sql-sink, topic: sql-topic, create-topic: true,\n"
        "       consumer: {partition: 0, offset: {start: {absolute: 5}}}}\n"
        "sql: {url: 'sqlite:///var/lib/readings.db', on-error: skip, batch-size: 200, linger: 50ms}\n"
        "transforms:\n"
        "  - uses: infinyon/json-sql@0.2.0\n"
        "    with: {mapping: {table: readings, map-columns: {id: {json-key: id, value: {type: bigint, required: true}}}}}\n")
    assert cdk.parameters == classic.parameters and cdk.consumer == classic.consumer
    assert classic.consumer == ConsumerSettings(start=5)
    again = load_config(classic.to_yaml())
    assert (again.parameters, again.consumer) == (classic.parameters, classic.consumer)


def test_a_password_in_a_plain_url_is_kept_as_a_secret() -> None:
    config = load_config({"name": "s", "type": "sql-sink", "topic": "t",
                          "parameters": {"url": "postgresql://u:pw-in-url-99@h/db"}})
    assert "pw-in-url-99" not in config.to_yaml() and config.secret_values() == {"SQL_URL": "postgresql://u:pw-in-url-99@h/db"}
    assert load_config(config.to_yaml(), secrets=config.secret_values()).parameters == config.parameters


BAD: dict[str, tuple[str, str]] = {
    "unknown-column-type": (CLASSIC_SQL.replace("type: bigint", "type: varchar"),
                            "parameters.mapping.map-columns.id.value.type: unknown column type; expected one of: bool"),
    "mapping-without-table": (CLASSIC_SQL.replace("    table: readings\n", ""),
                              "parameters.mapping.table: missing; expected the table rows go to"),
    "transform-without-table": (SQL_JSON.replace('        table: "topic_message"\n', ""),
                                "transforms[0].with.mapping.table: missing"),
    "url-scheme": (CLASSIC_SQL.replace("sqlite:///var/lib/readings.db", "mysql://u@h/db"),
                   "parameters.url: unsupported scheme (neither postgresql:// nor sqlite://)"),
    "url-scheme-as-written": (SQL_JSON.replace("url: ${{ secrets.DATABASE_URL }}", "url: mysql://u@h/db"),
                              "sql.url: unsupported scheme (neither postgresql:// nor sqlite://)"),
    "sqlite-in-memory": (CLASSIC_SQL.replace("sqlite:///var/lib/readings.db", "'sqlite::memory:'"),
                         "parameters.url: the SQLite URL names no file"),
    "http-scheme": (HTTP_README.replace("http://127.0.0.1/post", "ftp://127.0.0.1/post"),
                    "http.endpoint: unsupported scheme (neither http nor https)"),
    "http-method": (HTTP_README + "  method: DELETE\n", "http.method: expected one of POST, PUT, PATCH"),
    "header": (HTTP_README.replace('"Cache-Control: no-cache"', '"no colon here"'),
               "http.headers: expected \"Name: value\""),
    "start": (CLASSIC_SQL.replace("{absolute: 5}", "{from-end: 5}"),
              "consumer.offset.start: expected beginning, end or {absolute: N}"),
    "partition": (CLASSIC_SQL.replace("partition: 0", "partition: all"),
                  "consumer.partition: a sink reads one partition"),
    "consumer-id": (CLASSIC_SQL.replace("partition: 0", "id: ../etc"), "consumer.id: '../etc' is not a valid consumer name"),
    "strategy-none": (SQL_CONSUMER.replace("strategy: auto", "strategy: none"),
                      "consumer.offset.strategy: a sink always keeps its position"),
    "other-smartmodule": (SQL_JSON.replace("infinyon/json-sql", "infinyon/jolt@0.4.1"),
                          "transforms[0].uses: 'infinyon/jolt@0.4.1': these connectors run no SmartModules"),
    "producer-on-a-sink": (CLASSIC_SQL + "producer: {linger: 10ms}\n", "producer: a sql-sink connector reads its topic"),
    "consumer-on-a-source": ("name: a\ntype: test\ntopic: t\nconsumer: {id: x}\n", "consumer: a test-connector connector is a source"),
    "upsert-without-key": (SQL_JSON.replace('        unique-columns:\n          - "device_id"\n', ""),
                           "unique-columns: upsert needs the columns of a unique key"),
    "long-postgres-name": (SQL_JSON.replace("topic_message", "t" * 64),
                           "is longer than PostgreSQL's 63 bytes"),
    "direction": (CLASSIC_SQL.replace("direction: sink", "direction: source"), "direction: sql-sink is a sink connector"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_validate_says_what_is_wrong_in_one_line(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, expected = BAD[case]
    path = tmp_path / "sink.yaml"
    path.write_text(text)
    env_secrets = tmp_path / "secrets.env"
    env_secrets.write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()))
    code = main(["validate", "--config", str(path), "--secrets", str(env_secrets)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: {path}: ") and expected in line, line
    for value in SECRETS.values():
        assert value not in line or len(value) < 5


def test_validate_summarises_a_sink(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sink.yaml"
    path.write_text(CLASSIC_SQL)
    assert main(["validate", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ok: {path}: connector json-sql-connector (sql-sink sink, version latest) <- reads topic sql-topic")
    assert "mapping=insert into readings (1 columns)" in out and "on-error=skip" in out


def test_catalog_shows_the_direction_and_parameters_of_every_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog"]) == 0
    table = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1] for line in table[1:]}
    assert rows == {"test-connector": "source", "mqtt": "source", "sql-sink": "sink", "http-sink": "sink"}
    for ctype in all_types():
        assert main(["catalog", "--type", ctype.name, "-O", "json"]) == 0
        described: dict[str, Any] = json.loads(capsys.readouterr().out)
        assert described["direction"] == ctype.direction
        assert set(described["parameters"]["properties"]) == set(ctype.parameter_names)
    assert main(["catalog", "--type", "sql-sink"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("sql-sink (sink), image fluvio-connector-sql-sink")
    assert "  url (required): The database: postgresql://" in text
    assert '  batch-size (default 1000)' in text and '  on-error (default "fail")' in text
    assert main(["catalog", "--type", "http-sink"]) == 0
    text = capsys.readouterr().out
    assert "  endpoint (required)" in text and '  method (default "POST")' in text


def test_a_bad_mapping_never_echoes_a_secret_value() -> None:
    with pytest.raises(ConfigError) as failed:
        load_config(SQL_JSON.replace('type: "int"', 'type: "${{ secrets.DB_PASSWORD }}"'), secrets=SECRETS)
    assert "pw-7g5h3j" not in str(failed.value)
