"""Several replicas of one MQTT connector split one stream (MQTT 5 shared subscriptions), run by
the local runtime against a real broker: no loss, no duplicates while nothing fails, at-least-once
across a killed replica, and one connector in list, status, logs and delete."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from connector_fixtures import Broker, ConnectorProcess, mqtt_config, read_topic, topic_size, wait_for

from airflow_provider_fluvio.cli import main as cli_main
from airflow_provider_fluvio.runtimes import supervisor as sv
from airflow_provider_fluvio.runtimes.base import ConnectorStatus
from airflow_provider_fluvio.runtimes.local import LocalRuntime
from fluvio_connectors.config import load_config
from fluvio_connectors.errors import ConfigError
from fluvio_connectors.status import ProgramState, read_status

Make = Callable[..., ConnectorProcess]


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalRuntime]:
    monkeypatch.setenv("FLUVIO_CONNECTOR_HEARTBEAT", "0.2")  # counters in the status files soon
    local = LocalRuntime(backoff_initial=0.2)
    yield local
    for info in local.list():
        local.delete(info.name)


@pytest.fixture
def mqtt5_broker(broker: Broker) -> Broker:
    if broker.kind == "amqtt":
        pytest.skip("amqtt 0.12 speaks MQTT 3.1.1 only and has no shared subscriptions ($share/... is an "
                    "ordinary filter there), so replicas cannot split a stream on it; these tests need mosquitto")
    return broker


def payloads(topic: str) -> Counter[str]:
    return Counter(bytes(json.loads(r.value)["payload"]).decode() for r in read_topic(topic))


def replica_dir(runtime: LocalRuntime, name: str, index: int) -> Path:
    state_dir = runtime.root / name
    return state_dir if index == 0 else state_dir / f"replica-{index}"


def messages_of(runtime: LocalRuntime, name: str, index: int) -> int:
    status = read_status(replica_dir(runtime, name, index) / sv.STATUS_FILE)
    return status.counters.get("messages", 0) if status else 0


def publish_in_thread(broker: Broker, total: int, chunk: int = 500) -> tuple[threading.Thread, list[int]]:
    published: list[int] = []

    def publish() -> None:
        for start in range(0, total, chunk):
            published.append(broker.publish("sensors/r", [f"{i}" for i in range(start, start + chunk)], qos=1))

    thread = threading.Thread(target=publish)
    thread.start()
    return thread, published


def test_two_replicas_split_one_stream_with_no_loss_and_no_duplicates(
    mqtt5_broker: Broker, runtime: LocalRuntime
) -> None:
    config = load_config(mqtt_config(mqtt5_broker, "split", name="split"))
    info = runtime.create(config, replicas=2)
    assert info.replicas == 2
    wait_for(lambda: runtime.status("split").status == ConnectorStatus.RUNNING, 30, "split Running")

    mqtt5_broker.publish("sensors/r", [f"{i}" for i in range(2_000)], qos=1)
    wait_for(lambda: topic_size("split") >= 2_000, 60, "2000 records in topic split")
    counts = payloads("split")
    assert set(counts) == {f"{i}" for i in range(2_000)}
    assert max(counts.values()) == 1  # each message reached one replica, once
    # Both replicas took their share, and together exactly the stream.
    wait_for(lambda: messages_of(runtime, "split", 0) + messages_of(runtime, "split", 1) == 2_000, 20,
             "both replicas' counters")
    assert messages_of(runtime, "split", 0) > 0 and messages_of(runtime, "split", 1) > 0
    status = runtime.status("split")
    assert status.counters.get("messages") == 2_000
    assert status.records is None  # several writers' records cannot be told apart


def test_qos1_across_a_sigkill_of_one_replica_loses_nothing(mqtt5_broker: Broker, runtime: LocalRuntime) -> None:
    total = 6_000
    runtime.create(load_config(mqtt_config(mqtt5_broker, "killed", name="killed")), replicas=2)
    wait_for(lambda: runtime.status("killed").status == ConnectorStatus.RUNNING, 30, "killed Running")
    publisher, published = publish_in_thread(mqtt5_broker, total)
    wait_for(lambda: topic_size("killed") >= total // 5, 60, "a fifth of the stream stored")
    state = sv.read_state(replica_dir(runtime, "killed", 1))
    assert state is not None and state.program_pid
    os.kill(state.program_pid, signal.SIGKILL)
    publisher.join(timeout=120)
    assert sum(published) == total

    wait_for(lambda: len(payloads("killed")) >= total, 90, f"all {total} messages in the topic")
    counts = payloads("killed")
    assert set(counts) == {f"{i}" for i in range(total)}  # duplicates may happen; losses may not
    after = wait_for(lambda: (i := runtime.status("killed")).status == ConnectorStatus.RUNNING and i, 30,
                     "killed Running again")
    assert after.restarts >= 1
    assert [r.restarts for r in after.replica_statuses][1] >= 1


def test_replicas_show_as_one_connector_in_list_status_logs_and_delete(
    mqtt5_broker: Broker, runtime: LocalRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime.create(load_config(mqtt_config(mqtt5_broker, "shown", name="shown")), replicas=3)
    wait_for(lambda: runtime.status("shown").status == ConnectorStatus.RUNNING, 30, "shown Running")

    assert cli_main(["list"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split()[:6] == ["NAME", "STATUS", "TYPE", "DIRECTION", "TOPIC", "REPLICAS"]
    assert row.split()[:6] == ["shown", "Running", "mqtt", "source", "shown", "3/3"]
    assert cli_main(["status", "shown"]) == 0
    text = capsys.readouterr().out
    assert "replicas:   3/3 running" in text
    assert [line.strip().split(":")[0] for line in text.splitlines() if "replica " in line] == [
        "replica 0", "replica 1", "replica 2"]

    merged = runtime.logs("shown", tail=None)
    for index in range(3):
        assert any(line.startswith(f"[replica {index}] ") and f"fluvio-shown-{index}" in line for line in merged)
    only = runtime.logs("shown", tail=None, replica="2")
    assert only and not any(line.startswith("[replica") for line in only)
    assert any("fluvio-shown-2" in line for line in only) and not any("fluvio-shown-0" in line for line in only)
    with pytest.raises(ConfigError, match="replicas 0 to 2"):
        runtime.logs("shown", replica="3")

    pids = [s.pid for index in range(3) if (s := sv.read_state(replica_dir(runtime, "shown", index)))]
    pids += [s.program_pid for index in range(3)
             if (s := sv.read_state(replica_dir(runtime, "shown", index))) and s.program_pid]
    assert len(pids) == 6
    runtime.delete("shown")
    assert runtime.list() == []
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


def test_one_replica_down_makes_the_connector_pending_with_its_reason(mqtt5_broker: Broker) -> None:
    slow = LocalRuntime(backoff_initial=30)  # a killed replica waits out a long backoff: Pending meanwhile
    try:
        slow.create(load_config(mqtt_config(mqtt5_broker, "halted", name="halted")), replicas=2)
        wait_for(lambda: slow.status("halted").status == ConnectorStatus.RUNNING, 30, "halted Running")
        state = sv.read_state(replica_dir(slow, "halted", 1))
        assert state is not None and state.program_pid
        os.kill(state.program_pid, signal.SIGKILL)
        info = wait_for(lambda: (i := slow.status("halted")).restarts and i, 30, "the supervisor saw the kill")
        assert info.status == ConnectorStatus.PENDING
        assert info.reason == "1 of 2 replicas running; replica 1: restarting after killed by SIGKILL (restart 1)"
        assert info.pending_since is not None
        assert [r.status for r in info.replica_statuses] == [ConnectorStatus.RUNNING, ConnectorStatus.PENDING]
    finally:
        slow.delete("halted")


def test_a_test_connector_cannot_have_replicas(runtime: LocalRuntime) -> None:
    config = load_config({"name": "seq", "type": "test-connector", "topic": "seq", "create_topic": True,
                          "parameters": {"count": 5}})
    with pytest.raises(ConfigError, match="cannot be split between 2 instances"):
        runtime.create(config, replicas=2)
    assert runtime.list() == []


def test_a_replica_refuses_a_broker_without_mqtt5(broker_factory: Callable[..., Broker], connector: Make) -> None:
    pytest.importorskip("amqtt")
    broker = broker_factory(kind="amqtt")  # MQTT 3.1.1 only
    env = {"FLUVIO_CONNECTOR_REPLICAS": "2", "FLUVIO_CONNECTOR_REPLICA": "0"}
    proc = connector("fluvio_connectors.mqtt", mqtt_config(broker, "old-broker"), env=env).start()
    assert proc.wait(timeout=60) == 1
    status = proc.status()
    assert status is not None and status.state is ProgramState.FAILED
    assert "does not speak MQTT 5" in (status.last_error or "")
    assert "create the connector with one replica" in (status.last_error or "")


def test_a_replica_without_its_index_is_a_config_error(broker: Broker, connector: Make) -> None:
    proc = connector("fluvio_connectors.mqtt", mqtt_config(broker, "no-index"),
                     env={"FLUVIO_CONNECTOR_REPLICAS": "2"}).start()
    assert proc.wait(timeout=30) == 2
    assert "FLUVIO_CONNECTOR_REPLICA: missing" in proc.log()
