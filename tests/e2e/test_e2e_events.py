"""Records that start DAG runs, in a real Airflow: the watcher runs in the separate triggerer process,
its events are stored by the triggerer's supervisor, the scheduler starts the runs, a worker runs them.

The example ``example_fluvio_orders_events`` is scheduled on the topic ``example-orders``; records
are written straight into the deployment's embedded log (as any producer would) and the tests read
what Airflow made of them through the REST API: asset events, DAG runs, XComs. One test kills the
triggerer with SIGKILL while records arrive and starts it again: no record may be missing.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_api import AirflowApi
from airflow_cluster import AirflowCluster, wait_for
from e2e_broker import Broker, mosquitto_with_password
from e2e_events import asset, asset_events, consumed_offsets, deployment_log, record_payloads, wait_processed

pytestmark = pytest.mark.e2e

EVENTS_DAG = "example_fluvio_orders_events"
PRODUCER_DAG = "example_fluvio_orders_producer"
TOPIC = "example-orders"
CONSUMER = "example-orders-events"
URI = f"fluvio+embedded://localhost/{TOPIC}"
TRIGGER = "airflow_provider_fluvio.triggers.records.FluvioRecordTrigger"


def _watch(airflow: AirflowCluster, api: AirflowApi, dag_id: str, topic: str, consumer: str) -> dict[str, Any]:
    """Unpause ``dag_id`` and wait until its watcher runs in the triggerer: its consumer has
    committed its starting position. Returns the topic's asset."""
    with deployment_log(airflow) as topics:
        topics.create_topic(topic)
    api.wait_for_dag(dag_id)
    api.unpause(dag_id)

    def started() -> bool:
        with deployment_log(airflow) as topics:
            return topics.consumer_position(consumer, topic) is not None

    wait_for(f"the watcher of {dag_id} to start in the triggerer", started, timeout=180, interval=1)
    found = asset(api, f"fluvio+embedded://localhost/{topic}")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def orders(airflow: AirflowCluster, api: AirflowApi) -> dict[str, Any]:
    return _watch(airflow, api, EVENTS_DAG, TOPIC, CONSUMER)


def _produce(airflow: AirflowCluster, values: list[bytes], pause: float = 0.0) -> range:
    """Write ``values`` to the topic (one flush each when pausing); returns their offsets."""
    with deployment_log(airflow) as topics:
        start = topics.end_offset(TOPIC)
        with topics.producer(TOPIC) as producer:
            for value in values:
                producer.send(None, value)
                if pause:
                    producer.flush()
                    time.sleep(pause)  # the producer's pace, not a wait for Airflow
    offsets = range(start, start + len(values))
    return offsets


def _events_for(api: AirflowApi, asset_id: int, offsets: range, timeout: float) -> list[dict[str, Any]]:
    """Wait until every offset has an asset event; return the payloads of those offsets."""
    def complete() -> list[dict[str, Any]] | None:
        payloads = record_payloads(asset_events(api, asset_id), offsets)
        return payloads if {p["offset"] for p in payloads} == set(offsets) else None

    return wait_for(f"asset events for offsets {offsets.start}..{offsets.stop - 1}", complete, timeout, interval=1)


def _processed_for(airflow: AirflowCluster, api: AirflowApi, offsets: range, timeout: float) -> list[dict[str, Any]]:
    """Wait until the events DAG has processed every offset and has no run left; return those results."""
    results = wait_processed(
        api, EVENTS_DAG, "process_orders", lambda done: {r["offset"] for r in done} >= set(offsets), timeout=timeout,
    )
    return [r for r in results if r["offset"] in offsets]


