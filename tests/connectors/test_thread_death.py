"""A connector program whose own thread dies exits non-zero, so its supervisor (or Kubernetes)
sees a crash: never a program that sits there without the thread that did its work."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from connector_fixtures import Broker, ConnectorProcess, mqtt_config

from fluvio_connectors.status import ProgramState

Make = Callable[..., ConnectorProcess]

WORKER_DIES = """
import threading
from fluvio_connectors.catalog import TEST_CONNECTOR
from fluvio_connectors.runner import Program, main

def body(ctx):
    ctx.ready()
    def work():
        raise RuntimeError("the worker broke")
    threading.Thread(target=work, name="worker").start()
    while not ctx.wait(0.5):  # the body itself is fine and would wait forever
        pass

main(Program(TEST_CONNECTOR, body))
"""

# The MQTT program, with a fault in what paho's network thread runs for each message (or in what
# the writer, the main thread, does with a batch).
MQTT_WITH_FAULT = """
from fluvio_connectors import mqtt

def broken(self, *args):
    raise RuntimeError("{what} broke")

mqtt.MqttSource.{method} = broken
mqtt.main(mqtt.PROGRAM)
"""


def module(tmp_path: Path, name: str, source: str) -> dict[str, str]:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    return {"PYTHONPATH": str(tmp_path)}


def test_a_dead_worker_thread_ends_the_program_with_exit_1(connector: Make, tmp_path: Path) -> None:
    env = module(tmp_path, "worker_dies", WORKER_DIES)
    config = {"name": "orphaned-body", "type": "test-connector", "topic": "t", "create_topic": True}
    proc = connector("worker_dies", config, env=env).start()
    assert proc.wait(timeout=30) == 1
    status = proc.status()
    assert status is not None and status.state is ProgramState.FAILED
    assert status.last_error == "thread worker died: RuntimeError: the worker broke"
    log = proc.log()
    assert "thread worker died: RuntimeError: the worker broke; stopping" in log
    assert "Traceback" in log  # a bug: the traceback helps


@pytest.mark.parametrize(
    ("method", "what", "thread"),
    [("_on_delivery", "the network thread", "paho-mqtt-client-"), ("_store", "the writer", None)],
    ids=["network-thread", "writer"],
)
def test_mqtt_exits_1_when_one_of_its_threads_dies(
    broker: Broker, connector: Make, tmp_path: Path, method: str, what: str, thread: str | None
) -> None:
    env = module(tmp_path, "mqtt_with_fault", MQTT_WITH_FAULT.format(method=method, what=what))
    proc = connector("mqtt_with_fault", mqtt_config(broker, "faulty"), env=env).start()
    proc.wait_state(ProgramState.READY)
    broker.publish("sensors/a", ["one"], qos=1)
    assert proc.wait(timeout=30) == 1
    status = proc.status()
    assert status is not None and status.state is ProgramState.FAILED
    assert f"RuntimeError: {what} broke" in (status.last_error or "")
    if thread:
        assert (status.last_error or "").startswith(f"thread {thread}")
