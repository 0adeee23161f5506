"""Waiting for a drained sink: ``target_status="Drained"`` in the sensor (poke and deferrable), its
trigger and the one decision they share (``waiting.judge``): reached at lag 0, the progress line
while waiting, a clear failure for a Failed sink and for a source."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

from airflow_provider_fluvio.hooks.fluvio import FluvioHook
from airflow_provider_fluvio.runtimes.base import ConnectorInfo, ConnectorStatus
from airflow_provider_fluvio.sensors.connector import FluvioConnectorSensor
from airflow_provider_fluvio.statuses import normalize_status
from airflow_provider_fluvio.triggers.connector import FluvioConnectorStatusTrigger
from airflow_provider_fluvio.waiting import judge
from fluvio_connectors.errors import ConfigError

RUNNING, PENDING, FAILED, STOPPED = (ConnectorStatus.RUNNING, ConnectorStatus.PENDING, ConnectorStatus.FAILED,
                                     ConnectorStatus.STOPPED)
SINK = ConnectorInfo(name="orders-sink", type="sql-sink", topic="orders", status=RUNNING, runtime="local",
                     direction="sink", records=10, position=10, lag=0)


def test_drained_is_a_target_a_task_can_name() -> None:
    assert normalize_status(" drained") == "Drained"
    with pytest.raises(ConfigError, match=r"expected one of: Pending, Running, Failed, Stopped, or Drained \(a sink with lag 0\)"):
        normalize_status("Empty")


@pytest.mark.parametrize(
    ("info", "outcome", "message"),
    [
        (SINK, "reached", "sink orders-sink is drained: delivered every record before offset 10, lag 0"),
        (replace(SINK, lag=30), "waiting",
         "sink orders-sink is Running: delivered every record before offset 10, lag 30; waiting for Drained (lag 0)"),
        (replace(SINK, records=None, position=None, lag=None), "waiting",
         "sink orders-sink is Running: no position stored yet, lag unknown; waiting for Drained (lag 0)"),
        # Kubernetes does not count deliveries: the same line from the position
        (replace(SINK, records=None, position=7, lag=0), "reached",
         "sink orders-sink is drained: delivered every record before offset 7, lag 0"),
        (replace(SINK, counters={"skipped": 2}, last_error="connection reset"), "reached",
         "sink orders-sink is drained: delivered every record before offset 10, lag 0, skipped 2, last error: connection reset"),
        (replace(SINK, status=PENDING, reason="reconnecting: cannot connect to postgresql://db:5432/x", lag=4), "waiting",
         "sink orders-sink is Pending (reconnecting: cannot connect to postgresql://db:5432/x): delivered every record before offset 10, "
         "lag 4; waiting for Drained (lag 0)"),
        (replace(SINK, status=FAILED, reason="record at offset 10 of topic orders: not JSON", lag=5), "failed",
         "sink orders-sink is Failed (delivered every record before offset 10, lag 5): record at offset 10 of topic orders: not JSON"),
        (replace(SINK, status=STOPPED), "reached", "sink orders-sink is drained: delivered every record before offset 10, lag 0"),
        (replace(SINK, status=STOPPED, lag=3), "failed",
         "sink orders-sink is Stopped (delivered every record before offset 10, lag 3): it delivers nothing more until it is created again"),
        (replace(SINK, name="gen", type="test-connector", direction="source", records=5, position=None, lag=None),
         "failed", "connector gen is a source (test-connector): only a sink can be Drained (lag is how far a sink's "
                   "position is behind its topic); wait for Running or Stopped instead"),
    ],
    ids=["lag-0", "lag-30", "no-position", "kubernetes", "skipped", "pending", "failed", "stopped-drained",
         "stopped-behind", "source"],
)
def test_judge_drained(info: ConnectorInfo, outcome: str, message: str) -> None:
    check = judge(info, "Drained")
    assert (check.outcome, check.message) == (outcome, message)


def test_a_failed_sink_is_waited_out_when_not_failing_on_it_and_pending_too_long_fails() -> None:
    failed = replace(SINK, status=FAILED, reason="the table readings does not exist", lag=5)
    assert judge(failed, "Drained", fail_on_failed=False).outcome == "waiting"
    since = datetime.now(UTC) - timedelta(seconds=90)
    pending = replace(SINK, status=PENDING, reason="reconnecting: cannot connect", pending_since=since, lag=5)
    check = judge(pending, "Drained", pending_timeout=60)
    assert check.outcome == "failed"
    assert check.message.startswith("connector orders-sink has been Pending for 1m 30s (pending_timeout 1m): "
                                    "reconnecting: cannot connect (delivered every record before offset 10, lag 5)")


class SinkScript:
    """The statuses a scripted sink shows, one a look: (status, records delivered, lag)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *looks: tuple[ConnectorStatus, int | None, int | None]) -> None:
        self.looks = list(looks)
        self.seen = 0
        monkeypatch.setattr(FluvioHook, "connector_status", lambda hook, name: self.status(name))
        monkeypatch.setattr(FluvioHook, "connector_logs", lambda hook, name, tail=100, replica=None: ["ERROR gone"])

    def status(self, name: str) -> ConnectorInfo:
        status, records, lag = self.looks[min(self.seen, len(self.looks) - 1)]
        self.seen += 1
        return replace(SINK, name=name, status=status, records=records, position=records, lag=lag,
                       reason="the database went away" if status == FAILED else None)


