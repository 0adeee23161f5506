"""MQTT -> Fluvio topic -> SQL table, checked with Airflow's own SQL operators, then torn down.

create_table     ``readings`` in the database of the SQL connection (if it is not there yet)
create_source    an MQTT source from configs/readings_mqtt_source.yaml (seed format): broker and
                 credentials from the ``mqtt`` connection; waits until it is Running
create_sink      a sql-sink from configs/readings_sql_sink.yaml (Fluvio's CDK format, json-sql
                 mapping): its ``SQL_URL`` secret from the SQL connection; waits until it is Running
publish          ``count`` JSON readings to the broker (qos 1, each acknowledged), then waits until
                 the source stored them all in the topic
wait_drained     FluvioConnectorSensor(target_status="Drained"): the sink's lag is 0, i.e. the
                 table holds every record of the topic (each look logs records delivered and lag)
check_count      SQLValueCheckOperator: this run's rows number ``count``
check_readings   SQLCheckOperator: each reading once, 1..count, every temperature present
per_device       SQLExecuteQueryOperator: rows and mean temperature per device, to XCom
delete_sink, delete_source   teardowns: run even when a task above failed; the topic, its
                 records and the table's rows stay

Connections (names are params):

* ``mqtt_conn_id`` (``mqtt_default``): the broker, e.g.
  ``AIRFLOW_CONN_MQTT_DEFAULT='mqtt://user:password@127.0.0.1:1883'``;
* ``sql_conn_id`` (``readings_db``): where the rows go, a SQLite file (no server needed; the
  path must be absolute)::

      AIRFLOW_CONN_READINGS_DB='{"conn_type": "sqlite", "host": "/var/lib/airflow/readings.db"}'

  or a PostgreSQL database (the password is masked and never stored in the connector's config)::

      AIRFLOW_CONN_READINGS_DB='postgresql://fluvio:secret@db.example:5432/telemetry'

  The SQL operators need the ``apache-airflow-providers-sqlite`` or ``-postgres`` package;
* ``fluvio_conn_id`` (``fluvio_default``): absent, the embedded log and local connector processes
  on the worker; a ``fluvio`` connection may name a Fluvio cluster and the Kubernetes runtime
  (where a SQLite file is refused: a pod's files go with it).

Every run uses its own topic and connectors; its rows carry the source's name in ``batch``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from airflow.providers.common.sql.operators.sql import (
    SQLCheckOperator,
    SQLExecuteQueryOperator,
    SQLValueCheckOperator,
)
from airflow.sdk import DAG, Param, task

from airflow_provider_fluvio.operators.connector import (
    FluvioCreateConnectorOperator,
    FluvioDeleteConnectorOperator,
    dns_label,
)
from airflow_provider_fluvio.sensors.connector import FluvioConnectorSensor

# The names in the two config files: one source, one sink and one topic per run.
SOURCE = '{{ ("readings-" ~ run_id) | dns_label }}'
SINK = '{{ ("readings-sink-" ~ run_id) | dns_label }}'
FLUVIO_CONN_ID = "{{ params.fluvio_conn_id }}"
SQL_CONN_ID = "{{ params.sql_conn_id }}"

# Types both SQLite and PostgreSQL know; the primary key refuses a reading stored twice.
CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS readings (
    batch TEXT NOT NULL,
    device TEXT NOT NULL,
    seq INTEGER NOT NULL,
    temperature DOUBLE PRECISION,
    measured_at TIMESTAMP,
    mqtt_topic TEXT,
    PRIMARY KEY (batch, seq)
)
"""
# The batch is a connector name (a DNS label: letters, digits and -), safe inside quotes.
THIS_RUN = f"batch = '{SOURCE}'"

