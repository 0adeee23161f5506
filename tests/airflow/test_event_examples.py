"""The event-driven examples with dag.test (the watcher itself runs in tests/e2e, where a triggerer
exists), and the helpers their tasks use to read records out of asset events."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace
from typing import Any

import pytest
from example_dags import load_example

from airflow_provider_fluvio.assets.events import record_payloads, record_value, records_after
from airflow_provider_fluvio.hooks.fluvio import FluvioHook
from airflow_provider_fluvio.triggers.records import FluvioRecordTrigger


def test_the_examples_watch_their_topics_with_named_consumers() -> None:
    events = load_example("example_fluvio_events")
    (watcher,) = events.ORDERS.watchers
    assert isinstance(watcher.trigger, FluvioRecordTrigger)
    assert (watcher.trigger.topic, watcher.trigger.consumer) == ("example-orders", "example-orders-events")
    assert events.ORDERS.uri == "fluvio+embedded://localhost/example-orders"
    assert list(events.events_dag.timetable.asset_condition.objects) == [events.ORDERS]
    chain = load_example("example_fluvio_mqtt_events")
    assert [w.trigger.consumer for w in chain.READINGS.watchers] == ["example-mqtt-readings"]
    assert [o.uri for o in chain.chain_dag.get_task("create_connector").outlets] == [chain.READINGS.uri]


def test_the_producer_example_writes_orders(run_dag: Any) -> None:
    module = load_example("example_fluvio_events")
    result = run_dag(module.producer_dag, run_conf={"count": 3})
    assert result.state == "success", result.task_states
    assert result.xcom("produce_orders") == {"topic": "example-orders", "records": 3}
    orders = [json.loads(r.value_text()) for r in FluvioHook().read_records("example-orders")]
    assert [o["order"] for o in orders] == [0, 1, 2]
    assert {o["run"] for o in orders} == {result.run_id}


@pytest.mark.slow
def test_the_chain_example_fills_the_watched_topic_from_mqtt(run_dag: Any, mqtt_broker: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MQTT_DEFAULT", f"mqtt://{mqtt_broker.host}:{mqtt_broker.port}")
    module = load_example("example_fluvio_mqtt_events")
    result = run_dag(module.chain_dag, run_conf={"count": 4})
    assert result.state == "success", result.task_states
    assert result.xcom("wait_stored") == 4
    readings = [json.loads(r.value_text()) for r in FluvioHook().read_records("example-mqtt-readings")]
    assert [r["payload"]["reading"] for r in readings] == [1, 2, 3, 4]
    assert {r["mqtt_topic"] for r in readings} == {"example/fluvio/readings/sensor"}
    assert FluvioHook().list_connectors() == []  # the teardown deleted it


# -- reading records out of triggering asset events -------------------------------------------------


def event(payload: Any, from_trigger: bool = True) -> SimpleNamespace:
    extra = {"from_trigger": True, "payload": payload} if from_trigger else {}
    return SimpleNamespace(extra=extra)


def test_record_payloads_keeps_record_events_only_in_order() -> None:
    record = {"topic": "t", "partition": 0, "offset": 5, "value": "a", "value_encoding": "utf-8"}
    later = {**record, "offset": 6}
    events = {"asset": [event(record), event(None, from_trigger=False), event({"status": "timeout"}), event(later)]}
    assert record_payloads(events) == [record, later]
    assert record_payloads(None) == []


def test_record_payloads_are_in_topic_order_whatever_order_airflow_hands_them_over() -> None:
    """A run logged 'offsets [2, 5, 1, 3, 4]': Airflow's events come in no particular order."""
    def record(topic: str, partition: int, offset: int) -> dict[str, Any]:
        return {"topic": topic, "partition": partition, "offset": offset, "value": f"{offset}", "value_encoding": "utf-8"}

    events = {
        "orders": [event(record("orders", 0, o)) for o in (2, 5, 1, 3, 4)] + [event(record("orders", 1, 0))],
        "audit": [event(record("audit", 0, 10)), event(record("audit", 0, 9)), event(record("audit", 0, 9))],
    }
    got = [(p["topic"], p["partition"], p["offset"]) for p in record_payloads(events)]
    assert got == [("audit", 0, 9), ("audit", 0, 9), ("audit", 0, 10),
                   *[("orders", 0, o) for o in range(1, 6)], ("orders", 1, 0)]


def test_records_after_counts_what_a_run_did_not_get() -> None:
    hook = FluvioHook()
    hook.produce("orders", [b"0", b"1", b"2", b"3", b"4"], create_topic=True)
    payloads = [{"topic": "orders", "partition": 0, "offset": o} for o in (1, 0)]
    assert records_after(payloads, hook) == 3  # offsets 2, 3, 4
    assert records_after([*payloads, {"topic": "orders", "partition": 0, "offset": 4}]) == 0
    assert records_after([]) == 0


def test_the_event_examples_announce_their_topic_again_only_when_records_are_left() -> None:
    """The step that works around apache/airflow#56050: skipped when the run got the last record,
    an event on the DAG's own asset when records are left."""
    events = load_example("example_fluvio_events")
    requeue = events.events_dag.get_task("requeue_leftovers")
    assert [o.uri for o in requeue.outlets] == [events.ORDERS.uri]
    chain = load_example("example_fluvio_mqtt_events")
    assert [o.uri for o in chain.readings_dag.get_task("requeue_leftovers").outlets] == [chain.READINGS.uri]


def test_record_value_decodes_text_base64_and_reads_what_was_left_out() -> None:
    hook = FluvioHook()
    big = b"y" * 70_000
    hook.produce("t", [b"first", big], create_topic=True)
    base = {"topic": "t", "partition": 0}
    assert record_value({**base, "offset": 0, "value": "é", "value_encoding": "utf-8"}) == "é".encode()
    assert record_value({**base, "offset": 0, "value": base64.b64encode(b"\xff\x00").decode(), "value_encoding": "base64"}) == b"\xff\x00"
    assert record_value({**base, "offset": 1, "value": None, "value_encoding": "omitted"}) == big
    with pytest.raises(LookupError, match=r"record t@9 is no longer in the topic"):
        record_value({**base, "offset": 9, "value": None, "value_encoding": "omitted"})
