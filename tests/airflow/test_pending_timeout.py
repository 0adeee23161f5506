"""A connector that stays Pending (e.g. it can never reach its broker) fails the sensor after
``pending_timeout`` with the pending reason, in poke, reschedule and deferrable mode, instead of
holding it for its whole timeout (seven days by default). The connector keeps retrying."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred
from airflow.triggers.base import TriggerEvent

from airflow_provider_fluvio.hooks.fluvio import FluvioHook
from airflow_provider_fluvio.operators.connector import (
    FluvioCreateConnectorOperator,
    FluvioDeleteConnectorOperator,
)
from airflow_provider_fluvio.runtimes.base import ConnectorStatus
from airflow_provider_fluvio.sensors.connector import FluvioConnectorSensor
from airflow_provider_fluvio.triggers.connector import FluvioConnectorStatusTrigger

PENDING, RUNNING = ConnectorStatus.PENDING, ConnectorStatus.RUNNING
REASON = "reconnecting: cannot connect to mqtt://mqtt.hsl.fi:1883: Network is unreachable"


def pending_for(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


@pytest.fixture
def pending(scripted_runtime: Any, seed_config: dict[str, Any]) -> Any:
    """hook-test on a scripted runtime, Pending (with REASON) since the given number of seconds."""

    def make(seconds: float, *statuses: ConnectorStatus) -> Any:
        runtime = scripted_runtime(statuses=list(statuses or [PENDING]), pending_since=pending_for(seconds),
                                   pending_reason=REASON, log=["WARNING cannot connect (attempt 9)"])
        FluvioHook().create_connector(seed_config)
        return runtime

    return make


def sensor(**kwargs: Any) -> FluvioConnectorSensor:
    args: dict[str, Any] = {"task_id": "wait", "connector_name": "hook-test", "poke_interval": 0.01, "timeout": 60}
    args.update(kwargs)
    return FluvioConnectorSensor(**args)


def test_format_seconds() -> None:
    from airflow_provider_fluvio.pending import format_seconds

    assert [format_seconds(s) for s in (0, 45, 600, 3725.4)] == ["0s", "45s", "10m", "1h 2m 5s"]


def test_the_default_is_ten_minutes() -> None:
    from airflow_provider_fluvio.pending import DEFAULT_PENDING_TIMEOUT

    assert DEFAULT_PENDING_TIMEOUT == 600
    assert sensor().pending_timeout == 600
    assert sensor(pending_timeout=timedelta(minutes=2)).pending_timeout == 120
    assert sensor(pending_timeout=None).pending_timeout is None
    with pytest.raises(ValueError, match="pending_timeout must be a number of seconds >= 0 or None"):
        sensor(pending_timeout=-1)


def test_poke_fails_once_pending_longer_than_pending_timeout(pending: Any) -> None:
    pending(700)
    with pytest.raises(AirflowFailException) as failed:
        sensor().execute({})
    first, *rest = str(failed.value).splitlines()
    assert first == (f"connector hook-test has been Pending for 11m 40s (pending_timeout 10m): {REASON}; "
                     "it keeps retrying until deleted")
    assert rest == ["the last log line of hook-test:", "  WARNING cannot connect (attempt 9)"]


def test_poke_keeps_waiting_within_pending_timeout(pending: Any) -> None:
    runtime = pending(30, PENDING, PENDING, RUNNING)
    assert sensor(pending_timeout=600).execute({})["status"] == "Running"
    assert runtime.looks == 3


def test_no_pending_timeout_waits_for_the_sensor_timeout(pending: Any) -> None:
    pending(10 * 24 * 3600)
    from airflow.providers.common.compat.sdk import AirflowSensorTimeout

    with pytest.raises(AirflowSensorTimeout):
        sensor(pending_timeout=None, timeout=0.2).execute({})


def test_waiting_for_pending_is_not_cut_short(pending: Any) -> None:
    pending(3600)
    assert sensor(target_status="Pending").execute({})["status"] == "Pending"


def test_deferrable_passes_pending_timeout_to_the_trigger(pending: Any) -> None:
    pending(5)
    with pytest.raises(TaskDeferred) as deferred:
        sensor(deferrable=True, pending_timeout=42).execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, FluvioConnectorStatusTrigger)
    assert trigger.serialize()[1]["pending_timeout"] == 42.0


async def test_the_trigger_ends_with_an_error_event(pending: Any) -> None:
    pending(50)
    trigger = FluvioConnectorStatusTrigger(connector_name="hook-test", poll_interval=0.01,
                                           deadline=time.time() + 600, pending_timeout=40)
    event = await asyncio.wait_for(trigger.run().__anext__(), 20)
    assert isinstance(event, TriggerEvent)
    assert event.payload["status"] == "error" and not event.payload.get("retryable")
    assert event.payload["message"].startswith(f"connector hook-test has been Pending for 50s (pending_timeout 40s): {REASON}")
    with pytest.raises(AirflowFailException, match="has been Pending for 50s"):
        sensor(deferrable=True).execute_complete({}, dict(event.payload))


def create_and_wait(seed_config: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    operator = FluvioCreateConnectorOperator(task_id="create", config=seed_config, wait_for_running=True,
                                             poll_interval=0.01, **kwargs)
    return operator.execute({})


def test_create_operator_fails_once_pending_longer_than_pending_timeout(
    scripted_runtime: Any, seed_config: dict[str, Any]
) -> None:
    runtime = scripted_runtime(pending_since=pending_for(700), pending_reason=REASON,
                               log=["WARNING cannot connect (attempt 9)"], statuses=[PENDING])
    with pytest.raises(AirflowFailException) as failed:
        create_and_wait(seed_config, pending_timeout=timedelta(minutes=10))
    first, *rest = str(failed.value).splitlines()
    assert first == (f"connector hook-test has been Pending for 11m 40s (pending_timeout 10m): {REASON}; "
                     "it keeps retrying until deleted")
    assert rest == ["the last log line of hook-test:", "  WARNING cannot connect (attempt 9)"]
    assert list(runtime.configs) == ["hook-test"]  # left as it is, for a teardown to delete


def test_create_operator_without_pending_timeout_says_the_connector_is_still_there(
    scripted_runtime: Any, seed_config: dict[str, Any]
) -> None:
    scripted_runtime(pending_since=pending_for(10 * 24 * 3600), pending_reason=REASON, statuses=[PENDING])
    from airflow.providers.common.compat.sdk import AirflowException

    with pytest.raises(AirflowException) as failed:
        create_and_wait(seed_config, wait_timeout=0.2)
    assert not isinstance(failed.value, AirflowFailException)  # a retry may see it Running
    assert str(failed.value) == (
        f"connector hook-test not Running after 0.2 s: connector hook-test is Pending ({REASON}); waiting for "
        "Running; it is still there (delete it with FluvioDeleteConnectorOperator or "
        "`fluvio-connector delete hook-test`)")


def test_create_operator_refuses_a_negative_pending_timeout(seed_config: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="pending_timeout must be a number of seconds >= 0 or None, got -5"):
        FluvioCreateConnectorOperator(task_id="create", config=seed_config, pending_timeout=-5)


# --------------------------------------------------------------------------- end to end


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens there once the socket is closed


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_an_unreachable_broker_fails_the_sensor_after_pending_timeout(
    run_dag: Any, failures: Any, mode: str
) -> None:
    """The seed's MQTT example with a broker nobody answers for (on 127.0.0.1): the connector
    reconnects forever, the sensor gives up after its pending_timeout with the reason."""
    from airflow.sdk import DAG

    record, seen = failures
    config = {"name": "unreachable", "type": "mqtt", "topic": "unreachable", "create_topic": True,
              "parameters": {"mqtt-url": f"mqtt://127.0.0.1:{closed_port()}", "mqtt-topic": "/hfp/v2/journey/#",
                             "timeout": 2}}
    with DAG(f"fluvio_test_pending_{mode}", schedule=None, catchup=False) as dag:
        create = FluvioCreateConnectorOperator(task_id="create", config=config)
        wait = FluvioConnectorSensor(
            task_id="wait_running", connector_name="unreachable", poke_interval=0.5, timeout=3600,
            pending_timeout=4, deferrable=mode == "deferrable", mode="reschedule" if mode == "reschedule" else "poke",
            on_failure_callback=record, log_tail=3,
        )
        delete = FluvioDeleteConnectorOperator(task_id="delete", connector_name="unreachable")
        create >> wait >> delete.as_teardown(setups=create)
    result = run_dag(dag)

    assert result.task_states == {"create": "success", "wait_running": "failed", "delete": "success"}
    error = seen["wait_running"]
    assert isinstance(error, AirflowFailException)
    first = str(error).splitlines()[0]
    assert first.startswith("connector unreachable has been Pending for ")
    assert "(pending_timeout 4s): " in first and first.endswith("; it keeps retrying until deleted")
    # As many of the 3 lines asked for as the log holds (a loaded machine may still be starting it).
    assert re.search(r"^(the last log line|last [23] log lines) of unreachable:$", str(error), re.MULTILINE)
    assert FluvioHook().list_connectors() == []


@pytest.mark.slow
def test_the_reason_names_a_broker_that_came_from_an_mqtt_connection(
    run_dag: Any, failures: Any, set_connection: Any
) -> None:
    """The broker's address from an Airflow ``mqtt`` connection is a secret of the connector
    (MQTT_URL), yet the reason must name it: only credentials are masked, never host and port."""
    from airflow.sdk import DAG

    record, seen = failures
    port = closed_port()
    set_connection("dead_broker", conn_type="mqtt", host="127.0.0.1", port=port)
    config = {"name": "unreachable-conn", "type": "mqtt", "topic": "unreachable-conn", "create_topic": True,
              "parameters": {"mqtt-topic": "a/#", "timeout": 2}}
    with DAG("fluvio_test_pending_masking", schedule=None, catchup=False) as dag:
        create = FluvioCreateConnectorOperator(task_id="create", config=config, mqtt_conn_id="dead_broker")
        wait = FluvioConnectorSensor(task_id="wait_running", connector_name="unreachable-conn", poke_interval=0.5,
                                     timeout=3600, pending_timeout=4, on_failure_callback=record, log_tail=0)
        delete = FluvioDeleteConnectorOperator(task_id="delete", connector_name="unreachable-conn")
        create >> wait >> delete.as_teardown(setups=create)
    result = run_dag(dag)

    assert result.task_states == {"create": "success", "wait_running": "failed", "delete": "success"}
    error = str(seen["wait_running"])
    assert f"cannot connect to mqtt://127.0.0.1:{port}" in error and "***" not in error, error
    from airflow.providers.common.compat.sdk import redact  # what task logs show of it

    assert redact(error) == error
