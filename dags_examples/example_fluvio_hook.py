"""Your own operator on top of ``FluvioHook``: run a finite connector to completion in one task.

run_connector   a custom operator: creates a test-connector through the hook, waits until it has
                produced everything and stopped, reads its records, and always deletes it
summarize       a TaskFlow task using the hook directly: writes a summary record to a second topic
                and reads it back

The hook is what operators, sensors and your own code share: create/delete/list connectors, their
status and logs, topic administration, producing and reading records. Runs on the embedded
defaults when no ``fluvio_default`` connection is defined.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, BaseOperator, task
from airflow.sdk.exceptions import AirflowException

from airflow_provider_fluvio.hooks.fluvio import FluvioHook
from airflow_provider_fluvio.operators.connector import dns_label


class RunTestConnectorOperator(BaseOperator):
    """Create a test-connector producing ``count`` records, wait until it stopped, return its
    records' values and delete it (also when anything fails).

    :param name: Connector and topic name (templated; a DNS-1123 label).
    :param count: Records to produce.
    :param interval_ms: Milliseconds between records.
    :param wait_timeout: Seconds to wait for the connector to finish.
    :param fluvio_conn_id: The ``fluvio`` connection.
    """

    template_fields: Sequence[str] = ("name",)

    def __init__(
        self,
        *,
        name: str,
        count: int = 5,
        interval_ms: int = 50,
        wait_timeout: float = 120.0,
        fluvio_conn_id: str = FluvioHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.count = count
        self.interval_ms = interval_ms
        self.wait_timeout = wait_timeout
        self.fluvio_conn_id = fluvio_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        hook = FluvioHook(self.fluvio_conn_id)  # built here, not in __init__: no I/O at parse time
        config = {
            "version": "latest",
            "name": self.name,
            "type": "test-connector",
            "topic": self.name,
            "create_topic": True,
            "parameters": {"count": self.count, "timeout": self.interval_ms},
        }
        info = hook.create_connector(config)
        self.log.info("Created %s (%s), %s", info.name, info.status.value, hook.describe())
        try:
            deadline = time.monotonic() + self.wait_timeout
            while True:
                check = hook.check_connector(self.name, "Stopped")
                if check.outcome == "reached":
                    break
                if check.outcome == "failed":
                    raise AirflowException(check.message)
                if time.monotonic() > deadline:
                    raise AirflowException(f"not finished after {self.wait_timeout:g} s: {check.message}")
                time.sleep(0.2)
            values = [record.value_text() for record in hook.read_records(self.name)]
        finally:
            hook.delete_connector(self.name, ignore_missing=True)
        self.log.info("Connector %s produced %d records and is deleted", self.name, len(values))
        return {"connector": self.name, "records": len(values), "values": values}


with DAG(
    dag_id="example_fluvio_hook",
    description="A custom operator and a TaskFlow task using FluvioHook directly.",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    user_defined_filters={"dns_label": dns_label},
    tags=["example", "fluvio"],
) as dag:
    run_connector = RunTestConnectorOperator(
        task_id="run_connector", name='{{ ("example-hook-" ~ run_id) | dns_label }}', count=5
    )

    @task
    def summarize(result: dict[str, Any]) -> dict[str, Any]:
        """Store one summary record next to the data and read it back."""
        hook = FluvioHook()
        topic = f"{result['connector'][:55]}-summary"
        summary = {
            "connector": result["connector"],
            "records": result["records"],
            "last": result["values"][-1],
        }
        hook.produce(topic, [json.dumps(summary)], create_topic=True)
        (record,) = hook.read_records(topic)
        return {"topic": topic, "offset": record.offset, "summary": json.loads(record.value_text())}

    summarize(run_connector.output)


if __name__ == "__main__":
    dag.test()
