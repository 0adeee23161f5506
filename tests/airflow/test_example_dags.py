"""The example DAGs end to end in real Airflow (dag.test on SQLite, triggers run inline), on the
embedded defaults: real connector processes, the embedded log, a real MQTT broker. The sensor runs
in poke, reschedule and deferrable mode; a connector that really fails makes it fail fast."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import conf
from example_dags import load_example

from airflow_provider_fluvio.hooks.fluvio import FluvioHook
from airflow_provider_fluvio.operators.connector import (
    FluvioCreateConnectorOperator,
    FluvioDeleteConnectorOperator,
)
from airflow_provider_fluvio.sensors.connector import FluvioConnectorSensor
from airflow_provider_fluvio.triggers.connector import FluvioConnectorStatusTrigger
from airflow_provider_fluvio.ui.links import FluvioConnectorLink, connector_ui_url

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "dags_examples"

HELLO = [f"Hello, Fluvio! - {i}" for i in range(1, 11)]


@pytest.fixture
def trigger_events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every event a FluvioConnectorStatusTrigger yields (dag.test builds it from its serialized form)."""
    events: list[tuple[str, dict[str, Any]]] = []
    original = FluvioConnectorStatusTrigger.run

    async def recording_run(self: FluvioConnectorStatusTrigger) -> Any:
        async for event in original(self):
            events.append((self.wait.target_status, dict(event.payload)))
            yield event

    monkeypatch.setattr(FluvioConnectorStatusTrigger, "run", recording_run)
    return events