def sensor(**kwargs: Any) -> FluvioConnectorSensor:
    args: dict[str, Any] = {"task_id": "wait_drained", "connector_name": "orders-sink", "target_status": "Drained",
                            "poke_interval": 0.01, "timeout": 30, **kwargs}
    return FluvioConnectorSensor(**args)


def test_the_sensor_logs_delivered_and_lag_at_each_look_until_drained(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    script = SinkScript(monkeypatch, (PENDING, None, None), (RUNNING, 40, 60), (RUNNING, 100, 0))
    result = sensor().execute({})
    assert (result["lag"], result["records"], result["direction"]) == (0, 100, "sink")
    assert script.seen == 3
    # the task log (Airflow's structured logger writes it to stdout here)
    lines = re.findall(r"\] (sink orders-sink .*?) \[airflow\.task", capsys.readouterr().out)
    assert lines == [
        "sink orders-sink is Pending: no position stored yet, lag unknown; waiting for Drained (lag 0)",
        "sink orders-sink is Running: delivered every record before offset 40, lag 60; waiting for Drained (lag 0)",
        "sink orders-sink is drained: delivered every record before offset 100, lag 0",
    ]


def test_the_sensor_fails_at_once_when_the_sink_is_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    script = SinkScript(monkeypatch, (RUNNING, 40, 60), (FAILED, 42, 58))
    with pytest.raises(AirflowFailException) as info:
        sensor(timeout=300).execute({})
    assert script.seen == 2
    assert str(info.value) == ("sink orders-sink is Failed (delivered every record before offset 42, lag 58): the database went away\n"
                               "the last log line of orders-sink:\n  ERROR gone")


def test_the_deferrable_sensor_hands_drained_to_its_trigger(monkeypatch: pytest.MonkeyPatch) -> None:
    SinkScript(monkeypatch, (RUNNING, 40, 60))
    with pytest.raises(TaskDeferred) as deferred:
        sensor(deferrable=True).execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, FluvioConnectorStatusTrigger) and trigger.wait.target_status == "Drained"


async def test_the_trigger_logs_progress_and_fires_when_drained(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    SinkScript(monkeypatch, (RUNNING, 40, 60), (RUNNING, 90, 10), (RUNNING, 100, 0))
    trigger = FluvioConnectorStatusTrigger("orders-sink", "Drained", poll_interval=0.01, deadline=time.time() + 30)
    event = await asyncio.wait_for(trigger.run().__anext__(), 20)
    assert event.payload["status"] == "success"
    assert event.payload["message"] == "sink orders-sink is drained: delivered every record before offset 100, lag 0"
    assert event.payload["info"]["lag"] == 0
    progress = re.findall(r"\] (sink orders-sink .*?) \[airflow_provider_fluvio", capsys.readouterr().out)
    assert progress == ["sink orders-sink is Running: delivered every record before offset 40, lag 60; waiting for Drained (lag 0) (poll 1)",
                        "sink orders-sink is Running: delivered every record before offset 90, lag 10; waiting for Drained (lag 0) (poll 2)"]


# -------------------------------------------------------------------------- real sinks, local runtime


def sql_sink(name: str, topic: str, database: Path) -> dict[str, Any]:
    return {"version": "latest", "name": name, "type": "sql-sink", "topic": topic, "create_topic": True,
            "parameters": {"url": f"sqlite://{database}", "mapping": {
                "table": "readings", "map-columns": {"id": {"json-key": "id", "value": {"type": "int", "required": True}}}}}}


@pytest.fixture
def readings_db(tmp_path: Path) -> Path:
    database = tmp_path / "target.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE readings (id INTEGER PRIMARY KEY)")
    return database


def test_a_real_sink_drains_and_a_real_failure_fails_the_sensor(readings_db: Path) -> None:
    hook = FluvioHook()
    hook.produce("drain-me", [{"id": i} for i in range(1, 301)], create_topic=True)
    hook.create_connector(sql_sink("drainer", "drain-me", readings_db))
    drained = sensor(connector_name="drainer", poke_interval=0.2).execute({})
    assert (drained["lag"], drained["position"]) == (0, 300)
    with sqlite3.connect(readings_db) as conn:  # lag 0: the table holds every record of the topic
        assert conn.execute("SELECT COUNT(*), MIN(id), MAX(id) FROM readings").fetchone() == (300, 1, 300)

    # a poison record: the sink stops at it (Failed, with its offset), and the wait ends at once
    hook.produce("drain-me", ["not json", {"id": 302}])
    with pytest.raises(AirflowFailException) as info:
        sensor(connector_name="drainer", poke_interval=0.2, timeout=120).execute({})
    first = str(info.value).splitlines()[0]
    assert first.startswith("sink drainer is Failed (delivered every record before offset 300, lag 2): record at offset 300 of topic drain-me: ")

    # a source is never drained
    hook.create_connector({"name": "gen", "type": "test-connector", "topic": "gen", "create_topic": True,
                           "parameters": {"count": 1, "timeout": 10}})
    with pytest.raises(AirflowFailException, match=r"^connector gen is a source \(test-connector\): only a sink can be Drained"):
        sensor(connector_name="gen").execute({})