def test_each_record_becomes_one_asset_event_and_is_processed_once(airflow: AirflowCluster, api: AirflowApi, orders: dict[str, Any]) -> None:
    tag = secrets.token_hex(4)
    values = [json.dumps({"order": i, "test": tag}).encode() for i in range(20)]
    offsets = _produce(airflow, values)

    payloads = _events_for(api, orders["id"], offsets, timeout=120)
    assert len(payloads) == len(values), "a record made more than one asset event"
    for payload, value in zip(sorted(payloads, key=lambda p: p["offset"]), values, strict=True):
        assert payload["topic"] == TOPIC and payload["partition"] == 0
        assert payload["value"] == value.decode() and payload["value_encoding"] == "utf-8"
        assert payload["value_size"] == len(value) and payload["key"] is None

    results = _processed_for(airflow, api, offsets, timeout=180)
    assert sorted(r["offset"] for r in results) == list(offsets), "a record was processed twice"
    for result in results:
        value = values[result["offset"] - offsets.start]
        assert result["sha256"] == hashlib.sha256(value).hexdigest()
        assert result["from_topic"] is False
    runs = api.get(f"/dags/{EVENTS_DAG}/dagRuns", limit=1000)["dag_runs"]
    assert {r["run_type"] for r in runs} == {"asset_triggered"}
    print(f"\n{len(values)} records -> {len(payloads)} asset events -> {len(runs)} run(s) so far")


def test_every_record_of_a_burst_is_processed_without_a_further_record(airflow: AirflowCluster, api: AirflowApi,
                                                                      orders: dict[str, Any]) -> None:
    """Airflow 3.3.2 runs the DAG for the first event of a burst and keeps the others queued until
    another event arrives (apache/airflow#56050). Five records in one flush, then nothing: the
    example's requeue_leftovers gets every one processed, and every event consumed by a run."""
    tag = secrets.token_hex(4)
    offsets = _produce(airflow, [json.dumps({"order": i, "burst": tag}).encode() for i in range(5)])
    results = _processed_for(airflow, api, offsets, timeout=180)
    assert sorted(r["offset"] for r in results) == list(offsets), "a record was processed twice"
    assert set(offsets) <= set(consumed_offsets(api, EVENTS_DAG)), "an event is still queued"
    with deployment_log(airflow) as topics:
        assert topics.end_offset(TOPIC) == offsets.stop, "something else was written to the topic"
    runs = api.get(f"/dags/{EVENTS_DAG}/dagRuns", limit=1000, order_by="id")["dag_runs"]
    requeued = [r for r in runs if api.task_instances(EVENTS_DAG, r["dag_run_id"])["requeue_leftovers"]["state"] == "success"]
    print(f"\n5 records in one flush -> {len(runs)} run(s) so far, {len(requeued)} of them re-announced the topic")


def test_a_record_too_large_for_an_event_is_read_from_the_topic(airflow: AirflowCluster, api: AirflowApi, orders: dict[str, Any]) -> None:
    big = ("x" * 99_990 + secrets.token_hex(5)).encode()  # 100,000 bytes, over the 64 KiB cap
    offsets = _produce(airflow, [big, b"small"])
    (large, small) = sorted(_events_for(api, orders["id"], offsets, timeout=120), key=lambda p: p["offset"])
    assert (large["value"], large["value_encoding"], large["value_size"]) == (None, "omitted", 100_000)
    assert (small["value"], small["value_encoding"]) == ("small", "utf-8")
    results = {r["offset"]: r for r in _processed_for(airflow, api, offsets, timeout=180)}
    assert results[offsets[0]]["from_topic"] is True
    assert results[offsets[0]]["size"] == 100_000
    assert results[offsets[0]]["sha256"] == hashlib.sha256(big).hexdigest()


def test_a_triggerer_killed_mid_stream_loses_no_record(airflow: AirflowCluster, api: AirflowApi, orders: dict[str, Any]) -> None:
    count = 100  # written over 20 s, so the kill lands while records are still coming
    values = [json.dumps({"order": i, "crash": True}).encode() for i in range(count)]
    with deployment_log(airflow) as topics:
        start = topics.end_offset(TOPIC)
    offsets = range(start, start + count)
    writer = threading.Thread(target=_produce, args=(airflow, values, 0.2), name="producer")
    writer.start()
    try:
        # Kill once some events of this stream are stored and more records are still coming.
        wait_for(
            "the first events of the stream",
            lambda: len(record_payloads(asset_events(api, orders["id"]), offsets)) >= 5,
            timeout=120,
            interval=0.5,
        )
        airflow.kill_component("triggerer")
        stored_at_kill = len(record_payloads(asset_events(api, orders["id"]), offsets))
        airflow.start_component("triggerer")
    finally:
        writer.join(timeout=120)
    assert not writer.is_alive()
    assert stored_at_kill < count, "the stream ended before the kill: the test proved nothing"

    # The new triggerer takes the watcher over once the old one counts as dead (15 s here, 30 s by default).
    payloads = _events_for(api, orders["id"], offsets, timeout=240)
    per_offset = Counter(p["offset"] for p in payloads)
    duplicates = sum(n - 1 for n in per_offset.values())
    print(f"\nkilled the triggerer after {stored_at_kill} of {count} events; "
          f"{len(payloads)} events, {duplicates} duplicate(s)")
    assert set(per_offset) == set(offsets), "a record was missed"
    assert all(p["value"] == values[p["offset"] - start].decode() for p in payloads)
    results = _processed_for(airflow, api, offsets, timeout=240)
    assert {r["offset"] for r in results} == set(offsets)
    with deployment_log(airflow) as topics:
        assert (topics.consumer_position(CONSUMER, TOPIC) or 0) >= offsets.stop


