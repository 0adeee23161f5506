"""Subscribe an MQTT connector to a broker, publish to the broker, check the records, delete it.

create_connector   an mqtt connector (inline YAML config); the broker address and credentials come
                   from the Airflow connection ``mqtt_default`` (see below), never from the config
wait_running       the connector is connected and subscribed
publish            N JSON messages to the broker with paho-mqtt, at qos 1
read_records       N records from the connector's topic
check_records      each record is {"mqtt_topic": ..., "payload": {"reading": i}}, in order
delete_connector   a teardown: runs even when a task above failed; the topic and records stay

Define the broker once, as an Airflow connection of type **MQTT** (Admin -> Connections; its Test
button connects to the broker), or in the environment::

    export AIRFLOW_CONN_MQTT_DEFAULT='mqtt://user:password@127.0.0.1:1883'

Login and password are optional and become the connector's MQTT_USERNAME / MQTT_PASSWORD secrets
(the password is masked in task logs); ``tls`` and the PEM fields of the connection make it mqtts.

Topics live where ``fluvio_default`` says (absent: the embedded log on the worker).
"""

from __future__ import annotations

import json
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

MQTT_CONN_ID = "mqtt_default"
CONNECTOR = '{{ ("example-mqtt-" ~ run_id) | dns_label }}'

# The config in the seed's format, as an inline template. No mqtt-url: the connector gets the
# broker from the secret MQTT_URL, which mqtt_conn_id fills in from the connection's host and port.
CONFIG = f"""
version: latest
name: {CONNECTOR}
type: mqtt
direction: source
topic: {CONNECTOR}
create_topic: true
parameters:
  mqtt-topic: "example/fluvio/{CONNECTOR}/#"
  qos: 1
  payload-output-type: json
"""

with DAG(
    dag_id="example_fluvio_mqtt",
    description="An MQTT connector fed by messages this DAG publishes; the broker is an Airflow connection.",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={
        "count": Param(20, type="integer", minimum=1, maximum=10_000, description="Messages to publish.")
    },
    user_defined_filters={"dns_label": dns_label},
    tags=["example", "fluvio", "mqtt"],
) as dag:
    create_connector = FluvioCreateConnectorOperator(
        task_id="create_connector",
        config=CONFIG,
        mqtt_conn_id=MQTT_CONN_ID,
    )

    # pending_timeout below timeout: a broker that never answers fails the wait with the reason
    # (e.g. "cannot connect to mqtt://HOST:PORT: Connection refused"), not a bare timeout.
    wait_running = FluvioConnectorSensor(
        task_id="wait_running", connector_name=CONNECTOR, poke_interval=1, pending_timeout=60, timeout=180
    )

    @task
    def publish(connector: str, params: dict[str, Any] | None = None) -> int:
        """Publish ``count`` messages to the broker of ``mqtt_default`` and wait for each PUBACK."""
        from airflow_provider_fluvio.hooks.mqtt import MqttHook

        count = int((params or {})["count"])
        hook = MqttHook(MQTT_CONN_ID)
        with hook.client(f"{connector}-publisher") as client:
            for i in range(1, count + 1):
                message = client.publish(f"example/fluvio/{connector}/sensor", json.dumps({"reading": i}), qos=1)
                message.wait_for_publish(timeout=30)
                if not message.is_published():
                    raise RuntimeError(f"message {i} was not acknowledged by {hook.broker_url()} within 30 s")
        return count

    read_records = FluvioConsumeOperator(
        task_id="read_records", topic=CONNECTOR, count="{{ params.count }}", timeout=60
    )

    @task
    def check_records(values: list[str], connector: str, params: dict[str, Any] | None = None) -> int:
        """Every message arrived once, in order, as the MQTT connector's JSON record."""
        count = int((params or {})["count"])
        got = [json.loads(value) for value in values]
        expected = [
            {"mqtt_topic": f"example/fluvio/{connector}/sensor", "payload": {"reading": i}}
            for i in range(1, count + 1)
        ]
        if got != expected:
            raise ValueError(
                f"records differ from the published messages: first got {got[:1]}, expected {expected[:1]}"
            )
        return len(got)

    delete_connector = FluvioDeleteConnectorOperator(
        task_id="delete_connector", connector_name=CONNECTOR, ignore_missing=True
    )

    published = publish(connector=CONNECTOR)
    checked = check_records(read_records.output, connector=CONNECTOR)
    create_connector >> wait_running >> published >> read_records
    checked >> delete_connector.as_teardown(setups=create_connector)


if __name__ == "__main__":
    dag.test()
