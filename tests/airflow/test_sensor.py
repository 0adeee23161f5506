"""FluvioConnectorSensor, task by task: what it returns, when it fails at once, timeout and
soft_fail, and how it defers (the DAG-level runs in all three modes are in test_example_dags)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_provider_fluvio.hooks.fluvio import FluvioHook
from airflow_provider_fluvio.runtimes.base import ConnectorStatus
from airflow_provider_fluvio.sensors.connector import FluvioConnectorSensor
from airflow_provider_fluvio.triggers.connector import FluvioConnectorStatusTrigger
from fluvio_connectors.errors import BackendError

PENDING, RUNNING, FAILED, STOPPED = (
    ConnectorStatus.PENDING,
    ConnectorStatus.RUNNING,
    ConnectorStatus.FAILED,
    ConnectorStatus.STOPPED,
)
FAILURE = (
    "connector hook-test is Failed: crash loop: bad certificate\n"
    "the last log line of hook-test:\n  ERROR bad cert"
)


def sensor(**kwargs: Any) -> FluvioConnectorSensor:
    args: dict[str, Any] = {
        "task_id": "wait",
        "connector_name": "hook-test",
        "poke_interval": 0.01,
        "timeout": 10,
    }
    args.update(kwargs)
    return FluvioConnectorSensor(**args)


@pytest.fixture
def connector(scripted_runtime: Any, seed_config: dict[str, Any]) -> Any:
    """Create hook-test on a scripted runtime; call the result with the statuses to show."""

    def make(*statuses: ConnectorStatus) -> Any:
        runtime = scripted_runtime(
            statuses=list(statuses), reason="crash loop: bad certificate", log=["ERROR bad cert"]
        )
        FluvioHook().create_connector(seed_config)
        return runtime

    return make


def test_poke_waits_then_returns_the_status(connector: Any) -> None:
    connector(PENDING, RUNNING)
    wait = sensor()
    assert wait.poke({}).is_done is False
    done = wait.poke({})
    assert done.is_done is True
    assert (
        done.xcom_value and done.xcom_value["name"] == "hook-test" and done.xcom_value["status"] == "Running"
    )


def test_execute_polls_until_running(connector: Any) -> None:
    runtime = connector(PENDING, PENDING, RUNNING)
    assert sensor().execute({})["status"] == "Running"
    assert runtime.looks == 3


def test_finished_connector_counts_as_running(connector: Any) -> None:
    connector(STOPPED)
    assert sensor().execute({})["status"] == "Stopped"


def test_failed_connector_fails_at_once_with_reason_and_log(connector: Any) -> None:
    runtime = connector(PENDING, FAILED)
    with pytest.raises(AirflowFailException) as info:
        sensor(timeout=300).execute({})
    assert runtime.looks == 2  # at the first look that saw Failed (then the log tail), not at the timeout
    assert str(info.value) == FAILURE


def test_failed_connector_with_soft_fail_skips(connector: Any) -> None:
    connector(FAILED)
    with pytest.raises(AirflowSkipException):
        sensor(soft_fail=True).execute({})


def test_failed_is_waited_out_when_not_failing_on_it(connector: Any) -> None:
    connector(FAILED, FAILED, RUNNING)
    assert sensor(fail_on_failed=False).execute({})["status"] == "Running"


def test_missing_connector_fails_or_times_out(scripted_runtime: Any) -> None:
    scripted_runtime()
    with pytest.raises(AirflowFailException, match="connector hook-test not found"):
        sensor().execute({})
    with pytest.raises(AirflowSensorTimeout, match="Sensor has timed out"):
        sensor(fail_on_missing=False, timeout=0.3).execute({})
    with pytest.raises(AirflowSkipException):
        sensor(fail_on_missing=False, timeout=0.3, soft_fail=True).execute({})


def test_backend_errors_are_retryable_failures(connector: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = connector(RUNNING)

    def unreachable(name: str) -> Any:
        raise BackendError("the Kubernetes API at https://10.0.0.1:6443 did not answer")

    monkeypatch.setattr(runtime, "status", unreachable)
    with pytest.raises(AirflowException) as info:
        sensor().execute({})
    assert str(info.value) == "the Kubernetes API at https://10.0.0.1:6443 did not answer"
    assert not isinstance(info.value, AirflowFailException)  # a retry may reach it


def test_unknown_target_status_is_named(connector: Any) -> None:
    connector(RUNNING)
    with pytest.raises(AirflowException, match="unknown connector status 'Up'"):
        sensor(target_status="Up").execute({})


# ---------------------------------------------------------------------------- deferrable


def test_deferrable_pokes_once_then_defers_with_its_settings(connector: Any) -> None:
    connector(PENDING)
    wait = sensor(
        deferrable=True, poke_interval=7, timeout=60, hook_params={"state_dir": "/tmp/x"}, log_tail=4
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        wait.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, FluvioConnectorStatusTrigger)
    assert deferred.value.method_name == "execute_complete"
    _, kwargs = trigger.serialize()
    assert kwargs["poll_interval"] == 7.0 and kwargs["log_tail"] == 4
    assert kwargs["hook_params"] == {"state_dir": "/tmp/x"}
    assert before + 60 <= kwargs["deadline"] <= time.time() + 60
    assert deferred.value.timeout is not None and deferred.value.timeout.total_seconds() >= 60


def test_deferrable_does_not_defer_when_already_running(connector: Any) -> None:
    connector(RUNNING)
    assert sensor(deferrable=True).execute({})["status"] == "Running"


def test_deferrable_fails_at_once_or_skips(connector: Any) -> None:
    connector(FAILED)
    with pytest.raises(AirflowFailException, match="crash loop: bad certificate"):
        sensor(deferrable=True).execute({})
    with pytest.raises(AirflowSkipException):
        sensor(deferrable=True, soft_fail=True).execute({})


@pytest.mark.parametrize(
    ("event", "raised"),
    [
        (
            {"status": "timeout", "message": "connector hook-test is Pending; waiting for Running"},
            AirflowSensorTimeout,
        ),
        ({"status": "error", "message": FAILURE}, AirflowFailException),
        ({"status": "error", "message": "backend down", "retryable": True}, AirflowException),
        (None, AirflowException),
    ],
)
def test_execute_complete_turns_events_into_outcomes(event: dict[str, Any] | None, raised: type) -> None:
    with pytest.raises(raised) as info:
        sensor(deferrable=True).execute_complete({}, event)
    if event:
        assert event["message"] in str(info.value)
    if raised is AirflowException:
        assert not isinstance(info.value, AirflowFailException)


def test_execute_complete_success_returns_the_status() -> None:
    info = {"name": "hook-test", "status": "Running"}
    assert (
        sensor(deferrable=True).execute_complete({}, {"status": "success", "message": "ok", "info": info})
        == info
    )


@pytest.mark.parametrize("status", ["timeout", "error"])
def test_soft_fail_skips_after_deferral(status: str) -> None:
    wait = sensor(deferrable=True, soft_fail=True)
    with pytest.raises(AirflowSkipException):
        wait.resume_execution("execute_complete", {"event": {"status": status, "message": "m"}}, {})


def test_deferrable_refuses_to_store_a_kubeconfig_with_the_trigger(connector: Any) -> None:
    connector(PENDING)
    with pytest.raises(AirflowFailException, match="put it in the fluvio connection's kube_config field"):
        sensor(deferrable=True, hook_params={"kube_config": "apiVersion: v1"}).execute({})
