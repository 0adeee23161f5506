"""The SQL sink as a user runs it: created on the local runtime, records in a topic, rows in
SQLite and a real PostgreSQL, and what the user sees when something is wrong."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from postgres_server import PASSWORD, PostgresServer
from sink_fixtures import (
    SqlDatabase,
    columns,
    create_sink,
    produce,
    sql_sink_config,
    wait_status,
    wait_until,
)

from airflow_provider_fluvio.cli.connector_cmds import wait_until_started
from airflow_provider_fluvio.runtimes.local import LocalRuntime
from fluvio_connectors.errors import ConfigError, FluvioConnectorError
from fluvio_connectors.status import read_status

READINGS = "CREATE TABLE readings (id BIGINT PRIMARY KEY, temp DOUBLE PRECISION, body TEXT)"
MAPPING = {"table": "readings", "map-columns": {**columns(id="bigint", temp="double"),
                                                "body": {"json-key": "$", "value": {"type": "text"}}}}




def delivered(database: SqlDatabase) -> int | None:
    """The sink's next offset in the offsets table (None before the sink created it)."""
    try:
        rows = database.offsets()
    except Exception:
        return None
    return rows[0][3] if rows else None


def reading(i: int) -> dict[str, Any]:
    return {"id": i, "temp": 20 + i / 10}


def test_rows_arrive_once_each_and_status_shows_the_sink(runtime: LocalRuntime, database: SqlDatabase,
                                                        topics_backend: str, topic_name: Any) -> None:
    database.execute(READINGS)
    topic = topic_name("readings")
    produce(topic, [reading(i) for i in range(1, 51)])
    name = create_sink(runtime, sql_sink_config("my-sql-sink", topic, database.url, MAPPING))
    wait_until(lambda: database.count("readings") == 50, 60, "50 rows")
    produce(topic, [reading(i) for i in range(51, 61)])
    wait_until(lambda: database.count("readings") == 60, 60, "60 rows")
    assert database.count("readings", "DISTINCT id") == 60
    assert database.execute("SELECT temp, body FROM readings WHERE id = 7") == [(20.7, '{"id":7,"temp":20.7}')]
    assert database.offsets() == [("my-sql-sink", topic, 0, 60, 60, 0)]

    info = wait_until(lambda: (i := runtime.status(name)).lag == 0 and i.records == 60 and i, 30, "status lag 0")
    assert (info.status.value, info.direction, info.position) == ("Running", "sink", 60)
    assert [(i.name, i.direction, i.lag) for i in runtime.list()] == [(name, "sink", 0)]


def test_a_restarted_or_recreated_sink_continues_from_the_databases_position(runtime: LocalRuntime,
                                                                           database: SqlDatabase) -> None:
    database.execute(READINGS)
    produce("readings", [reading(i) for i in range(1, 21)])
    config = sql_sink_config("resumer", "readings", database.url, MAPPING)
    create_sink(runtime, config)
    wait_until(lambda: database.count("readings") == 20, 60, "20 rows")
    runtime.delete("resumer")
    produce("readings", [reading(i) for i in range(21, 31)])
    create_sink(runtime, config)  # the seed: recreating resumes on the same topic
    wait_until(lambda: database.count("readings") == 30, 60, "30 rows")
    assert database.count("readings", "DISTINCT id") == 30
    assert database.offsets()[0][3:] == (30, 30, 0)


def test_upsert_keeps_the_last_record_of_each_key(runtime: LocalRuntime, database: SqlDatabase) -> None:
    database.execute("CREATE TABLE devices (device TEXT PRIMARY KEY, state TEXT, seen INTEGER)")
    mapping = {"table": "devices", "operation": "upsert", "unique-columns": ["device"],
               "map-columns": columns(device="text", state="text", seen="int")}
    # many updates of a few keys, several of them inside one batch
    produce("devices", [{"device": f"d{i % 3}", "state": f"s{i}", "seen": i} for i in range(30)])
    create_sink(runtime, sql_sink_config("upserter", "devices", database.url, mapping))
    wait_until(lambda: delivered(database) == 30, 60, "30 records delivered")
    assert sorted(database.execute("SELECT device, state, seen FROM devices")) == [
        ("d0", "s27", 27), ("d1", "s28", 28), ("d2", "s29", 29)]


def test_a_poison_record_fails_the_sink_with_its_offset_then_skip_passes_it(
        runtime: LocalRuntime, sqlite_database: SqlDatabase, topics_backend: str, topic_name: Any) -> None:
    poison_then_skip(runtime, sqlite_database, topic_name("poisoned"), b"not json at all")


