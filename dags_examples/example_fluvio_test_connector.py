"""Run the test-connector, wait for it, check its records, delete it.

create_connector   configs/test_connector.yaml rendered for this run (unique name and topic)
wait_running       the connector is Running (or has already finished: it ran)
wait_finished      it produced all its records and stopped on its own
read_records       the records of its topic, from the beginning
check_records      exactly "Hello, Fluvio! - 1" .. "Hello, Fluvio! - N", in order
delete_connector   a teardown: runs even when a task above failed; the topic and records stay

Runs on a fresh Airflow with no connection defined: ``fluvio_default`` absent means the embedded
topic log and local connector processes on the worker (under ``FLUVIO_CONNECTORS_HOME``).
Trigger it with ``{"count": 20}`` to change the number of records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_fluvio.operators.connector import (
    FluvioConsumeOperator,
    FluvioCreateConnectorOperator,
    FluvioDeleteConnectorOperator,
    dns_label,
)
from airflow_provider_fluvio.sensors.connector import FluvioConnectorSensor

# The same expression as the name in configs/test_connector.yaml: one connector per DAG run.
CONNECTOR = '{{ ("example-test-" ~ run_id) | dns_label }}'

with DAG(
    dag_id="example_fluvio_test_connector",
    description="Create a test-connector from a templated YAML file, wait, check its records, delete it.",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={
        "count": Param(10, type="integer", minimum=1, maximum=100_000, description="Records to produce."),
        "interval_ms": Param(200, type="integer", minimum=1, description="Milliseconds between records."),
    },
    user_defined_filters={"dns_label": dns_label},
    tags=["example", "fluvio"],
) as dag:
    create_connector = FluvioCreateConnectorOperator(
        task_id="create_connector",
        config="configs/test_connector.yaml",  # relative to this file's folder (or template_searchpath)
    )

    # pending_timeout below timeout: a connector stuck Pending fails the wait with its reason.
    wait_running = FluvioConnectorSensor(
        task_id="wait_running",
        connector_name=CONNECTOR,
        poke_interval=1,
        pending_timeout=60,
        timeout=120,
    )

    wait_finished = FluvioConnectorSensor(
        task_id="wait_finished",
        connector_name=CONNECTOR,
        target_status="Stopped",
        poke_interval=1,
        pending_timeout=120,
        timeout=300,
    )

    read_records = FluvioConsumeOperator(
        task_id="read_records",
        topic=CONNECTOR,
        count="{{ params.count }}",
        timeout=30,
    )

    @task
    def check_records(values: list[str], params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Every record, in order, exactly as the test-connector writes them."""
        count = int((params or {})["count"])
        expected = [f"Hello, Fluvio! - {i}" for i in range(1, count + 1)]
        if values != expected:
            wrong = next((i for i, (a, b) in enumerate(zip(values, expected, strict=False)) if a != b), None)
            detail = f"first difference at offset {wrong}" if wrong is not None else f"{len(values)} records"
            raise ValueError(f"expected {count} records 'Hello, Fluvio! - 1..{count}', got {detail}")
        return {"records": len(values), "first": values[0], "last": values[-1]}

    delete_connector = FluvioDeleteConnectorOperator(
        task_id="delete_connector",
        connector_name=CONNECTOR,
        ignore_missing=True,  # nothing to delete if create_connector failed
    )

    checked = check_records(read_records.output)
    create_connector >> wait_running >> wait_finished >> read_records
    checked >> delete_connector.as_teardown(setups=create_connector)


if __name__ == "__main__":
    dag.test()
