"""A connector name is checked before anything touches a file or an API, in the hook, the delete
operator, the sensor and the trigger (issue 11, item 2): a path never becomes a lock file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_fluvio.hooks.fluvio import FluvioHook
from airflow_provider_fluvio.operators.connector import FluvioDeleteConnectorOperator
from airflow_provider_fluvio.sensors.connector import FluvioConnectorSensor
from airflow_provider_fluvio.triggers.connector import FluvioConnectorStatusTrigger
from fluvio_connectors.errors import ConfigError

RULE = "is not a valid connector name; expected a DNS-1123 label"


def bad_names(victim: Path) -> list[str]:
    return [str(victim / "dir"), "../../victim", "a/b", "..", "", "Upper", "x" * 64, "a\nb"]


@pytest.fixture
def untouched(tmp_path: Path) -> Callable[[], None]:
    """Asserts at the end that nothing appeared under tmp_path (state dir and victim included)."""
    before = sorted(tmp_path.rglob("*"))
    return lambda: (sorted(tmp_path.rglob("*")) == before) or pytest.fail(f"created: {sorted(tmp_path.rglob('*'))}")


def test_the_hook_refuses_a_path_before_touching_anything(tmp_path: Path, untouched: Callable[[], None]) -> None:
    hook = FluvioHook(None, state_dir=str(tmp_path / "state"))
    for name in bad_names(tmp_path / "victim"):
        calls: list[Callable[[], Any]] = [
            lambda n=name: hook.delete_connector(n, ignore_missing=True),
            lambda n=name: hook.connector_status(n),
            lambda n=name: hook.connector_logs(n),
            lambda n=name: hook.check_connector(n),
        ]
        for call in calls:
            with pytest.raises(ConfigError, match=RULE):
                call()
    untouched()


def test_the_delete_operator_fails_the_task_for_a_path(tmp_path: Path, untouched: Callable[[], None]) -> None:
    delete = FluvioDeleteConnectorOperator(task_id="delete", connector_name=str(tmp_path / "victim" / "x"),
                                           ignore_missing=True, hook_params={"state_dir": str(tmp_path / "state")})
    with pytest.raises(AirflowFailException, match=RULE):
        delete.execute({})
    untouched()


@pytest.mark.parametrize("deferrable", [False, True])
def test_the_sensor_fails_for_a_path_without_waiting(
    tmp_path: Path, untouched: Callable[[], None], deferrable: bool
) -> None:
    sensor = FluvioConnectorSensor(task_id="wait", connector_name="../../victim", deferrable=deferrable,
                                   poke_interval=0.01, timeout=600, hook_params={"state_dir": str(tmp_path / "s")})
    with pytest.raises(AirflowFailException, match=RULE):
        sensor.execute({})
    untouched()


async def test_the_trigger_ends_with_a_final_error_for_a_path(tmp_path: Path, untouched: Callable[[], None]) -> None:
    trigger = FluvioConnectorStatusTrigger(connector_name=str(tmp_path / "victim"), fluvio_conn_id=None,
                                           hook_params={"state_dir": str(tmp_path / "state")}, deadline=None)
    event = await anext(aiter(trigger.run()))
    assert event.payload["status"] == "error"
    assert RULE in event.payload["message"]
    assert not event.payload.get("retryable")
    untouched()