def test_examples_parse_cleanly_without_io(monkeypatch: pytest.MonkeyPatch, fluvio_home: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    # A connection lookup at parse time would fail on this; none happens.
    monkeypatch.setenv("AIRFLOW_CONN_FLUVIO_DEFAULT", "{not json")
    bag = DagBag(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == [
        "example_fluvio_hook",
        "example_fluvio_kubernetes",
        "example_fluvio_mqtt",
        "example_fluvio_mqtt_readings",
        "example_fluvio_mqtt_to_sql",
        "example_fluvio_mqtt_to_topic",
        "example_fluvio_orders_events",
        "example_fluvio_orders_producer",
        "example_fluvio_test_connector",
    ]
    assert list(fluvio_home.iterdir()) == []


def test_every_example_sensor_gives_up_on_pending_before_its_timeout() -> None:
    """A connector that cannot reach its source must fail the wait with the reason
    (``pending_timeout``), not with a bare ``AirflowSensorTimeout``."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES))
    sensors = [(dag.dag_id, task) for dag in bag.dags.values() for task in dag.tasks
               if isinstance(task, FluvioConnectorSensor)]
    assert len(sensors) >= 4
    for dag_id, task in sensors:
        assert task.pending_timeout is not None and task.pending_timeout < task.timeout, (dag_id, task.task_id)


@pytest.mark.slow
def test_demo_runs_the_example_in_poke_mode(fluvio_home: Path) -> None:
    """The README's main job: the example DAG (sensors in their default poke mode) in a fresh
    Airflow home, as a user runs it."""
    demo = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--count", "4"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    lines = demo.stdout.splitlines()
    assert "demo: OK" in lines
    assert [line.strip() for line in lines if line.strip().startswith("Hello, Fluvio!")] == HELLO[:4]
    assert any(line.startswith("connector example-test-") and line.endswith("deleted: yes") for line in lines)
    for task_id in (
        "create_connector",
        "wait_running",
        "wait_finished",
        "read_records",
        "check_records",
        "delete_connector",
    ):
        assert f"  {task_id:<18} success" in lines
    assert list(fluvio_home.iterdir()) == []  # the demo used its own state directory


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["reschedule", "deferrable"])
def test_test_connector_example(run_dag: Any, mode: str, trigger_events: list[Any]) -> None:
    dag = load_example("example_fluvio_test_connector").dag
    for task_id in ("wait_running", "wait_finished"):
        sensor = dag.get_task(task_id)
        assert isinstance(sensor, FluvioConnectorSensor)
        if mode == "deferrable":
            sensor.deferrable = True
        else:
            sensor.mode = mode
    # 10 records 500 ms apart: the connector is still producing when wait_finished first looks.
    result = run_dag(dag, register=False, run_conf={"count": 10, "interval_ms": 500})

    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}
    assert result.xcom("read_records") == HELLO
    assert result.xcom("check_records") == {"records": 10, "first": HELLO[0], "last": HELLO[-1]}
    name = result.xcom("create_connector")["name"]
    # Each task that worked on the connector links to its page in the Connectors view.
    page = connector_ui_url(conf.get("api", "base_url", fallback=""), "fluvio_default", name)
    for task_id in ("create_connector", "wait_running", "wait_finished", "delete_connector"):
        assert result.xcom(task_id, key=f"_link_{FluvioConnectorLink.__name__}") == page, task_id
    hook = FluvioHook()
    assert name not in [c.name for c in hook.list_connectors()]  # deleted
    assert [r.value_text() for r in hook.read_records(name)] == HELLO  # its topic and records stay
    # Waiting for the connector to finish really waited, in the chosen mode.
    if mode == "reschedule":
        assert result.reschedules("wait_finished") >= 1
    else:
        finished = [payload for target, payload in trigger_events if target == "Stopped"]
        assert finished and finished[-1]["status"] == "success"
        assert finished[-1]["info"]["status"] == "Stopped"


@pytest.mark.slow
def test_test_connector_example_on_a_fluvio_cluster_with_a_deferrable_sensor(
    run_dag: Any, fluvio_cluster: Any, monkeypatch: pytest.MonkeyPatch, trigger_events: list[Any]
) -> None:
    """The same DAG with topics in a real Fluvio cluster: the connector writes there, the
    deferrable sensor waits in the trigger, the consume operator counts the records it reads."""
    monkeypatch.setenv("FLUVIO_ENDPOINT", fluvio_cluster.endpoint)
    dag = load_example("example_fluvio_test_connector").dag
    for task_id in ("wait_running", "wait_finished"):
        dag.get_task(task_id).deferrable = True
    result = run_dag(dag, register=False, run_conf={"count": 10, "interval_ms": 300})

    assert result.state == "success", result.task_states
    assert result.xcom("read_records") == HELLO
    name = result.xcom("create_connector")["name"]
    from fluvio_connectors.topics.fluvio import FluvioTopics

    with FluvioTopics(fluvio_cluster.endpoint) as topics:  # in the cluster, not in an embedded log
        assert [r.value_text() for r in topics.read(name)] == HELLO
    finished = [payload for target, payload in trigger_events if target == "Stopped"]
    assert finished and finished[-1]["status"] == "success"


@pytest.mark.slow
def test_mqtt_example(run_dag: Any, mqtt_broker: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_MQTT_DEFAULT", f"mqtt://reader:pw-81723@{mqtt_broker.host}:{mqtt_broker.port}"
    )
    result = run_dag(load_example("example_fluvio_mqtt").dag, register=False)
    assert result.state == "success", result.task_states
    assert result.xcom("publish") == 20 and result.xcom("check_records") == 20
    name = result.xcom("create_connector")["name"]
    records = [json.loads(r.value_text()) for r in FluvioHook().read_records(name)]
    assert records[0] == {"mqtt_topic": f"example/fluvio/{name}/sensor", "payload": {"reading": 1}}
    assert FluvioHook().list_connectors() == []
    assert "pw-81723" not in json.dumps(result.xcom("create_connector"))


@pytest.mark.slow
def test_hook_example(run_dag: Any) -> None:
    result = run_dag(load_example("example_fluvio_hook").dag, register=False)
    assert result.state == "success", result.task_states
    run = result.xcom("run_connector")
    assert run["values"] == HELLO[:5]
    summary = result.xcom("summarize")
    assert summary["offset"] == 0 and summary["summary"] == {
        "connector": run["connector"],
        "records": 5,
        "last": "Hello, Fluvio! - 5",
    }
    assert FluvioHook().list_connectors() == []


@pytest.mark.slow
@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_failing_connector_fails_the_sensor_fast(
    run_dag: Any, set_connection: Any, failures: Any, deferrable: bool
) -> None:
    """A real failure: the broker connection carries a CA certificate that is not one, so every
    start of the MQTT connector exits with a config error until the runtime declares a crash loop."""
    from airflow.providers.common.compat.sdk import AirflowFailException
    from airflow.sdk import DAG

    record, seen = failures
    set_connection(
        "bad_tls_broker",
        conn_type="mqtts",
        host="127.0.0.1",
        port=8883,
        extra={"ca_cert": "this is not a certificate"},
    )
    config = {
        "name": "bad-tls",
        "type": "mqtt",
        "topic": "bad-tls",
        "create_topic": True,
        "parameters": {"mqtt-topic": "sensors/#"},
    }
    with DAG(f"fluvio_test_failing_{int(deferrable)}", schedule=None, catchup=False) as dag:
        create = FluvioCreateConnectorOperator(task_id="create", config=config, mqtt_conn_id="bad_tls_broker")
        wait = FluvioConnectorSensor(
            task_id="wait_running",
            connector_name="bad-tls",
            poke_interval=1,
            timeout=600,
            deferrable=deferrable,
            on_failure_callback=record,
            log_tail=5,
        )
        delete = FluvioDeleteConnectorOperator(task_id="delete", connector_name="bad-tls")
        create >> wait >> delete.as_teardown(setups=create)
    result = run_dag(dag)

    assert result.state == "failed"
    assert result.task_states == {"create": "success", "wait_running": "failed", "delete": "success"}
    error = seen["wait_running"]
    # Failed, not timed out: the sensor gave up because the runtime declared the connector Failed.
    assert isinstance(error, AirflowFailException)
    first, *tail = str(error).splitlines()
    assert first.startswith("connector bad-tls is Failed: bad config (exit code 2): secret MQTT_CA_CERT: "
                            "not a PEM certificate")
    # The log holds at least the supervisor's line about the start when the runtime says Failed;
    # how many more lines it has by the time the sensor looks is up to the machine's load.
    assert tail and re.fullmatch(r"the last log line of bad-tls:|last [2-5] log lines of bad-tls:", tail[0]), tail
    assert 1 <= len(tail[1:]) <= 5 and all(line.startswith("  ") for line in tail[1:])
    assert FluvioHook().list_connectors() == []