@pytest.mark.parametrize("poison", [b'{"id": 3, "temp": "hot"}', b'{"temp": 1.5}'],
                         ids=["wrong-type", "required-missing"])
def test_every_kind_of_poison_record(runtime: LocalRuntime, sqlite_database: SqlDatabase, poison: bytes) -> None:
    poison_then_skip(runtime, sqlite_database, "poisoned", poison)


def test_a_poison_record_in_postgresql(runtime: LocalRuntime, pg_database: SqlDatabase) -> None:
    poison_then_skip(runtime, pg_database, "poisoned", b'{"id": 3, "temp": "hot"}')


def poison_then_skip(runtime: LocalRuntime, database: SqlDatabase, topic: str, poison: bytes) -> None:
    database.execute(READINGS)
    produce(topic, [json.dumps(reading(1)), json.dumps(reading(2)), poison, json.dumps(reading(4))])
    mapping = {**MAPPING, "map-columns": {**MAPPING["map-columns"],
                                          "id": {"json-key": "id", "value": {"type": "bigint", "required": True}}}}
    config = sql_sink_config("poisoned", topic, database.url, mapping)
    create_sink(runtime, config)
    info = wait_status(runtime, "poisoned", "Failed")
    assert info.reason is not None and info.reason.startswith(f"record at offset 2 of topic {topic}: ")
    assert "set on-error: skip" in info.reason and "\n" not in info.reason
    assert database.count("readings") == 2  # the records before it, and the position on it
    assert database.offsets()[0][3:] == (2, 2, 0)
    # Never a crash loop: the program stays up, Failed, heartbeating (a later status file is the fence).
    status_file = runtime.root / "poisoned" / "status.json"
    before = read_status(status_file)
    assert before is not None
    wait_until(lambda: (s := read_status(status_file)) and s.updated_at > before.updated_at, 30, "a later heartbeat")
    info = runtime.status("poisoned")
    assert (info.status.value, info.restarts) == ("Failed", 0)

    runtime.delete("poisoned")
    config["parameters"]["on-error"] = "skip"
    create_sink(runtime, config)
    wait_until(lambda: database.count("readings") == 3, 60, "the record after the poison")
    assert database.offsets()[0][3:] == (4, 3, 1)
    assert any("skipped the record at offset 2: " in line for line in runtime.logs("poisoned"))
    wait_until(lambda: runtime.status("poisoned").counters.get("skipped") == 1, 30, "skipped counted")


def test_a_row_the_database_refuses_is_found_in_its_batch(runtime: LocalRuntime, database: SqlDatabase) -> None:
    database.execute("CREATE TABLE checked (id INTEGER PRIMARY KEY, temp DOUBLE PRECISION CHECK (temp < 100))")
    mapping = {"table": "checked", "map-columns": columns(id="int", temp="double")}
    produce("checked", [{"id": i, "temp": 500 if i == 5 else i} for i in range(10)])
    config = sql_sink_config("checker", "checked", database.url, mapping)
    create_sink(runtime, config)
    info = wait_status(runtime, "checker", "Failed")
    assert info.reason is not None and "record at offset 5 of topic checked: the database refused its row" in info.reason
    assert database.count("checked") == 5
    runtime.delete("checker")
    config["parameters"]["on-error"] = "skip"
    create_sink(runtime, config)
    wait_until(lambda: database.count("checked") == 9, 60, "every row but the refused one")
    assert database.offsets()[0][3:] == (10, 9, 1)


def test_names_and_values_cannot_inject_sql(runtime: LocalRuntime, database: SqlDatabase) -> None:
    table = 'odd "name"; DROP TABLE victims; --'
    column = "c'); DROP TABLE victims; --"
    quoted_table, quoted_column = '"' + table.replace('"', '""') + '"', '"' + column.replace('"', '""') + '"'
    database.execute("CREATE TABLE victims (id INTEGER)")
    database.execute(f"CREATE TABLE {quoted_table} ({quoted_column} TEXT, n INTEGER)")
    hostile = ["'); DROP TABLE victims; --", "\"; DROP TABLE victims; --", "Robert'); DROP TABLE students;--",
               "\\x00\\'", "$$; DROP TABLE victims; $$"]
    produce("hostile", [{"v": text, "n": i} for i, text in enumerate(hostile)])
    mapping = {"table": table, "map-columns": {column: {"json-key": "v", "value": {"type": "text"}},
                                               **columns(n="int")}}
    create_sink(runtime, sql_sink_config("hostile", "hostile", database.url, mapping,
                                         **{"offsets-table": 'offsets"; DROP TABLE victims; --'}))
    wait_until(lambda: database.count(quoted_table) == len(hostile), 60, "the hostile rows")
    assert [v for (v,) in database.execute(f"SELECT {quoted_column} FROM {quoted_table} ORDER BY n")] == hostile
    assert database.count("victims") == 0  # still there