with DAG(
    dag_id="example_fluvio_mqtt_to_sql",
    description="MQTT readings into a SQL table through a Fluvio topic, checked with Airflow's SQL operators.",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={
        "count": Param(20, type="integer", minimum=1, maximum=10_000, description="Readings to publish."),
        "mqtt_conn_id": Param("mqtt_default", type="string", description="The MQTT broker's connection."),
        "sql_conn_id": Param("readings_db", type="string", description="A sqlite or postgres connection."),
        "fluvio_conn_id": Param("fluvio_default", type="string", description="Where topics and connectors live."),
    },
    user_defined_filters={"dns_label": dns_label},
    tags=["example", "fluvio", "mqtt", "sql"],
) as dag:
    create_table = SQLExecuteQueryOperator(task_id="create_table", conn_id=SQL_CONN_ID, sql=CREATE_TABLE)

    create_source = FluvioCreateConnectorOperator(
        task_id="create_source",
        config="configs/readings_mqtt_source.yaml",
        fluvio_conn_id=FLUVIO_CONN_ID,
        mqtt_conn_id="{{ params.mqtt_conn_id }}",
        wait_for_running=True,
    )
    create_sink = FluvioCreateConnectorOperator(
        task_id="create_sink",
        config="configs/readings_sql_sink.yaml",
        fluvio_conn_id=FLUVIO_CONN_ID,
        sql_conn_id=SQL_CONN_ID,
        wait_for_running=True,
    )

    @task
    def publish(topic: str, params: dict[str, Any] | None = None) -> int:
        """Publish ``count`` readings, each acknowledged by the broker; return once the MQTT source
        stored them all in ``topic`` (only then does a lag of 0 mean the table has them all)."""
        from airflow_provider_fluvio.hooks.fluvio import FluvioHook
        from airflow_provider_fluvio.hooks.mqtt import MqttHook

        settings = params or {}
        count = int(settings["count"])
        broker = MqttHook(settings["mqtt_conn_id"])
        with broker.client(f"{topic}-publisher") as client:
            for seq in range(1, count + 1):
                device = f"sensor-{(seq - 1) % 3 + 1}"
                reading = {"batch": topic, "device": device, "seq": seq, "temperature": round(18 + seq % 10 * 0.7, 1),
                           "time": datetime.now(UTC).isoformat()}
                message = client.publish(f"example/readings/{topic}/{device}", json.dumps(reading), qos=1)
                message.wait_for_publish(timeout=30)
                if not message.is_published():
                    raise RuntimeError(f"reading {seq} was not acknowledged by {broker.broker_url()} within 30 s")
        stored = FluvioHook(settings["fluvio_conn_id"]).wait_for_records(topic, count, timeout=60)
        if len(stored) < count:
            raise RuntimeError(f"the MQTT source stored {len(stored)} of {count} readings in topic {topic} within 60 s")
        return count

    wait_drained = FluvioConnectorSensor(
        task_id="wait_drained",
        connector_name=SINK,
        target_status="Drained",
        fluvio_conn_id=FLUVIO_CONN_ID,
        poke_interval=1,
        pending_timeout=60,  # below timeout: a sink stuck Pending fails the wait with its reason
        timeout=120,
    )

    check_count = SQLValueCheckOperator(
        task_id="check_count",
        conn_id=SQL_CONN_ID,
        sql=f"SELECT COUNT(*) FROM readings WHERE {THIS_RUN}",
        pass_value="{{ params.count }}",
    )
    check_readings = SQLCheckOperator(
        task_id="check_readings",
        conn_id=SQL_CONN_ID,
        sql=f"""
        SELECT COUNT(DISTINCT seq) = {{{{ params.count }}}},
               MIN(seq) = 1,
               MAX(seq) = {{{{ params.count }}}},
               COUNT(temperature) = COUNT(*),
               COUNT(DISTINCT device) = {{{{ [params.count, 3] | min }}}}
        FROM readings WHERE {THIS_RUN}
        """,
    )
    per_device = SQLExecuteQueryOperator(
        task_id="per_device",
        conn_id=SQL_CONN_ID,
        sql=f"SELECT device, COUNT(*), AVG(temperature) FROM readings WHERE {THIS_RUN} GROUP BY device ORDER BY device",
    )

    delete_sink = FluvioDeleteConnectorOperator(
        task_id="delete_sink", connector_name=SINK, fluvio_conn_id=FLUVIO_CONN_ID, ignore_missing=True
    )
    delete_source = FluvioDeleteConnectorOperator(
        task_id="delete_source", connector_name=SOURCE, fluvio_conn_id=FLUVIO_CONN_ID, ignore_missing=True
    )

    checks = [check_count, check_readings, per_device]
    [create_table, create_source] >> create_sink
    create_sink >> publish(topic=SOURCE) >> wait_drained >> checks
    checks >> delete_sink.as_teardown(setups=create_sink)
    checks >> delete_source.as_teardown(setups=create_source)


if __name__ == "__main__":
    dag.test()
