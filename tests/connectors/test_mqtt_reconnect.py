"""The reconnect log tells the truth: the wait it announces is the wait paho makes."""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from connector_fixtures import Broker, ConnectorProcess, mqtt_config, wait_for

from fluvio_connectors.status import ProgramState


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens there once the socket is closed


def test_each_announced_wait_is_the_wait_before_the_next_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a fake clock: paho's own loop against a port nobody listens on, with the backoff of a
    connector whose timeout is 8 s."""
    import paho.mqtt.client as paho

    from fluvio_connectors.mqtt_client import StoreFirstClient

    clock = [1000.0]

    class FakeTime:
        def sleep(self, seconds: float) -> None:
            clock[0] += seconds

        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

    monkeypatch.setattr(paho, "time_func", lambda: clock[0])
    monkeypatch.setattr(paho, "time", FakeTime())
    client = StoreFirstClient(paho.CallbackAPIVersion.VERSION2, client_id="backoff", protocol=paho.MQTTv5)
    client.reconnect_delay_set(min_delay=1, max_delay=8)
    attempts: list[tuple[float, float]] = []  # (when it failed, the wait it announces)

    def failed(failing: Any, _userdata: Any) -> None:
        attempts.append((clock[0], failing.next_reconnect_delay()))
        if len(attempts) == 6:
            failing.disconnect()  # ends loop_forever

    client.on_connect_fail = failed
    client.connect_async("127.0.0.1", closed_port())
    client.loop_forever(retry_first_connection=True)

    announced = [wait for _, wait in attempts]
    assert announced == [1, 2, 4, 8, 8, 8]
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(attempts)]
    assert gaps == announced[:-1]


def test_the_connector_logs_the_backoff_it_follows(connector: Callable[..., ConnectorProcess]) -> None:
    config = mqtt_config(None, "nowhere", timeout=8)
    config["parameters"]["mqtt-url"] = f"mqtt://127.0.0.1:{closed_port()}"
    proc = connector("fluvio_connectors.mqtt", config).start()
    pattern = re.compile(r"cannot connect to mqtt://127\.0\.0\.1:\d+: Connection refused \(attempt (\d)\); next attempt in (\d+)s")
    wait_for(lambda: len(pattern.findall(proc.log())) >= 2, 30, "two failed attempts")
    assert pattern.findall(proc.log())[:2] == [("1", "1"), ("2", "2")]
    assert proc.stop() == 0


def test_a_keep_alive_timeout_is_logged_once(broker: Broker, connector: Callable[..., ConnectorProcess]) -> None:
    """A broker that stops answering (SIGSTOP): paho reports the lost keep-alive twice for one
    connection; the log says it once (issue 22)."""
    proc = connector("fluvio_connectors.mqtt", mqtt_config(broker, "silent", timeout=1)).start()
    proc.wait_state(ProgramState.READY)
    assert broker.process is not None
    os.kill(broker.process.pid, signal.SIGSTOP)
    try:
        status = proc.wait_state(ProgramState.RECONNECTING, timeout=30)
    finally:
        os.kill(broker.process.pid, signal.SIGCONT)  # before the next attempt (1 s later) could time out too
    assert "Keep alive timeout" in (status.last_error or "")
    # the fence: connected again, long after both reports of the lost connection were made
    wait_for(lambda: proc.log().count("connected to") >= 2, 30, "the reconnection")
    lost = [line for line in proc.log().splitlines() if "WARNING" in line and "lost the connection" in line]
    assert len(lost) == 1 and "Keep alive timeout" in lost[0], proc.log()
    assert proc.stop() == 0