def test_a_missing_table_is_failed_with_the_reason_until_it_is_created(runtime: LocalRuntime,
                                                                      database: SqlDatabase) -> None:
    produce("early", [reading(i) for i in range(5)])
    create_sink(runtime, sql_sink_config("early", "early", database.url, MAPPING,
                                         **{"backoff-min": "100ms", "backoff-max": "200ms"}))
    info = wait_status(runtime, "early", "Failed")
    assert info.reason is not None and "readings" in info.reason
    assert ("no such table" in info.reason) if database.kind == "sqlite" else ("does not exist" in info.reason)
    database.execute(READINGS)  # fixing the target is enough: the sink checks again
    wait_until(lambda: database.count("readings") == 5, 60, "the rows once the table exists")
    wait_status(runtime, "early", "Running")


def test_a_wrong_password_is_one_line_that_never_shows_the_password(runtime: LocalRuntime, pg_database: SqlDatabase,
                                                                     tmp_path: Path) -> None:
    wrong = "Wr0ng-Pa55word-xyz"
    url = pg_database.url.replace(PASSWORD, "${{ secrets.DB_PASSWORD }}")
    config = sql_sink_config("badpass", "t", url, MAPPING)
    create_sink(runtime, config, secrets={"DB_PASSWORD": wrong})
    info = wait_status(runtime, "badpass", "Failed")
    assert info.reason is not None and "password authentication failed" in info.reason
    assert "\n" not in info.reason
    shown = [info.reason, *runtime.logs("badpass"), (runtime.root / "badpass" / "config.yaml").read_text(),
             json.dumps([i.to_dict() for i in runtime.list()])]
    for text in shown:
        assert wrong not in text and PASSWORD not in text


def test_a_password_written_in_the_url_is_not_stored(runtime: LocalRuntime, pg_database: SqlDatabase) -> None:
    pg_database.execute(READINGS)
    produce("stored", [reading(1)])
    create_sink(runtime, sql_sink_config("stored", "stored", pg_database.url, MAPPING))
    wait_until(lambda: pg_database.count("readings") == 1, 60, "the row")
    assert PASSWORD not in (runtime.root / "stored" / "config.yaml").read_text()


def test_an_unreachable_database_is_pending_with_the_reason_and_a_wait_gives_up(runtime: LocalRuntime,
                                                                               postgres: PostgresServer) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://fluvio:{PASSWORD}@127.0.0.1:{port}/sinks"
    create_sink(runtime, sql_sink_config("nowhere", "t", url, MAPPING))
    info = wait_until(lambda: (i := runtime.status("nowhere")).reason and "cannot connect" in i.reason and i, 60,
                      "Pending with the reason")
    assert info.status.value == "Pending" and info.reason.startswith("reconnecting: cannot connect to postgresql://fluvio@127.0.0.1")
    assert "Connection refused" in info.reason and PASSWORD not in info.reason
    with pytest.raises(FluvioConnectorError, match=r"has been Pending for .*cannot connect to postgresql") as failed:
        wait_until_started(runtime, "nowhere", 60, pending_timeout=1)
    assert "the connector is still there" in str(failed.value)


@pytest.mark.parametrize(("start", "expected"), [("end", [3, 4]), ({"absolute": 1}, [1, 2, 3, 4])])
def test_where_a_new_sink_starts(runtime: LocalRuntime, sqlite_database: SqlDatabase, start: Any,
                                 expected: list[int]) -> None:
    sqlite_database.execute(READINGS)
    produce("starts", [reading(i) for i in range(3)])
    config = sql_sink_config("starter", "starts", sqlite_database.url, MAPPING)
    config["consumer"] = {"offset": {"start": start}}
    create_sink(runtime, config)
    wait_status(runtime, "starter", "Running")
    produce("starts", [reading(i) for i in range(3, 5)])
    wait_until(lambda: sqlite_database.count("readings") == len(expected), 60, f"{len(expected)} rows")
    assert sorted(i for (i,) in sqlite_database.execute("SELECT id FROM readings")) == expected