def test_the_asset_links_the_topic_to_its_producer_and_watcher(airflow: AirflowCluster, api: AirflowApi, orders: dict[str, Any]) -> None:
    api.wait_for_dag(PRODUCER_DAG)
    api.unpause(PRODUCER_DAG)
    with deployment_log(airflow) as topics:
        start = topics.end_offset(TOPIC)
    run_id = api.trigger(PRODUCER_DAG, {"count": 3})
    result = api.wait_for_run(PRODUCER_DAG, run_id, timeout=120)
    assert result.state == "success"
    assert api.xcom(PRODUCER_DAG, run_id, "produce_orders") == {"topic": TOPIC, "records": 3}

    graph = asset(api, URI)
    assert graph is not None
    # The events DAG re-announces the topic when records are left (apache/airflow#56050).
    assert {(t["dag_id"], t["task_id"]) for t in graph["producing_tasks"]} == {
        (PRODUCER_DAG, "produce_orders"), (EVENTS_DAG, "requeue_leftovers")}
    assert [d["dag_id"] for d in graph["scheduled_dags"]] == [EVENTS_DAG]
    assert len(graph["watchers"]) == 1 and graph["watchers"][0]["name"].startswith(f"fluvio-{TOPIC}-")
    # The producing task's own event names its run; the three records came through the watcher.
    events = asset_events(api, graph["id"])
    assert [e["source_run_id"] for e in events if e["source_dag_id"] == PRODUCER_DAG] == [run_id]
    payloads = _events_for(api, graph["id"], range(start, start + 3), timeout=120)
    assert [json.loads(p["value"])["order"] for p in sorted(payloads, key=lambda p: p["offset"])] == [0, 1, 2]


# -- the whole chain: MQTT -> connector -> topic -> runs -------------------------------------------


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with mosquitto_with_password(tmp_path / "broker", "fluvio-e2e", secrets.token_urlsafe(16)) as running:
        yield running


def test_mqtt_messages_become_runs_of_the_readings_dag(airflow: AirflowCluster, api: AirflowApi, broker: Broker) -> None:
    readings_dag, chain_dag, topic = "example_fluvio_mqtt_readings", "example_fluvio_mqtt_to_topic", "example-mqtt-readings"
    _watch(airflow, api, readings_dag, topic, "example-mqtt-readings")
    connection = {"connection_id": "mqtt_default", "conn_type": "mqtt", "host": broker.host, "port": broker.port,
                  "login": broker.username, "password": broker.password}
    with api.connection(**connection):
        api.wait_for_dag(chain_dag)
        api.unpause(chain_dag)
        run_id = api.trigger(chain_dag, {"count": 5})
        result = api.wait_for_run(chain_dag, run_id, timeout=240)
    assert result.state == "success", result.seen_states

    done = wait_processed(api, readings_dag, "handle_readings",
                          lambda results: len([r for r in results if r.get("run") == run_id]) >= 5, timeout=180)
    readings = [r for r in done if r.get("run") == run_id]
    assert sorted(r["reading"] for r in readings) == [1, 2, 3, 4, 5]
    assert {r["mqtt_topic"] for r in readings} == {"example/fluvio/readings/sensor"}
    graph = asset(api, f"fluvio+embedded://localhost/{topic}")
    assert graph is not None
    assert {(t["dag_id"], t["task_id"]) for t in graph["producing_tasks"]} == {
        (chain_dag, "create_connector"), (readings_dag, "requeue_leftovers")}
