"""The MQTT -> SQL example (``example_fluvio_mqtt_to_sql``) in the real Airflow: scheduler, LocalExecutor
workers, triggerer. An MQTT source and a sql-sink created from the YAML files, readings published
through the ``mqtt`` connection, the sink drained (its sensor deferrable, as this deployment makes
every sensor), the table checked by Airflow's own SQL operators on a SQLite connection (no database
server: the embedded defaults), both connectors deleted; no credential anywhere it should not be."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_api import AirflowApi, RunResult, log_text
from airflow_cluster import AirflowCluster
from e2e_broker import Broker, mosquitto_with_password
from e2e_connectors import list_connectors

pytestmark = pytest.mark.e2e

DAG_ID = "example_fluvio_mqtt_to_sql"
TASKS = ("create_table", "create_source", "create_sink", "publish", "wait_drained", "check_count", "check_readings",
         "per_device", "delete_sink", "delete_source")


@pytest.fixture
def connections(api: AirflowApi, tmp_path: Path) -> Iterator[tuple[Broker, Path]]:
    """``mqtt_default`` (a broker that wants a password) and ``readings_db`` (a SQLite file), as
    an admin defines them in the UI; removed after."""
    database = tmp_path / "readings.db"
    with (
        mosquitto_with_password(tmp_path / "broker", "fluvio-e2e", secrets.token_urlsafe(16)) as broker,
        api.connection(connection_id="mqtt_default", conn_type="mqtt", host=broker.host, port=broker.port,
                       login=broker.username, password=broker.password),
        api.connection(connection_id="readings_db", conn_type="sqlite", host=str(database)),
    ):
        yield broker, database


def _explain(api: AirflowApi, result: RunResult) -> str:
    lines = [f"run {result.run_id}: {result.state} after {result.seconds:.1f}s"]
    for task_id, ti in api.task_instances(DAG_ID, result.run_id).items():
        lines.append(f"  {task_id}: {ti['state']}")
        if ti["state"] in ("failed", "up_for_retry", "upstream_failed") and ti["try_number"]:
            log = log_text(api.task_log(DAG_ID, result.run_id, task_id, ti["try_number"]))
            lines.append("    " + log[-3000:].replace("\n", "\n    "))
    return "\n".join(lines)


def test_mqtt_to_sql_pipeline_lands_every_reading_and_checks_it_with_sql_operators(
    airflow: AirflowCluster, api: AirflowApi, connections: tuple[Broker, Path]
) -> None:
    broker, database = connections
    count = 15
    api.wait_for_dag(DAG_ID)
    api.unpause(DAG_ID)
    run_id = api.trigger(DAG_ID, {"count": count})
    result = api.wait_for_run(DAG_ID, run_id, timeout=240)
    print(f"\n{DAG_ID} run took {result.seconds:.1f}s; task states seen: {result.seen_states}")
    assert result.state == "success", _explain(api, result)
    states = {task_id: ti["state"] for task_id, ti in api.task_instances(DAG_ID, run_id).items()}
    assert states == dict.fromkeys(TASKS, "success")

    source, sink = api.xcom(DAG_ID, run_id, "create_source")["name"], api.xcom(DAG_ID, run_id, "create_sink")["name"]
    drained = api.xcom(DAG_ID, run_id, "wait_drained")
    assert (drained["name"], drained["direction"], drained["lag"], drained["position"]) == (sink, "sink", 0, count)
    wait_log = log_text(api.task_log(DAG_ID, run_id, "wait_drained"))
    assert f"sink {sink} is drained: delivered every record before offset {count}, lag 0" in wait_log, wait_log
    # The SQL operators' view: SQLValueCheckOperator and SQLCheckOperator passed (their task states
    # above); per_device's rows reached XCom (the API shows each row as "(device,count,mean)"): 5
    # readings for each of the 3 devices.
    rows = [row.strip("()").split(",") for row in api.xcom(DAG_ID, run_id, "per_device")]
    assert [row[:2] for row in rows] == [[f"sensor-{d}", "5"] for d in (1, 2, 3)]
    with sqlite3.connect(database) as conn:  # and the file the connection names holds them
        seqs = conn.execute("SELECT seq FROM readings WHERE batch = ? ORDER BY seq", (source,)).fetchall()
    assert [seq for (seq,) in seqs] == list(range(1, count + 1))

    # Torn down: neither connector is left; the sink's config kept the secret's name, not its value.
    assert not {source, sink} & {c["name"] for c in list_connectors(airflow)}
    assert api.xcom(DAG_ID, run_id, "create_sink")["config"]["secrets"] == ["SQL_URL"]
    everything = json.dumps([api.xcom(DAG_ID, run_id, t) for t in ("create_source", "create_sink", "wait_drained")])
    assert broker.password not in everything
    logs = "\n".join(log_text(api.task_log(DAG_ID, run_id, t)) for t in TASKS)
    assert broker.password not in logs