def test_two_instances_of_one_sink_never_write_a_record_twice(runtime: LocalRuntime, database: SqlDatabase,
                                                              tmp_path: Path) -> None:
    """A stray second instance (a process left behind, a copy started by hand) races the first
    over records that arrive while both run: the position moves only from where a writer expects
    it, so every row is written once."""
    database.execute(READINGS)
    produce("twice", [reading(0)])
    config = sql_sink_config("twice", "twice", database.url, MAPPING, **{"batch-size": 20, "linger": 0})
    create_sink(runtime, config)
    wait_until(lambda: database.count("readings") == 1, 60, "the first row")
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "config.yaml").write_text((runtime.root / "twice" / "config.yaml").read_text())
    env = {**os.environ, "FLUVIO_CONNECTOR_STATUS_FILE": str(stray / "status.json"), "SQL_URL": database.url}
    with (stray / "log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "fluvio_connectors.sql_sink", "--config",
                                    str(stray / "config.yaml")], env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_until(lambda: (s := read_status(stray / "status.json")) and s.state.value == "ready", 60, "the stray ready")
        for start in range(1, 3001, 100):  # records keep coming while both deliver
            produce("twice", [reading(i) for i in range(start, start + 100)])
        wait_until(lambda: database.count("readings") >= 3001, 60, "3001 rows")
        wait_until(lambda: (s := read_status(stray / "status.json")) and s.position == 3001, 30, "the stray caught up")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert database.count("readings", "DISTINCT id") == 3001 == database.count("readings")
    assert database.offsets()[0][3:] == (3001, 3001, 0)


def test_a_sink_runs_as_one_instance_only(runtime: LocalRuntime, sqlite_database: SqlDatabase) -> None:
    from fluvio_connectors.config import load_config

    config = load_config(sql_sink_config("single", "t", sqlite_database.url, MAPPING))
    with pytest.raises(ConfigError, match=r"a sql-sink connector cannot be split between 2 instances .* expected 1"):
        runtime.create(config, replicas=2)
    assert runtime.list() == []


def test_a_topic_created_again_is_never_skipped_in_silence(runtime: LocalRuntime, sqlite_database: SqlDatabase) -> None:
    from fluvio_connectors.topics import open_topics

    sqlite_database.execute(READINGS)
    produce("again", [reading(i) for i in range(5)])
    config = sql_sink_config("again", "again", sqlite_database.url, MAPPING)
    create_sink(runtime, config)
    wait_until(lambda: sqlite_database.count("readings") == 5, 60, "5 rows")
    runtime.delete("again")
    topics = open_topics()
    try:
        topics.delete_topic("again")
    finally:
        topics.close()
    produce("again", [reading(i) for i in range(10, 12)])  # a new topic: offsets from 0 again
    create_sink(runtime, config)
    info = wait_status(runtime, "again", "Failed")
    assert info.reason is not None and "is past the end of topic again (2)" in info.reason
    assert "delete the row of consumer again from fluvio_sink_offsets" in info.reason
    assert sqlite_database.count("readings") == 5


def test_a_sink_stuck_in_a_database_call_still_stops_on_sigterm(pg_database: SqlDatabase, tmp_path: Path) -> None:
    """Its write waits for a row lock another session holds: a SIGTERM is handled all the same
    (the signal thread), and the stop gives up after the grace period instead of waiting."""
    pg_database.execute(READINGS)
    produce("locked", [reading(1)])
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(sql_sink_config("locked", "locked", pg_database.url, MAPPING)))
    env = {**os.environ, "FLUVIO_CONNECTOR_STATUS_FILE": str(tmp_path / "status.json"),
           "FLUVIO_CONNECTOR_STOP_GRACE": "2"}
    with (tmp_path / "log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "fluvio_connectors.sql_sink", "--config", str(config)],
                                   env=env, stdout=subprocess.DEVNULL, stderr=log)
    assert pg_database.server is not None
    blocker = pg_database.server.connect(options=f"-csearch_path={pg_database.schema}")
    try:
        wait_until(lambda: pg_database.count("readings") == 1, 60, "the first row")
        blocker.execute("BEGIN")
        blocker.execute("SELECT * FROM fluvio_sink_offsets FOR UPDATE")  # held until the end of the test
        produce("locked", [reading(2)])
        wait_until(lambda: any(row[0] == "Lock" for row in pg_database.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE application_name = 'fluvio-locked'")), 30,
            "the sink waiting for the lock")
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 1
        assert time.monotonic() - started < 15
    finally:
        if process.poll() is None:
            process.kill()
        blocker.execute("ROLLBACK")
        blocker.close()
    assert "stopping took longer than 2s" in (tmp_path / "log").read_text()
