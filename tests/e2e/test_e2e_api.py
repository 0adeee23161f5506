"""The example DAGs run by a real scheduler, worker and triggerer, driven through the public REST API.

Unlike ``dag.test()``, which runs triggers inline in one process, here the sensor's trigger is
serialized into the metadata database, picked up by the separate triggerer process, and its event
resumes the task on a worker: the path a deployment takes.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_api import AirflowApi, RunResult, log_text
from airflow_cluster import AirflowCluster, wait_for
from e2e_broker import Broker, mosquitto_with_password
from e2e_connectors import connector_cli, list_connectors

pytestmark = pytest.mark.e2e

TEST_DAG = "example_fluvio_test_connector"
MQTT_DAG = "example_fluvio_mqtt"
EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"
TRIGGER_CLASS = "airflow_provider_fluvio.triggers.connector.FluvioConnectorStatusTrigger"


def _explain(api: AirflowApi, dag_id: str, result: RunResult) -> str:
    """What a failed expectation about a run needs: task states and the failed tasks' logs."""
    lines = [f"run {result.run_id} of {dag_id}: {result.state} after {result.seconds:.1f}s"]
    for task_id, ti in api.task_instances(dag_id, result.run_id).items():
        lines.append(f"  {task_id}: {ti['state']} (seen: {result.seen_states.get(task_id)})")
        if ti["state"] in ("failed", "up_for_retry") and ti["try_number"]:
            log = log_text(api.task_log(dag_id, result.run_id, task_id, ti["try_number"]))
            lines.append("    " + log[-3000:].replace("\n", "\n    "))
    return "\n".join(lines)


def _all_logs(api: AirflowApi, dag_id: str, run_id: str) -> str:
    """Every task log of a run (all tries), as one text."""
    texts = []
    for task_id, ti in api.task_instances(dag_id, run_id).items():
        for try_number in range(1, ti["try_number"] + 1):  # 0: never ran (upstream failed)
            texts.append(log_text(api.task_log(dag_id, run_id, task_id, try_number)))
    return "\n".join(texts)


def test_every_example_dag_is_parsed_by_the_dag_processor(api: AirflowApi) -> None:
    """Each file in dags_examples/ gives a DAG in the running Airflow, and none has an import error."""
    # Airflow's safe mode: only files mentioning both "airflow" and "dag" are DAG files.
    examples = sorted(
        p.name for p in EXAMPLES.glob("*.py") if {"airflow", "dag"} <= set(re.findall(r"airflow|dag", p.read_text().lower()))
    )
    assert examples, f"no example DAG files in {EXAMPLES}"
    api.wait_for_dag(TEST_DAG)

    def all_parsed() -> list[str] | None:
        files = sorted({Path(d["fileloc"]).name for d in api.get("/dags", limit=100)["dags"]})
        return files if files == examples else None

    try:
        wait_for("every example DAG file to be parsed", all_parsed, timeout=60)
    finally:
        errors = api.get("/importErrors")["import_errors"]
        assert not errors, "\n".join(f"{e['filename']}:\n{e['stack_trace']}" for e in errors)


