"""What a waiter logs (``progress.py``): a line when the connector changes, otherwise one every 30 s
at most, with its progress; and the reason a sensor that times out gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout, AirflowSkipException

from airflow_provider_fluvio.hooks.fluvio import FluvioHook
from airflow_provider_fluvio.progress import ProgressLog
from airflow_provider_fluvio.runtimes.base import ConnectorInfo, ConnectorStatus
from airflow_provider_fluvio.sensors.connector import FluvioConnectorSensor
from airflow_provider_fluvio.waiting import judge

PENDING, RUNNING, STOPPED = ConnectorStatus.PENDING, ConnectorStatus.RUNNING, ConnectorStatus.STOPPED


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def info(status: ConnectorStatus, records: int | None = None, reason: str | None = None, **more: Any) -> ConnectorInfo:
    return ConnectorInfo(name="c", type="test-connector", topic="c", status=status, runtime="local",
                         records=records, reason=reason, **more)


def test_a_line_on_each_change_and_otherwise_one_every_30_seconds() -> None:
    clock = Clock()
    progress = ProgressLog(clock=clock)
    looks = [(PENDING, None)] + [(RUNNING, min(60, 2 * s)) for s in range(39)] + [(STOPPED, 60)]
    lines = []
    for second, (status, records) in enumerate(looks):  # one look a second for 41 s
        clock.now = 1000.0 + second
        line = progress.line(judge(info(status, records, records_target=60), "Stopped"))
        if line:
            lines.append((second, line))
    assert lines == [
        (0, "connector c is Pending; waiting for Stopped"),
        (1, "connector c is Running; waiting for Stopped; 0 of 60 records stored"),
        (31, "connector c is Running; waiting for Stopped; 60 of 60 records stored (2.0/s)"),
        (40, "connector c is Stopped; 60 of 60 records stored (0.0/s)"),
    ]


def test_a_new_reason_is_a_change_and_pending_says_since_when() -> None:
    clock = Clock()
    progress = ProgressLog(clock=clock)
    since = datetime.now(UTC) - timedelta(seconds=95)
    first = progress.line(judge(info(PENDING, reason="reconnecting: cannot connect to mqtt://h:1883", pending_since=since)))
    assert first == ("connector c is Pending (reconnecting: cannot connect to mqtt://h:1883); waiting for Running; "
                     "Pending for 1m 35s")
    clock.now += 1
    assert progress.line(judge(info(PENDING, reason="reconnecting: cannot connect to mqtt://h:1883", pending_since=since))) is None
    clock.now += 1
    assert progress.line(judge(info(PENDING, reason="starting", pending_since=since))) is not None


@pytest.mark.slow
def test_a_sensor_on_a_real_test_connector_logs_its_progress_not_every_poke(capfd: pytest.CaptureFixture[str]) -> None:
    """The issue's case: ``wait_finished`` on a finite test-connector logged 'is Running; waiting
    for Stopped' at every poke and never a count."""
    hook = FluvioHook()
    hook.create_connector({"name": "counted", "type": "test", "topic": "counted", "create_topic": True,
                           "parameters": {"count": 40, "timeout": 50}})
    try:
        sensor = FluvioConnectorSensor(task_id="wait_finished", connector_name="counted", target_status="Stopped",
                                       poke_interval=0.05, timeout=120)
        assert sensor.execute({})["records"] == 40
    finally:
        hook.delete_connector("counted", ignore_missing=True)
    out = capfd.readouterr()
    lines = [line for line in (out.out + out.err).splitlines() if "] connector counted is" in line or
             line.lstrip().startswith("connector counted is") or " connector counted is " in line]
    assert 1 <= len(lines) <= 4, lines  # Pending, Running, Stopped (and one more if the run took 30 s)
    assert "connector counted is Stopped; 40 of 40 records stored" in lines[-1], lines
    assert len([line for line in (out.out + out.err).splitlines() if "No fluvio_default connection" in line]) <= 1


def test_a_timed_out_sensor_says_what_it_saw_last(scripted_runtime: Any, seed_config: dict[str, Any]) -> None:
    scripted_runtime(statuses=[PENDING], pending_since=datetime.now(UTC),
                     pending_reason="reconnecting: cannot connect to mqtt://127.0.0.1:28884: Connection refused")
    FluvioHook().create_connector(seed_config)
    sensor = FluvioConnectorSensor(task_id="wait", connector_name="hook-test", poke_interval=0.05, timeout=0.3,
                                   pending_timeout=600)
    with pytest.raises(AirflowSensorTimeout) as raised:
        sensor.execute({})
    message = str(raised.value)
    assert message.startswith("Sensor has timed out")
    assert ("At the last look: connector hook-test is Pending (reconnecting: cannot connect to "
            "mqtt://127.0.0.1:28884: Connection refused); waiting for Running; Pending for ") in message
    skipping = FluvioConnectorSensor(task_id="skip", connector_name="hook-test", poke_interval=0.05, timeout=0.3,
                                     soft_fail=True)
    with pytest.raises(AirflowSkipException, match="At the last look: connector hook-test is Pending"):
        skipping.execute({})
