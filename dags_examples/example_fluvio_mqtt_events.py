"""The whole chain: MQTT broker -> MQTT connector -> Fluvio topic -> one DAG run per record.

example_fluvio_mqtt_readings   scheduled on the topic ``example-mqtt-readings`` through an asset
                               watcher: each record the connector writes starts a run (records that
                               arrive together share one), and ``handle_readings`` decodes them
example_fluvio_mqtt_to_topic   creates an MQTT connector writing to that topic (the topic is its
                               outlet, and the connector reports lineage broker -> topic), waits for
                               Running, publishes ``count`` readings to the broker, waits until the
                               connector has stored them, and deletes the connector (a teardown)

Unpause ``example_fluvio_mqtt_readings``, then trigger ``example_fluvio_mqtt_to_topic``. The broker
is the Airflow connection ``mqtt_default`` of type MQTT (or ``AIRFLOW_CONN_MQTT_DEFAULT='mqtt://user:pw@host:1883'``).
With ``qos: 1`` the connector acknowledges a message only once its record is stored, and the
watcher commits its position only once Airflow stored the event: a crash on either side repeats a
reading, never loses one. Nothing is looked up while this file is parsed.

``requeue_leftovers`` makes every reading processed without waiting for a later one on Airflow
3.3.2, which leaves the later events of a burst queued until another event arrives
(https://github.com/apache/airflow/issues/56050; example_fluvio_events.py says how).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_fluvio.assets.fluvio import fluvio_topic_asset
from airflow_provider_fluvio.operators.connector import (
    FluvioCreateConnectorOperator,
    FluvioDeleteConnectorOperator,
    dns_label,
)
from airflow_provider_fluvio.sensors.connector import FluvioConnectorSensor
from airflow_provider_fluvio.triggers.records import fluvio_topic_watcher

MQTT_CONN_ID = "mqtt_default"
TOPIC = "example-mqtt-readings"
READINGS = fluvio_topic_asset(TOPIC, watchers=[fluvio_topic_watcher(TOPIC, consumer="example-mqtt-readings")])
CONNECTOR = '{{ ("example-mqtt-events-" ~ run_id) | dns_label }}'
MQTT_TOPIC = "example/fluvio/readings"

CONFIG = f"""
version: latest
name: {CONNECTOR}
type: mqtt
direction: source
topic: {TOPIC}
create_topic: true
parameters:
  mqtt-topic: "{MQTT_TOPIC}/#"
  qos: 1
  payload-output-type: json
"""

with DAG(
    dag_id="example_fluvio_mqtt_readings",
    description="One run per record the MQTT connector writes to example-mqtt-readings.",
    schedule=[READINGS],
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "fluvio", "mqtt", "events"],
) as readings_dag:

    @task
    def handle_readings(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """Each record of this run as the MQTT connector wrote it: the MQTT topic and the payload."""
        from airflow_provider_fluvio.assets.events import record_payloads, record_value

        readings = []
        for payload in record_payloads(triggering_asset_events):
            message = json.loads(record_value(payload))
            readings.append({"offset": payload["offset"], "mqtt_topic": message["mqtt_topic"], **message["payload"]})
        print(f"handled {len(readings)} reading(s): {readings}")
        return readings

    @task(outlets=[READINGS])
    def requeue_leftovers(triggering_asset_events: Any = None) -> int:
        """Announce the topic again when it holds records after this run's last one
        (apache/airflow#56050); skipped, announcing nothing, otherwise."""
        from airflow.sdk.exceptions import AirflowSkipException

        from airflow_provider_fluvio.assets.events import record_payloads, records_after

        left = records_after(record_payloads(triggering_asset_events))
        if not left:
            raise AirflowSkipException("no record after this run's last one")
        return left

    handle_readings() >> requeue_leftovers()


with DAG(
    dag_id="example_fluvio_mqtt_to_topic",
    description="An MQTT connector fills example-mqtt-readings; each record starts example_fluvio_mqtt_readings.",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={"count": Param(5, type="integer", minimum=1, maximum=1_000, description="Readings to publish.")},
    user_defined_filters={"dns_label": dns_label},
    tags=["example", "fluvio", "mqtt", "events"],
) as chain_dag:
    create_connector = FluvioCreateConnectorOperator(
        task_id="create_connector", config=CONFIG, mqtt_conn_id=MQTT_CONN_ID, outlets=[READINGS]
    )
    # pending_timeout below timeout: a broker that never answers fails the wait with the reason.
    wait_running = FluvioConnectorSensor(task_id="wait_running", connector_name=CONNECTOR, poke_interval=1,
                                         pending_timeout=60, timeout=180)

    @task
    def publish(run_id: str | None = None, params: dict[str, Any] | None = None) -> int:
        """Publish ``count`` readings to the broker of ``mqtt_default``, each acknowledged (qos 1);
        returns the topic's end offset from before, where this run's records start."""
        from airflow_provider_fluvio.hooks.fluvio import FluvioHook
        from airflow_provider_fluvio.hooks.mqtt import MqttHook

        start = FluvioHook().end_offset(TOPIC)
        count = int((params or {})["count"])
        hook = MqttHook(MQTT_CONN_ID)
        with hook.client(dns_label(f"pub-{run_id}")) as client:
            for i in range(1, count + 1):
                message = client.publish(f"{MQTT_TOPIC}/sensor", json.dumps({"reading": i, "run": run_id}), qos=1)
                message.wait_for_publish(timeout=30)
                if not message.is_published():
                    raise RuntimeError(f"reading {i} was not acknowledged by {hook.broker_url()} within 30 s")
        return start

    @task
    def wait_stored(start: int, run_id: str | None = None, params: dict[str, Any] | None = None) -> int:
        """Wait (up to 60 s) until the connector has stored every reading of this run."""
        from airflow_provider_fluvio.hooks.fluvio import FluvioHook

        count, hook, deadline = int((params or {})["count"]), FluvioHook(), time.monotonic() + 60
        while True:
            records = hook.read_records(TOPIC, start, max_records=10_000)
            mine = [r for r in records if json.loads(r.value)["payload"].get("run") == run_id]
            if len(mine) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if len(mine) < count:
            raise RuntimeError(f"{len(mine)} of {count} readings reached topic {TOPIC} within 60 s")
        return len(mine)

    delete_connector = FluvioDeleteConnectorOperator(
        task_id="delete_connector", connector_name=CONNECTOR, ignore_missing=True
    )
    published = publish()
    create_connector >> wait_running >> published
    wait_stored(published) >> delete_connector.as_teardown(setups=create_connector)


if __name__ == "__main__":
    chain_dag.test()