def test_test_connector_dag_defers_to_the_triggerer_and_reads_every_record(airflow: AirflowCluster, api: AirflowApi) -> None:
    """Unpause and trigger the test-connector example; its sensor waits in the triggerer."""
    api.wait_for_dag(TEST_DAG)
    api.unpause(TEST_DAG)
    # Long enough (about 12 s of producing) that wait_finished's first poke in the worker finds
    # the connector still Running and defers to the triggerer, and the trigger polls a few times
    # (a fresh triggerer needs several seconds for its first connection look-up).
    count, interval_ms = 40, 300
    run_id = api.trigger(TEST_DAG, {"count": count, "interval_ms": interval_ms})
    result = api.wait_for_run(TEST_DAG, run_id, timeout=180)
    assert result.state == "success", _explain(api, TEST_DAG, result)
    print(f"\n{TEST_DAG} run took {result.seconds:.1f}s; task states seen: {result.seen_states}")

    # The sensor really deferred: the API showed it deferred, the worker paused it, and the
    # triggerer process deserialized and ran our trigger. The triggerer writes its part of the
    # task's log to its own ``.trigger.<id>.log`` file: a section from "trigger ... starting" to
    # "Trigger fired event" in which the provider's trigger (and the hook it builds) log.
    assert "deferred" in result.seen_states["wait_finished"], result.seen_states
    assert result.seen_triggers["wait_finished"] == {TRIGGER_CLASS}, result.seen_triggers
    assert "wait_finished" in result.claimed_by_triggerer
    events = api.task_log(TEST_DAG, run_id, "wait_finished")
    text = log_text(events)
    assert "Pausing task as DEFERRED" in text, text
    assert any(re.search(r"attempt=1\.log\.trigger\.\d+\.log$", str(e["event"])) for e in events), text
    starts = [i for i, e in enumerate(events) if str(e["event"]).endswith(") starting")]
    fired = [i for i, e in enumerate(events) if e["event"] == "Trigger fired event"]
    assert starts and fired and starts[0] < fired[0], text
    in_trigger = [e for e in events[starts[0] : fired[0]] if "airflow_provider_fluvio" in str(e.get("logger"))]
    assert in_trigger, f"nothing from the provider ran in the triggerer:\n{text}"
    polls = [e for e in in_trigger if e.get("logger") == TRIGGER_CLASS]
    print(f"the trigger polled {len(polls)} time(s) before the connector stopped")
    assert "is Stopped" in text, text  # the trigger's success message, logged on resume

    # The records: what read_records returned and what check_records concluded.
    expected = [f"Hello, Fluvio! - {i}" for i in range(1, count + 1)]
    assert api.xcom(TEST_DAG, run_id, "read_records") == expected
    assert api.xcom(TEST_DAG, run_id, "check_records") == {
        "records": count,
        "first": expected[0],
        "last": expected[-1],
    }

    # The connector is gone; its topic and records stay (the seed's delete semantics), as the
    # CLI sees them in the same FLUVIO_CONNECTORS_HOME.
    created = api.xcom(TEST_DAG, run_id, "create_connector")
    name, topic = created["name"], created["topic"]
    assert api.xcom(TEST_DAG, run_id, "delete_connector") == {"name": name, "deleted": True}
    assert name not in [c["name"] for c in list_connectors(airflow)]
    consumed = connector_cli(airflow, "consume", topic, "-B", "-d", "-O", "json")
    assert consumed.returncode == 0, consumed.stderr
    assert [json.loads(line)["value"] for line in consumed.stdout.splitlines()] == expected


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A mosquitto that accepts one user (``fluvio-e2e``) and nobody else."""
    with mosquitto_with_password(tmp_path / "broker", "fluvio-e2e", secrets.token_urlsafe(16)) as running:
        yield running


def _run_mqtt_example(api: AirflowApi, broker: Broker, password: str, count: int) -> RunResult:
    """Trigger the MQTT example with ``mqtt_default`` pointing at ``broker`` with ``password``."""
    connection = {
        "connection_id": "mqtt_default",
        "conn_type": "mqtt",
        "host": broker.host,
        "port": broker.port,
        "login": broker.username,
        "password": password,
    }
    with api.connection(**connection):
        api.wait_for_dag(MQTT_DAG)
        api.unpause(MQTT_DAG)
        run_id = api.trigger(MQTT_DAG, {"count": count})
        return api.wait_for_run(MQTT_DAG, run_id, timeout=150)


def _assert_secret_nowhere(api: AirflowApi, airflow: AirflowCluster, run_id: str, secret: str) -> None:
    """``secret`` is in no task log of the run, no file of the connector state, no component log, no XCom."""
    assert secret not in _all_logs(api, MQTT_DAG, run_id), "the MQTT password appears in a task log"
    leaked = [str(path) for path in airflow.fluvio_home.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()]
    assert not leaked, f"the MQTT password is written in plain text to {leaked}"
    logged = [p.name for p in airflow.logs_dir.glob("*.log") if secret in p.read_text(errors="replace")]
    assert not logged, f"the MQTT password appears in the logs of {logged}"
    for task_id, ti in api.task_instances(MQTT_DAG, run_id).items():
        if ti["state"] == "success":
            assert secret not in json.dumps(api.xcom(MQTT_DAG, run_id, task_id)), f"the password is in {task_id}'s XCom"


def test_mqtt_dag_gets_its_broker_credentials_from_a_connection(airflow: AirflowCluster, api: AirflowApi, broker: Broker) -> None:
    """The MQTT example against a broker that demands a password: the credentials travel from the
    Airflow connection to the connector as secrets, every published message becomes a record, and
    the password shows up nowhere."""
    count = 5
    result = _run_mqtt_example(api, broker, broker.password, count)
    print(f"\n{MQTT_DAG} run with the right password: {result.state} after {result.seconds:.1f}s")
    assert result.state == "success", _explain(api, MQTT_DAG, result)
    assert api.xcom(MQTT_DAG, result.run_id, "check_records") == count
    _assert_secret_nowhere(api, airflow, result.run_id, broker.password)
    created = api.xcom(MQTT_DAG, result.run_id, "create_connector")
    assert created["name"] not in [c["name"] for c in list_connectors(airflow)]


def test_failing_connector_fails_the_run_fast_with_its_reason(airflow: AirflowCluster, api: AirflowApi, broker: Broker) -> None:
    """The MQTT example with a wrong broker password: the connector crash-loops to Failed, the run
    fails in seconds, the sensor's log says why, and the password shows up nowhere."""
    wrong_password = f"wrong-{secrets.token_urlsafe(12)}"
    result = _run_mqtt_example(api, broker, wrong_password, 3)
    run_id = result.run_id
    print(f"\n{MQTT_DAG} run with a wrong password: {result.state} after {result.seconds:.1f}s")

    assert result.state == "failed", _explain(api, MQTT_DAG, result)
    tasks = api.task_instances(MQTT_DAG, run_id)
    assert tasks["create_connector"]["state"] == "success"
    assert tasks["wait_running"]["state"] == "failed", _explain(api, MQTT_DAG, result)
    assert tasks["delete_connector"]["state"] == "success"  # the teardown still removed it
    log = log_text(api.task_log(MQTT_DAG, run_id, "wait_running"))
    # The sensor gave up because the connector is Failed, not at its 120 s timeout.
    assert "is Failed" in log and "Sensor has timed out" not in log, log
    assert "bad user name or password" in log or "not authorized" in log, log

    _assert_secret_nowhere(api, airflow, run_id, wrong_password)
    created: dict[str, Any] = api.xcom(MQTT_DAG, run_id, "create_connector")
    assert created["name"] not in [c["name"] for c in list_connectors(airflow)]
